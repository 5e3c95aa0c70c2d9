//! `show PKG` and `search WORD`: what the manifest's suites offer, read exactly as `lock`
//! reads them (verified InRelease, indices from the sha256 cache). The questions are
//! answered by [`crate::repo::query`]; this module gathers the answers as data for the caller
//! to render. Unknown names fail with the nearest names the suites have, and a purely virtual
//! name fails naming its providers, since there is no package of that name to show.

use serde::Serialize;

use super::error::Context as _;
use super::{Error, Project};
use crate::debian::{Arch, BinaryPackage, MultiArch, Version};
use crate::env::Settings;
use crate::lock::Lock;
use crate::manifest::Manifest;
use crate::repo::query::{self, NameMatch};
use crate::repo::{Http, VerifiedSuite, suites};

/// What the suites offer under `name` for each of the manifest's architectures, and what the
/// lock pins; fails when no architecture has a version of it.
pub fn show(project: &Project, settings: &Settings, name: &str) -> Result<PackageReport, Error> {
    let manifest = project.load_manifest()?;
    let http = Http::from_config(&super::http_config(settings, Some(&manifest)))?;
    let suites = suites::load_all(&manifest, || settings.mirrors(), &settings.cache_dir, &http)?;
    let lock_path = &project.lock;
    let lock = Lock::load(lock_path)
        .context_with(|| format!("reading `{}` for the pinned version", lock_path.display()))?;
    let report = PackageReport::collect(name, &manifest, &suites, lock.as_ref());
    if report.architectures.iter().all(|a| a.versions.is_empty()) {
        return Err(unknown_package(name, &report, &suites));
    }
    Ok(report)
}

/// The packages whose name (or a name they provide) contains `word` (lower-cased); fails when
/// there is none.
pub fn search(project: &Project, settings: &Settings, word: &str) -> Result<Vec<NameMatch>, Error> {
    let manifest = project.load_manifest()?;
    let http = Http::from_config(&super::http_config(settings, Some(&manifest)))?;
    let suites = suites::load_all(&manifest, || settings.mirrors(), &settings.cache_dir, &http)?;
    let word = word.to_ascii_lowercase();
    let hits = query::search_names(&word, &suites);
    if hits.is_empty() {
        return Err(Error::input(
            format!(
                "no package name contains `{word}` in {}",
                suite_list(&suites)
            ),
            "try a shorter word, or add the suite or component that has it to debless.toml",
        ));
    }
    Ok(hits)
}

/// Everything `show` prints about one name.
#[derive(Debug, Serialize)]
pub struct PackageReport {
    pub package: String,
    /// Packages whose `Provides` names it, best first (as the resolver ranks them).
    pub provided_by: Vec<String>,
    pub architectures: Vec<ArchReport>,
}

/// The versions available to one image architecture.
#[derive(Debug, Serialize)]
pub struct ArchReport {
    pub architecture: String,
    /// What `debless.lock` pins for this architecture, if anything.
    pub locked: Option<LockedPin>,
    /// Highest version first.
    pub versions: Vec<Available>,
}

/// What `debless.lock` pins.
#[derive(Debug, Serialize)]
pub struct LockedPin {
    pub version: Version,
    pub suite: String,
    pub architecture: String,
}

/// One stanza of one suite's index.
#[derive(Debug, Serialize)]
pub struct Available {
    pub version: Version,
    pub suite: String,
    pub architecture: String,
    pub multi_arch: &'static str,
    pub pre_depends: Option<String>,
    pub depends: Option<String>,
    pub provides: Vec<String>,
    pub section: Option<String>,
    pub source: String,
    pub size: u64,
    pub installed_size: Option<u64>,
    pub filename: String,
    pub sha256: String,
    pub locked: bool,
}

impl PackageReport {
    /// The report of `name` over the manifest's architectures.
    pub fn collect(
        name: &str,
        manifest: &Manifest,
        suites: &[VerifiedSuite],
        lock: Option<&Lock>,
    ) -> Self {
        let architectures = manifest
            .architectures
            .iter()
            .map(|arch| ArchReport::collect(name, arch, suites, lock))
            .collect();
        Self {
            package: name.to_owned(),
            provided_by: query::providers(name, suites),
            architectures,
        }
    }
}

