//! `debless lock`: manifest → verified suites → resolution → `debless.lock`.

use std::collections::BTreeSet;
use std::time::SystemTime;

use anyhow::{Context as _, Result};

use super::diagnostics::Diagnostic;
use super::suites::SuiteSources;
use super::{Globals, status};
use crate::lock::{Lock, LockedSource};
use crate::manifest::Manifest;
use crate::repo::{Http, IndexCache, VerifiedRelease, VerifiedSuite};
use crate::resolve::{self, Pin, Request, SourcePackages, Universe};

/// Arguments of `debless lock`.
#[derive(Debug, clap::Args)]
pub struct LockArgs {
    /// Do not write; exit 3 if debless.lock does not match the manifest (a CI guard).
    #[arg(long, conflicts_with = "update")]
    pub check: bool,
    /// Move the named packages (all when none are named) to the newest versions the suites
    /// offer; without it, pins that still satisfy the manifest are kept.
    #[arg(long, num_args = 0.., value_name = "PKG")]
    pub update: Option<Vec<String>>,
    /// Print a JSON summary on stdout (lock path, whether it changed, package count, the diff
    /// against the previous lock) for scripts.
    #[arg(long)]
    pub json: bool,
}

/// Runs `debless lock`.
pub fn run(globals: &Globals, args: &LockArgs) -> Result<()> {
    let manifest = Manifest::load(&globals.manifest)?;
    let lock_path = globals.lock_path();
    let old = if args.check {
        Lock::load(&lock_path)?
    } else {
        Lock::load_previous(&lock_path)?
    };
    if args.check {
        return check(&manifest, old.as_ref(), &lock_path.display().to_string());
    }
    let started = std::time::Instant::now();
    let sources = SuiteSources::new(&manifest)?;
    let http = Http::new()?;
    let now = SystemTime::now();
    let releases = sources.verify(&manifest, &http, now)?;
    let summary = |verb: String, count: usize| {
        let archs: Vec<&str> = manifest.architectures.iter().map(|a| a.as_str()).collect();
        let suites: Vec<&str> = manifest.sources.iter().map(|s| s.suite.as_str()).collect();
        status(
            globals,
            format_args!(
                "{verb}: {count} packages for {} from {} in {:.2}s",
                archs.join(", "),
                suites.join(", "),
                started.elapsed().as_secs_f64()
            ),
        );
    };
    if let Some(old) = &old {
        refuse_rollback(old, &releases)?;
        // Same manifest, same signed Releases: the indices and so the resolution are the same.
        let unchanged = args.update.is_none()
            && old.staleness(&manifest).is_none()
            && old.sources.len() == releases.len()
            && old
                .sources
                .iter()
                .zip(&releases)
                .all(|(locked, fresh)| locked.inrelease_sha256 == fresh.inrelease_sha256);
        if unchanged {
            summary(
                format!("{} is up to date", lock_path.display()),
                old.packages.len(),
            );
            if args.json {
                print_json(&lock_path, false, old.packages.len(), None)?;
            }
            return Ok(());
        }
    }
    let cache = IndexCache::new(globals.cache_dir());
    let mut suites = sources.load(&manifest, &http, &cache, releases)?;
    let pins = pins_to_keep(old.as_ref(), args.update.as_deref())?;
    // A bare `--update` also moves the base to what its tag names now.
    let refresh_base = args.update.as_ref().is_some_and(Vec::is_empty);
    let base = super::base::pin(globals, &manifest, old.as_ref(), refresh_base)?;
    let mut resolutions = Vec::new();
    let arch_count = manifest.architectures.len();
    for (i, arch) in manifest.architectures.iter().enumerate() {
        let last = i + 1 == arch_count;
        let universe_sources = suites
            .iter_mut()
            .zip(&manifest.sources)
            .map(|(suite, source)| SourcePackages {
                label: suite.verified.suite.clone(),
                priority: source.priority,
                // The last architecture takes the parsed indices instead of copying them.
                packages: if last {
                    std::mem::take(&mut suite.packages)
                } else {
                    suite.packages.clone()
                },
            })
            .collect();
        let universe = Universe::new(universe_sources, std::slice::from_ref(arch));
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
            .with_context(|| format!("resolving the manifest's packages for {arch}"))?;
        for note in &resolution.notes {
            status(globals, format_args!("note ({arch}): {note}"));
        }
        resolutions.push((arch.clone(), resolution));
    }
    let locked_sources: Vec<LockedSource> = suites
        .iter()
        .zip(&manifest.sources)
        .map(|(suite, source)| locked_source(suite, &source.components))
        .collect();
    let mut lock = Lock::from_resolutions(&manifest, locked_sources, &resolutions);
    lock.base = base;
    // Same packages from the same signed Releases: the image (and its default epoch) is the
    // same, so the digests the last build recorded still hold.
    if let Some(old) = &old
        && old.packages == lock.packages
        && old.sources == lock.sources
        && old.base == lock.base
    {
        lock.images = old.images.clone();
    }
    if globals.verbose {
        for p in &lock.packages {
            status(
                globals,
                format_args!(
                    "  {} {} {} from {} (required by {})",
                    p.name,
                    p.version,
                    p.architecture,
                    p.suite,
                    p.required_by.join(", ")
                ),
            );
        }
    }
    let changed = lock.write_if_changed(&lock_path)?;
    summary(
        if changed {
            format!("Locked {}", lock_path.display())
        } else {
            format!("{} is up to date", lock_path.display())
        },
        lock.packages.len(),
    );
    let changes = old.as_ref().map(|old| crate::lock::diff::diff(old, &lock));
    if changed && let Some(changes) = &changes {
        status(
            globals,
            format_args!("{}", super::diff::render_text(changes).trim_end()),
        );
    }
    if args.json {
        print_json(&lock_path, changed, lock.packages.len(), changes.as_ref())?;
    }
    Ok(())
}

