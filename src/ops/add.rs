//! `add`: add root packages to the manifest and re-lock; with `for_files`, add the packages
//! that ship the shared libraries the given ELF files need and the locked image lacks
//! (issue #8).
//!
//! The loop: assemble the locked image in memory (as `build` does), find the files' unmet
//! `DT_NEEDED` and every other library the image's check reports missing, look each soname up
//! in the suites' Contents index ([`crate::repo::provides`]), add the chosen packages to
//! `packages = [...]`, re-lock through [`super::lock`], and go round again until nothing is
//! missing (normally once: the dependency closure brings the libraries' own needs).
//!
//! The manifest is edited in place ([`crate::manifest::edit`]), so comments and layout survive.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::assemble::{AssembleOptions, assemble_all};
use super::error::Context as _;
use super::lock::{LockOptions, LockOutcome};
use super::{Error, Progress, Project};
use crate::check::elf::{self, ElfInfo};
use crate::check::view::ImageView;
use crate::check::{CheckOptions, check_image, unresolved_needs};
use crate::debian::Arch;
use crate::env::Settings;
use crate::manifest::Manifest;
use crate::repo::provides::Provider;
use crate::rootfs::{NodeKind, Tree};

/// Rounds of add + re-lock before giving up (each round must add a package).
const MAX_ROUNDS: usize = 5;

/// What to add.
#[derive(Clone, Debug, Default)]
pub struct AddOptions {
    /// Packages to add to the manifest's `packages` (as `name`, `name:arch`, …).
    pub packages: Vec<String>,
    /// ELF files whose missing shared libraries should be added.
    pub for_files: Vec<PathBuf>,
    /// Use only the cache for the packages of the locked image.
    pub offline: bool,
}

/// What `add` did, beyond the events it reported on the way.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AddOutcome {
    /// Whether `for_files` were examined (and so whether the image now has their libraries).
    pub examined_files: bool,
    /// The packages added for the files' libraries, in the order they were added.
    pub added_for_files: Vec<String>,
}

/// The events of `add`, in the order they happen, so a caller can show each as it comes (the
/// CLI interleaves them with the lock summaries). Every method has a no-op default.
pub trait AddProgress: Progress {
    /// `names` were appended to the manifest's `packages`.
    fn added(&self, _names: &[&str], _manifest: &Path) {}
    /// The project was re-locked in `elapsed`.
    fn locked(&self, _outcome: &LockOutcome, _elapsed: Duration) {}
    /// A `--for` file needs sonames the locked image lacks.
    fn needs(&self, _file: &Path, _sonames: &[String]) {}
    /// `package` was chosen to provide `soname`, for the reasons `why`.
    fn chose(&self, _soname: &str, _package: &str, _why: &str) {}
}

impl AddProgress for super::NoProgress {}

