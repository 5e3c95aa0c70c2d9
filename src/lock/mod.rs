//! Stage `lock`: the resolved closure as `debless.lock`, the one input `debless build` trusts.
//!
//! A lock pins every `.deb` by name, version, architecture, pool path (relative to the archive
//! root, never a mirror URL), size and sha256, so a lock made on one mirror builds from any
//! other mirror or a snapshot of the archive. It also records, per suite, the signed
//! `InRelease` it was resolved from, and a digest of the manifest inputs, so that `build` and
//! `lock --check` can tell when it is out of date.
//!
//! [`wire`] is the file as written (and the format policy), [`write`] the canonical writer.

pub mod diff;
pub mod graph;
pub mod wire;
pub mod write;

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write as _;
use std::path::{Path, PathBuf};

use crate::debian::relation::is_package_name;
use crate::debian::{Arch, Version};
use crate::manifest::Manifest;
use crate::resolve::Resolution;
use crate::timestamp::parse_rfc3339;
use wire::{LockWire, VERSION};

/// The file name next to `debless.toml`.
pub const FILE_NAME: &str = "debless.lock";

/// A validated lock: sorted, unique, every digest well-formed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Lock {
    pub manifest_digest: String,
    pub architectures: Vec<String>,
    /// The manifest's root packages as written, to explain a stale lock.
    pub roots: Vec<String>,
    pub sources: Vec<LockedSource>,
    pub packages: Vec<LockedPackage>,
    /// The image `debless build` last made from this lock, by target architecture: what
    /// `build --verify` must reproduce.
    pub images: BTreeMap<String, RecordedImage>,
    /// The base image the packages go on top of, pinned (issue #5).
    pub base: Option<LockedBase>,
}

/// A base image pinned by digest, with the packages it already has.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LockedBase {
    /// The manifest's `[image] base`, as written.
    pub name: String,
    /// Image manifest digest per target architecture (`sha256:…`).
    pub digests: BTreeMap<String, String>,
    /// Per target architecture, the base's packages (sorted); dependencies on them are met
    /// by the base and they are not added again.
    pub provided: BTreeMap<String, Vec<ProvidedPackage>>,
}

/// A package of the base image.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct ProvidedPackage {
    pub name: String,
    pub architecture: String,
    pub version: Version,
}

impl ProvidedPackage {
    /// `name:arch=version`, as the lock writes it.
    pub fn render(&self) -> String {
        format!("{}:{}={}", self.name, self.architecture, self.version)
    }

    /// Parses [`ProvidedPackage::render`]'s form.
    pub fn parse(text: &str) -> Option<Self> {
        let (name_arch, version) = text.split_once('=')?;
        let (name, architecture) = name_arch.split_once(':')?;
        Some(Self {
            name: name.to_owned(),
            architecture: architecture.to_owned(),
            version: Version::parse(version).ok()?,
        })
    }
}

/// Digests of a built image, recorded so a rebuild can prove it made the same bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecordedImage {
    /// The image manifest digest.
    pub manifest: String,
    /// Layer diff_ids (sha256 of each uncompressed tar), bottom first.
    pub layers: Vec<String>,
}

/// The signed suite a set of packages was resolved from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LockedSource {
    pub suite: String,
    pub codename: String,
    pub components: Vec<String>,
    /// `Date` of the verified Release (unix seconds); a re-lock never goes backwards.
    pub date: i64,
    pub valid_until: Option<i64>,
    pub inrelease_sha256: String,
    pub signed_by: Vec<String>,
}

/// One pinned `.deb`, for one target image architecture.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LockedPackage {
    pub name: String,
    pub version: Version,
    /// The package's own architecture (`all` for architecture-independent packages).
    pub architecture: String,
    /// The image architecture this package is part of.
    pub target: Arch,
    /// The suite (a [`LockedSource::suite`]) it comes from.
    pub suite: String,
    pub source_package: String,
    pub source_version: Option<String>,
    /// Pool path relative to the archive root.
    pub path: String,
    pub size: u64,
    pub sha256: String,
    /// Locked packages that satisfy its Depends/Pre-Depends.
    pub depends: Vec<String>,
    /// Locked packages (or `manifest`) that pulled it in.
    pub required_by: Vec<String>,
}