/// `lock --json`: what was written, for scripts (the daily re-lock job branches on `changed`).
fn print_json(
    lock_path: &std::path::Path,
    changed: bool,
    packages: usize,
    changes: Option<&crate::lock::diff::LockDiff>,
) -> Result<()> {
    let summary = serde_json::json!({
        "lock": lock_path.display().to_string(),
        "changed": changed,
        "packages": packages,
        "diff": changes.map(super::diff::DiffJson::new),
    });
    println!("{}", serde_json::to_string_pretty(&summary)?);
    Ok(())
}

fn check(manifest: &Manifest, old: Option<&Lock>, lock_name: &str) -> Result<()> {
    let Some(old) = old else {
        return Err(Diagnostic::outdated(
            format!("`{lock_name}` does not exist"),
            "run `debless lock` to create it",
        )
        .into());
    };
    match old.staleness(manifest) {
        None => Ok(()),
        Some(stale) => Err(Diagnostic::outdated(
            format!("`{lock_name}` does not match the manifest: {stale}"),
            "run `debless lock` and commit the new lock",
        )
        .into()),
    }
}

/// apt's rollback guard: a suite whose signed `Date` is older than the one already locked is
/// a mirror going backwards (or an attacker replaying an old Release).
fn refuse_rollback(old: &Lock, suites: &[VerifiedRelease]) -> Result<()> {
    for suite in suites {
        if let Some(locked) = old.source(&suite.suite)
            && suite.date < locked.date
        {
            return Err(Diagnostic::new(
                format!(
                    "suite `{}`: the mirror's Release is dated {}, older than the {} already locked",
                    suite.suite,
                    crate::timestamp::format_rfc3339(suite.date),
                    crate::timestamp::format_rfc3339(locked.date)
                ),
                "the mirror is behind or replaying an old Release; use another mirror (DEBLESS_MIRROR)",
            )
            .into());
        }
    }
    Ok(())
}

/// Pins from the old lock: all of them without `--update`, none with a bare `--update`, all
/// but the named packages with `--update PKG…`.
fn pins_to_keep(
    old: Option<&Lock>,
    update: Option<&[String]>,
) -> Result<Vec<(crate::debian::Arch, Pin)>> {
    let Some(old) = old else {
        return Ok(Vec::new());
    };
    let refresh: BTreeSet<&str> = match update {
        None => BTreeSet::new(),
        Some([]) => return Ok(Vec::new()),
        Some(names) => {
            for name in names {
                if !old.packages.iter().any(|p| &p.name == name) {
                    return Err(Diagnostic::new(
                        format!("--update: `{name}` is not in the lock"),
                        "name packages that `debless.lock` lists, or use --update alone for all",
                    )
                    .into());
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

fn locked_source(suite: &VerifiedSuite, components: &[String]) -> LockedSource {
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
