//! What changed between two locks: the packages added, removed, upgraded or downgraded, per
//! target architecture and grouped by source package, for the daily re-lock pipeline (a
//! pull-request body, a CI log, `debless lock --update`'s summary).
//!
//! This is a pure function over two [`Lock`]s; rendering (text, markdown, JSON) is left to
//! `cli::diff`. Versions are compared in dpkg order ([`Version`]'s `Ord`), so `1.0~rc1` to
//! `1.0` is an upgrade. A package is identified by (target, name, architecture): `libc6:amd64`
//! and `libc6:i386` of the same image are two packages. A package whose new pin comes from a
//! `*-security` suite is marked, so a reviewer sees security updates first.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use super::{Lock, LockedPackage};
use crate::debian::Version;

/// Every change between two locks, one entry per target architecture of either lock.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct LockDiff {
    pub targets: Vec<TargetDiff>,
}

/// The changes of one image architecture, grouped by source package (sorted by name).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct TargetDiff {
    pub target: String,
    pub sources: Vec<SourceChanges>,
}

/// The binary packages of one source package that changed; reviewers think in source
/// packages (one upload, one changelog, one DSA), not in the binaries split out of them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct SourceChanges {
    pub source_package: String,
    pub packages: Vec<PackageChange>,
}

/// One binary package that moved.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct PackageChange {
    pub name: String,
    /// The package's own architecture (`all` for architecture-independent packages).
    pub architecture: String,
    pub change: ChangeKind,
    pub old_version: Option<Version>,
    pub new_version: Option<Version>,
    /// The suite of the new pin (of the old one for a removal).
    pub suite: String,
    /// The new pin comes from a `*-security` suite.
    pub security: bool,
    /// Download size of the old `.deb` (the lock's `size`; the lock has no Installed-Size).
    pub old_size: Option<u64>,
    /// Download size of the new `.deb`.
    pub new_size: Option<u64>,
}

impl PackageChange {
    /// New minus old download size in bytes (an added package counts fully, a removed one
    /// negatively).
    pub fn size_delta(&self) -> i64 {
        let bytes = |size: Option<u64>| i64::try_from(size.unwrap_or(0)).unwrap_or(i64::MAX);
        bytes(self.new_size) - bytes(self.old_size)
    }
}

/// How a package moved between the two locks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ChangeKind {
    Added,
    Removed,
    Upgraded,
    Downgraded,
    /// Same version, different `.deb` (sha256): an archive that rewrote a published file.
    Rebuilt,
}

impl ChangeKind {
    /// The word used in every output format.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Added => "added",
            Self::Removed => "removed",
            Self::Upgraded => "upgraded",
            Self::Downgraded => "downgraded",
            Self::Rebuilt => "rebuilt",
        }
    }
}

/// How many packages moved in each way, for summary lines.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct Counts {
    pub added: usize,
    pub removed: usize,
    pub upgraded: usize,
    pub downgraded: usize,
    pub rebuilt: usize,
    pub security: usize,
}

impl LockDiff {
    /// True when no package moved on any target.
    pub fn is_empty(&self) -> bool {
        self.targets.iter().all(|t| t.sources.is_empty())
    }

    /// The change in download size over every target, in bytes.
    pub fn size_delta(&self) -> i64 {
        self.targets.iter().map(TargetDiff::size_delta).sum()
    }

    /// Totals over every target.
    pub fn counts(&self) -> Counts {
        let mut counts = Counts::default();
        for target in &self.targets {
            target.add_counts(&mut counts);
        }
        counts
    }
}

impl TargetDiff {
    /// The change in download size of this target's packages, in bytes.
    pub fn size_delta(&self) -> i64 {
        self.sources
            .iter()
            .flat_map(|s| &s.packages)
            .map(PackageChange::size_delta)
            .sum()
    }

    /// Totals for this target.
    pub fn counts(&self) -> Counts {
        let mut counts = Counts::default();
        self.add_counts(&mut counts);
        counts
    }

    fn add_counts(&self, counts: &mut Counts) {
        for change in self.sources.iter().flat_map(|s| &s.packages) {
            match change.change {
                ChangeKind::Added => counts.added += 1,
                ChangeKind::Removed => counts.removed += 1,
                ChangeKind::Upgraded => counts.upgraded += 1,
                ChangeKind::Downgraded => counts.downgraded += 1,
                ChangeKind::Rebuilt => counts.rebuilt += 1,
            }
            counts.security += usize::from(change.security);
        }
    }
}

/// Whether a suite name is a Debian security suite (`bookworm-security`, `trixie-security`).
pub fn is_security_suite(suite: &str) -> bool {
    suite.ends_with("-security")
}

