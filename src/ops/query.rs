//! The read-only questions about a project: why a package is locked (`why`), what changed
//! between two locks (`diff`) and which packages ship a file (`provides`). Each returns the
//! data; the caller renders it.

use std::path::Path;

use super::{Error, Project};
use crate::debian::Arch;
use crate::env::Settings;
use crate::lock::Lock;
use crate::lock::diff::LockDiff;
use crate::lock::graph::{Explanation, explain, is_named};
use crate::manifest::edit_distance;
use crate::repo::contents::ContentsQuery;
use crate::repo::provides::{Provider, find};

/// Why `package` is in the lock at `lock_path`: per locked architecture, whether it is a root
/// and the chains of packages that require it (at most `limit` each, shortest first).
pub fn why(lock_path: &Path, package: &str, limit: usize) -> Result<Vec<Explanation>, Error> {
    let Some(lock) = Lock::load(lock_path)? else {
        return Err(Error::input(
            format!("`{}` does not exist", lock_path.display()),
            "run `debless lock` to create it",
        ));
    };
    if !lock.packages.iter().any(|p| is_named(p, package)) {
        return Err(Error::input(
            format!(
                "`{package}` is not in `{}`{}",
                lock_path.display(),
                suggestion(&lock, package)
            ),
            "`debless why` explains locked packages; after editing the manifest, run `debless lock`",
        ));
    }
    Ok(lock
        .architectures
        .iter()
        .map(|target| explain(&lock, target, package, limit))
        .collect())
}

/// ` (did you mean `NAME`?)` for the locked name nearest to `wanted`, or nothing.
pub(crate) fn suggestion(lock: &Lock, wanted: &str) -> String {
    let tolerance = (wanted.chars().count() / 3).max(2);
    lock.packages
        .iter()
        .map(|p| (edit_distance(&p.name, wanted), p.name.as_str()))
        .filter(|(distance, _)| *distance <= tolerance)
        .min()
        .map(|(_, name)| format!(" (did you mean `{name}`?)"))
        .unwrap_or_default()
}

/// What changed from the lock at `old` to the one at `new`.
pub fn diff(old: &Path, new: &Path) -> Result<LockDiff, Error> {
    let load = |path: &Path| -> Result<Lock, Error> {
        Lock::load(path)?.ok_or_else(|| {
            Error::input(
                format!("`{}` does not exist", path.display()),
                "pass two lock files, e.g. `debless diff old.lock debless.lock`",
            )
        })
    };
    Ok(crate::lock::diff::diff(&load(old)?, &load(new)?))
}

/// The packages that ship the files asked for, and the names no package ships.
#[derive(Clone, Debug)]
pub struct Provides {
    /// The architecture whose Contents index was read.
    pub arch: Arch,
    /// Every (path, package, suite) that matched.
    pub providers: Vec<Provider>,
    /// The names or paths nothing matched, as asked.
    pub missing: Vec<String>,
}

impl Provides {
    /// The failure to report once the matches are shown, when some name had none.
    pub fn missing_error(&self) -> Option<Error> {
        if self.missing.is_empty() {
            return None;
        }
        Some(Error::input(
            format!(
                "no package of the manifest's suites ships {} on {}",
                self.missing
                    .iter()
                    .map(|m| format!("`{m}`"))
                    .collect::<Vec<_>>()
                    .join(", "),
                self.arch
            ),
            "check the spelling; a path must be absolute and exact, a bare name matches any directory",
        ))
    }
}

/// Looks `names` (sonames, file names or absolute paths) up in the Contents index of the
/// manifest's suites for `arch` (by default the manifest's first architecture).
pub fn provides(
    project: &Project,
    settings: &Settings,
    names: &[String],
    arch: Option<&str>,
) -> Result<Provides, Error> {
    let manifest = project.load_manifest()?;
    let arch = match arch {
        Some(name) => Arch::parse(name).map_err(|err| {
            Error::input(
                err.to_string(),
                "name a Debian architecture such as amd64 or arm64",
            )
        })?,
        None => manifest
            .architectures
            .first()
            .cloned()
            .ok_or_else(|| Error::internal("a validated manifest has an architecture"))?,
    };
    let (queries, providers) = providers_of(&manifest, settings, &arch, names)?;
    let missing = queries
        .iter()
        .map(ContentsQuery::text)
        .filter(|text| !providers.iter().any(|p| &p.query == text))
        .collect();
    Ok(Provides {
        arch,
        providers,
        missing,
    })
}

/// Parses `names` as Contents queries and looks them up in the manifest's suites for `arch`:
/// what `provides` answers and `add --for` chooses from.
pub(super) fn providers_of(
    manifest: &crate::manifest::Manifest,
    settings: &Settings,
    arch: &Arch,
    names: &[String],
) -> Result<(Vec<ContentsQuery>, Vec<Provider>), Error> {
    let queries: Vec<ContentsQuery> = names.iter().map(|n| ContentsQuery::parse(n)).collect();
    let providers = find(
        manifest,
        || settings.mirrors(),
        &settings.cache_dir,
        &crate::repo::Http::from_config(&super::http_config(settings, Some(manifest)))?,
        arch,
        &queries,
    )?;
    Ok((queries, providers))
}
