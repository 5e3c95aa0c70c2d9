//! The `[image]` table: the OCI config, the layer and path settings, SBOMs, the application's
//! files and a base image, validated ([`ImageSettings`]).

use std::collections::BTreeMap;
use std::path::Path;

use super::accounts::{AccountsSetting, validate_accounts};
use super::app_files::{self, AppFile, AppTar};
use super::wire::ImageWire;

/// How `/bin`, `/lib`, … relate to `/usr` in the image.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum MergedUsrSetting {
    Yes,
    No,
    /// Merged exactly when a package ships the `/bin -> usr/bin` links (trixie base-files).
    #[default]
    Auto,
}

/// Layer compression.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum CompressionSetting {
    #[default]
    Gzip,
    Zstd,
}

/// The `[image]` table, validated.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ImageSettings {
    pub entrypoint: Option<Vec<String>>,
    pub cmd: Option<Vec<String>>,
    pub env: BTreeMap<String, String>,
    pub user: Option<String>,
    pub workdir: Option<String>,
    pub labels: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, String>,
    pub merged_usr: MergedUsrSetting,
    pub compression: CompressionSetting,
    pub allow_overwrite: Vec<String>,
    pub tag: Option<String>,
    /// Path filter preset; its rules come before `exclude_paths` and `include_paths`.
    pub strip: Option<StripPreset>,
    /// dpkg `path-exclude` globs (absolute, `*` crosses `/`).
    pub exclude_paths: Vec<String>,
    /// dpkg `path-include` globs; applied last, so they win over every exclude.
    pub include_paths: Vec<String>,
    /// `/etc/passwd`, `/etc/group` and home directories (`rootfs::accounts`).
    pub accounts: AccountsSetting,
    /// Zone for `/etc/localtime`; `None` means `UTC` when tzdata is locked, else none.
    pub timezone: Option<String>,
    /// `[[image.files]]`: the application's files, a layer above the packages.
    pub files: Vec<AppFile>,
    /// `[image] tars`: archives whose entries join that layer.
    pub tars: Vec<AppTar>,
    /// `[image] sbom`: which SBOM documents `build` writes (`build --sbom` overrides it).
    pub sbom: SbomSetting,
    /// `[image] alternatives`: write the links `update-alternatives` would make
    /// (`/usr/bin/awk -> /etc/alternatives/awk -> /usr/bin/mawk`), as dpkg's postinst
    /// would; on by default, `false` leaves only the packages' own files.
    pub alternatives: bool,
    /// `[image] base` as written (parsed by `registry::ImageSource` where it is used: the
    /// manifest stage knows no registries). Part of the lock inputs.
    pub base: Option<String>,
    /// `[image] layers`: at most this many package layers (1..=64).
    pub layers: usize,
    /// Sonames (`*` globs) the shared-library check may find missing (`check`).
    pub allow_missing_libraries: Vec<String>,
    /// `[image] extra-ca-certs`: PEM files (resolved against the manifest's directory) whose CA
    /// certificates join the image's CA bundle and Java trust store (`rootfs::ca`).
    pub extra_ca_certs: Vec<std::path::PathBuf>,
}

/// `[image] sbom`: the SBOM formats to write. Off by default, so images stay unchanged.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SbomSetting {
    /// No SBOM (the default).
    #[default]
    None,
    /// SPDX 2.3 JSON.
    Spdx,
    /// CycloneDX 1.6 JSON.
    CycloneDx,
    /// Both documents.
    Both,
}

impl SbomSetting {
    /// Parses the manifest and `--sbom` spelling.
    pub fn parse(text: &str) -> Option<Self> {
        Some(match text {
            "none" => Self::None,
            "spdx" => Self::Spdx,
            "cyclonedx" => Self::CycloneDx,
            "both" => Self::Both,
            _ => return None,
        })
    }
}

/// A named set of path filters (`[image] strip = "docs"`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StripPreset {
    /// Documentation, manual pages, info, groff, lintian overrides and translations, keeping
    /// the copyright files (licences must ship) and `locale.alias`.
    Docs,
}

impl StripPreset {
    /// The presets' names as written in the manifest.
    pub const NAMES: &[&str] = &["docs"];

    /// The preset's rules in order, as `(include, pattern)`: dpkg's last-match-wins order.
    pub fn rules(self) -> &'static [(bool, &'static str)] {
        match self {
            Self::Docs => &[
                (false, "/usr/share/doc/*"),
                (true, "/usr/share/doc/*/copyright"),
                (false, "/usr/share/man/*"),
                (false, "/usr/share/info/*"),
                (false, "/usr/share/groff/*"),
                (false, "/usr/share/lintian/*"),
                (false, "/usr/share/locale/*"),
                (true, "/usr/share/locale/locale.alias"),
            ],
        }
    }
}

