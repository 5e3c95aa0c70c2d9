//! `debless.lock` as written on disk, and its format policy.
//!
//! # Format policy
//! - [`VERSION`] is bumped whenever a reader of the previous version would misread a new lock.
//! - The optional `[image]` tables (recorded build digests) were added without a version bump:
//!   a lock without them reads as before, and they never change what `build` does.
//! - The optional `[base]` table (issue #5) was added the same way: only locks of manifests
//!   with `[image] base` have it.
//! - Version 2 added `checksum`: sha256 over the version and the canonical text of everything
//!   but the `[image]` tables (computed by the writer, `write.rs`), like Cargo.lock's and uv.lock's
//!   guards; every package key is required and the `depends`/`required-by` lists must close
//!   within the lock. A version 1 lock has no checksum, so nothing proves it was not edited:
//!   readers refuse it with "run `debless lock`", and `debless lock` rewrites it.
//! - The `[image]` tables moved to the end of the file in version 2, after the packages the
//!   checksum covers.
//! - Readers refuse a newer version (with a hint to upgrade debless) and any unknown key, so a
//!   lock is never half understood. Old versions stay readable; fixtures live under
//!   `tests/it/fixtures/`.
//! - The writer ([`super::write`]) is canonical: fixed key order, packages sorted by
//!   (target, name, architecture), one key per line, so a daily re-lock diff shows only the
//!   packages that moved.

use serde::Deserialize;

/// The lock format this debless writes and reads.
pub const VERSION: u32 = 2;

/// The oldest lock format readers accept (see the policy above).
pub const MIN_VERSION: u32 = 2;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct LockWire {
    pub version: u32,
    /// `sha256:<hex>` of the canonical content (format 2 and later).
    pub checksum: String,
    pub manifest_digest: String,
    pub architectures: Vec<String>,
    pub roots: Vec<String>,
    #[serde(default, rename = "source")]
    pub sources: Vec<SourceWire>,
    #[serde(default, rename = "package")]
    pub packages: Vec<PackageWire>,
    /// What `debless build` produced from this lock, per target architecture.
    pub image: Option<ImageWire>,
    /// The pinned base image (issue #5), absent without `[image] base`.
    pub base: Option<BaseWire>,
}

/// `[base]`: the base image as the manifest names it, `[base.digest]` its manifest digest per
/// architecture, `[base.provided]` the packages its dpkg database lists (`name:arch=version`),
/// which the resolution took as installed.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BaseWire {
    pub name: String,
    #[serde(default)]
    pub digest: std::collections::BTreeMap<String, String>,
    #[serde(default)]
    pub provided: std::collections::BTreeMap<String, Vec<String>>,
}

/// `[image.digest]` (manifest digest per architecture) and `[image.layers]` (layer diff_ids
/// per architecture), written by `debless build` and checked by `debless build --verify`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImageWire {
    #[serde(default)]
    pub digest: std::collections::BTreeMap<String, String>,
    #[serde(default)]
    pub layers: std::collections::BTreeMap<String, Vec<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct SourceWire {
    pub suite: String,
    pub codename: String,
    pub components: Vec<String>,
    pub date: String,
    pub valid_until: Option<String>,
    pub inrelease_sha256: String,
    #[serde(default)]
    pub signed_by: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct PackageWire {
    pub name: String,
    pub version: String,
    pub architecture: String,
    pub target: String,
    pub suite: String,
    pub source_package: String,
    pub source_version: Option<String>,
    pub path: String,
    pub size: u64,
    pub sha256: String,
    pub depends: Vec<String>,
    pub required_by: Vec<String>,
}
