//! The lock operation: manifest → verified suites → resolution → `debless.lock`.

use std::collections::BTreeSet;
use std::time::SystemTime;

use super::error::Context as _;
use super::{Error, Progress, Project};
use crate::env::Settings;
use crate::lock::diff::LockDiff;
use crate::lock::{Lock, LockedSource};
use crate::manifest::Manifest;
use crate::repo::suites::SuiteSources;
use crate::repo::{Http, IndexCache, PackedSuite, VerifiedRelease};
use crate::resolve::{self, Pin, Request, SourceIndices, Universe};

/// How to lock.
#[derive(Clone, Debug, Default)]
pub struct LockOptions {
    /// Do not write; fail (lock outdated) unless the lock matches the manifest.
    pub check: bool,
    /// Move the named packages (all when the list is empty) to the newest versions the suites
    /// offer; `None` keeps the pins that still satisfy the manifest.
    pub update: Option<Vec<String>>,
}

/// What locking did.
#[derive(Clone, Debug)]
pub enum LockOutcome {
    /// The lock on disk already says it all; nothing was written.
    Unchanged { lock: Lock },
    /// A new lock was written.
    Changed {
        lock: Lock,
        /// Against the previous lock, when there was one.
        diff: Option<LockDiff>,
    },
}

impl LockOutcome {
    /// The current lock.
    pub fn lock(&self) -> &Lock {
        match self {
            LockOutcome::Unchanged { lock } | LockOutcome::Changed { lock, .. } => lock,
        }
    }
}

/// Resolves the project's manifest and writes its lock (only when the bytes change).
pub fn lock(
    project: &Project,
    settings: &Settings,
    options: &LockOptions,
    progress: &dyn Progress,
) -> Result<LockOutcome, Error> {
    let manifest = project.load_manifest()?;
    let lock_path = &project.lock;
    let old = if options.check {
        Lock::load(lock_path)?
    } else {
        // A damaged or older-format lock is no reason to refuse re-locking: it is rewritten.
        Lock::load_previous(lock_path)?
    };
    if options.check {
        check(&manifest, old.as_ref(), &lock_path.display().to_string())?;
        let lock = old.ok_or_else(|| Error::internal("a checked lock exists"))?;
        return Ok(LockOutcome::Unchanged { lock });
    }
    let sources = SuiteSources::new(&manifest, || settings.mirrors())?;
    let http = Http::from_config(&super::http_config(settings, Some(&manifest)))?;
    let now = SystemTime::now();
    let cache = IndexCache::new(settings.cache_dir.clone());
    let old = match old {
        Some(old) if options.update.is_none() && old.staleness(&manifest).is_none() => old,
        // No lock, a changed manifest or `--update`: the indices are needed whatever the
        // Releases say, so each suite's are read as soon as its Release is verified.
        old => {
            let (releases, loaded) =
                sources.verify_and_load_packed(&manifest, &http, &cache, now)?;
            if let Some(old) = &old {
                refuse_rollback(old, &releases)?;
            }
            let suites = loaded.into_iter().collect::<Result<Vec<_>, _>>()?;
            return relock(project, settings, options, progress, &manifest, suites, old);
        }
    };
    let releases = sources.verify(&manifest, &http, now)?;
    refuse_rollback(&old, &releases)?;
    // Same manifest, same signed Releases: the indices and so the resolution are the same.
    let unchanged = old.sources.len() == releases.len()
        && old
            .sources
            .iter()
            .zip(&releases)
            .all(|(locked, fresh)| locked.inrelease_sha256 == fresh.inrelease_sha256);
    if unchanged {
        return Ok(LockOutcome::Unchanged { lock: old });
    }
    let suites = sources.load_packed(&manifest, &http, &cache, releases)?;
    relock(
        project,
        settings,
        options,
        progress,
        &manifest,
        suites,
        Some(old),
    )
}

