//! Stage `sbom`: a software bill of materials for one architecture's image, as SPDX 2.3
//! JSON ([`spdx`]) and CycloneDX 1.6 JSON ([`cyclonedx`]).
//!
//! The package list is the lock's (every locked package of the image's architecture: name,
//! version, architecture, source package and version, the `.deb`'s sha256 and pool path);
//! the licences come from the assembled rootfs (`/usr/share/doc/<package>/copyright`, see
//! [`copyright`]). Nothing depends on the clock or the host: the creation time is the image
//! epoch, the document namespace / serial number is a UUID derived from a sha256 of the
//! locked packages, and packages are sorted by (name, architecture). The same lock and
//! epoch give the same bytes, which is what lets the SBOM live inside a reproducible image.
//!
//! Over a base image (`[image] base`), the base's packages (the lock's `[base.provided]`)
//! are listed too, marked as coming from the base, without a `.deb` checksum (the base's
//! layers, not a `.deb`, brought them) and with licences read from the base's own files.
//!
//! Download locations: the lock stores pool paths relative to the archive root, never a
//! mirror URL, and so does the SBOM: the pool path is the SPDX `packageFileName` and the
//! CycloneDX `distribution` reference; SPDX `downloadLocation` (which must be absolute) is
//! a URL only when the manifest names the source's `url`, else `NOASSERTION`.

pub mod copyright;
pub mod cyclonedx;
pub mod spdx;

use std::collections::BTreeMap;

use sha2::{Digest as _, Sha256};

use crate::debian::Arch;
use crate::lock::Lock;
use crate::rootfs::{NodeKind, Rootfs, Tree};
use copyright::Licenses;

/// The SBOM formats debless writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum SbomFormat {
    /// SPDX 2.3 JSON.
    Spdx,
    /// CycloneDX 1.6 JSON.
    CycloneDx,
}

impl SbomFormat {
    /// Suffix appended to `--output` for the copy written beside the image.
    pub fn extension(self) -> &'static str {
        match self {
            Self::Spdx => ".spdx.json",
            Self::CycloneDx => ".cdx.json",
        }
    }

    /// Where the document is stored inside the image (a tree path, no leading `/`).
    pub fn image_path(self) -> &'static str {
        match self {
            Self::Spdx => "usr/share/sbom/debless.spdx.json",
            Self::CycloneDx => "usr/share/sbom/debless.cdx.json",
        }
    }

    /// The document's text.
    pub fn render(self, sbom: &Sbom) -> String {
        match self {
            Self::Spdx => spdx::render(sbom),
            Self::CycloneDx => cyclonedx::render(sbom),
        }
    }
}

/// Everything both formats say about one image.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sbom {
    /// The image's name (its tag, else `debless-image`), for the document name.
    pub name: String,
    /// Debian architecture of the image.
    pub arch: String,
    /// Creation time (the image epoch), RFC 3339.
    pub created: String,
    /// A UUID derived from the package list: same packages, same id.
    pub uuid: String,
    /// The packages, sorted by (name, architecture).
    pub packages: Vec<SbomPackage>,
}

/// How a package came into the image.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Origin {
    /// A locked `.deb`, pinned by the lock.
    Deb {
        /// sha256 of the `.deb`, from the lock.
        sha256: String,
        /// Pool path relative to the archive root.
        pool_path: String,
    },
    /// The base image's package database lists it (its layers, not a `.deb`, brought it).
    Base {
        /// The manifest's `[image] base`.
        image: String,
    },
}

/// The base image's side of an SBOM: its name, the packages the lock records it provides,
/// and its files (for the copyright files), when read.
pub struct BaseInput<'a> {
    /// The manifest's `[image] base`.
    pub image: &'a str,
    /// The lock's `[base.provided]` of this architecture.
    pub packages: &'a [crate::lock::ProvidedPackage],
    /// The base's files, for licences.
    pub tree: Option<&'a Tree>,
}

