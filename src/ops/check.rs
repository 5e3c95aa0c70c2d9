//! The shared-library check as an operation: the locked image assembled in memory, a root
//! filesystem directory, or an OCI layout or archive, each checked for ELF files whose
//! libraries or loader the image lacks. `build` runs the same check on what it assembled.

use std::path::{Path, PathBuf};

use super::assemble::{self, AssembleOptions};
use super::error::Context as _;
use super::{Class, Error, Progress, Project};
use crate::check::entrypoint::check_program;
use crate::check::load::{layout_images, tree_from_dir, tree_from_layers};
use crate::check::view::ImageView;
use crate::check::{
    CheckOptions, CheckReport, MissingKind, check_image, off_path_explanation, optional_explanation,
};
use crate::debian::Arch;
use crate::env::Settings;
use crate::manifest::Manifest;
use crate::rootfs::Tree;

/// What to check.
#[derive(Clone, Debug)]
pub enum Target {
    /// The image of debless.lock, assembled in memory from the cache (downloading what is
    /// missing unless `offline`).
    Locked { offline: bool },
    /// A root filesystem directory (what `build --rootfs DIR` wrote).
    Rootfs(PathBuf),
    /// An OCI image layout directory or `oci-archive` file.
    Image(PathBuf),
}

impl Default for Target {
    /// The locked image, downloading what the cache lacks.
    fn default() -> Self {
        Target::Locked { offline: false }
    }
}

/// One checked image: its label (the architecture) and report.
pub type Checked = (String, CheckReport);

/// Checks `target`: one report per image. Missing names are not an error here; the caller
/// decides with [`failure`] (the CLI exits 4).
pub fn check(
    project: &Project,
    settings: &Settings,
    target: &Target,
    progress: &dyn Progress,
) -> Result<Vec<Checked>, Error> {
    let mut reports: Vec<Checked> = Vec::new();
    if let Target::Locked { offline } = *target {
        let options = AssembleOptions {
            offline,
            ..AssembleOptions::default()
        };
        let (manifest, images) = assemble::assemble_all(project, settings, &options, progress)?;
        for image in &images {
            reports.push((
                image.arch.as_str().to_owned(),
                check_trees(
                    &image.layers(),
                    &options_for(Some(&manifest), Some(&image.arch)),
                ),
            ));
            check_entrypoint(&manifest, &image.layers())?;
        }
        return Ok(reports);
    }
    // The manifest is optional here; when present, its allow list applies.
    let manifest = if project.manifest.is_file() {
        Some(project.load_manifest()?)
    } else {
        None
    };
    match target {
        Target::Rootfs(dir) => {
            let tree = tree_from_dir(dir)?;
            let arch = manifest
                .as_ref()
                .and_then(|m| m.architectures.first().cloned());
            let label = arch
                .as_ref()
                .map_or_else(|| dir.display().to_string(), |a| a.as_str().to_owned());
            reports.push((
                label,
                check_trees(&[&tree], &options_for(manifest.as_ref(), arch.as_ref())),
            ));
        }
        Target::Image(image) => {
            // An `oci-archive` file is the layout as a tar: unpack it first.
            let unpacked = if image.is_file() {
                Some(unpack_archive(image)?)
            } else {
                None
            };
            let layout = unpacked.as_ref().map_or(image.as_path(), |dir| dir.path());
            let images = layout_images(layout)
                .context_with(|| format!("reading the image at `{}`", image.display()))?;
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
                    check_trees(&[&tree], &options_for(manifest.as_ref(), arch.as_ref())),
                ));
            }
        }
        Target::Locked { .. } => {}
    }
    Ok(reports)
}

/// `build`'s own check of one architecture (its trees top first: application, packages,
/// base): fails with the missing names unless allowed, or when the entrypoint cannot start;
/// returns lines to show for the rest (allowed names, sonames found off the search path,
/// sonames of features the packages only recommend).
pub fn check_built_layers(
    manifest: &Manifest,
    arch: &Arch,
    layers: &[&Tree],
) -> Result<Vec<String>, Error> {
    let report = check_trees(layers, &options_for(Some(manifest), Some(arch)));
    let mut lines = Vec::new();
    if !report.allowed.is_empty() {
        let allowed: Vec<&str> = report.allowed.iter().map(|m| m.name.as_str()).collect();
        lines.push(format!(
            "Note: {arch}: missing but allowed by `allow-missing-libraries`: {}",
            allowed.join(", ")
        ));
    }
    for warning in &report.off_path {
        lines.push(format!(
            "Warning: {arch}: `{}` needed by {}: {}",
            warning.name,
            users(&warning.needed_by),
            off_path_explanation(&warning.found_off_path)
        ));
    }
    for warning in &report.optional {
        if let Some(why) = &warning.optional {
            lines.push(format!(
                "Warning: {arch}: `{}` needed by {}: {}",
                warning.name,
                users(&warning.needed_by),
                optional_explanation(why)
            ));
        }
    }
    if let Some(err) = failure(&[(arch.as_str().to_owned(), report)], true) {
        return Err(err);
    }
    check_entrypoint(manifest, layers)?;
    Ok(lines)
}