/// Resolves every architecture over the loaded suites and writes the lock when it changed.
fn relock(
    project: &Project,
    settings: &Settings,
    options: &LockOptions,
    progress: &dyn Progress,
    manifest: &Manifest,
    suites: Vec<PackedSuite>,
    old: Option<Lock>,
) -> Result<LockOutcome, Error> {
    let pins = pins_to_keep(old.as_ref(), options.update.as_deref())?;
    // A bare `--update` also moves the base to what its tag names now.
    let refresh_base = options.update.as_ref().is_some_and(Vec::is_empty);
    let base = super::base::pin(settings, progress, manifest, old.as_ref(), refresh_base)?;
    let mut resolutions = Vec::new();
    for arch in &manifest.architectures {
        // The packed indices are shared, not copied: each architecture's universe decodes
        // only the records its resolution visits.
        let universe_sources = suites
            .iter()
            .zip(&manifest.sources)
            .map(|(suite, source)| SourceIndices {
                label: suite.verified.suite.clone(),
                priority: source.priority,
                indices: suite.packed.clone(),
            })
            .collect();
        let universe = Universe::from_indices(universe_sources, std::slice::from_ref(arch));
        let request = Request {
            roots: manifest
                .packages
                .iter()
                .map(|root| resolve::Root {
                    name: root.name.clone(),
                    arch: root.arch.clone(),
                    constraint: root.constraint.clone(),
                })
                .collect(),
            exclude: manifest.exclude.clone(),
            prefer: manifest.prefer.clone(),
            pins: pins
                .iter()
                .filter(|pin| pin.0 == *arch)
                .map(|pin| pin.1.clone())
                .collect(),
            already_installed: super::base::installed(base.as_ref(), arch),
        };
        let resolution = resolve::resolve(&universe, &request)
            .map_err(|err| super::base::explain_resolve_error(base.as_ref(), err))
            .context_with(|| format!("resolving the manifest's packages for {arch}"))?;
        for note in &resolution.notes {
            progress.status(&format!("note ({arch}): {note}"));
        }
        resolutions.push((arch.clone(), resolution));
    }
    let locked_sources: Vec<LockedSource> = suites
        .iter()
        .zip(&manifest.sources)
        .map(|(suite, source)| locked_source(suite, &source.components))
        .collect();
    let mut lock = Lock::from_resolutions(manifest, locked_sources, &resolutions);
    lock.base = base;
    // Same packages over the same base: the image (whose default epoch comes from the
    // packages' own files, not the Release dates) is the same, so the recorded digests hold.
    if let Some(old) = &old
        && old.packages == lock.packages
        && old.base == lock.base
    {
        lock.images = old.images.clone();
    }
    let changed = lock.write_if_changed(&project.lock)?;
    if !changed {
        return Ok(LockOutcome::Unchanged { lock });
    }
    let diff = old.as_ref().map(|old| crate::lock::diff::diff(old, &lock));
    Ok(LockOutcome::Changed { lock, diff })
}

/// `--check`: the lock exists and matches the manifest.
fn check(manifest: &Manifest, old: Option<&Lock>, lock_name: &str) -> Result<(), Error> {
    let Some(old) = old else {
        return Err(Error::outdated(
            format!("`{lock_name}` does not exist"),
            "run `debless lock` to create it",
        ));
    };
    match old.staleness(manifest) {
        None => Ok(()),
        Some(stale) => Err(Error::outdated(
            format!("`{lock_name}` does not match the manifest: {stale}"),
            "run `debless lock` and commit the new lock",
        )),
    }
}

/// apt's rollback guard: a suite whose signed `Date` is older than the one already locked is
/// a mirror going backwards (or an attacker replaying an old Release).
fn refuse_rollback(old: &Lock, suites: &[VerifiedRelease]) -> Result<(), Error> {
    for suite in suites {
        if let Some(locked) = old.source(&suite.suite)
            && suite.date < locked.date
        {
            return Err(Error::input(
                format!(
                    "suite `{}`: the mirror's Release is dated {}, older than the {} already locked",
                    suite.suite,
                    crate::timestamp::format_rfc3339(suite.date),
                    crate::timestamp::format_rfc3339(locked.date)
                ),
                "the mirror is behind or replaying an old Release; use another mirror (DEBLESS_MIRROR)",
            ));
        }
    }
    Ok(())
}

/// Pins from the old lock: all of them without `--update`, none with a bare `--update`, all
/// but the named packages with `--update PKG…`.
fn pins_to_keep(
    old: Option<&Lock>,
    update: Option<&[String]>,
) -> Result<Vec<(crate::debian::Arch, Pin)>, Error> {
    let Some(old) = old else {
        return Ok(Vec::new());
    };
    let refresh: BTreeSet<&str> = match update {
        None => BTreeSet::new(),
        Some([]) => return Ok(Vec::new()),
        Some(names) => {
            for name in names {
                if !old.packages.iter().any(|p| &p.name == name) {
                    return Err(Error::input(
                        format!("--update: `{name}` is not in the lock"),
                        "name packages that `debless.lock` lists, or use --update alone for all",
                    ));
                }
            }
            names.iter().map(String::as_str).collect()
        }
    };
    Ok(old
        .packages
        .iter()
        .filter(|p| !refresh.contains(p.name.as_str()))
        .map(|p| {
            (
                p.target.clone(),
                Pin {
                    name: p.name.clone(),
                    arch: p.architecture.clone(),
                    version: p.version.clone(),
                },
            )
        })
        .collect())
}

fn locked_source(suite: &PackedSuite, components: &[String]) -> LockedSource {
    let suite = &suite.verified;
    LockedSource {
        suite: suite.suite.clone(),
        codename: suite.codename.clone(),
        components: components.to_vec(),
        date: suite.date,
        valid_until: suite.valid_until,
        inrelease_sha256: suite.inrelease_sha256.clone(),
        signed_by: suite.signers.clone(),
    }
}