/// Adds `options.packages` to the manifest, re-locks, then adds packages until every library
/// the `options.for_files` and the locked image need is in the image.
pub fn add(
    project: &Project,
    settings: &Settings,
    options: &AddOptions,
    progress: &dyn AddProgress,
) -> Result<AddOutcome, Error> {
    if options.packages.is_empty() && options.for_files.is_empty() {
        return Err(Error::input(
            "`debless add` needs package names or `--for FILE`",
            "name packages (`debless add libgmp10`) or ELF files (`debless add --for ./ext.so`)",
        ));
    }
    let objects = options
        .for_files
        .iter()
        .map(|path| read_object(path))
        .collect::<Result<Vec<_>, _>>()?;
    if !options.packages.is_empty() {
        add_roots(project, &options.packages, progress)?;
    }
    relock(project, settings, progress)?;
    let mut added: Vec<String> = Vec::new();
    if objects.is_empty() {
        return Ok(AddOutcome {
            examined_files: false,
            added_for_files: added,
        });
    }
    for _round in 0..MAX_ROUNDS {
        let manifest = project.load_manifest()?;
        let arch = manifest
            .architectures
            .first()
            .cloned()
            .ok_or_else(|| Error::internal("a validated manifest has an architecture"))?;
        let missing = missing_sonames(
            project,
            settings,
            &manifest,
            &arch,
            &objects,
            options.offline,
            progress,
        )?;
        if missing.is_empty() {
            return Ok(AddOutcome {
                examined_files: true,
                added_for_files: added,
            });
        }
        let (queries, providers) =
            super::query::providers_of(&manifest, settings, &arch, &missing)?;
        let lock = crate::lock::Lock::load(&project.lock)?;
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
                    progress.chose(&text, &choice.package, &why);
                    if roots.contains(choice.package.as_str()) {
                        return Err(Error::input(
                            format!(
                                "`{text}` is still missing although `{}`, which ships `{}`, is a root package",
                                choice.package, choice.path
                            ),
                            "a path filter (`[image] strip`, `exclude-paths`) may drop it; check `debless check`'s report",
                        ));
                    }
                    if !round.contains(&choice.package) {
                        round.push(choice.package.clone());
                    }
                }
                None => unavailable.push(text),
            }
        }
        if !unavailable.is_empty() {
            return Err(Error::input(
                format!(
                    "no package of the manifest's suites ships {} for {arch}",
                    unavailable
                        .iter()
                        .map(|u| format!("`{u}`"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
                "add a suite that has it (`[[source]]`), or list it in `[image] allow-missing-libraries`",
            ));
        }
        add_roots(project, &round, progress)?;
        relock(project, settings, progress)?;
        added.extend(round);
    }
    Err(Error::input(
        format!("libraries are still missing after {MAX_ROUNDS} rounds of adding packages"),
        "run `debless check` to see what is missing",
    ))
}

/// A `--for` file: its path (for messages), bytes and parsed ELF header.
struct ForObject {
    path: PathBuf,
    bytes: Vec<u8>,
    info: ElfInfo,
}

fn read_object(path: &Path) -> Result<ForObject, Error> {
    let bytes = fs_err::read(path)?;
    let info = elf::parse(&bytes).map_err(|err| {
        Error::input(
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
    project: &Project,
    settings: &Settings,
    manifest: &Manifest,
    arch: &Arch,
    objects: &[ForObject],
    offline: bool,
    progress: &dyn AddProgress,
) -> Result<Vec<String>, Error> {
    let options = AssembleOptions {
        offline,
        ..AssembleOptions::default()
    };
    let (_, images) = assemble_all(project, settings, &options, progress)?;
    let image = images
        .iter()
        .find(|image| &image.arch == arch)
        .ok_or_else(|| Error::internal("the locked image has the manifest's first architecture"))?;
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
            progress.needs(&object.path, &needs);
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
fn add_roots(project: &Project, names: &[String], progress: &dyn AddProgress) -> Result<(), Error> {
    let path = &project.manifest;
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
            Error::input(
                err,
                "name a package as `name`, `name:arch` or `name=version`",
            )
        })?;
    }
    let edited = crate::manifest::edit::append_packages(&text, &new).map_err(|why| {
        Error::input(
            format!("cannot add packages to `{}`: {why}", path.display()),
            format!(
                "add {} to `packages` by hand, then run `debless lock`",
                new.join(", ")
            ),
        )
    })?;
    crate::lock::write_atomically(path, edited.as_bytes())
        .context_with(|| format!("writing `{}`", path.display()))?;
    progress.added(&new, path);
    Ok(())
}

/// Re-locks as `debless lock` does and reports the outcome.
fn relock(project: &Project, settings: &Settings, progress: &dyn AddProgress) -> Result<(), Error> {
    let started = Instant::now();
    let outcome = super::lock::lock(project, settings, &LockOptions::default(), progress)?;
    progress.locked(&outcome, started.elapsed());
    Ok(())
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
