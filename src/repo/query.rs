//! Questions about what verified suites offer, answered from their `Packages` records alone
//! (`debless show`, `debless search`): the versions of a name per architecture, names
//! containing a word, the providers of a virtual name, and the names nearest a misspelt one.
//!
//! Suites are given in manifest order; where two suites offer the same thing the earlier one
//! comes first. Nothing here resolves, reads the lock or renders: `cli::show` does that.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use super::VerifiedSuite;
use crate::debian::package::Priority;
use crate::debian::{Arch, BinaryPackage, Version};

/// One stanza offering a name, and the suite (as the manifest names it) whose index has it.
#[derive(Clone, Copy, Debug)]
pub struct Offer<'a> {
    pub suite: &'a str,
    pub package: &'a BinaryPackage,
}

/// Every stanza named `name` installable on `arch` (its own or `Architecture: all`), highest
/// version first, then in suite order; an `all` stanza repeated in several architectures'
/// indices of one suite counts once.
pub fn versions<'a>(name: &str, arch: &Arch, suites: &'a [VerifiedSuite]) -> Vec<Offer<'a>> {
    let mut seen = BTreeSet::new();
    let mut offers = Vec::new();
    for (order, suite) in suites.iter().enumerate() {
        for package in &suite.packages {
            let fits = package.architecture == arch.as_str() || package.architecture == "all";
            if package.name != name || !fits || !seen.insert((order, package.sha256.as_str())) {
                continue;
            }
            let offer = Offer {
                suite: &suite.verified.suite,
                package,
            };
            offers.push((order, offer));
        }
    }
    offers.sort_by(|(a_order, a), (b_order, b)| {
        b.package
            .version
            .cmp(&a.package.version)
            .then(a_order.cmp(b_order))
    });
    offers.into_iter().map(|(_, offer)| offer).collect()
}

/// A name that matched a search: its highest version in one suite (the JSON of
/// `debless search --json`).
#[derive(Debug, Serialize)]
pub struct NameMatch {
    pub name: String,
    pub version: Version,
    pub suite: String,
    /// The provided names that matched the word.
    pub provides: Vec<String>,
}

/// Names (or provided names) containing `word`, sorted by name then suite order, keeping
/// the highest version per name and suite.
pub fn search_names(word: &str, suites: &[VerifiedSuite]) -> Vec<NameMatch> {
    let mut best: BTreeMap<(&str, usize), NameMatch> = BTreeMap::new();
    for (order, suite) in suites.iter().enumerate() {
        for pkg in &suite.packages {
            let mut provides: Vec<String> = pkg
                .provides
                .iter()
                .filter(|atom| atom.name.contains(word))
                .map(|atom| atom.name.clone())
                .collect();
            if provides.is_empty() && !pkg.name.contains(word) {
                continue;
            }
            provides.sort();
            provides.dedup();
            let hit = NameMatch {
                name: pkg.name.clone(),
                version: pkg.version.clone(),
                suite: suite.verified.suite.clone(),
                provides,
            };
            best.entry((pkg.name.as_str(), order))
                .and_modify(|old| {
                    if hit.version > old.version {
                        old.version = hit.version.clone();
                        old.provides.clone_from(&hit.provides);
                    }
                })
                .or_insert(hit);
        }
    }
    best.into_values().collect()
}

/// Real packages providing `name`, ranked as the resolver picks: Important/Protected, then
/// priority, then name.
pub fn providers(name: &str, suites: &[VerifiedSuite]) -> Vec<String> {
    let mut ranked: BTreeMap<&str, (bool, Priority)> = BTreeMap::new();
    for pkg in suites.iter().flat_map(|s| &s.packages) {
        if pkg.provides.iter().any(|atom| atom.name == name) {
            let rank = (!pkg.important, pkg.priority);
            ranked
                .entry(pkg.name.as_str())
                .and_modify(|old| *old = (*old).min(rank))
                .or_insert(rank);
        }
    }
    let mut names: Vec<(_, &str)> = ranked.into_iter().map(|(n, r)| (r, n)).collect();
    names.sort();
    names.into_iter().map(|(_, n)| n.to_owned()).collect()
}

/// What the suites have near a name they do not have.
#[derive(Debug, PartialEq, Eq)]
pub struct NearNames<'a> {
    /// How many names (real or provided) contain it.
    pub containing: usize,
    /// Up to three names within a third of its length in edits (at least 2), nearest first.
    pub near: Vec<&'a str>,
}