/// One package of the image as both formats describe it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SbomPackage {
    /// Package name (`libc6`).
    pub name: String,
    /// Full Debian version, epoch included (`2:6.2.1+dfsg1-1.1`).
    pub version: String,
    /// The package's own architecture (`all` or the image's).
    pub arch: String,
    /// The source package it was built from (`glibc`).
    pub source_name: String,
    /// The source version (the binary version when the lock records none).
    pub source_version: String,
    /// Where the package comes from: a locked `.deb` or the base image.
    pub origin: Origin,
    /// Absolute URL of the `.deb` when the manifest names its archive's `url`.
    pub download_url: Option<String>,
    /// `pkg:deb/debian/…` package URL.
    pub purl: String,
    /// Names of locked packages of the image it depends on.
    pub depends: Vec<String>,
    /// What its copyright file declares.
    pub licenses: Licenses,
}

impl Sbom {
    /// Describes the `arch` image built from `lock`, reading licences from `rootfs`.
    /// `archive_urls` maps a suite to the archive root URL the manifest gives for it (only
    /// explicit ones: a discovered mirror is a property of the host, not of the image).
    pub fn describe(
        lock: &Lock,
        arch: &Arch,
        rootfs: &Rootfs,
        name: &str,
        epoch: i64,
        archive_urls: &BTreeMap<String, String>,
        base: Option<&BaseInput<'_>>,
    ) -> Self {
        let locked: Vec<_> = lock.packages_for(arch).collect();
        let mut packages: Vec<SbomPackage> = locked
            .iter()
            .map(|p| {
                let version = p.version.as_str().to_owned();
                let codename = lock.source(&p.suite).map(|s| s.codename.as_str());
                SbomPackage {
                    purl: purl(&p.name, &version, &p.architecture, codename),
                    source_name: p.source_package.clone(),
                    source_version: p.source_version.clone().unwrap_or_else(|| version.clone()),
                    origin: Origin::Deb {
                        sha256: p.sha256.clone(),
                        pool_path: p.path.clone(),
                    },
                    download_url: archive_urls
                        .get(&p.suite)
                        .map(|root| format!("{}/{}", root.trim_end_matches('/'), p.path)),
                    depends: p
                        .depends
                        .iter()
                        .filter(|d| locked.iter().any(|l| &l.name == *d))
                        .cloned()
                        .collect(),
                    licenses: licenses_of(rootfs.tree(), &p.name),
                    name: p.name.clone(),
                    version,
                    arch: p.architecture.clone(),
                }
            })
            .collect();
        if let Some(base) = base {
            let codename = lock.sources.first().map(|s| s.codename.as_str());
            packages.extend(base.packages.iter().map(|p| {
                let version = p.version.as_str().to_owned();
                SbomPackage {
                    purl: purl(&p.name, &version, &p.architecture, codename),
                    source_name: p.name.clone(),
                    source_version: version.clone(),
                    origin: Origin::Base {
                        image: base.image.to_owned(),
                    },
                    download_url: None,
                    depends: Vec::new(),
                    licenses: base
                        .tree
                        .map_or(Licenses::Missing, |tree| licenses_of(tree, &p.name)),
                    name: p.name.clone(),
                    version,
                    arch: p.architecture.clone(),
                }
            }));
        }
        packages.sort_by(|a, b| (&a.name, &a.arch).cmp(&(&b.name, &b.arch)));
        let mut hasher = Sha256::new();
        hasher.update(format!(
            "debless-sbom\narch={}\nname={name}\n",
            arch.as_str()
        ));
        for p in &packages {
            hasher.update(format!(
                "{} {} {} {}\n",
                p.name,
                p.version,
                p.arch,
                p.checksum().unwrap_or("base")
            ));
        }
        Self {
            name: name.to_owned(),
            arch: arch.as_str().to_owned(),
            created: crate::timestamp::format_rfc3339(epoch),
            uuid: uuid_from_digest(&hasher.finalize()),
            packages,
        }
    }
}

impl SbomPackage {
    /// The `.deb`'s sha256, for a locked package.
    pub fn checksum(&self) -> Option<&str> {
        match &self.origin {
            Origin::Deb { sha256, .. } => Some(sha256),
            Origin::Base { .. } => None,
        }
    }
}

