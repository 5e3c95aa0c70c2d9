//! `debless check`: does every ELF file of the image find its shared libraries and loader?
//! Also run at the end of every `debless build` unless `--no-check`.

use std::path::PathBuf;

use anyhow::{Context as _, Result};

use super::diagnostics::{Diagnostic, exit};
use super::{Globals, status};
use crate::check::entrypoint::check_program;
use crate::check::load::{layout_images, tree_from_dir, tree_from_layers};
use crate::check::view::ImageView;
use crate::check::{CheckOptions, CheckReport, MissingKind, check_image, off_path_explanation};
use crate::debian::Arch;
use crate::manifest::Manifest;
use crate::rootfs::Tree;

/// Arguments of `debless check`.
#[derive(Debug, clap::Args)]
pub struct CheckArgs {
    /// An OCI image layout directory (what `build --output DIR` wrote) or `oci-archive` file
    /// to check. Without it and without `--rootfs`, the image of debless.lock is assembled in
    /// memory from the cache.
    #[arg(value_name = "OCI-DIR", conflicts_with = "rootfs")]
    pub image: Option<PathBuf>,
    /// Check a root filesystem directory (what `build --rootfs DIR` wrote) instead.
    #[arg(long, value_name = "DIR")]
    pub rootfs: Option<PathBuf>,
    /// Print the report as JSON on stdout.
    #[arg(long)]
    pub json: bool,
    /// Use only the cache when assembling the locked image.
    #[arg(long)]
    pub offline: bool,
}

/// Runs `debless check`; exits 4 when a library or loader is missing.
pub fn run(globals: &Globals, args: &CheckArgs) -> Result<()> {
    let mut reports: Vec<(String, CheckReport)> = Vec::new();
    if args.image.is_none() && args.rootfs.is_none() {
        let build_args = super::build::BuildArgs::defaults(args.offline)?;
        let (manifest, images) = super::assemble::assemble_all(globals, &build_args)?;
        for image in &images {
            let base = image.base_tree();
            let mut layers = vec![&image.app, image.rootfs.tree()];
            layers.extend(base);
            reports.push((
                image.arch.as_str().to_owned(),
                check_trees(&layers, &options(Some(&manifest), Some(&image.arch))),
            ));
            check_entrypoint(&manifest, &layers)?;
        }
    } else {
        // The manifest is optional here; when present, its allow list applies.
        let manifest = if globals.manifest.is_file() {
            Some(Manifest::load(&globals.manifest)?)
        } else {
            None
        };
        if let Some(dir) = &args.rootfs {
            let tree = tree_from_dir(dir)?;
            let arch = manifest
                .as_ref()
                .and_then(|m| m.architectures.first().cloned());
            let label = arch
                .as_ref()
                .map_or_else(|| dir.display().to_string(), |a| a.as_str().to_owned());
            reports.push((
                label,
                check_trees(&[&tree], &options(manifest.as_ref(), arch.as_ref())),
            ));
        }
        if let Some(image) = &args.image {
            // An `oci-archive` file is the layout as a tar: unpack it first.
            let unpacked = if image.is_file() {
                Some(unpack_archive(image)?)
            } else {
                None
            };
            let layout = unpacked.as_ref().map_or(image.as_path(), |dir| dir.path());
            let images = layout_images(layout)
                .with_context(|| format!("reading the image at `{}`", image.display()))?;
            for image in images {
                let tree = tree_from_layers(&image.layers)?;
                let arch = image
                    .architecture
                    .as_deref()
                    .and_then(|a| Arch::parse(a).ok());
                let label = image
                    .architecture
                    .clone()
                    .unwrap_or_else(|| "image".to_owned());
                reports.push((
                    label,
                    check_trees(&[&tree], &options(manifest.as_ref(), arch.as_ref())),
                ));
            }
        }
    }
    if args.json {
        let json: Vec<_> = reports
            .iter()
            .map(|(label, report)| {
                let mut value = serde_json::to_value(report)?;
                value["architecture"] = serde_json::Value::from(label.as_str());
                value["passed"] = serde_json::Value::from(report.passed());
                Ok(value)
            })
            .collect::<Result<_, serde_json::Error>>()?;
        println!("{}", serde_json::to_string_pretty(&json)?);
    } else {
        for (label, report) in &reports {
            print!("{}", render(label, report));
        }
    }
    match failure(&reports, false) {
        Some(diagnostic) => Err(diagnostic.into()),
        None => {
            status(globals, format_args!("Check passed"));
            Ok(())
        }
    }
}

