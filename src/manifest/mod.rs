//! Stage `manifest`: `debless.toml` → a validated [`Manifest`].
//!
//! [`wire`] mirrors the file; this module turns it into types that cannot hold bad values:
//! known architectures, valid package names, known Debian suites, a non-empty root list.
//! Every error names the key or value at fault and, for near misses, what was probably meant.

pub mod app_files;
pub mod wire;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::debian::relation::{Relation, is_package_name};
use crate::debian::{Arch, Version};
pub use app_files::{AppFile, AppTar};
use wire::{ImageWire, ManifestWire, SourceWire};

/// The file name `debless` looks for in the current directory.
pub const FILE_NAME: &str = "debless.toml";

/// Debian codenames and aliases a source may name (with an optional pocket suffix).
const CODENAMES: &[&str] = &[
    "buster",
    "bullseye",
    "bookworm",
    "trixie",
    "forky",
    "duke",
    "sid",
    "experimental",
    "oldoldstable",
    "oldstable",
    "stable",
    "testing",
    "unstable",
];

/// Pockets that exist beside a release suite.
const POCKETS: &[&str] = &[
    "-updates",
    "-security",
    "-backports",
    "-backports-sloppy",
    "-proposed-updates",
];

/// A validated `debless.toml`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Manifest {
    /// Where the manifest was read from; relative keyring paths are resolved against its directory.
    pub path: PathBuf,
    /// Target architectures, one image per architecture (the first is the default platform).
    pub architectures: Vec<Arch>,
    /// Root packages, in the order written (resolution order follows it, as apt's does).
    pub packages: Vec<RootSpec>,
    /// Packages never pulled in.
    pub exclude: BTreeSet<String>,
    /// Provider choices for virtual packages.
    pub prefer: BTreeMap<String, String>,
    pub sources: Vec<Source>,
    pub image: ImageSettings,
}

/// A root package as the manifest names it: `name`, `name:arch`, `name=version` or
/// `name (>= version)`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RootSpec {
    pub name: String,
    pub arch: Option<Arch>,
    pub constraint: Option<(Relation, Version)>,
    /// The text as written, for messages and the lock.
    pub text: String,
}

/// One `[[source]]`: a suite of a Debian-shaped archive.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Source {
    pub suite: String,
    pub components: Vec<String>,
    /// Archive root given in the manifest; `None` means the discovered mirror.
    pub url: Option<String>,
    /// Keyring file (resolved against the manifest's directory); `None` means Debian's
    /// archive keys.
    pub keyring: Option<PathBuf>,
    /// The keyring path as written, which is what the lock digest covers: moving a project to
    /// another directory must not make its lock stale.
    pub keyring_as_written: Option<String>,
    /// Higher wins before version, like an apt pin (default 500).
    pub priority: i32,
    /// Snapshot service base (`https://snapshot.debian.org` style) that `build` falls back
    /// to when the mirror no longer serves a locked `.deb`; not a lock input.
    pub snapshot: Option<String>,
}

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

/// `[image] accounts`, `[[image.users]]`, `[[image.groups]]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AccountsSetting {
    /// Whether debless writes the account files at all (default true).
    pub enabled: bool,
    /// Extra users, after distroless' root, nobody and nonroot.
    pub users: Vec<ImageUser>,
    /// Extra groups, after distroless' groups.
    pub groups: Vec<ImageGroup>,
}

impl Default for AccountsSetting {
    fn default() -> Self {
        Self {
            enabled: true,
            users: Vec::new(),
            groups: Vec::new(),
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

/// A validated `[[image.users]]` entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImageUser {
    pub name: String,
    pub uid: u32,
    /// Primary group id (default: the uid).
    pub gid: u32,
    /// Absolute home directory (default `/home/<name>`).
    pub home: Option<String>,
}

/// A validated `[[image.groups]]` entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImageGroup {
    pub name: String,
    pub gid: u32,
}

/// Why a manifest cannot be used. Each message names the file and the value at fault.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    #[error("cannot read `{path}`: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("`{path}` is not a valid manifest: {message}")]
    Syntax { path: PathBuf, message: String },
    #[error("`{path}`: {message}")]
    Invalid { path: PathBuf, message: String },
}