/// Why a lock cannot be read or written.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error("cannot read `{path}`: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot write `{path}`: {source}")]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The checksum, the closure or the structure does not hold: someone edited the file or
    /// it was cut short. Nothing in it can be trusted, so the only fix is a re-lock.
    #[error("`{}` was edited or damaged ({reason}); run `debless lock`", path.display())]
    Damaged { path: PathBuf, reason: String },
    /// A lock from before the content checksum: readable by `debless lock` only, to rewrite it.
    #[error(
        "`{}` is lock format {found}, which has no content checksum; run `debless lock` to rewrite it",
        path.display()
    )]
    Unchecked { path: PathBuf, found: u32 },
    #[error(
        "`{path}` was written by a newer debless (lock version {found}, this debless reads up to {VERSION}); upgrade debless"
    )]
    TooNew { path: PathBuf, found: u32 },
}

/// How a lock no longer matches its manifest (for `lock --check` and `build`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Staleness {
    pub reasons: Vec<String>,
}

impl std::fmt::Display for Staleness {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.reasons.join("; "))
    }
}

impl Lock {
    /// Reads a lock; `Ok(None)` when the file does not exist.
    pub fn load(path: &Path) -> Result<Option<Self>, LockError> {
        match fs_err::read_to_string(path) {
            Ok(text) => Self::parse(path, &text).map(Some),
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(source) => Err(LockError::Read {
                path: path.to_owned(),
                source,
            }),
        }
    }

    /// The lock `debless lock` starts from: like [`Lock::load`], but a damaged lock or one
    /// without a checksum counts as absent (it is about to be replaced, and its pins cannot be
    /// trusted).
    pub fn load_previous(path: &Path) -> Result<Option<Self>, LockError> {
        match Self::load(path) {
            Err(LockError::Damaged { .. } | LockError::Unchecked { .. }) => Ok(None),
            other => other,
        }
    }

    /// Parses lock text and proves it self-consistent: the content checksum matches, every
    /// `depends`/`required-by` name is a locked package of the same target, no package twice.
    /// `path` is for messages.
    pub fn parse(path: &Path, text: &str) -> Result<Self, LockError> {
        let damaged = |reason: String| LockError::Damaged {
            path: path.to_owned(),
            reason,
        };
        // Read the version first so a newer format gets the "upgrade" message, not a key error.
        let table = text
            .parse::<toml::Table>()
            .map_err(|e| damaged(format!("not TOML: {}", e.message())))?;
        let found = table
            .get("version")
            .and_then(toml::Value::as_integer)
            .ok_or_else(|| damaged("no `version`".into()))?;
        let found_u32 = u32::try_from(found).unwrap_or(u32::MAX);
        if found > i64::from(VERSION) {
            return Err(LockError::TooNew {
                path: path.to_owned(),
                found: found_u32,
            });
        }
        if found_u32 < wire::MIN_VERSION {
            return Err(LockError::Unchecked {
                path: path.to_owned(),
                found: found_u32,
            });
        }
        let wire: LockWire = toml::from_str(text).map_err(|e| damaged(e.message().to_owned()))?;
        let recorded = wire.checksum.clone();
        let lock = Self::try_from(wire).map_err(damaged)?;
        let actual = write::checksum(&lock);
        if recorded != actual {
            return Err(damaged(format!(
                "checksum {recorded} does not match the content ({actual})"
            )));
        }
        lock.check_closure().map_err(damaged)?;
        Ok(lock)
    }

    /// Every dependency edge the lock records ends at a locked package of the same target,
    /// so a lock cut short or with a package removed by hand cannot pass as complete.
    fn check_closure(&self) -> Result<(), String> {
        let mut names: BTreeMap<&str, BTreeSet<String>> = BTreeMap::new();
        for p in &self.packages {
            names
                .entry(p.target.as_str())
                .or_default()
                .insert(graph::graph_name(p));
        }
        for p in &self.packages {
            let here = &names[p.target.as_str()];
            for dep in &p.depends {
                if !here.contains(dep) {
                    return Err(format!(
                        "`{}` ({}) depends on `{dep}`, which is not locked",
                        p.name,
                        p.target.as_str()
                    ));
                }
            }
            for by in &p.required_by {
                if by != "manifest" && !here.contains(by) {
                    return Err(format!(
                        "`{}` ({}) is required by `{by}`, which is not locked",
                        p.name,
                        p.target.as_str()
                    ));
                }
            }
        }
        Ok(())
    }