/// `build`'s own check of one architecture (its trees top first: application, packages,
/// base): fails with the missing names unless allowed, or when the entrypoint cannot start;
/// returns notes for the rest (allowed names, sonames found off the search path).
pub fn check_built_layers(
    manifest: &Manifest,
    arch: &Arch,
    layers: &[&Tree],
) -> Result<Vec<String>> {
    let report = check_trees(layers, &options(Some(manifest), Some(arch)));
    let mut notes = Vec::new();
    if !report.allowed.is_empty() {
        let allowed: Vec<&str> = report.allowed.iter().map(|m| m.name.as_str()).collect();
        notes.push(format!(
            "Note: {arch}: missing but allowed by `allow-missing-libraries`: {}",
            allowed.join(", ")
        ));
    }
    for warning in &report.off_path {
        notes.push(format!(
            "Warning: {arch}: `{}` needed by {}: {}",
            warning.name,
            users(&warning.needed_by),
            off_path_explanation(&warning.found_off_path)
        ));
    }
    if let Some(diagnostic) = failure(&[(arch.as_str().to_owned(), report)], true) {
        return Err(diagnostic.into());
    }
    check_entrypoint(manifest, layers)?;
    Ok(notes)
}

/// The entrypoint (or `cmd[0]` without one) of the manifest must start in the image (exit 4
/// otherwise). Over a base image that sets them, the manifest may set neither: nothing to do.
fn check_entrypoint(manifest: &Manifest, layers: &[&Tree]) -> Result<()> {
    let image = &manifest.image;
    let (setting, program) = match (&image.entrypoint, &image.cmd) {
        (Some(entrypoint), _) if !entrypoint.is_empty() => ("entrypoint", &entrypoint[0]),
        (None, Some(cmd)) if !cmd.is_empty() => ("cmd", &cmd[0]),
        _ => return Ok(()),
    };
    let view = ImageView::new(layers);
    let path_var = image.env.get("PATH").map(String::as_str);
    check_program(&view, program, path_var, image.workdir.as_deref()).map_err(|err| {
        Diagnostic {
            code: exit::MISSING_LIBRARIES,
            ..Diagnostic::new(
                err.to_string(),
                format!(
                    "add the package that ships it (`debless provides {program}`) or fix `[image] {setting}`; `debless build --no-check` skips the check"
                ),
            )
        }
    })?;
    Ok(())
}

/// Up to three users in backticks, then how many more.
fn users(list: &[String]) -> String {
    let shown: Vec<String> = list.iter().take(3).map(|u| format!("`{u}`")).collect();
    let more = if list.len() > 3 {
        format!(" and {} more", list.len() - 3)
    } else {
        String::new()
    };
    format!("{}{more}", shown.join(", "))
}

/// Unpacks an `oci-archive` (a tar of an OCI layout) into a temporary directory.
fn unpack_archive(file: &std::path::Path) -> Result<tempfile::TempDir> {
    let dir = tempfile::tempdir()?;
    let mut archive = tar::Archive::new(std::io::BufReader::new(fs_err::File::open(file)?));
    archive
        .unpack(dir.path())
        .with_context(|| format!("unpacking `{}` as an oci-archive", file.display()))?;
    Ok(dir)
}

/// Checks trees stacked top first.
pub fn check_trees(layers: &[&Tree], options: &CheckOptions) -> CheckReport {
    check_image(&ImageView::new(layers), options)
}