impl Manifest {
    /// Reads and validates a manifest file.
    pub fn load(path: &Path) -> Result<Self, ManifestError> {
        let text = fs_err::read_to_string(path).map_err(|source| ManifestError::Read {
            path: path.to_owned(),
            source,
        })?;
        Self::from_str(path, &text)
    }

    /// Validates manifest text; `path` is used for messages and relative keyring paths.
    pub fn from_str(path: &Path, text: &str) -> Result<Self, ManifestError> {
        let wire: ManifestWire = toml::from_str(text).map_err(|err| ManifestError::Syntax {
            path: path.to_owned(),
            message: one_line(&err.to_string()),
        })?;
        let invalid = |message: String| ManifestError::Invalid {
            path: path.to_owned(),
            message,
        };
        Self::validate(path, wire).map_err(invalid)
    }

    fn validate(path: &Path, wire: ManifestWire) -> Result<Self, String> {
        let architectures = match wire.architectures {
            None => vec![Arch::host()],
            Some(list) if list.is_empty() => {
                return Err("`architectures` is empty: name at least one, e.g. [\"amd64\"]".into());
            }
            Some(list) => {
                let mut seen = BTreeSet::new();
                let mut out = Vec::new();
                for name in list {
                    let arch = Arch::parse(&name).map_err(|e| e.to_string())?;
                    if !seen.insert(name.clone()) {
                        return Err(format!("architecture `{name}` is listed twice"));
                    }
                    out.push(arch);
                }
                out
            }
        };
        let packages = match wire.packages {
            None => return Err("no `packages`: list the root packages to install".into()),
            Some(list) if list.is_empty() => {
                return Err("`packages` is empty: list at least one package".into());
            }
            Some(list) => list
                .iter()
                .map(|text| RootSpec::parse(text))
                .collect::<Result<Vec<_>, _>>()?,
        };
        let mut seen = BTreeSet::new();
        for root in &packages {
            if !seen.insert((&root.name, &root.arch)) {
                return Err(format!("package `{}` is listed twice", root.name));
            }
        }
        let mut exclude = BTreeSet::new();
        for name in wire.exclude {
            if !is_package_name(&name) {
                return Err(format!("`exclude`: `{name}` is not a Debian package name"));
            }
            if let Some(root) = packages.iter().find(|root| root.name == name) {
                return Err(format!(
                    "`{}` is both in `packages` and in `exclude`",
                    root.name
                ));
            }
            exclude.insert(name);
        }
        for (virtual_name, provider) in &wire.prefer {
            for name in [virtual_name, provider] {
                if !is_package_name(name) {
                    return Err(format!("`prefer`: `{name}` is not a Debian package name"));
                }
            }
        }
        if wire.sources.is_empty() {
            return Err(
                "no `[[source]]`: add one, e.g.\n\n[[source]]\nsuite = \"bookworm\"".into(),
            );
        }
        let base_dir = path.parent().unwrap_or(Path::new("."));
        let sources = wire
            .sources
            .into_iter()
            .map(|source| Source::validate(source, base_dir))
            .collect::<Result<Vec<_>, _>>()?;
        let mut suites = BTreeSet::new();
        for source in &sources {
            if !suites.insert((&source.suite, &source.url)) {
                return Err(format!("suite `{}` is listed twice", source.suite));
            }
        }
        Ok(Self {
            path: path.to_owned(),
            architectures,
            packages,
            exclude,
            prefer: wire.prefer,
            sources,
            image: ImageSettings::validate(wire.image, base_dir)?,
        })
    }