    /// The canonical text of this lock.
    pub fn render(&self) -> String {
        write::render(self)
    }

    /// Writes the lock atomically (temp file + rename) unless the file already has these exact
    /// bytes. Returns whether the file changed.
    pub fn write_if_changed(&self, path: &Path) -> Result<bool, LockError> {
        let text = self.render();
        if fs_err::read_to_string(path).is_ok_and(|old| old == text) {
            return Ok(false);
        }
        write_atomically(path, text.as_bytes()).map_err(|source| LockError::Write {
            path: path.to_owned(),
            source,
        })?;
        Ok(true)
    }

    /// Packages of one target architecture, in lock order.
    pub fn packages_for(&self, target: &Arch) -> impl Iterator<Item = &LockedPackage> {
        self.packages.iter().filter(move |p| &p.target == target)
    }

    /// The source a package was locked from.
    pub fn source(&self, suite: &str) -> Option<&LockedSource> {
        self.sources.iter().find(|s| s.suite == suite)
    }

    /// The newest `Date` among the locked suites: the default image timestamp, so that the
    /// same lock gives the same image on any day.
    pub fn newest_release_date(&self) -> i64 {
        self.sources.iter().map(|s| s.date).max().unwrap_or(0)
    }

    /// Explains how this lock differs from what `manifest` asks, or `None` when it is current.
    pub fn staleness(&self, manifest: &Manifest) -> Option<Staleness> {
        if self.manifest_digest == manifest.lock_inputs_digest() {
            return None;
        }
        let mut reasons = Vec::new();
        let wanted: BTreeSet<&str> = manifest.packages.iter().map(|r| r.text.as_str()).collect();
        let locked: BTreeSet<&str> = self.roots.iter().map(String::as_str).collect();
        for added in wanted.difference(&locked) {
            reasons.push(format!("package `{added}` was added to the manifest"));
        }
        for removed in locked.difference(&wanted) {
            reasons.push(format!("package `{removed}` was removed from the manifest"));
        }
        let archs: Vec<String> = manifest
            .architectures
            .iter()
            .map(|a| a.as_str().to_owned())
            .collect();
        if archs != self.architectures {
            reasons.push(format!(
                "architectures changed from [{}] to [{}]",
                self.architectures.join(", "),
                archs.join(", ")
            ));
        }
        let suites: Vec<&str> = manifest.sources.iter().map(|s| s.suite.as_str()).collect();
        let locked_suites: Vec<&str> = self.sources.iter().map(|s| s.suite.as_str()).collect();
        if suites != locked_suites {
            reasons.push(format!(
                "sources changed from [{}] to [{}]",
                locked_suites.join(", "),
                suites.join(", ")
            ));
        }
        let locked_base = self.base.as_ref().map(|b| b.name.as_str());
        if locked_base != manifest.image.base.as_deref() {
            reasons.push(format!(
                "the base image changed from `{}` to `{}`",
                locked_base.unwrap_or("none"),
                manifest.image.base.as_deref().unwrap_or("none")
            ));
        }
        if reasons.is_empty() {
            reasons.push(
                "the manifest's exclude, prefer, component, keyring, priority or `image.files`/`image.tars` settings changed"
                    .to_owned(),
            );
        }
        Some(Staleness { reasons })
    }
}

impl TryFrom<LockWire> for Lock {
    type Error = String;