/// The check's settings from the manifest and architecture, either optional.
fn options(manifest: Option<&Manifest>, arch: Option<&Arch>) -> CheckOptions {
    CheckOptions {
        triplet: arch.map(|a| a.multiarch_tuple().to_owned()),
        allow_missing: manifest
            .map(|m| m.image.allow_missing_libraries.clone())
            .unwrap_or_default(),
    }
}

/// The report for people: a summary line per image, then each missing name with its users.
pub fn render(label: &str, report: &CheckReport) -> String {
    let mut out = format!(
        "{label}: {} ELF files, {} dynamic objects",
        report.elf_files, report.dynamic_objects
    );
    if report.foreign > 0 {
        out.push_str(&format!(
            " ({} of another machine not checked)",
            report.foreign
        ));
    }
    out.push_str(": ");
    if report.missing.is_empty() {
        out.push_str("every library and loader found\n");
    } else {
        out.push_str(&format!("{} missing\n", report.missing.len()));
    }
    for (heading, list) in [("missing", &report.missing), ("allowed", &report.allowed)] {
        for missing in list {
            let what = match missing.kind {
                MissingKind::Library => "library",
                MissingKind::Interpreter => "loader",
            };
            out.push_str(&format!("  {heading} {what} {}\n", missing.name));
            for user in &missing.needed_by {
                out.push_str(&format!("    needed by {user}\n"));
            }
            if let Some(usr_side) = &missing.only_under_usr {
                out.push_str(&format!(
                    "    (the image has it at {usr_side}, but /usr is not merged: set `merged-usr = true` in [image])\n"
                ));
            }
            if let Some(dir) = &missing.only_in_conf_dir {
                out.push_str(&format!(
                    "    (it is in {dir}, listed in /etc/ld.so.conf, but the image has no /etc/ld.so.cache)\n"
                ));
            }
        }
    }
    for warning in &report.off_path {
        out.push_str(&format!(
            "  warning library {} (not an error)\n",
            warning.name
        ));
        for user in &warning.needed_by {
            out.push_str(&format!("    needed by {user}\n"));
        }
        out.push_str(&format!(
            "    ({})\n",
            off_path_explanation(&warning.found_off_path)
        ));
    }
    for (path, reason) in &report.unreadable {
        out.push_str(&format!("  unreadable ELF file {path}: {reason}\n"));
    }
    out
}

