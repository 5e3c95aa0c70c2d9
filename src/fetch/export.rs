//! A machine-readable view of a lock for build systems that cannot read TOML, such as Bazel's
//! Starlark (`json.decode`): every `.deb` with the URLs to fetch it from, the recorded image
//! digests and the pinned base.
//!
//! The lock itself never stores a mirror (a lock made on one mirror builds from any other), so
//! the URLs are made here from archive roots the caller resolved for each suite: the
//! manifest's `url`, else the discovered mirror, then fallbacks such as a snapshot archive.
//! Nothing here reads the environment or the network.
//!
//! Format policy: [`EXPORT_VERSION`] changes only when a key is removed or changes meaning;
//! new keys may appear in any version, so readers must ignore keys they do not know.

use std::collections::BTreeMap;

use serde::Serialize;

use super::download::pool_url;
use crate::lock::Lock;

/// The version of the exported document (its `version` key).
pub const EXPORT_VERSION: u32 = 1;

/// The exported view of one lock.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct Export {
    pub version: u32,
    /// Target architectures of the image, in lock order.
    pub architectures: Vec<String>,
    /// Archive roots per suite, in the order the URLs of its packages try them.
    pub mirrors: BTreeMap<String, Vec<String>>,
    /// One entry per distinct `.deb` (packages shared by several targets appear once), sorted
    /// by file name.
    pub debs: Vec<ExportedDeb>,
    /// The image digests the last `debless build` recorded, per target architecture.
    pub images: BTreeMap<String, ExportedImage>,
    /// The pinned base image, if any.
    pub base: Option<ExportedBase>,
}

/// One `.deb` to download.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct ExportedDeb {
    /// A file name unique within the export (`<sha256>.deb`), which is also how
    /// `debless build` finds the file in its cache (`debs/sha256/<sha256>`).
    pub file: String,
    pub name: String,
    pub version: String,
    pub architecture: String,
    /// The target architectures whose image contains it.
    pub targets: Vec<String>,
    pub suite: String,
    /// Pool path relative to the archive root.
    pub path: String,
    pub size: u64,
    pub sha256: String,
    /// Where to fetch it, in order of preference (empty when no root is known for its suite).
    pub urls: Vec<String>,
}

/// Digests of a recorded build of one architecture.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct ExportedImage {
    pub manifest: String,
    pub layers: Vec<String>,
}

/// The base image pin.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct ExportedBase {
    /// The manifest's `[image] base`, as written.
    pub name: String,
    /// Image manifest digest per target architecture.
    pub digests: BTreeMap<String, String>,
}

/// Builds the exported view; `roots` gives each suite's archive roots in order of preference.
pub fn export(lock: &Lock, roots: &dyn Fn(&str) -> Vec<String>) -> Export {
    let mut mirrors = BTreeMap::new();
    for source in &lock.sources {
        mirrors.insert(source.suite.clone(), roots(&source.suite));
    }
    let mut debs: BTreeMap<String, ExportedDeb> = BTreeMap::new();
    for package in &lock.packages {
        let file = format!("{}.deb", package.sha256);
        let target = package.target.as_str().to_owned();
        if let Some(deb) = debs.get_mut(&file) {
            if !deb.targets.contains(&target) {
                deb.targets.push(target);
                deb.targets.sort();
            }
            continue;
        }
        let urls = mirrors
            .get(&package.suite)
            .map(|roots| {
                roots
                    .iter()
                    .map(|root| pool_url(root, &package.path))
                    .collect()
            })
            .unwrap_or_default();
        debs.insert(
            file.clone(),
            ExportedDeb {
                file,
                name: package.name.clone(),
                version: package.version.to_string(),
                architecture: package.architecture.clone(),
                targets: vec![target],
                suite: package.suite.clone(),
                path: package.path.clone(),
                size: package.size,
                sha256: package.sha256.clone(),
                urls,
            },
        );
    }
    Export {
        version: EXPORT_VERSION,
        architectures: lock.architectures.clone(),
        mirrors,
        debs: debs.into_values().collect(),
        images: lock
            .images
            .iter()
            .map(|(arch, image)| {
                (
                    arch.clone(),
                    ExportedImage {
                        manifest: image.manifest.clone(),
                        layers: image.layers.clone(),
                    },
                )
            })
            .collect(),
        base: lock.base.as_ref().map(|base| ExportedBase {
            name: base.name.clone(),
            digests: base.digests.clone(),
        }),
    }
}