    fn try_from(wire: LockWire) -> Result<Self, String> {
        if wire.version == 0 {
            return Err("`version` must be at least 1".into());
        }
        let sha = |what: &str, hex: &str| -> Result<String, String> {
            let lower = hex.to_ascii_lowercase();
            if lower.len() == 64 && lower.bytes().all(|b| b.is_ascii_hexdigit()) {
                Ok(lower)
            } else {
                Err(format!("{what}: `{hex}` is not a sha256"))
            }
        };
        let mut sources = Vec::new();
        for s in wire.sources {
            let date = parse_rfc3339(&s.date)
                .ok_or_else(|| format!("suite `{}`: bad date `{}`", s.suite, s.date))?;
            let valid_until = s
                .valid_until
                .as_deref()
                .map(|v| {
                    parse_rfc3339(v)
                        .ok_or_else(|| format!("suite `{}`: bad valid-until `{v}`", s.suite))
                })
                .transpose()?;
            sources.push(LockedSource {
                inrelease_sha256: sha(&format!("suite `{}`", s.suite), &s.inrelease_sha256)?,
                suite: s.suite,
                codename: s.codename,
                components: s.components,
                date,
                valid_until,
                signed_by: s.signed_by,
            });
        }
        let mut packages = Vec::new();
        for p in wire.packages {
            let what = format!("package `{}`", p.name);
            if !is_package_name(&p.name) {
                return Err(format!("{what}: invalid name"));
            }
            if !sources.iter().any(|s| s.suite == p.suite) {
                return Err(format!("{what}: suite `{}` has no [[source]]", p.suite));
            }
            if p.path.starts_with('/') || p.path.split('/').any(|c| c == ".." || c.is_empty()) {
                return Err(format!("{what}: pool path `{}` is not relative", p.path));
            }
            packages.push(LockedPackage {
                version: Version::parse(&p.version).map_err(|e| format!("{what}: {e}"))?,
                target: Arch::parse(&p.target).map_err(|e| format!("{what}: {e}"))?,
                sha256: sha(&what, &p.sha256)?,
                name: p.name,
                architecture: p.architecture,
                suite: p.suite,
                source_package: p.source_package,
                source_version: p.source_version,
                path: p.path,
                size: p.size,
                depends: p.depends,
                required_by: p.required_by,
            });
        }
        let mut images = BTreeMap::new();
        if let Some(image) = wire.image {
            for (arch, manifest) in image.digest {
                let layers = image.layers.get(&arch).cloned().unwrap_or_default();
                let digest_ok = |d: &str| {
                    d.strip_prefix("sha256:")
                        .is_some_and(|hex| sha("", hex).is_ok())
                };
                if !digest_ok(&manifest) || !layers.iter().all(|l| digest_ok(l)) {
                    return Err(format!(
                        "[image] of `{arch}`: digests must be `sha256:<hex>`"
                    ));
                }
                images.insert(arch, RecordedImage { manifest, layers });
            }
        }
        let base = match wire.base {
            None => None,
            Some(base) => {
                for (arch, digest) in &base.digest {
                    if digest
                        .strip_prefix("sha256:")
                        .is_none_or(|hex| sha("", hex).is_err())
                    {
                        return Err(format!(
                            "[base.digest] of `{arch}`: `{digest}` is not `sha256:<hex>`"
                        ));
                    }
                }
                let mut provided = BTreeMap::new();
                for (arch, list) in base.provided {
                    let mut parsed = list
                        .iter()
                        .map(|text| {
                            ProvidedPackage::parse(text).ok_or_else(|| {
                                format!("[base.provided] of `{arch}`: `{text}` is not `name:arch=version`")
                            })
                        })
                        .collect::<Result<Vec<_>, _>>()?;
                    parsed.sort();
                    provided.insert(arch, parsed);
                }
                Some(LockedBase {
                    name: base.name,
                    digests: base.digest,
                    provided,
                })
            }
        };
        let mut lock = Self {
            manifest_digest: wire.manifest_digest,
            architectures: wire.architectures,
            roots: wire.roots,
            sources,
            packages,
            images,
            base,
        };
        let before: Vec<_> = lock.packages.iter().map(sort_key).collect();
        lock.normalise();
        let after: Vec<_> = lock.packages.iter().map(sort_key).collect();
        if before != after {
            return Err("packages are not sorted by (target, name, architecture)".into());
        }
        if after.windows(2).any(|w| w[0] == w[1]) {
            return Err("a package appears twice for the same target".into());
        }
        Ok(lock)
    }
}

fn sort_key(p: &LockedPackage) -> (String, String, String) {
    (
        p.target.as_str().to_owned(),
        p.name.clone(),
        p.architecture.clone(),
    )
}

