//! Stage `manifest`: `debless.toml` → a validated [`Manifest`].
//!
//! [`wire`] mirrors the file; this module turns it into types that cannot hold bad values:
//! known architectures, valid package names, known Debian suites, a non-empty root list.
//! Every error names the key or value at fault and, for near misses, what was probably meant.

mod accounts;
pub mod app_files;
pub mod edit;
mod image;
mod registries;
mod sources;
pub mod wire;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

pub use self::accounts::{AccountsSetting, ImageGroup, ImageUser};
pub use self::app_files::{AppFile, AppTar};
pub use self::image::{
    CompressionSetting, ImageSettings, MergedUsrSetting, SbomSetting, StripPreset, is_zone_name,
};
pub use self::registries::RegistrySettings;
pub use self::sources::Source;
use crate::debian::relation::{Relation, is_package_name};
/// Kept here for callers that named it before it moved to [`crate::debian::suggest`].
pub use crate::debian::suggest::edit_distance;
use crate::debian::{Arch, Version};
use wire::ManifestWire;

/// The file name `debless` looks for in the current directory.
pub const FILE_NAME: &str = "debless.toml";

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
    /// `[registry."HOST[:PORT]"]` tables, by registry name; not lock inputs.
    pub registries: BTreeMap<String, RegistrySettings>,
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
            registries: registries::validate(wire.registry, base_dir)?,
        })
    }

    /// A digest of everything that decides the lock's content (not the `[image]` table, which
    /// only `build` reads, except the application files' settings, see [`app_files`]): the
    /// lock records it, and a mismatch means the lock is out of date. CA files (`[[source]]
    /// ca`, `[registry.*]`) are left out: they decide whom debless trusts to serve the
    /// archive, not what resolves, and a lock made through one proxy builds through another.
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

/// toml's messages span several lines with a source excerpt; keep them readable on one line
/// plus the excerpt after it.
fn one_line(message: &str) -> String {
    message.trim_end().to_owned()
}

#[cfg(test)]
mod tests {
    use super::sources::check_known_suite;
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
    fn ca_files_are_resolved_against_the_manifest_and_are_not_lock_inputs() {
        let custom = "packages = [\"foo\"]\n[[source]]\nsuite = \"stable\"\nurl = \"https://proxy.test/debian\"\n";
        let plain = parse(custom).expect("valid");
        let with_cas = parse(&format!(
            "{custom}ca = \"certs/mirror-ca.pem\"\n[registry.\"registry.test:5000\"]\nca = \"certs/registry-ca.pem\"\n"
        ))
        .expect("valid");
        assert_eq!(plain.sources[0].ca, None);
        assert_eq!(
            with_cas.sources[0].ca.as_deref(),
            Some(Path::new("/work/certs/mirror-ca.pem"))
        );
        assert_eq!(
            with_cas.registries["registry.test:5000"].ca,
            Path::new("/work/certs/registry-ca.pem")
        );
        assert_eq!(plain.lock_inputs_digest(), with_cas.lock_inputs_digest());
        for (text, needle) in [
            (
                "packages = [\"foo\"]\n[[source]]\nsuite = \"bookworm\"\nca = \"ca.pem\"",
                "suite `bookworm`: `ca` needs `url`",
            ),
            (&format!("{custom}ca = \"\""), "`ca` is empty"),
            (
                &format!("{custom}[registry.\"https://registry.test\"]\nca = \"ca.pem\""),
                "`[registry.\"https://registry.test\"]`: name the registry as image references write it",
            ),
            (
                &format!("{custom}[registry.\"registry.test\"]\ncafile = \"ca.pem\""),
                "cafile",
            ),
        ] {
            let err = parse(text).expect_err(text).to_string();
            assert!(err.contains(needle), "{err:?} should mention {needle:?}");
        }
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