/// The entrypoint (or `cmd[0]` without one) of the manifest must start in the image
/// ([`Class::MissingLibraries`] otherwise). Over a base image that sets them, the manifest may
/// set neither: nothing to check.
fn check_entrypoint(manifest: &Manifest, layers: &[&Tree]) -> Result<(), Error> {
    let image = &manifest.image;
    let (setting, program) = match (&image.entrypoint, &image.cmd) {
        (Some(entrypoint), _) if !entrypoint.is_empty() => ("entrypoint", &entrypoint[0]),
        (None, Some(cmd)) if !cmd.is_empty() => ("cmd", &cmd[0]),
        _ => return Ok(()),
    };
    let view = ImageView::new(layers);
    let path_var = image.env.get("PATH").map(String::as_str);
    check_program(&view, program, path_var, image.workdir.as_deref()).map_err(|err| {
        Error::Input {
            message: err.to_string(),
            hint: Some(format!(
                "add the package that ships it (`debless provides {program}`) or fix `[image] {setting}`; `debless build --no-check` skips the check"
            )),
            class: Class::MissingLibraries,
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
fn unpack_archive(file: &Path) -> Result<tempfile::TempDir, Error> {
    let dir = crate::cleanup::temp_dir("debless-check-")?;
    let mut archive = tar::Archive::new(std::io::BufReader::new(fs_err::File::open(file)?));
    archive
        .unpack(dir.path())
        .context_with(|| format!("unpacking `{}` as an oci-archive", file.display()))?;
    Ok(dir)
}

/// Checks trees stacked top first.
pub fn check_trees(layers: &[&Tree], options: &CheckOptions) -> CheckReport {
    check_image(&ImageView::new(layers), options)
}

/// The check's settings from the manifest and architecture, either optional.
fn options_for(manifest: Option<&Manifest>, arch: Option<&Arch>) -> CheckOptions {
    CheckOptions {
        triplet: arch.map(|a| a.multiarch_tuple().to_owned()),
        allow_missing: manifest
            .map(|m| m.image.allow_missing_libraries.clone())
            .unwrap_or_default(),
    }
}

/// The error for missing names ([`Class::MissingLibraries`]), or `None` when every image passed.
pub fn failure(reports: &[Checked], in_build: bool) -> Option<Error> {
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
        return Some(Error::Input {
            message: format!(
                "the image lacks the program interpreter its ELF files need: {}",
                parts.first().map_or("", String::as_str)
            ),
            hint: Some(format!(
                "the image has the loader at `{usr_side}` only, as merged-/usr releases ship it, but its root is split so `{loader}` does not exist: set `merged-usr = true` in `[image]` (the default for trixie and later suites)"
            )),
            class: Class::MissingLibraries,
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
    Some(Error::Input {
        message,
        hint: Some(hint),
        class: Class::MissingLibraries,
    })
}

#[cfg(test)]
mod tests {
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
            optional: None,
        }
    }

    #[test]
    fn the_manifest_allow_list_and_arch_reach_the_check() {
        let manifest = Manifest::from_str(
            Path::new("debless.toml"),
            "architectures = [\"arm64\"]\npackages = [\"libc6\"]\n[[source]]\nsuite = \"bookworm\"\n[image]\nallow-missing-libraries = [\"libGL.so.*\"]\n",
        )
        .expect("valid manifest");
        let options = options_for(Some(&manifest), manifest.architectures.first());
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
        let err = failure(&[("amd64".into(), report)], true).expect("a failure");
        assert_eq!(err.class(), Class::MissingLibraries);
        let message = err.to_string();
        assert!(
            message
                .starts_with("the image lacks shared libraries its ELF files need: `lib0.so.1` (amd64), needed by `/a`, `/b`, `/c` and 1 more; `lib1.so.1`"),
            "{message}"
        );
        assert!(message.ends_with("; and 2 more"), "{message}");
        assert!(
            err.hint().as_deref().is_some_and(
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
        let err = failure(&[("amd64".into(), report)], true).expect("a failure");
        assert_eq!(
            err.to_string(),
            "the image lacks the program interpreter its ELF files need: `/lib64/ld-linux-x86-64.so.2` (amd64), needed by `/usr/bin/dpkg`"
        );
        let hint = err.hint().expect("a hint");
        assert!(hint.contains("merged-usr = true"), "{hint}");
        assert!(!hint.contains("debless provides"), "{hint}");
    }
}