impl Lock {
    /// Builds the lock of a manifest from its verified suites and one resolution per target
    /// architecture.
    pub fn from_resolutions(
        manifest: &Manifest,
        sources: Vec<LockedSource>,
        resolutions: &[(Arch, Resolution)],
    ) -> Self {
        let mut packages = Vec::new();
        for (target, resolution) in resolutions {
            for chosen in &resolution.packages {
                let p = &chosen.package;
                packages.push(LockedPackage {
                    name: p.name.clone(),
                    version: p.version.clone(),
                    architecture: p.architecture.clone(),
                    target: target.clone(),
                    suite: chosen.source_label.clone(),
                    source_package: p.source.clone(),
                    source_version: p.source_version.clone(),
                    path: p.filename.clone(),
                    size: p.size,
                    sha256: p.sha256.clone(),
                    depends: chosen.depends_on.clone(),
                    required_by: chosen.required_by.clone(),
                });
            }
        }
        let mut lock = Self {
            manifest_digest: manifest.lock_inputs_digest(),
            architectures: manifest
                .architectures
                .iter()
                .map(|a| a.as_str().to_owned())
                .collect(),
            roots: manifest.packages.iter().map(|r| r.text.clone()).collect(),
            sources,
            packages,
            images: BTreeMap::new(),
            base: None,
        };
        lock.normalise();
        lock
    }

    /// Sorts packages and their name lists into canonical order.
    pub fn normalise(&mut self) {
        self.packages.sort_by_key(sort_key);
        for p in &mut self.packages {
            p.depends.sort();
            p.depends.dedup();
            p.required_by.sort();
            p.required_by.dedup();
        }
    }
}