/// The licences declared by `/usr/share/doc/<package>/copyright` in the tree (through
/// symlinks: libstdc++6's doc directory is a link to gcc's).
fn licenses_of(tree: &Tree, package: &str) -> Licenses {
    let path = format!("usr/share/doc/{package}/copyright");
    let Ok(resolved) = tree.resolve(&path, true) else {
        return Licenses::Missing;
    };
    let bytes = match tree.get(&resolved).map(|n| &n.kind) {
        Some(NodeKind::File(bytes)) => bytes,
        Some(NodeKind::Hardlink(target)) => match tree.get(target).map(|n| &n.kind) {
            Some(NodeKind::File(bytes)) => bytes,
            _ => return Licenses::Missing,
        },
        _ => return Licenses::Missing,
    };
    let Ok(bytes) = bytes.read() else {
        return Licenses::Missing;
    };
    Licenses::from_copyright(&String::from_utf8_lossy(&bytes))
}

/// A UUID (version 5 layout: version and variant bits set) made from the first 16 bytes of
/// a sha256, so equal inputs give equal ids.
pub fn uuid_from_digest(digest: &[u8]) -> String {
    let mut b = [0u8; 16];
    b.copy_from_slice(&digest[..16]);
    b[6] = (b[6] & 0x0f) | 0x50;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h = hex::encode(b);
    format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..]
    )
}

/// The purl `distro` qualifier of a suite codename: `bookworm-security` -> `debian-12`,
/// `sid` -> `debian-unstable`; `None` for a codename that is not a Debian release.
pub fn distro(codename: &str) -> Option<String> {
    let release = crate::debian::release::of_suite(codename);
    let number = match release {
        "sid" | "unstable" => "unstable",
        _ => crate::debian::release::number(release)?,
    };
    Some(format!("debian-{number}"))
}

/// `pkg:deb/debian/NAME@VERSION?arch=ARCH&distro=debian-12` (package-url spec: name and
/// version percent-encoded, `+` as `%2B`, the epoch colon as `%3A`; qualifiers sorted).
pub fn purl(name: &str, version: &str, arch: &str, codename: Option<&str>) -> String {
    let mut text = format!(
        "pkg:deb/debian/{}@{}?arch={}",
        percent_encode(name),
        percent_encode(version),
        percent_encode(arch)
    );
    if let Some(distro) = codename.and_then(distro) {
        text.push_str("&distro=");
        text.push_str(&percent_encode(&distro));
    }
    text
}

/// Percent-encodes everything but RFC 3986 unreserved characters.
fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn purl_encodes_plus_and_epoch() {
        assert_eq!(
            purl("libstdc++6", "12.2.0-14+deb12u1", "amd64", Some("bookworm")),
            "pkg:deb/debian/libstdc%2B%2B6@12.2.0-14%2Bdeb12u1?arch=amd64&distro=debian-12"
        );
        assert_eq!(
            purl(
                "libgmp10",
                "2:6.2.1+dfsg1-1.1",
                "amd64",
                Some("trixie-security")
            ),
            "pkg:deb/debian/libgmp10@2%3A6.2.1%2Bdfsg1-1.1?arch=amd64&distro=debian-13"
        );
        assert_eq!(
            purl("tzdata", "2024a-0+deb12u1", "all", Some("stable-local")),
            "pkg:deb/debian/tzdata@2024a-0%2Bdeb12u1?arch=all"
        );
    }

    #[test]
    fn distro_of_codenames() {
        assert_eq!(distro("bookworm").as_deref(), Some("debian-12"));
        assert_eq!(distro("bookworm-updates").as_deref(), Some("debian-12"));
        assert_eq!(distro("trixie").as_deref(), Some("debian-13"));
        assert_eq!(distro("sid").as_deref(), Some("debian-unstable"));
        assert_eq!(distro("unstable").as_deref(), Some("debian-unstable"));
        assert_eq!(distro("stable-local"), None);
    }

    #[test]
    fn uuid_has_version_5_layout_and_follows_the_digest() {
        let a = uuid_from_digest(&Sha256::digest(b"a"));
        let b = uuid_from_digest(&Sha256::digest(b"b"));
        assert_ne!(a, b);
        assert_eq!(a, uuid_from_digest(&Sha256::digest(b"a")));
        let parts: Vec<&str> = a.split('-').collect();
        assert_eq!(
            parts.iter().map(|p| p.len()).collect::<Vec<_>>(),
            [8, 4, 4, 4, 12]
        );
        assert!(parts[2].starts_with('5'));
        assert!(matches!(parts[3].as_bytes()[0], b'8' | b'9' | b'a' | b'b'));
    }
}
