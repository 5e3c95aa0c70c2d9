//! `debless add [PKG…] [--for FILE…]`: add root packages to debless.toml and re-lock; with
//! `--for`, the packages that ship the shared libraries the given ELF files need and the
//! locked image lacks (issue #8).
//!
//! The loop: assemble the locked image in memory (as `build` does), find the files' unmet
//! `DT_NEEDED` and every other library the image's check reports missing, look each soname up
//! in the suites' Contents index (`provides`), add the chosen packages to `packages = [...]`,
//! re-lock through `debless lock`'s own code, and go round again until nothing is missing
//! (normally once: the dependency closure brings the libraries' own needs).
//!
//! debless.toml is edited in place (`manifest::edit`), so comments and layout survive.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result};

use super::diagnostics::Diagnostic;
use super::{Globals, Ui, status};
use crate::check::elf::{self, ElfInfo};
use crate::check::view::ImageView;
use crate::check::{CheckOptions, check_image, unresolved_needs};
use crate::debian::Arch;
use crate::manifest::Manifest;
use crate::ops::assemble::{AssembleOptions, assemble_all};
use crate::repo::contents::ContentsQuery;
use crate::repo::provides::{Provider, find};
use crate::rootfs::{NodeKind, Tree};

/// Rounds of add + re-lock before giving up (each round must add a package).
const MAX_ROUNDS: usize = 5;

/// Arguments of `debless add`.
#[derive(Debug, clap::Args)]
pub struct AddArgs {
    /// Packages to add to the manifest's `packages` (as `name`, `name:arch`, …).
    #[arg(value_name = "PKG")]
    pub packages: Vec<String>,
    /// ELF files (say a Python extension built elsewhere, copied in with `[[image.files]]`)
    /// whose missing shared libraries should be added: each soname the locked image lacks is
    /// looked up in the suites' Contents index and its package added.
    #[arg(long = "for", value_name = "FILE", num_args = 1..)]
    pub for_files: Vec<PathBuf>,
    /// Use only the cache for the packages of the locked image.
    #[arg(long)]
    pub offline: bool,
}