/// Writes `bytes` to `path` through a temp file in the same directory and a rename, so a
/// reader never sees half a file and a crash leaves the old file intact.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    let mut tmp = crate::cleanup::temp_file_in(dir, ".debless-")?;
    tmp.write_all(bytes)?;
    tmp.as_file().sync_all()?;
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Lock {
        let mut lock = Lock {
            manifest_digest: "sha256:00".into(),
            architectures: vec!["amd64".into()],
            roots: vec!["libgmp10".into()],
            sources: vec![LockedSource {
                suite: "bookworm".into(),
                codename: "bookworm".into(),
                components: vec!["main".into()],
                date: 1_763_716_544,
                valid_until: None,
                inrelease_sha256: "ab".repeat(32),
                signed_by: vec!["4CB50190207B4758A3F73A796ED0E7B82643E131".into()],
            }],
            packages: ["libgmp10", "libc6"]
                .iter()
                .map(|name| LockedPackage {
                    name: (*name).into(),
                    version: Version::parse("2:6.2.1+dfsg1-1.1").expect("valid"),
                    architecture: "amd64".into(),
                    target: Arch::parse("amd64").expect("known"),
                    suite: "bookworm".into(),
                    source_package: "gmp".into(),
                    source_version: None,
                    path: format!("pool/main/g/gmp/{name}_6.2.1+dfsg1-1.1_amd64.deb"),
                    size: 42,
                    sha256: "cd".repeat(32),
                    depends: vec!["libc6".into()],
                    required_by: vec!["manifest".into()],
                })
                .collect(),
            images: BTreeMap::from([(
                "amd64".to_owned(),
                RecordedImage {
                    manifest: format!("sha256:{}", "ef".repeat(32)),
                    layers: vec![format!("sha256:{}", "12".repeat(32))],
                },
            )]),
            base: None,
        };
        lock.normalise();
        lock
    }

    #[test]
    fn base_table_round_trips() {
        let mut lock = sample();
        lock.base = Some(LockedBase {
            name: "127.0.0.1:5000/base:v1".into(),
            digests: BTreeMap::from([("amd64".into(), format!("sha256:{}", "ab".repeat(32)))]),
            provided: BTreeMap::from([(
                "amd64".into(),
                vec![ProvidedPackage::parse("libc6:amd64=2.36-9+deb12u7").expect("valid")],
            )]),
        });
        let text = lock.render();
        assert!(
            text.contains("[base.provided]\namd64 = [\n  \"libc6:amd64=2.36-9+deb12u7\",\n]"),
            "{text}"
        );
        let back = Lock::parse(Path::new("debless.lock"), &text).expect("own output parses");
        assert_eq!(back, lock);
        let bad = text.replace("sha256:abab", "sha1:abab");
        assert!(Lock::parse(Path::new("debless.lock"), &bad).is_err());
    }

    #[test]
    fn round_trips_byte_for_byte() {
        let lock = sample();
        let text = lock.render();
        let back = Lock::parse(Path::new("debless.lock"), &text).expect("own output parses");
        assert_eq!(back, lock);
        assert_eq!(back.render(), text);
        assert!(text.find("name = \"libc6\"") < text.find("name = \"libgmp10\""));
    }

    #[test]
    fn refuses_newer_and_tampered_locks() {
        let text = sample().render();
        let newer = text.replace("version = 2\n", "version = 99\n");
        assert!(matches!(
            Lock::parse(Path::new("x"), &newer),
            Err(LockError::TooNew { found: 99, .. })
        ));
        let bad_sha = text.replacen(&"cd".repeat(32), "nothex", 1);
        let err = Lock::parse(Path::new("x"), &bad_sha).expect_err("bad sha");
        assert!(err.to_string().contains("not a sha256"), "{err}");
        let escape = text.replacen("pool/main", "../pool/main", 1);
        assert!(Lock::parse(Path::new("x"), &escape).is_err());
        let unknown = text.replace("size = 42", "size = 42\nsizes = 1");
        assert!(Lock::parse(Path::new("x"), &unknown).is_err());
    }

    #[test]
    fn refuses_hand_edits_truncation_and_open_closures() {
        let damaged = |text: &str| {
            let err = Lock::parse(Path::new("debless.lock"), text).expect_err("damaged");
            assert!(matches!(err, LockError::Damaged { .. }), "{err}");
            assert!(
                err.to_string()
                    .contains("`debless.lock` was edited or damaged"),
                "{err}"
            );
            assert!(err.to_string().ends_with("run `debless lock`"), "{err}");
            err.to_string()
        };
        let text = sample().render();
        // A hand-edited version: parses, but the checksum no longer holds.
        let edited = text.replace("2:6.2.1+dfsg1-1.1", "2:6.2.1+dfsg1-9");
        assert!(damaged(&edited).contains("checksum"));
        // Cut at a [[package]] boundary: still valid TOML.
        let cut = &text[..text.rfind("\n[[package]]").expect("two packages")];
        damaged(cut);
        // A package removed, checksum recomputed: the closure still catches it.
        let mut open = sample();
        open.packages.retain(|p| p.name != "libc6");
        let err = damaged(&open.render());
        assert!(err.contains("depends on `libc6`"), "{err}");
        let missing_key = text.replacen("required-by = [\"manifest\"]\n", "", 1);
        damaged(&missing_key);
        let twice = format!(
            "{text}{}",
            &text[text.rfind("\n[[package]]").expect("pkg")..]
        );
        damaged(&twice);
        // Format 1 had no checksum: refused with a re-lock hint, treated as absent by `lock`.
        let v1 = text.replace("version = 2\n", "version = 1\n");
        let err = Lock::parse(Path::new("debless.lock"), &v1).expect_err("v1");
        assert!(
            matches!(err, LockError::Unchecked { found: 1, .. }),
            "{err}"
        );
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join(FILE_NAME);
        std::fs::write(&path, cut).expect("write");
        assert!(Lock::load_previous(&path).expect("absent").is_none());
    }

    #[test]
    fn recorded_images_are_outside_the_checksum() {
        let mut lock = sample();
        let with = lock.render();
        lock.images.clear();
        let without = lock.render();
        let checksum_line = |t: &str| t.lines().nth(3).map(str::to_owned);
        assert!(checksum_line(&with).is_some_and(|l| l.starts_with("checksum = ")));
        assert_eq!(checksum_line(&with), checksum_line(&without));
        // A recorded digest edited by hand is still a valid lock (`build --verify` judges it).
        let other = with.replace(&"ef".repeat(32), &"0f".repeat(32));
        Lock::parse(Path::new("debless.lock"), &other).expect("images are not checked");
    }

    #[test]
    fn writes_only_when_changed() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join(FILE_NAME);
        let lock = sample();
        assert!(lock.write_if_changed(&path).expect("write"));
        assert!(!lock.write_if_changed(&path).expect("second write"));
        let leftovers = std::fs::read_dir(dir.path()).expect("list").count();
        assert_eq!(leftovers, 1, "no temp files left behind");
    }
}