impl ImageSettings {
    /// Every path rule as `(include, pattern)` in the order they apply: the preset's, then
    /// `exclude-paths`, then `include-paths` (the last matching rule decides, as in dpkg).
    pub fn path_rules(&self) -> Vec<(bool, String)> {
        let preset = self.strip.map(StripPreset::rules).unwrap_or_default();
        preset
            .iter()
            .map(|&(include, pattern)| (include, pattern.to_owned()))
            .chain(self.exclude_paths.iter().map(|p| (false, p.clone())))
            .chain(self.include_paths.iter().map(|p| (true, p.clone())))
            .collect()
    }
}

/// A path glob must be absolute (dpkg matches absolute paths) and non-empty.
fn check_path_glob(key: &str, pattern: &str) -> Result<(), String> {
    if !pattern.starts_with('/') {
        return Err(format!(
            "`image.{key}`: `{pattern}` must be an absolute path glob such as `/usr/share/doc/*` (it is matched against absolute paths)"
        ));
    }
    if pattern.contains('\0') {
        return Err(format!("`image.{key}`: `{pattern}` contains a NUL byte"));
    }
    Ok(())
}

impl ImageSettings {
    pub(super) fn validate(wire: ImageWire, base_dir: &Path) -> Result<Self, String> {
        let merged_usr = match &wire.merged_usr {
            None => MergedUsrSetting::Auto,
            Some(toml::Value::Boolean(true)) => MergedUsrSetting::Yes,
            Some(toml::Value::Boolean(false)) => MergedUsrSetting::No,
            Some(toml::Value::String(s)) if s == "auto" => MergedUsrSetting::Auto,
            Some(other) => {
                return Err(format!(
                    "`image.merged-usr` must be true, false or \"auto\", not {other}"
                ));
            }
        };
        let compression = match wire.compression.as_deref() {
            None | Some("gzip") => CompressionSetting::Gzip,
            Some("zstd") => CompressionSetting::Zstd,
            Some(other) => {
                return Err(format!(
                    "`image.compression` must be \"gzip\" or \"zstd\", not `{other}`"
                ));
            }
        };
        let sbom = match wire.sbom.as_deref() {
            None => SbomSetting::None,
            Some(text) => SbomSetting::parse(text).ok_or_else(|| {
                format!(
                    "`image.sbom` must be \"none\", \"spdx\", \"cyclonedx\" or \"both\", not `{text}`"
                )
            })?,
        };
        let strip = match wire.strip.as_deref() {
            None => None,
            Some("docs") => Some(StripPreset::Docs),
            Some(other) => {
                return Err(format!(
                    "`image.strip` must be one of {}, not `{other}`",
                    StripPreset::NAMES
                        .iter()
                        .map(|n| format!("\"{n}\""))
                        .collect::<Vec<_>>()
                        .join(", ")
                ));
            }
        };
        for pattern in &wire.exclude_paths {
            check_path_glob("exclude-paths", pattern)?;
        }
        for pattern in &wire.include_paths {
            check_path_glob("include-paths", pattern)?;
        }
        let files = wire
            .files
            .into_iter()
            .map(|file| app_files::validate_file(file, base_dir))
            .collect::<Result<Vec<_>, _>>()?;
        let tars = wire
            .tars
            .into_iter()
            .map(|tar| app_files::validate_tar(tar, base_dir))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self {
            entrypoint: wire.entrypoint,
            cmd: wire.cmd,
            env: wire.env.unwrap_or_default(),
            user: wire.user,
            workdir: wire.workdir,
            labels: wire.labels,
            annotations: wire.annotations,
            merged_usr,
            compression,
            allow_overwrite: wire.allow_overwrite,
            tag: wire.tag,
            strip,
            exclude_paths: wire.exclude_paths,
            include_paths: wire.include_paths,
            accounts: validate_accounts(wire.accounts, wire.users, wire.groups)?,
            timezone: match wire.timezone {
                Some(zone) if !is_zone_name(&zone) => {
                    return Err(format!(
                        "`image.timezone`: `{zone}` is not a zone name such as \"UTC\" or \"Europe/Berlin\""
                    ));
                }
                other => other,
            },
            files,
            tars,
            sbom,
            alternatives: wire.alternatives.unwrap_or(true),
            base: match wire.base {
                Some(base) if base.trim().is_empty() => {
                    return Err("`image.base` is empty: name an image or remove the key".into());
                }
                other => other,
            },
            layers: match wire.layers {
                None => 1,
                Some(n @ 1..=64) => n,
                Some(n) => return Err(format!("`image.layers` must be 1 to 64, not {n}")),
            },
            allow_missing_libraries: wire.allow_missing_libraries,
            extra_ca_certs: wire
                .extra_ca_certs
                .iter()
                .map(|path| {
                    if path.trim().is_empty() {
                        Err("`image.extra-ca-certs`: an entry is empty".to_owned())
                    } else {
                        Ok(base_dir.join(path))
                    }
                })
                .collect::<Result<_, _>>()?,
        })
    }
}

/// A tz database name: relative, `/`-separated, letters, digits, `_+-`, no `.`/`..`.
pub fn is_zone_name(zone: &str) -> bool {
    !zone.is_empty()
        && zone.split('/').all(|part| {
            !part.is_empty()
                && part != "."
                && part != ".."
                && part
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'+' | b'-' | b'.'))
        })
}