/// Runs `debless add`.
pub fn run(globals: &Globals, args: &AddArgs) -> Result<()> {
    if args.packages.is_empty() && args.for_files.is_empty() {
        return Err(Diagnostic::new(
            "`debless add` needs package names or `--for FILE`",
            "name packages (`debless add libgmp10`) or ELF files (`debless add --for ./ext.so`)",
        )
        .into());
    }
    let objects = args
        .for_files
        .iter()
        .map(|path| read_object(path))
        .collect::<Result<Vec<_>>>()?;
    if !args.packages.is_empty() {
        add_roots(globals, &args.packages)?;
    }
    relock(globals)?;
    if objects.is_empty() {
        return Ok(());
    }
    let mut added: Vec<String> = Vec::new();
    for _round in 0..MAX_ROUNDS {
        let manifest = globals.project().load_manifest()?;
        let arch = manifest
            .architectures
            .first()
            .cloned()
            .expect("a validated manifest has an architecture");
        let missing = missing_sonames(globals, &manifest, &arch, &objects, args.offline)?;
        if missing.is_empty() {
            if added.is_empty() {
                status(
                    globals,
                    format_args!("The locked image already has every library these files need"),
                );
            } else {
                status(
                    globals,
                    format_args!(
                        "Added {} to {}; the image now has every library these files need",
                        added.join(", "),
                        globals.manifest.display()
                    ),
                );
            }
            return Ok(());
        }
        let queries: Vec<ContentsQuery> = missing
            .iter()
            .map(|name| ContentsQuery::parse(name))
            .collect();
        let providers = find(
            &manifest,
            || globals.settings.mirrors(),
            &globals.settings.cache_dir,
            &arch,
            &queries,
        )?;
        let lock = crate::lock::Lock::load(&globals.lock_path())?;
        let locked: BTreeSet<String> = lock
            .iter()
            .flat_map(|l| l.packages.iter().map(|p| p.name.clone()))
            .collect();
        let roots: BTreeSet<&str> = manifest.packages.iter().map(|r| r.name.as_str()).collect();
        let mut round: Vec<String> = Vec::new();
        let mut unavailable = Vec::new();
        for query in &queries {
            let text = query.text();
            let candidates: Vec<&Provider> = providers.iter().filter(|p| p.query == text).collect();
            match choose(&candidates, &arch, &locked, &manifest) {
                Some((choice, why)) => {
                    outln!("{text}  {}  ({why})", choice.package);
                    if roots.contains(choice.package.as_str()) {
                        return Err(Diagnostic::new(
                            format!(
                                "`{text}` is still missing although `{}`, which ships `{}`, is a root package",
                                choice.package, choice.path
                            ),
                            "a path filter (`[image] strip`, `exclude-paths`) may drop it; check `debless check`'s report",
                        )
                        .into());
                    }
                    if !round.contains(&choice.package) {
                        round.push(choice.package.clone());
                    }
                }
                None => unavailable.push(text),
            }
        }
        if !unavailable.is_empty() {
            return Err(Diagnostic::new(
                format!(
                    "no package of the manifest's suites ships {} for {arch}",
                    unavailable
                        .iter()
                        .map(|u| format!("`{u}`"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
                "add a suite that has it (`[[source]]`), or list it in `[image] allow-missing-libraries`",
            )
            .into());
        }
        add_roots(globals, &round)?;
        relock(globals)?;
        added.extend(round);
    }
    Err(Diagnostic::new(
        format!("libraries are still missing after {MAX_ROUNDS} rounds of adding packages"),
        "run `debless check` to see what is missing",
    )
    .into())
}

/// A `--for` file: its path (for messages), bytes and parsed ELF header.
struct ForObject {
    path: PathBuf,
    bytes: Vec<u8>,
    info: ElfInfo,
}

fn read_object(path: &Path) -> Result<ForObject> {
    let bytes = fs_err::read(path)?;
    let info = elf::parse(&bytes).map_err(|err| {
        Diagnostic::new(
            format!("`--for {}`: {err}", path.display()),
            "name ELF shared objects or executables",
        )
    })?;
    Ok(ForObject {
        path: path.to_path_buf(),
        bytes,
        info,
    })
}

/// The sonames the locked image (first architecture) lacks: those the `--for` files need,
/// and those any other file of the image needs (the check's missing libraries).
fn missing_sonames(
    globals: &Globals,
    manifest: &Manifest,
    arch: &Arch,
    objects: &[ForObject],
    offline: bool,
) -> Result<Vec<String>> {
    let options = AssembleOptions {
        offline,
        ..AssembleOptions::default()
    };
    let (_, images) = assemble_all(
        &globals.project(),
        &globals.settings,
        &options,
        &Ui::new(globals),
    )?;
    let image = images
        .iter()
        .find(|image| &image.arch == arch)
        .context("the locked image has the manifest's first architecture")?;
    let app = &image.app;
    let base = image.base_tree();
    let mut layers = vec![app, image.rootfs.tree()];
    layers.extend(base);
    let view = ImageView::new(&layers);
    let options = CheckOptions {
        triplet: Some(arch.multiarch_tuple().to_owned()),
        allow_missing: manifest.image.allow_missing_libraries.clone(),
    };
    let mut missing: BTreeSet<String> = BTreeSet::new();
    for object in objects {
        let at = image_path_of(app, &object.bytes).unwrap_or_else(|| {
            object
                .path
                .file_name()
                .map_or_else(String::new, |n| n.to_string_lossy().into_owned())
        });
        let needs = unresolved_needs(&view, &options, &at, &object.info);
        if !needs.is_empty() {
            status(
                globals,
                format_args!(
                    "{} needs {} (not in the locked image)",
                    object.path.display(),
                    needs.join(", ")
                ),
            );
        }
        let allowed = |name: &String| {
            options
                .allow_missing
                .iter()
                .any(|pattern| crate::rootfs::filter::fnmatch(pattern, name))
        };
        missing.extend(
            needs
                .into_iter()
                .filter(|n| !n.contains('/') && !allowed(n)),
        );
    }
    let report = check_image(&view, &options);
    missing.extend(
        report
            .missing
            .iter()
            .filter(|m| m.kind == crate::check::MissingKind::Library)
            .map(|m| m.name.clone()),
    );
    Ok(missing.into_iter().collect())
}

/// Where the application layer holds a file with these bytes (so `$ORIGIN` is right).
fn image_path_of(app: &Tree, bytes: &[u8]) -> Option<String> {
    app.iter()
        .find(|(_, node)| matches!(&node.kind, NodeKind::File(b) if b == bytes))
        .map(|(path, _)| path.to_owned())
}

/// Picks the package to add for one soname, deterministically, and says why: first only
/// packages shipping it in a directory the loader searches for `arch` (the same
/// architecture's multiarch dirs, then `/lib`, `/usr/lib`); among them one already in the
/// lock, then one from the manifest's first suite, then the shortest name, then by name.
fn choose<'a>(
    candidates: &[&'a Provider],
    arch: &Arch,
    locked: &BTreeSet<String>,
    manifest: &Manifest,
) -> Option<(&'a Provider, String)> {
    let triplet = arch.multiarch_tuple();
    let search_dirs = [
        format!("/lib/{triplet}"),
        format!("/usr/lib/{triplet}"),
        "/lib".to_owned(),
        "/usr/lib".to_owned(),
    ];
    let in_search_path = |p: &&&Provider| {
        let dir = p.path.rsplit_once('/').map_or("", |(dir, _)| dir);
        search_dirs.iter().any(|d| d == dir)
    };
    let mut pool: Vec<&'a Provider> = candidates.iter().filter(in_search_path).copied().collect();
    let mut reasons = vec![format!("ships it in {triplet}'s library path")];
    let elsewhere: BTreeSet<&str> = candidates
        .iter()
        .filter(|p| !in_search_path(p))
        .map(|p| p.package.as_str())
        .collect();
    if !pool.is_empty() && !elsewhere.is_empty() {
        reasons.push(format!(
            "not {}: outside the library path",
            elsewhere.into_iter().collect::<Vec<_>>().join(", ")
        ));
    }
    if pool.is_empty() {
        pool = candidates.to_vec();
        reasons = vec!["ships it (outside the default library path)".to_owned()];
    }
    let first_suite = manifest.sources.first().map(|s| s.suite.as_str());
    pool.sort_by(|a, b| {
        let rank = |p: &Provider| {
            (
                !locked.contains(&p.package),
                Some(p.suite.as_str()) != first_suite,
                p.package.len(),
            )
        };
        rank(a)
            .cmp(&rank(b))
            .then_with(|| a.package.cmp(&b.package))
            .then_with(|| a.path.cmp(&b.path))
    });
    let choice = *pool.first()?;
    let others: BTreeSet<&str> = pool
        .iter()
        .map(|p| p.package.as_str())
        .filter(|name| *name != choice.package)
        .collect();
    reasons[0] = format!("{} as {}", reasons[0], choice.path);
    if locked.contains(&choice.package) {
        reasons.push("already locked".to_owned());
    }
    if !others.is_empty() {
        reasons.push(format!(
            "preferred over {} (locked, first suite, shorter name, then by name)",
            others.into_iter().collect::<Vec<_>>().join(", ")
        ));
    }
    Some((choice, reasons.join("; ")))
}

/// Adds names to the manifest's `packages` array (skipping those already there) in place.
fn add_roots(globals: &Globals, names: &[String]) -> Result<()> {
    let path = &globals.manifest;
    let text = fs_err::read_to_string(path)?;
    let manifest = Manifest::load(path)?;
    let present: BTreeSet<&str> = manifest.packages.iter().map(|r| r.text.as_str()).collect();
    let new: Vec<&str> = names
        .iter()
        .map(String::as_str)
        .filter(|n| !present.contains(n))
        .collect();
    if new.is_empty() {
        return Ok(());
    }
    for name in &new {
        crate::manifest::RootSpec::parse(name).map_err(|err| {
            Diagnostic::new(
                err,
                "name a package as `name`, `name:arch` or `name=version`",
            )
        })?;
    }
    let edited = crate::manifest::edit::append_packages(&text, &new).map_err(|why| {
        Diagnostic::new(
            format!("cannot add packages to `{}`: {why}", path.display()),
            format!(
                "add {} to `packages` by hand, then run `debless lock`",
                new.join(", ")
            ),
        )
    })?;
    crate::lock::write_atomically(path, edited.as_bytes())
        .with_context(|| format!("writing `{}`", path.display()))?;
    status(
        globals,
        format_args!("Added {} to {}", new.join(", "), path.display()),
    );
    Ok(())
}

/// Re-locks as `debless lock` does, with its summary.
fn relock(globals: &Globals) -> Result<()> {
    let args = super::lock::LockArgs {
        check: false,
        update: None,
        json: false,
    };
    super::lock::run(globals, &args)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn choice_prefers_locked_then_first_suite_then_shorter_names() {
        let manifest = Manifest::from_str(
            Path::new("debless.toml"),
            "architectures = [\"amd64\"]\npackages = [\"python3\"]\n[[source]]\nsuite = \"bookworm\"\n[[source]]\nsuite = \"bookworm-backports\"\n",
        )
        .expect("valid manifest");
        let provider = |path: &str, package: &str, suite: &str| Provider {
            path: path.into(),
            package: package.into(),
            query: "libgmp.so.10".into(),
            suite: suite.into(),
            section: "libs".into(),
        };
        let arch = Arch::parse("amd64").expect("known");
        let good = provider(
            "/usr/lib/x86_64-linux-gnu/libgmp.so.10",
            "libgmp10",
            "bookworm",
        );
        let longer = provider(
            "/usr/lib/x86_64-linux-gnu/libgmp.so.10",
            "libgmp10-compat",
            "bookworm",
        );
        let other_arch = provider("/usr/lib/i386-linux-gnu/libgmp.so.10", "lib32", "bookworm");
        let other_suite = provider(
            "/usr/lib/x86_64-linux-gnu/libgmp.so.10",
            "gmp",
            "bookworm-backports",
        );
        let all = [&longer, &other_arch, &good, &other_suite];
        let (choice, why) = choose(&all, &arch, &BTreeSet::new(), &manifest).expect("a choice");
        assert_eq!(choice.package, "libgmp10");
        assert!(why.contains("preferred over gmp, libgmp10-compat"), "{why}");
        let locked: BTreeSet<String> = ["libgmp10-compat".to_owned()].into();
        let (choice, why) = choose(&all, &arch, &locked, &manifest).expect("a choice");
        assert_eq!(choice.package, "libgmp10-compat");
        assert!(why.contains("already locked"), "{why}");
        let (choice, _) =
            choose(&[&other_arch], &arch, &BTreeSet::new(), &manifest).expect("a choice");
        assert_eq!(choice.package, "lib32");
    }
}