    /// A digest of everything that decides the lock's content (not the `[image]` table, which
    /// only `build` reads, except the application files' settings, see [`app_files`]): the
    /// lock records it, and a mismatch means the lock is out of date.
    pub fn lock_inputs_digest(&self) -> String {
        let mut canon = String::new();
        let archs: Vec<_> = self.architectures.iter().map(Arch::as_str).collect();
        let _ = writeln!(canon, "architectures={}", archs.join(","));
        for root in &self.packages {
            let _ = writeln!(canon, "package={}", root.text);
        }
        for name in &self.exclude {
            let _ = writeln!(canon, "exclude={name}");
        }
        for (virtual_name, provider) in &self.prefer {
            let _ = writeln!(canon, "prefer={virtual_name}={provider}");
        }
        for source in &self.sources {
            let _ = writeln!(
                canon,
                "source={} components={} url={} keyring={} priority={}",
                source.suite,
                source.components.join(","),
                source.url.as_deref().unwrap_or(""),
                source.keyring_as_written.as_deref().unwrap_or_default(),
                source.priority
            );
        }
        app_files::digest_lines(&self.image.files, &self.image.tars, &mut canon);
        // Only when set, so manifests without a base keep their digests.
        if let Some(base) = &self.image.base {
            let _ = writeln!(canon, "base={base}");
        }
        format!("sha256:{}", hex::encode(Sha256::digest(canon.as_bytes())))
    }
}

impl RootSpec {
    /// Parses `name`, `name:arch`, `name=version` or `name (op version)`.
    pub fn parse(text: &str) -> Result<Self, String> {
        let bad = |why: &str| format!("`packages`: `{text}` {why}");
        let trimmed = text.trim();
        let (head, constraint) = if let Some((head, version)) = trimmed.split_once('=')
            && !head.contains('(')
        {
            let version = Version::parse(version.trim()).map_err(|e| bad(&e.to_string()))?;
            (head.trim(), Some((Relation::Exactly, version)))
        } else if trimmed.contains('(') {
            let atom = crate::debian::Atom::parse(trimmed).map_err(|e| bad(&e.to_string()))?;
            let head = trimmed[..trimmed.find('(').unwrap_or(trimmed.len())].trim();
            (head, atom.constraint)
        } else {
            (trimmed, None)
        };
        let (name, arch) = match head.split_once(':') {
            Some((name, arch)) => (
                name,
                Some(Arch::parse(arch).map_err(|e| bad(&e.to_string()))?),
            ),
            None => (head, None),
        };
        if !is_package_name(name) {
            return Err(bad(
                "is not a Debian package name (lower-case letters, digits, `+-.`)",
            ));
        }
        Ok(Self {
            name: name.to_owned(),
            arch,
            constraint,
            text: trimmed.to_owned(),
        })
    }
}

impl Source {
    fn validate(wire: SourceWire, base_dir: &Path) -> Result<Self, String> {
        let suite = wire.suite.trim().to_owned();
        if wire.url.is_none() {
            check_known_suite(&suite)?;
        } else if suite.is_empty() || suite.contains(char::is_whitespace) {
            return Err(format!("invalid suite `{suite}`"));
        }
        let components = wire.components.unwrap_or_else(|| vec!["main".to_owned()]);
        if components.is_empty() {
            return Err(format!("suite `{suite}`: `components` is empty"));
        }
        if let Some(url) = &wire.url
            && !(url.starts_with("http://") || url.starts_with("https://"))
        {
            return Err(format!(
                "suite `{suite}`: url `{url}` must start with http:// or https://"
            ));
        }
        if let Some(url) = &wire.snapshot
            && !(url.starts_with("http://") || url.starts_with("https://"))
        {
            return Err(format!(
                "suite `{suite}`: snapshot `{url}` must start with http:// or https://"
            ));
        }
        Ok(Self {
            snapshot: wire.snapshot.map(|u| u.trim_end_matches('/').to_owned()),
            suite,
            components,
            url: wire.url.map(|u| u.trim_end_matches('/').to_owned()),
            keyring: wire.keyring.as_ref().map(|k| base_dir.join(k)),
            keyring_as_written: wire.keyring,
            priority: wire.priority.unwrap_or(500),
        })
    }
}