impl Export {
    /// Suites whose packages have no URL at all (no mirror known for them).
    pub fn suites_without_roots(&self) -> Vec<&str> {
        self.mirrors
            .iter()
            .filter(|(_, roots)| roots.is_empty())
            .map(|(suite, _)| suite.as_str())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lock::wire::LockWire;

    /// The test lock, validated like a read lock except for its (dummy) content checksum.
    fn lock() -> Lock {
        let wire: LockWire = toml::from_str(LOCK).expect("lock TOML");
        Lock::try_from(wire).expect("valid lock")
    }

    const LOCK: &str = r#"
version = 2
checksum = "sha256:0000000000000000000000000000000000000000000000000000000000000000"
manifest-digest = "sha256:0000000000000000000000000000000000000000000000000000000000000000"
architectures = ["amd64", "arm64"]
roots = ["tzdata", "libc6"]

[[source]]
suite = "bookworm"
codename = "bookworm"
components = ["main"]
date = "2026-07-11T10:16:37Z"
inrelease-sha256 = "77737fa4b34f2693e982cc9ee35736816c35a7778fc2d326cc1bbf5b301fe1aa"
signed-by = ["B8B80B5B623EAB6AD8775C45B7C5D7D6350947F8"]

[[source]]
suite = "bookworm-security"
codename = "bookworm-security"
components = ["main"]
date = "2026-07-11T10:16:37Z"
inrelease-sha256 = "77737fa4b34f2693e982cc9ee35736816c35a7778fc2d326cc1bbf5b301fe1aa"
signed-by = ["B8B80B5B623EAB6AD8775C45B7C5D7D6350947F8"]

[image.digest]
amd64 = "sha256:1111111111111111111111111111111111111111111111111111111111111111"

[image.layers]
amd64 = ["sha256:2222222222222222222222222222222222222222222222222222222222222222"]

[[package]]
name = "libc6"
version = "2.36-9+deb12u10"
architecture = "amd64"
target = "amd64"
suite = "bookworm-security"
source-package = "glibc"
path = "pool/updates/main/g/glibc/libc6_2.36-9+deb12u10_amd64.deb"
size = 10
sha256 = "cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc"
depends = []
required-by = ["manifest"]

[[package]]
name = "tzdata"
version = "2025b-0+deb12u1"
architecture = "all"
target = "amd64"
suite = "bookworm"
source-package = "tzdata"
path = "pool/main/t/tzdata/tzdata_2025b-0+deb12u1_all.deb"
size = 12
sha256 = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
depends = []
required-by = ["manifest"]

[[package]]
name = "libc6"
version = "2.36-9+deb12u10"
architecture = "arm64"
target = "arm64"
suite = "bookworm-security"
source-package = "glibc"
path = "pool/updates/main/g/glibc/libc6_2.36-9+deb12u10_arm64.deb"
size = 11
sha256 = "dddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddd"
depends = []
required-by = ["manifest"]

[[package]]
name = "tzdata"
version = "2025b-0+deb12u1"
architecture = "all"
target = "arm64"
suite = "bookworm"
source-package = "tzdata"
path = "pool/main/t/tzdata/tzdata_2025b-0+deb12u1_all.deb"
size = 12
sha256 = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
depends = []
required-by = ["manifest"]
"#;

    fn roots(suite: &str) -> Vec<String> {
        let mut roots = vec![if suite.ends_with("-security") {
            "http://mirror.test/debian-security/".to_owned()
        } else {
            "http://mirror.test/debian".to_owned()
        }];
        roots.push("http://snapshot.test/archive/debian/20260711T000000Z".to_owned());
        roots
    }

    #[test]
    fn every_deb_once_with_urls_per_suite() {
        let lock = lock();
        let export = export(&lock, &roots);
        assert_eq!(export.version, EXPORT_VERSION);
        assert_eq!(export.architectures, ["amd64", "arm64"]);
        let files: Vec<&str> = export.debs.iter().map(|d| d.file.as_str()).collect();
        assert_eq!(
            files,
            [
                "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.deb",
                "cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc.deb",
                "dddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddd.deb",
            ]
        );
        // The architecture-independent package shared by both targets appears once.
        assert_eq!(export.debs[0].targets, ["amd64", "arm64"]);
        assert_eq!(
            export.debs[0].urls,
            [
                "http://mirror.test/debian/pool/main/t/tzdata/tzdata_2025b-0+deb12u1_all.deb",
                "http://snapshot.test/archive/debian/20260711T000000Z/pool/main/t/tzdata/tzdata_2025b-0+deb12u1_all.deb",
            ]
        );
        assert_eq!(
            export.debs[1].urls[0],
            "http://mirror.test/debian-security/pool/updates/main/g/glibc/libc6_2.36-9+deb12u10_amd64.deb"
        );
        assert_eq!(
            export.images["amd64"].manifest,
            "sha256:1111111111111111111111111111111111111111111111111111111111111111"
        );
        assert!(export.base.is_none());
        assert!(export.suites_without_roots().is_empty());
    }

    #[test]
    fn a_suite_without_roots_is_named() {
        let lock = lock();
        let export = export(&lock, &|suite| {
            if suite == "bookworm" {
                vec!["http://mirror.test/debian".to_owned()]
            } else {
                Vec::new()
            }
        });
        assert_eq!(export.suites_without_roots(), ["bookworm-security"]);
        assert!(export.debs[1].urls.is_empty());
    }
}
