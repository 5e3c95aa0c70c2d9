//! `export`: the lock as a machine-readable document ([`crate::fetch::export::Export`]) for
//! build systems that cannot read TOML, with each `.deb`'s URLs made from the archive roots
//! debless would fetch it from: the manifest source's `url`, else the configured or discovered
//! mirror ([`Settings::mirrors`]), then the caller's fallbacks (a snapshot archive).
//!
//! Reads the lock, and the manifest when it exists (only for its sources' `url`); never the
//! network.

use super::{Error, Project};
use crate::env::Settings;
use crate::fetch::export::{Export, export as export_lock};
use crate::lock::Lock;
use crate::manifest::Manifest;

/// What `export` takes besides the project.
#[derive(Clone, Debug, Default)]
pub struct ExportOptions {
    /// Archive roots listed after each suite's own, as extra URLs of every `.deb`.
    pub fallback_mirrors: Vec<String>,
}

/// Exports the project's lock; fails when the lock is missing or a suite has no archive root.
pub fn export(
    project: &Project,
    settings: &Settings,
    options: &ExportOptions,
) -> Result<Export, Error> {
    let Some(lock) = Lock::load(&project.lock)? else {
        return Err(Error::input(
            format!("`{}` does not exist", project.lock.display()),
            "run `debless lock` to create it, or name the lock with `--lock PATH`",
        ));
    };
    let manifest = if project.manifest.is_file() {
        Some(Manifest::load(&project.manifest)?)
    } else {
        None
    };
    let named_url = |suite: &str| {
        manifest
            .as_ref()
            .and_then(|m| m.sources.iter().find(|s| s.suite == suite))
            .and_then(|s| s.url.clone())
    };
    let discovered = if lock.sources.iter().any(|s| named_url(&s.suite).is_none()) {
        match settings.mirrors() {
            Ok(mirrors) => Some(mirrors),
            Err(_) if !options.fallback_mirrors.is_empty() => None,
            Err(err) => {
                return Err(Error::input(
                    err.to_string(),
                    "set DEBLESS_MIRROR=http://<host>/debian (with Bazel: --repo_env=DEBLESS_MIRROR=…) or pass --mirror URL",
                ));
            }
        }
    } else {
        None
    };
    let fallbacks: Vec<String> = options
        .fallback_mirrors
        .iter()
        .map(|m| m.trim_end_matches('/').to_owned())
        .collect();
    let roots = |suite: &str| -> Vec<String> {
        let own = named_url(suite).or_else(|| {
            discovered
                .as_ref()
                .and_then(|m| m.root_for(suite).ok())
                .map(str::to_owned)
        });
        own.into_iter().chain(fallbacks.iter().cloned()).collect()
    };
    let document = export_lock(&lock, &roots);
    let missing = document.suites_without_roots();
    if !missing.is_empty() {
        return Err(Error::input(
            format!("no mirror for suite(s) {}", missing.join(", ")),
            "set DEBLESS_SECURITY_MIRROR for `*-security` suites, give the source a `url`, or pass --mirror URL",
        ));
    }
    Ok(document)
}