/// Refuses suite names Debian does not have, suggesting the nearest one.
fn check_known_suite(suite: &str) -> Result<(), String> {
    let codename = POCKETS
        .iter()
        .find_map(|pocket| suite.strip_suffix(pocket))
        .unwrap_or(suite);
    if CODENAMES.contains(&codename) {
        return Ok(());
    }
    let mut known: Vec<String> = CODENAMES.iter().map(|c| (*c).to_owned()).collect();
    for c in ["bookworm", "trixie", "bullseye"] {
        known.extend(POCKETS.iter().map(|p| format!("{c}{p}")));
    }
    let hint = known
        .iter()
        .map(|k| (edit_distance(k, suite), k))
        .filter(|(d, _)| *d <= 2)
        .min()
        .map(|(_, k)| format!(" (did you mean `{k}`?)"))
        .unwrap_or_default();
    Err(format!(
        "unknown suite `{suite}`{hint}; Debian suites are bookworm, trixie, sid, … with optional -updates, -security, -backports (set `url` for other archives)"
    ))
}

impl ImageSettings {
    fn validate(wire: ImageWire, base_dir: &Path) -> Result<Self, String> {
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
        })
    }
}

/// Checks `[[image.users]]`/`[[image.groups]]`: account names as useradd accepts them
/// (`[a-z_][a-z0-9_-]*`, at most 32 bytes) and absolute, normal home paths.
fn validate_accounts(
    enabled: Option<bool>,
    users: Vec<wire::UserWire>,
    groups: Vec<wire::GroupWire>,
) -> Result<AccountsSetting, String> {
    let enabled = enabled.unwrap_or(true);
    if !enabled && (!users.is_empty() || !groups.is_empty()) {
        return Err("`image.users`/`image.groups` need `image.accounts` (it is false)".into());
    }
    let check_name = |what: &str, name: &str| {
        let mut bytes = name.bytes();
        let ok = name.len() <= 32
            && bytes
                .next()
                .is_some_and(|b| b.is_ascii_lowercase() || b == b'_')
            && bytes
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-');
        if ok {
            Ok(())
        } else {
            Err(format!(
                "`image.{what}`: `{name}` is not an account name (lower-case letters, digits, `_`, `-`)"
            ))
        }
    };
    let mut out = AccountsSetting {
        enabled,
        ..AccountsSetting::default()
    };
    for group in groups {
        check_name("groups", &group.name)?;
        out.groups.push(ImageGroup {
            name: group.name,
            gid: group.gid,
        });
    }
    for user in users {
        check_name("users", &user.name)?;
        if let Some(home) = &user.home
            && (!home.starts_with('/')
                || home.len() < 2
                || home.ends_with('/')
                || home
                    .split('/')
                    .skip(1)
                    .any(|c| c.is_empty() || c == "." || c == ".."))
        {
            return Err(format!(
                "`image.users`: home `{home}` of `{}` must be an absolute path without `.`, `..` or a trailing `/`",
                user.name
            ));
        }
        out.users.push(ImageUser {
            gid: user.gid.unwrap_or(user.uid),
            name: user.name,
            uid: user.uid,
            home: user.home,
        });
    }
    Ok(out)
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

/// Levenshtein distance, for "did you mean" hints.
pub fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            let next = (row[j + 1] + 1).min(row[j] + 1).min(prev + cost);
            prev = row[j + 1];
            row[j + 1] = next;
        }
    }
    row[b.len()]
}