/// Compares two locks. Targets are those of either lock, in the new lock's order then any
/// the new lock dropped; within a target, source packages and binaries are sorted by name.
pub fn diff(old: &Lock, new: &Lock) -> LockDiff {
    let mut targets: Vec<String> = new.architectures.clone();
    for arch in &old.architectures {
        if !targets.contains(arch) {
            targets.push(arch.clone());
        }
    }
    let targets = targets
        .into_iter()
        .map(|target| TargetDiff {
            sources: diff_target(&packages_of(old, &target), &packages_of(new, &target)),
            target,
        })
        .collect();
    LockDiff { targets }
}

type Key<'a> = (&'a str, &'a str);

fn packages_of<'a>(lock: &'a Lock, target: &str) -> BTreeMap<Key<'a>, &'a LockedPackage> {
    lock.packages
        .iter()
        .filter(|p| p.target.as_str() == target)
        .map(|p| ((p.name.as_str(), p.architecture.as_str()), p))
        .collect()
}

fn diff_target(
    old: &BTreeMap<Key<'_>, &LockedPackage>,
    new: &BTreeMap<Key<'_>, &LockedPackage>,
) -> Vec<SourceChanges> {
    let keys: BTreeSet<&Key<'_>> = old.keys().chain(new.keys()).collect();
    let mut by_source: BTreeMap<String, Vec<PackageChange>> = BTreeMap::new();
    for key in keys {
        let (before, after) = (old.get(key).copied(), new.get(key).copied());
        let change = match (before, after) {
            (None, Some(_)) => ChangeKind::Added,
            (Some(_), None) => ChangeKind::Removed,
            (Some(b), Some(a)) => match a.version.cmp(&b.version) {
                std::cmp::Ordering::Greater => ChangeKind::Upgraded,
                std::cmp::Ordering::Less => ChangeKind::Downgraded,
                std::cmp::Ordering::Equal if a.sha256 != b.sha256 => ChangeKind::Rebuilt,
                std::cmp::Ordering::Equal => continue,
            },
            (None, None) => unreachable!("every key comes from one of the two locks"),
        };
        let current = after
            .or(before)
            .expect("every key comes from one of the two locks");
        by_source
            .entry(current.source_package.clone())
            .or_default()
            .push(PackageChange {
                name: current.name.clone(),
                architecture: current.architecture.clone(),
                change,
                old_version: before.map(|p| p.version.clone()),
                new_version: after.map(|p| p.version.clone()),
                suite: current.suite.clone(),
                security: after.is_some_and(|p| is_security_suite(&p.suite)),
                old_size: before.map(|p| p.size),
                new_size: after.map(|p| p.size),
            });
    }
    by_source
        .into_iter()
        .map(|(source_package, packages)| SourceChanges {
            source_package,
            packages,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::debian::Arch;
    use crate::lock::LockedSource;

    fn package(
        target: &str,
        name: &str,
        version: &str,
        source: &str,
        suite: &str,
    ) -> LockedPackage {
        LockedPackage {
            name: name.into(),
            version: Version::parse(version).expect("valid version"),
            architecture: target.into(),
            target: Arch::parse(target).expect("known arch"),
            suite: suite.into(),
            source_package: source.into(),
            source_version: None,
            path: format!("pool/main/{name}_{version}.deb"),
            size: 1,
            sha256: format!("{:0>64}", hex::encode(version)),
            depends: Vec::new(),
            required_by: vec!["manifest".into()],
        }
    }

    fn lock(architectures: &[&str], packages: Vec<LockedPackage>) -> Lock {
        let source = |suite: &str| LockedSource {
            suite: suite.into(),
            codename: "bookworm".into(),
            components: vec!["main".into()],
            date: 0,
            valid_until: None,
            inrelease_sha256: "ab".repeat(32),
            signed_by: Vec::new(),
        };
        let mut lock = Lock {
            manifest_digest: "sha256:00".into(),
            architectures: architectures.iter().map(|a| (*a).to_owned()).collect(),
            roots: Vec::new(),
            sources: vec![source("bookworm"), source("bookworm-security")],
            packages,
            images: std::collections::BTreeMap::new(),
            base: None,
        };
        lock.normalise();
        lock
    }

    fn changes(diff: &LockDiff) -> Vec<(String, &str, ChangeKind, bool)> {
        diff.targets
            .iter()
            .flat_map(|t| &t.sources)
            .flat_map(|s| {
                s.packages.iter().map(|p| {
                    (
                        s.source_package.clone(),
                        p.name.as_str(),
                        p.change,
                        p.security,
                    )
                })
            })
            .collect()
    }

    #[test]
    fn orders_versions_the_debian_way() {
        let old = lock(
            &["amd64"],
            vec![
                package("amd64", "app", "1.0~rc1", "app", "bookworm"),
                package("amd64", "tool", "2:1.0", "tool", "bookworm"),
            ],
        );
        let new = lock(
            &["amd64"],
            vec![
                package("amd64", "app", "1.0", "app", "bookworm"),
                // A lower epoch is older whatever the upstream version says.
                package("amd64", "tool", "1:9.9", "tool", "bookworm"),
            ],
        );
        let diff = diff(&old, &new);
        assert_eq!(
            changes(&diff),
            [
                ("app".into(), "app", ChangeKind::Upgraded, false),
                ("tool".into(), "tool", ChangeKind::Downgraded, false),
            ]
        );
        let app = &diff.targets[0].sources[0].packages[0];
        assert_eq!(
            app.old_version.as_ref().map(Version::as_str),
            Some("1.0~rc1")
        );
        assert_eq!(app.new_version.as_ref().map(Version::as_str), Some("1.0"));
        let counts = diff.counts();
        assert_eq!((counts.upgraded, counts.downgraded), (1, 1));
    }

    #[test]
    fn groups_binaries_by_source_and_marks_security() {
        let old = lock(
            &["amd64"],
            vec![
                package(
                    "amd64",
                    "libssl3",
                    "3.0.11-1~deb12u1",
                    "openssl",
                    "bookworm",
                ),
                package(
                    "amd64",
                    "openssl",
                    "3.0.11-1~deb12u1",
                    "openssl",
                    "bookworm",
                ),
                package("amd64", "zlib1g", "1:1.2.13", "zlib", "bookworm"),
            ],
        );
        let new = lock(
            &["amd64"],
            vec![
                package(
                    "amd64",
                    "libssl3",
                    "3.0.11-1~deb12u2",
                    "openssl",
                    "bookworm-security",
                ),
                package(
                    "amd64",
                    "openssl",
                    "3.0.11-1~deb12u2",
                    "openssl",
                    "bookworm-security",
                ),
                package("amd64", "libzstd1", "1.5.4", "libzstd", "bookworm"),
            ],
        );
        let diff = diff(&old, &new);
        let sources: Vec<&str> = diff.targets[0]
            .sources
            .iter()
            .map(|s| s.source_package.as_str())
            .collect();
        assert_eq!(sources, ["libzstd", "openssl", "zlib"]);
        assert_eq!(
            changes(&diff),
            [
                ("libzstd".into(), "libzstd1", ChangeKind::Added, false),
                ("openssl".into(), "libssl3", ChangeKind::Upgraded, true),
                ("openssl".into(), "openssl", ChangeKind::Upgraded, true),
                ("zlib".into(), "zlib1g", ChangeKind::Removed, false),
            ]
        );
        let removed = &diff.targets[0].sources[2].packages[0];
        assert_eq!(removed.new_version, None);
        assert_eq!(diff.counts().security, 2);
    }

    #[test]
    fn identical_locks_have_no_changes_and_rebuilds_are_seen() {
        let one = lock(
            &["amd64"],
            vec![package("amd64", "app", "1.0", "app", "bookworm")],
        );
        assert!(diff(&one, &one.clone()).is_empty());
        let mut rebuilt = one.clone();
        rebuilt.packages[0].sha256 = "ff".repeat(32);
        assert_eq!(
            changes(&diff(&one, &rebuilt)),
            [("app".into(), "app", ChangeKind::Rebuilt, false)]
        );
    }

    #[test]
    fn compares_each_target_on_its_own() {
        let old = lock(
            &["amd64", "arm64"],
            vec![
                package("amd64", "app", "1.0", "app", "bookworm"),
                package("arm64", "app", "1.0", "app", "bookworm"),
            ],
        );
        let new = lock(
            &["amd64", "arm64"],
            vec![
                package("amd64", "app", "1.0", "app", "bookworm"),
                package("arm64", "app", "1.1", "app", "bookworm"),
            ],
        );
        let diff = diff(&old, &new);
        let targets: Vec<&str> = diff.targets.iter().map(|t| t.target.as_str()).collect();
        assert_eq!(targets, ["amd64", "arm64"]);
        assert!(diff.targets[0].sources.is_empty());
        assert_eq!(diff.targets[1].counts().upgraded, 1);
        let json = serde_json::to_string(&diff.targets[1]).expect("serialises");
        assert!(
            json.starts_with(r#"{"target":"arm64","sources":[{"source-package":"app","packages":[{"name":"app","architecture":"arm64","change":"upgraded","old-version":"1.0","new-version":"1.1""#),
            "{json}"
        );
    }

    #[test]
    fn size_deltas_follow_the_download_sizes() {
        let mut small = package("amd64", "app", "1.0", "app", "bookworm");
        small.size = 1_000;
        let mut big = package("amd64", "app", "1.1", "app", "bookworm");
        big.size = 4_500;
        let mut extra = package("amd64", "extra", "1", "extra", "bookworm");
        extra.size = 200;
        let old = lock(&["amd64"], vec![small]);
        let new = lock(&["amd64"], vec![big, extra]);
        let diff = diff(&old, &new);
        let app = &diff.targets[0].sources[0].packages[0];
        assert_eq!((app.old_size, app.new_size), (Some(1_000), Some(4_500)));
        assert_eq!(app.size_delta(), 3_500);
        assert_eq!(diff.size_delta(), 3_700);
        let back = super::diff(&new, &old);
        assert_eq!(back.size_delta(), -3_700);
    }
}