/// The names (real and provided) nearest `name`, for a "did you mean" hint.
pub fn near_names<'a>(name: &str, suites: &'a [VerifiedSuite]) -> NearNames<'a> {
    let mut names: BTreeSet<&str> = BTreeSet::new();
    for pkg in suites.iter().flat_map(|s| &s.packages) {
        names.insert(&pkg.name);
        names.extend(pkg.provides.iter().map(|atom| atom.name.as_str()));
    }
    let containing = names.iter().filter(|known| known.contains(name)).count();
    let limit = (name.len() / 3).max(2);
    let mut near: Vec<(usize, &str)> = names
        .into_iter()
        .map(|known| (crate::debian::suggest::edit_distance(known, name), known))
        .filter(|(distance, _)| *distance <= limit)
        .collect();
    near.sort();
    near.truncate(3);
    NearNames {
        containing,
        near: near.into_iter().map(|(_, known)| known).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::debian::deb822;
    use crate::repo::VerifiedRelease;
    use crate::repo::release::Release;

    /// A suite named `name` whose indices hold `stanzas` (deb822 text, mandatory fields
    /// added; the same text gets the same sha256, as an `all` stanza in two indices does).
    fn suite(name: &str, stanzas: &[&str]) -> VerifiedSuite {
        let packages = stanzas
            .iter()
            .map(|extra| {
                let sha256 = crate::repo::index::sha256_hex(extra.as_bytes());
                let text = format!("{extra}\nFilename: pool/x.deb\nSize: 1\nSHA256: {sha256}\n");
                let stanzas = deb822::parse(&text).expect("deb822");
                BinaryPackage::from_stanza(&stanzas[0]).expect("package")
            })
            .collect();
        let release = Release::parse("Date: Sat, 10 Jun 2023 08:00:00 UTC\n").expect("release");
        VerifiedSuite {
            verified: VerifiedRelease {
                suite: name.to_owned(),
                codename: name.to_owned(),
                root: String::new(),
                date: release.date,
                valid_until: None,
                inrelease_sha256: String::new(),
                signers: Vec::new(),
                release,
            },
            indices: Vec::new(),
            packages,
        }
    }

    fn suites() -> Vec<VerifiedSuite> {
        vec![
            suite(
                "main",
                &[
                    "Package: mawk\nVersion: 1.3.4-1\nArchitecture: amd64\nProvides: awk",
                    "Package: gawk\nVersion: 5.2-1\nArchitecture: amd64\nPriority: optional\nProvides: awk",
                    "Package: tzdata\nVersion: 2024a-0\nArchitecture: all",
                    "Package: mawk\nVersion: 1.3.4-1\nArchitecture: arm64\nProvides: awk",
                    "Package: tzdata\nVersion: 2024a-0\nArchitecture: all",
                ],
            ),
            suite(
                "updates",
                &[
                    "Package: mawk\nVersion: 1.3.4-2\nArchitecture: amd64\nPriority: required\nProvides: awk",
                    "Package: tzdata\nVersion: 2024a-0\nArchitecture: all",
                ],
            ),
        ]
    }

    #[test]
    fn versions_are_highest_first_then_in_suite_order() {
        let suites = suites();
        let amd64 = Arch::parse("amd64").expect("arch");
        let found: Vec<(&str, &str)> = versions("mawk", &amd64, &suites)
            .iter()
            .map(|o| (o.suite, o.package.version.as_str()))
            .collect();
        assert_eq!(found, [("updates", "1.3.4-2"), ("main", "1.3.4-1")]);
        let tzdata: Vec<&str> = versions("tzdata", &amd64, &suites)
            .iter()
            .map(|o| o.suite)
            .collect();
        assert_eq!(tzdata, ["main", "updates"]);
    }

    #[test]
    fn search_keeps_the_best_version_per_name_and_suite() {
        let suites = suites();
        let hits: Vec<(String, String, String, Vec<String>)> = search_names("awk", &suites)
            .into_iter()
            .map(|h| (h.name, h.version.as_str().to_owned(), h.suite, h.provides))
            .collect();
        let awk = vec!["awk".to_owned()];
        assert_eq!(
            hits,
            [
                ("gawk".into(), "5.2-1".into(), "main".into(), awk.clone()),
                ("mawk".into(), "1.3.4-1".into(), "main".into(), awk.clone()),
                ("mawk".into(), "1.3.4-2".into(), "updates".into(), awk),
            ]
        );
    }

    #[test]
    fn providers_rank_by_priority_and_near_names_count_containing_ones() {
        let suites = suites();
        assert_eq!(providers("awk", &suites), ["mawk", "gawk"]);
        let near = near_names("mawq", &suites);
        assert_eq!(near.containing, 0);
        assert_eq!(near.near, ["mawk", "awk", "gawk"]);
    }
}