/// toml's messages span several lines with a source excerpt; keep them readable on one line
/// plus the excerpt after it.
fn one_line(message: &str) -> String {
    message.trim_end().to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Manifest, ManifestError> {
        Manifest::from_str(Path::new("/work/debless.toml"), text)
    }

    const OK: &str = r#"
architectures = ["amd64", "arm64"]
packages = ["libc6", "libgmp10 (>= 2:6.2)", "tzdata=2024a-0+deb12u1", "python3:amd64"]
exclude = ["perl-base"]
prefer = { awk = "mawk" }

[[source]]
suite = "bookworm"

[[source]]
suite = "bookworm-security"
components = ["main", "contrib"]
keyring = "keys/debian.gpg"
priority = 600

[image]
entrypoint = ["/usr/bin/python3"]
merged-usr = "auto"
"#;

    #[test]
    fn reads_a_full_manifest() {
        let m = parse(OK).expect("valid manifest");
        assert_eq!(m.architectures.len(), 2);
        assert_eq!(m.packages[1].name, "libgmp10");
        assert_eq!(
            m.packages[1]
                .constraint
                .as_ref()
                .map(|(r, v)| (*r, v.as_str())),
            Some((Relation::LaterOrEqual, "2:6.2"))
        );
        assert_eq!(
            m.packages[2].constraint.as_ref().map(|(r, _)| *r),
            Some(Relation::Exactly)
        );
        assert_eq!(m.packages[3].arch.as_ref().map(Arch::as_str), Some("amd64"));
        assert_eq!(m.sources[0].components, ["main"]);
        assert_eq!(m.sources[0].priority, 500);
        assert_eq!(
            m.sources[1].keyring.as_deref(),
            Some(Path::new("/work/keys/debian.gpg"))
        );
        assert_eq!(m.prefer.get("awk").map(String::as_str), Some("mawk"));
        assert_eq!(m.image.merged_usr, MergedUsrSetting::Auto);
    }

    #[test]
    fn digest_does_not_depend_on_where_the_project_lives() {
        let a = Manifest::from_str(Path::new("/a/debless.toml"), OK).expect("valid");
        let b = Manifest::from_str(Path::new("/elsewhere/b/debless.toml"), OK).expect("valid");
        assert_ne!(a.sources[1].keyring, b.sources[1].keyring);
        assert_eq!(a.lock_inputs_digest(), b.lock_inputs_digest());
    }

    #[test]
    fn base_is_a_lock_input_and_layers_are_bounded() {
        let plain = parse(OK).expect("valid");
        assert_eq!((plain.image.base.as_deref(), plain.image.layers), (None, 1));
        let with_base = parse(&format!(
            "{OK}base = \"gcr.io/distroless/base:nonroot\"\nlayers = 4\n"
        ))
        .expect("valid");
        assert_eq!(
            with_base.image.base.as_deref(),
            Some("gcr.io/distroless/base:nonroot")
        );
        assert_eq!(with_base.image.layers, 4);
        assert_ne!(plain.lock_inputs_digest(), with_base.lock_inputs_digest());
        let more_layers = parse(&format!("{OK}layers = 2\n")).expect("valid");
        assert_eq!(plain.lock_inputs_digest(), more_layers.lock_inputs_digest());
        for bad in ["layers = 0", "layers = 65", "base = \" \""] {
            let err = parse(&format!("{OK}{bad}\n")).expect_err(bad);
            assert!(err.to_string().contains("image."), "{err}");
        }
    }

    #[test]
    fn digest_ignores_the_image_table() {
        let a = parse(OK).expect("valid");
        let b = parse(&OK.replace("/usr/bin/python3", "/bin/sh")).expect("valid");
        let c = parse(&OK.replace("\"libc6\", ", "")).expect("valid");
        assert_eq!(a.lock_inputs_digest(), b.lock_inputs_digest());
        assert_ne!(a.lock_inputs_digest(), c.lock_inputs_digest());
        let with_files = format!(
            "{OK}tars = [\"venv.tar\"]\n[[image.files]]\nsrc = \"app\"\ndst = \"/app/app\"\n"
        );
        let d = parse(&with_files).expect("valid");
        assert_eq!(d.image.files[0].src, Path::new("/work/app"));
        assert_ne!(a.lock_inputs_digest(), d.lock_inputs_digest());
    }

    #[test]
    fn refuses_typos_with_the_culprit() {
        let cases = [
            (
                "packages = [\"a1\"]\npackagse = []\n[[source]]\nsuite = \"bookworm\"",
                "packagse",
            ),
            ("packages = []\n[[source]]\nsuite = \"bookworm\"", "empty"),
            (
                "packages = [\"libc6\"]\n[[source]]\nsuite = \"bookwrom\"",
                "did you mean `bookworm`",
            ),
            (
                "packages = [\"LibC6\"]\n[[source]]\nsuite = \"bookworm\"",
                "`LibC6`",
            ),
            (
                "architectures = [\"amd46\"]\npackages = [\"libc6\"]\n[[source]]\nsuite = \"bookworm\"",
                "amd46",
            ),
            ("packages = [\"libc6\"]", "[[source]]"),
            (
                "packages = [\"libc6\"]\nexclude = [\"libc6\"]\n[[source]]\nsuite = \"trixie\"",
                "both",
            ),
            (
                "packages = [\"libc6\"]\n[[source]]\nsuite = \"trixie\"\n[image]\nmerged-usr = \"maybe\"",
                "merged-usr",
            ),
        ];
        for (text, needle) in cases {
            let err = parse(text).expect_err(text).to_string();
            assert!(err.contains(needle), "{err:?} should mention {needle:?}");
        }
    }

    #[test]
    fn accepts_pockets_and_custom_archives() {
        for suite in [
            "trixie-security",
            "bookworm-updates",
            "sid",
            "bookworm-backports",
        ] {
            assert!(check_known_suite(suite).is_ok(), "{suite}");
        }
        let custom = "packages = [\"foo\"]\n[[source]]\nsuite = \"stable-local\"\nurl = \"http://127.0.0.1:1/repo/\"";
        let m = parse(custom).expect("custom archive");
        assert_eq!(m.sources[0].url.as_deref(), Some("http://127.0.0.1:1/repo"));
    }

    #[test]
    fn reads_accounts_and_timezone() {
        let base = "packages = [\"libc6\"]\n[[source]]\nsuite = \"trixie\"\n";
        let m = parse(base).expect("valid");
        assert!(m.image.accounts.enabled);
        assert_eq!(m.image.timezone, None);
        let text = format!(
            "{base}[image]\ntimezone = \"Europe/Berlin\"\n[[image.users]]\nname = \"app\"\nuid = 1000\n[[image.groups]]\nname = \"app\"\ngid = 1000\n"
        );
        let m = parse(&text).expect("valid");
        assert_eq!(m.image.timezone.as_deref(), Some("Europe/Berlin"));
        assert_eq!(
            m.image.accounts.users,
            [ImageUser {
                name: "app".into(),
                uid: 1000,
                gid: 1000,
                home: None
            }]
        );
        assert_eq!(m.image.accounts.groups[0].gid, 1000);
        for (image, needle) in [
            ("timezone = \"../etc/shadow\"", "timezone"),
            ("[[image.users]]\nname = \"Bad\"\nuid = 1", "`Bad`"),
            (
                "[[image.users]]\nname = \"a\"\nuid = 1\nhome = \"rel\"",
                "home `rel`",
            ),
            (
                "accounts = false\n[[image.groups]]\nname = \"g\"\ngid = 1",
                "image.accounts",
            ),
        ] {
            let err = parse(&format!("{base}[image]\n{image}\n"))
                .expect_err(image)
                .to_string();
            assert!(err.contains(needle), "{err:?} should mention {needle:?}");
        }
    }

    #[test]
    fn edit_distance_counts() {
        assert_eq!(edit_distance("bookworm", "bookwrom"), 2);
        assert_eq!(edit_distance("sid", "sid"), 0);
        assert_eq!(edit_distance("", "abc"), 3);
    }

    #[test]
    fn path_filters_in_order_and_unknown_strip_refused() {
        let base = "packages = [\"libc6\"]\n[[source]]\nsuite = \"trixie\"\n[image]\n";
        let m = parse(&format!(
            "{base}strip = \"docs\"\nexclude-paths = [\"/opt/*\"]\ninclude-paths = [\"/opt/keep\"]"
        ))
        .expect("valid filters");
        assert_eq!(m.image.strip, Some(StripPreset::Docs));
        let rules = m.image.path_rules();
        assert_eq!(rules[0], (false, "/usr/share/doc/*".to_owned()));
        assert_eq!(rules[1], (true, "/usr/share/doc/*/copyright".to_owned()));
        assert_eq!(
            rules[rules.len() - 2..],
            [(false, "/opt/*".to_owned()), (true, "/opt/keep".to_owned())]
        );
        let err = parse(&format!("{base}strip = \"doc\"")).expect_err("unknown preset");
        assert!(err.to_string().contains("\"docs\""), "{err}");
        let err = parse(&format!("{base}exclude-paths = [\"usr/share/doc/*\"]"))
            .expect_err("relative glob");
        assert!(err.to_string().contains("absolute"), "{err}");
        assert!(
            parse(base)
                .expect("no filters")
                .image
                .path_rules()
                .is_empty()
        );
    }
}
