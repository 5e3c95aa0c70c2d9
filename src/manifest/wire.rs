//! `debless.toml` exactly as written: serde structs that mirror the file, with no meaning
//! attached yet. Unknown keys are refused here so that a typo never passes silently.

use std::collections::BTreeMap;

use serde::Deserialize;

/// The whole file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct ManifestWire {
    pub architectures: Option<Vec<String>>,
    pub packages: Option<Vec<String>>,
    #[serde(default)]
    pub exclude: Vec<String>,
    /// Which provider to take for a virtual package (`awk = "mawk"`).
    #[serde(default)]
    pub prefer: BTreeMap<String, String>,
    #[serde(default, rename = "source")]
    pub sources: Vec<SourceWire>,
    #[serde(default)]
    pub image: ImageWire,
    /// `[registry."HOST[:PORT]"]` tables: how debless talks to one registry.
    #[serde(default)]
    pub registry: BTreeMap<String, RegistryWire>,
}

/// One `[[source]]` table.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct SourceWire {
    pub suite: String,
    pub components: Option<Vec<String>>,
    pub url: Option<String>,
    pub keyring: Option<String>,
    pub priority: Option<i32>,
    /// Snapshot service base for `.deb`s the mirror no longer serves (`fetch::snapshot`).
    pub snapshot: Option<String>,
    /// A PEM CA file trusted for this source's servers only (`net`).
    pub ca: Option<String>,
}

/// One `[registry."HOST[:PORT]"]` table.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct RegistryWire {
    /// A PEM CA file trusted for this registry only (`net`).
    pub ca: String,
}

/// The `[image]` table: what `debless build` puts around the packages.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct ImageWire {
    pub entrypoint: Option<Vec<String>>,
    pub cmd: Option<Vec<String>>,
    pub env: Option<BTreeMap<String, String>>,
    pub user: Option<String>,
    pub workdir: Option<String>,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
    /// `true`, `false` or `"auto"`.
    pub merged_usr: Option<toml::Value>,
    /// `gzip` (default) or `zstd`.
    pub compression: Option<String>,
    /// Packages allowed to overwrite files of other packages.
    #[serde(default)]
    pub allow_overwrite: Vec<String>,
    /// Tag recorded in the OCI layout (`org.opencontainers.image.ref.name`).
    pub tag: Option<String>,
    /// A preset of path filters (`"docs"`).
    pub strip: Option<String>,
    /// dpkg `path-exclude` globs.
    #[serde(default)]
    pub exclude_paths: Vec<String>,
    /// dpkg `path-include` globs (applied after the excludes).
    #[serde(default)]
    pub include_paths: Vec<String>,
    /// Whether debless writes `/etc/passwd`, `/etc/group` and the home dirs (default true).
    pub accounts: Option<bool>,
    /// Users added after distroless' root, nobody and nonroot.
    #[serde(default)]
    pub users: Vec<UserWire>,
    /// Groups added after distroless' groups.
    #[serde(default)]
    pub groups: Vec<GroupWire>,
    /// `/etc/localtime` zone (default `UTC` when tzdata is locked).
    pub timezone: Option<String>,
    /// The application's own files (`[[image.files]]`), a layer above the packages.
    #[serde(default)]
    pub files: Vec<FileWire>,
    /// Tar archives (plain, .gz, .xz, .zst) whose entries join the application layer.
    #[serde(default)]
    pub tars: Vec<String>,
    /// SBOMs to write: `"none"` (default), `"spdx"`, `"cyclonedx"` or `"both"`.
    pub sbom: Option<String>,
    /// Emulate the postinst scripts' `update-alternatives --install` calls (default true).
    pub alternatives: Option<bool>,
    /// Image to add the packages on top of: `REGISTRY/REPO:TAG`, `oci-layout:PATH[:TAG]` or
    /// `oci-archive:FILE` (issue #5).
    pub base: Option<String>,
    /// Split the packages into at most this many layers (default 1).
    pub layers: Option<usize>,
    /// Sonames (globs) the shared-library check may find missing (`debless check`).
    #[serde(default)]
    pub allow_missing_libraries: Vec<String>,
    /// PEM files of CA certificates added to the image's trust stores.
    #[serde(default)]
    pub extra_ca_certs: Vec<String>,
}

/// One `[[image.users]]` table.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct UserWire {
    pub name: String,
    pub uid: u32,
    pub gid: Option<u32>,
    pub home: Option<String>,
}

/// One `[[image.groups]]` table.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct GroupWire {
    pub name: String,
    pub gid: u32,
}

/// One `[[image.files]]` table.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct FileWire {
    /// A file or directory, relative to the manifest's directory.
    pub src: String,
    /// Absolute path in the image (ending in `/`: into that directory).
    pub dst: String,
    /// Octal mode string such as `"0755"`.
    pub mode: Option<String>,
    /// `uid:gid` or `root`, `nobody`, `nonroot`.
    pub owner: Option<String>,
}