impl ArchReport {
    /// The versions of `name` for `arch`, marking the locked one.
    pub fn collect(name: &str, arch: &Arch, suites: &[VerifiedSuite], lock: Option<&Lock>) -> Self {
        let locked = lock.and_then(|lock| {
            lock.packages_for(arch)
                .find(|p| p.name == name)
                .map(|p| LockedPin {
                    version: p.version.clone(),
                    suite: p.suite.clone(),
                    architecture: p.architecture.clone(),
                })
        });
        let versions = query::versions(name, arch, suites)
            .into_iter()
            .map(|offer| {
                let pkg = offer.package;
                let is_locked = locked.as_ref().is_some_and(|pin| {
                    pin.version == pkg.version
                        && pin.suite == offer.suite
                        && pin.architecture == pkg.architecture
                });
                Available::from_package(pkg, offer.suite, is_locked)
            })
            .collect();
        Self {
            architecture: arch.as_str().to_owned(),
            locked,
            versions,
        }
    }
}

impl Available {
    /// One stanza as shown.
    pub fn from_package(pkg: &BinaryPackage, suite: &str, locked: bool) -> Self {
        let source = match &pkg.source_version {
            Some(version) => format!("{} ({version})", pkg.source),
            None => pkg.source.clone(),
        };
        Self {
            version: pkg.version.clone(),
            suite: suite.to_owned(),
            architecture: pkg.architecture.clone(),
            multi_arch: multi_arch_name(pkg.multi_arch),
            pre_depends: pkg.pre_depends_text().map(one_line),
            depends: pkg.depends_text().map(one_line),
            provides: pkg.provides.iter().map(ToString::to_string).collect(),
            section: pkg.section.clone(),
            source,
            size: pkg.size,
            installed_size: pkg.installed_size,
            filename: pkg.filename.clone(),
            sha256: pkg.sha256.clone(),
            locked,
        }
    }
}

/// The error for a name no suite has as a real package: its providers when it is virtual,
/// else the nearest names.
fn unknown_package(name: &str, report: &PackageReport, suites: &[VerifiedSuite]) -> Error {
    if let Some(first) = report.provided_by.first() {
        return Error::input(
            format!(
                "`{name}` is a virtual package provided by {}",
                report.provided_by.join(", ")
            ),
            format!(
                "run `debless show {first}`, or choose a provider in debless.toml: prefer = {{ {name} = \"{first}\" }}"
            ),
        );
    }
    let query::NearNames { containing, near } = query::near_names(name, suites);
    let search = match containing {
        0 => None,
        1 => Some(format!(
            "`debless search {name}` lists the name containing it"
        )),
        n => Some(format!(
            "`debless search {name}` lists the {n} names containing it"
        )),
    };
    let hint = if near.is_empty() {
        search
            .unwrap_or_else(|| "check the spelling, or the manifest's suites and components".into())
    } else {
        let list: Vec<String> = near.iter().map(|n| format!("`{n}`")).collect();
        let (last, first) = list.split_last().expect("near is not empty");
        let mut hint = if first.is_empty() {
            format!("did you mean {last}?")
        } else {
            format!("did you mean {} or {last}?", first.join(", "))
        };
        if let Some(search) = search {
            hint = format!("{hint} {search}");
        }
        hint
    };
    Error::input(
        format!("no package `{name}` in {}", suite_list(suites)),
        hint,
    )
}

fn suite_list(suites: &[VerifiedSuite]) -> String {
    let names: Vec<String> = suites
        .iter()
        .map(|s| format!("`{}`", s.verified.suite))
        .collect();
    names.join(", ")
}

fn multi_arch_name(multi_arch: MultiArch) -> &'static str {
    match multi_arch {
        MultiArch::No => "no",
        MultiArch::Same => "same",
        MultiArch::Foreign => "foreign",
        MultiArch::Allowed => "allowed",
    }
}

/// A relationship field on one line (indices may fold long fields).
pub(crate) fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folded_fields_become_one_line() {
        assert_eq!(
            one_line("libc6 (>= 2.36),\n libgmp10"),
            "libc6 (>= 2.36), libgmp10"
        );
    }
}