/// The error for missing names (exit 4), or `None` when every image passed.
fn failure(reports: &[(String, CheckReport)], in_build: bool) -> Option<Diagnostic> {
    let mut parts = Vec::new();
    let mut sonames = Vec::new();
    for (label, report) in reports {
        for missing in &report.missing {
            parts.push(format!(
                "`{}` ({label}), needed by {}",
                missing.name,
                users(&missing.needed_by)
            ));
            if missing.kind == MissingKind::Library && !sonames.contains(&missing.name) {
                sonames.push(missing.name.clone());
            }
        }
    }
    if parts.is_empty() {
        return None;
    }
    let example = sonames.first().map_or("SONAME", String::as_str);
    let split_loader = reports
        .iter()
        .flat_map(|(_, report)| &report.missing)
        .find_map(|missing| Some((&missing.name, missing.only_under_usr.as_ref()?)));
    if let Some((loader, usr_side)) = split_loader {
        // The real fix is the tree's layout, not another package (`provides` would name the
        // libc6 that is already locked).
        let hint = format!(
            "the image has the loader at `{usr_side}` only, as merged-/usr releases ship it, but its root is split so `{loader}` does not exist: set `merged-usr = true` in `[image]` (the default for trixie and later suites)"
        );
        let message = format!(
            "the image lacks the program interpreter its ELF files need: {}",
            parts.first().map_or("", String::as_str)
        );
        return Some(Diagnostic {
            code: exit::MISSING_LIBRARIES,
            ..Diagnostic::new(message, hint)
        });
    }
    let mut hint = format!(
        "add the packages that ship them (`debless provides {example}`, or `debless add --for FILE`), or list them in `[image] allow-missing-libraries`"
    );
    if in_build {
        hint.push_str(
            "; `debless check` lists them all, `debless build --no-check` skips the check",
        );
    }
    // The report (stdout of `check`) lists everything; the one-line error names the first few.
    const SHOWN: usize = 5;
    let more = if parts.len() > SHOWN {
        format!("; and {} more", parts.len() - SHOWN)
    } else {
        String::new()
    };
    parts.truncate(SHOWN);
    let message = format!(
        "the image lacks shared libraries its ELF files need: {}{more}",
        parts.join("; ")
    );
    Some(Diagnostic {
        code: exit::MISSING_LIBRARIES,
        ..Diagnostic::new(message, hint)
    })
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::check::Missing;

    fn missing(name: &str, users: &[&str]) -> Missing {
        Missing {
            name: name.into(),
            kind: MissingKind::Library,
            needed_by: users.iter().map(|u| (*u).to_owned()).collect(),
            only_in_conf_dir: None,
            only_under_usr: None,
            found_off_path: Vec::new(),
        }
    }

    #[test]
    fn the_manifest_allow_list_and_arch_reach_the_check() {
        let manifest = Manifest::from_str(
            Path::new("debless.toml"),
            "architectures = [\"arm64\"]\npackages = [\"libc6\"]\n[[source]]\nsuite = \"bookworm\"\n[image]\nallow-missing-libraries = [\"libGL.so.*\"]\n",
        )
        .expect("valid manifest");
        let options = options(Some(&manifest), manifest.architectures.first());
        assert_eq!(options.triplet.as_deref(), Some("aarch64-linux-gnu"));
        assert_eq!(options.allow_missing, vec!["libGL.so.*".to_owned()]);
        assert!(Manifest::from_str(
            Path::new("debless.toml"),
            "packages = [\"x\"]\n[[source]]\nsuite = \"bookworm\"\n[image]\nallow-missing-library = []\n",
        )
        .is_err(), "a misspelt key is refused");
    }

    #[test]
    fn the_error_names_the_first_five_and_counts_the_rest() {
        let mut report = CheckReport::default();
        for i in 0..7 {
            report
                .missing
                .push(missing(&format!("lib{i}.so.1"), &["/a", "/b", "/c", "/d"]));
        }
        let diagnostic = failure(&[("amd64".into(), report)], true).expect("a failure");
        assert_eq!(diagnostic.code, exit::MISSING_LIBRARIES);
        assert!(
            diagnostic
                .message
                .starts_with("the image lacks shared libraries its ELF files need: `lib0.so.1` (amd64), needed by `/a`, `/b`, `/c` and 1 more; `lib1.so.1`"),
            "{}",
            diagnostic.message
        );
        assert!(
            diagnostic.message.ends_with("; and 2 more"),
            "{}",
            diagnostic.message
        );
        assert!(
            diagnostic.hint.as_deref().is_some_and(
                |h| h.contains("debless provides lib0.so.1") && h.contains("--no-check")
            )
        );
        assert!(failure(&[("amd64".into(), CheckReport::default())], false).is_none());
    }

    #[test]
    fn a_loader_only_under_usr_names_merged_usr_as_the_fix() {
        let mut report = CheckReport::default();
        report.missing.push(Missing {
            kind: MissingKind::Interpreter,
            only_under_usr: Some("/usr/lib64/ld-linux-x86-64.so.2".into()),
            ..missing("/lib64/ld-linux-x86-64.so.2", &["/usr/bin/dpkg"])
        });
        let diagnostic = failure(&[("amd64".into(), report)], true).expect("a failure");
        assert_eq!(
            diagnostic.message,
            "the image lacks the program interpreter its ELF files need: `/lib64/ld-linux-x86-64.so.2` (amd64), needed by `/usr/bin/dpkg`"
        );
        let hint = diagnostic.hint.expect("a hint");
        assert!(hint.contains("merged-usr = true"), "{hint}");
        assert!(!hint.contains("debless provides"), "{hint}");
    }
}
