//! Building on a base image (issue #5): what debless must know of a pulled base before and
//! after resolving, and the final image with the base's layers left untouched underneath.
//!
//! - [`BaseFilesystem::read`] applies the base's layers into one in-memory [`Tree`] with
//!   every file's bytes ([`super::unpack`]: whiteouts, unsafe names refused), checking every
//!   blob and every uncompressed tar against the manifest's digest and the config's
//!   `diff_ids`. The tree serves the package database (`rootfs::dpkg_db`), the overlay check
//!   (`rootfs::overlay`) and the shared-library check, so the layers are read once.
//! - [`BaseFilesystem::packages`] feeds `resolve::Request::already_installed`;
//!   [`BaseFilesystem::merged_usr`] decides merged-/usr for the new layer (debian-notes §9.4:
//!   never put a `lib/` directory over the base's `lib -> usr/lib`);
//!   [`BaseFilesystem::check_overlay`] refuses a new file that would silently replace a base
//!   file with other content.
//! - [`rebase`] puts the base's layers under a built image's layers and writes a config that
//!   inherits the base's (env, entrypoint, user, …) with the manifest's `[image]` settings on
//!   top, the base's history followed by debless's, and the `org.opencontainers.image.base.*`
//!   annotations.

use std::collections::BTreeMap;
use std::io;
use std::sync::Arc;

use super::config::{ImageSpec, Platform};
use super::model::{DigestError, ImageConfig};
use super::unpack::{self, UnpackError};
use super::{BuiltImage, Compression, LayerDescriptor, OciError, OciOptions};
use crate::registry::PulledImage;
use crate::rootfs::dpkg_db::{self, DpkgDbError};
use crate::rootfs::overlay;
use crate::rootfs::tree::{NodeKind, PathProblem, Tree};

/// Annotation: the base's fully qualified reference.
pub const BASE_NAME: &str = "org.opencontainers.image.base.name";
/// Annotation: the digest of the base's (platform) manifest.
pub const BASE_DIGEST: &str = "org.opencontainers.image.base.digest";

/// A package the base's package database lists.
pub use crate::rootfs::dpkg_db::InstalledPackage as BasePackage;

/// Why a base cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum BaseError {
    /// A layer could not be read.
    #[error("cannot read base layer {digest}: {source}")]
    Layer {
        digest: String,
        #[source]
        source: io::Error,
    },
    /// A layer entry (or hard-link target) that would land outside the root.
    #[error("base layer {digest} has an unsafe entry `{entry}`: {problem}")]
    UnsafeEntry {
        digest: String,
        entry: String,
        problem: PathProblem,
    },
    /// A layer's bytes or uncompressed tar do not match what the manifest and config say.
    #[error("base layer {digest}: {what} is {actual}, the image says {expected}")]
    Mismatch {
        digest: String,
        what: &'static str,
        expected: String,
        actual: String,
    },
    /// The config is not JSON or lacks `rootfs.diff_ids`.
    #[error("the base's config is not a valid image config: {0}")]
    Config(String),
    /// A package database stanza that cannot be read.
    #[error("base {0}")]
    Database(#[from] DpkgDbError),
    /// A new file would replace a base file with other content.
    #[error(
        "`/{path}` from package `{package}` would overwrite the base image's {base} with other content"
    )]
    Overwrite {
        path: String,
        package: String,
        base: &'static str,
    },
}

/// The base image's filesystem as its layers leave it, file bytes included.
#[derive(Clone, Debug, Default)]
pub struct BaseFilesystem {
    tree: Tree,
}

impl BaseFilesystem {
    /// Applies the base's layers in order, verifying every digest.
    pub fn read(image: &PulledImage) -> Result<Self, BaseError> {
        let diff_ids = ImageConfig::parse(&image.config)
            .map_err(|e| BaseError::Config(e.to_string()))?
            .rootfs
            .diff_ids;
        if diff_ids.len() != image.layers.len() {
            return Err(BaseError::Config(format!(
                "{} diff_ids for {} layers",
                diff_ids.len(),
                image.layers.len()
            )));
        }
        let mut tree = Tree::default();
        for ((descriptor, path), diff_id) in image.layers.iter().zip(&diff_ids) {
            let digests = unpack::apply_layer(&mut tree, path, &|_, _| true).map_err(|err| {
                let digest = descriptor.digest.to_string();
                match err {
                    UnpackError::Io { source, .. } => BaseError::Layer { digest, source },
                    UnpackError::UnsafeEntry { entry, problem, .. } => BaseError::UnsafeEntry {
                        digest,
                        entry,
                        problem,
                    },
                }
            })?;
            for (what, expected, actual) in [
                ("the blob digest", &descriptor.digest, &digests.blob),
                ("the diff_id", diff_id, &digests.diff_id),
            ] {
                if let Err(DigestError::Mismatch { expected, actual }) = expected.check(actual) {
                    return Err(BaseError::Mismatch {
                        digest: descriptor.digest.to_string(),
                        what,
                        expected: expected.to_string(),
                        actual: actual.to_string(),
                    });
                }
            }
        }
        Ok(Self { tree })
    }

    /// The base's files (relative paths, links not followed), bytes included.
    pub fn tree(&self) -> &Tree {
        &self.tree
    }

    /// Whether the base is merged-/usr: its `lib` is a link to `usr/lib`.
    pub fn merged_usr(&self) -> bool {
        matches!(
            self.tree.get("lib").map(|node| &node.kind),
            Some(NodeKind::Symlink(target)) if target.trim_start_matches('/') == "usr/lib"
        )
    }

    /// The packages of the base's dpkg database ([`dpkg_db::installed_packages`]).
    pub fn packages(&self) -> Result<Vec<BasePackage>, BaseError> {
        Ok(dpkg_db::installed_packages(&self.tree)?)
    }

    /// Refuses new files that would replace base files (or links, or directories) with
    /// something else ([`overlay::first_clash`]); `owner_of(path)` names the package
    /// shipping a path.
    pub fn check_overlay(
        &self,
        tree: &Tree,
        owner_of: &dyn Fn(&str) -> String,
    ) -> Result<(), BaseError> {
        match overlay::first_clash(&self.tree, tree) {
            None => Ok(()),
            Some(clash) => Err(BaseError::Overwrite {
                package: owner_of(&clash.path),
                path: clash.path,
                base: clash.lower,
            }),
        }
    }
}

/// The manifest's `[image]` settings that replace the base's config values: the image spec's
/// entrypoint, cmd, user, workdir, labels and annotations, and the `env` table as written
/// (set over the base's `Env` key by key; the spec's own `env` list is not used).
#[derive(Clone, Debug, Default)]
pub struct ConfigOverrides {
    pub spec: ImageSpec,
    /// `KEY=value` pairs set over the base's `Env`.
    pub env: BTreeMap<String, String>,
}

impl ConfigOverrides {
    /// The overrides an [`ImageSpec`] and the manifest's env table ask for.
    pub fn from_spec(spec: &ImageSpec, env: &BTreeMap<String, String>) -> Self {
        Self {
            spec: spec.clone(),
            env: env.clone(),
        }
    }
}

/// The base as [`rebase`] needs it.
pub struct Base<'a> {
    /// The fully qualified reference as the lock pins it.
    pub name: &'a str,
    pub image: &'a PulledImage,
}

/// The image `built` (debless's layers) on top of `base`: base layers unchanged, the config
/// inherited with `overrides`, history appended, base annotations added.
pub fn rebase(
    built: &BuiltImage,
    base: &Base<'_>,
    overrides: &ConfigOverrides,
    opts: &OciOptions,
) -> Result<BuiltImage, OciError> {
    let store = Arc::clone(&built.store);
    let mut layers = Vec::new();
    let base_diff_ids = ImageConfig::parse(&base.image.config)
        .map_err(|e| OciError::Corrupt {
            path: base.name.into(),
            what: format!("the base's config is not a valid image config: {e}"),
        })?
        .rootfs
        .diff_ids;
    for ((descriptor, path), diff_id) in base.image.layers.iter().zip(&base_diff_ids) {
        let digest = descriptor.digest.clone();
        let target = store.path(&digest);
        if !target.exists() && fs_err::hard_link(path, &target).is_err() {
            fs_err::copy(path, &target).map_err(|source| OciError::Io {
                path: target.clone(),
                source,
            })?;
        }
        layers.push(LayerDescriptor {
            media_type: oci_layer_media_type(&descriptor.media_type),
            digest,
            diff_id: diff_id.clone(),
            size: descriptor.size,
        });
    }
    layers.extend(built.layers.iter().cloned());
    let config = inherited_config(
        &base.image.config,
        &layers,
        overrides,
        built.layers.len(),
        opts,
    )
    .map_err(|what| OciError::Corrupt {
        path: base.name.into(),
        what,
    })?;
    let mut annotations = overrides.spec.annotations.clone();
    annotations.insert(BASE_NAME.to_owned(), base.name.to_owned());
    annotations.insert(BASE_DIGEST.to_owned(), base.image.manifest_digest.clone());
    let platform = built.manifest.platform.clone().unwrap_or_else(|| Platform {
        architecture: opts.arch.oci_platform().0.to_owned(),
        os: "linux".to_owned(),
        variant: None,
    });
    super::finish_with_config(store, layers, &config, &annotations, platform, opts.epoch)
}

/// Docker layer media types as their OCI equivalents (same bytes).
fn oci_layer_media_type(media_type: &str) -> String {
    if media_type.starts_with("application/vnd.oci.") {
        return media_type.to_owned();
    }
    if media_type.ends_with("zstd") {
        Compression::Zstd.media_type().to_owned()
    } else if media_type.ends_with("gzip") {
        Compression::Gzip.media_type().to_owned()
    } else {
        "application/vnd.oci.image.layer.v1.tar".to_owned()
    }
}

/// The base's config with the new layers, history, time and overrides.
fn inherited_config(
    base: &[u8],
    layers: &[LayerDescriptor],
    overrides: &ConfigOverrides,
    new_layers: usize,
    opts: &OciOptions,
) -> Result<Vec<u8>, String> {
    use serde_json::{Value, json};
    let mut doc: Value = serde_json::from_slice(base).map_err(|e| e.to_string())?;
    let object = doc.as_object_mut().ok_or("the config is not an object")?;
    let created = crate::timestamp::format_rfc3339(opts.epoch);
    object.insert("created".into(), json!(created));
    let runtime = object
        .entry("config")
        .or_insert_with(|| json!({}))
        .as_object_mut()
        .ok_or("`config` is not an object")?;
    if let Some(entrypoint) = &overrides.spec.entrypoint {
        runtime.insert("Entrypoint".into(), json!(entrypoint));
    }
    if let Some(cmd) = &overrides.spec.cmd {
        runtime.insert("Cmd".into(), json!(cmd));
    }
    if let Some(user) = &overrides.spec.user {
        runtime.insert("User".into(), json!(user));
    }
    if let Some(workdir) = &overrides.spec.workdir {
        runtime.insert("WorkingDir".into(), json!(workdir));
    }
    if !overrides.env.is_empty() {
        let mut env: Vec<String> = runtime
            .get("Env")
            .and_then(Value::as_array)
            .map(|list| {
                list.iter()
                    .filter_map(|v| v.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default();
        for (key, value) in &overrides.env {
            env.retain(|kv| kv.split('=').next() != Some(key.as_str()));
            env.push(format!("{key}={value}"));
        }
        runtime.insert("Env".into(), json!(env));
    }
    if !overrides.spec.labels.is_empty() {
        let labels = runtime.entry("Labels").or_insert_with(|| json!({}));
        if !labels.is_object() {
            *labels = json!({});
        }
        let labels = labels.as_object_mut().expect("just made an object");
        for (key, value) in &overrides.spec.labels {
            labels.insert(key.clone(), json!(value));
        }
    }
    let diff_ids: Vec<&str> = layers.iter().map(|l| l.diff_id.as_str()).collect();
    object.insert(
        "rootfs".into(),
        json!({"type": "layers", "diff_ids": diff_ids}),
    );
    let history = object
        .entry("history")
        .or_insert_with(|| json!([]))
        .as_array_mut()
        .ok_or("`history` is not a list")?;
    for _ in 0..new_layers {
        history.push(json!({"created": created, "created_by": "debless build"}));
    }
    Ok(serde_json::to_vec(&doc).expect("serialising a JSON value cannot fail"))
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::oci::Digest;

    fn tar_layer(entries: &[(&str, tar::EntryType, &[u8], Option<&str>)]) -> Vec<u8> {
        let mut builder = tar::Builder::new(Vec::new());
        for (path, kind, data, link) in entries {
            let mut header = tar::Header::new_ustar();
            header.set_entry_type(*kind);
            header.set_mode(0o644);
            header.set_size(data.len() as u64);
            if let Some(link) = link {
                // Byte for byte, as other tools write it (tar-rs rewrites absolute targets).
                header.as_old_mut().linkname[..link.len()].copy_from_slice(link.as_bytes());
            }
            builder
                .append_data(&mut header, path, *data)
                .expect("append");
        }
        builder.into_inner().expect("tar")
    }

    fn pulled(layers: &[Vec<u8>], dir: &Path) -> PulledImage {
        let mut descriptors = Vec::new();
        let mut diff_ids = Vec::new();
        for (i, tar) in layers.iter().enumerate() {
            let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            io::Write::write_all(&mut gz, tar).expect("gzip");
            let blob = gz.finish().expect("gzip");
            let path = dir.join(format!("layer{i}"));
            fs_err::write(&path, &blob).expect("write");
            diff_ids.push(Digest::of(tar).to_string());
            descriptors.push((
                crate::registry::pull::Descriptor {
                    media_type: "application/vnd.docker.image.rootfs.diff.tar.gzip".into(),
                    digest: Digest::of(&blob),
                    size: blob.len() as u64,
                    platform: None,
                    annotations: BTreeMap::new(),
                },
                path,
            ));
        }
        let config = serde_json::json!({"architecture": "amd64", "os": "linux",
            "config": {"Env": ["PATH=/usr/bin", "LANG=C"], "User": "65532"},
            "rootfs": {"type": "layers", "diff_ids": diff_ids},
            "history": [{"created_by": "base"}]});
        PulledImage {
            manifest_digest: Digest::of(b"manifest").to_string(),
            manifest: crate::registry::pull::ImageManifest {
                media_type: None,
                config: descriptors[0].0.clone(),
                layers: descriptors.iter().map(|d| d.0.clone()).collect(),
                annotations: BTreeMap::new(),
            },
            config: serde_json::to_vec(&config).expect("json"),
            layers: descriptors,
        }
    }

    #[test]
    fn reads_packages_links_and_whiteouts() {
        use tar::EntryType::{Directory, Regular, Symlink};
        let dir = tempfile::tempdir().expect("temp");
        let status = b"Package: libc6\nVersion: 2.36-9+deb12u7\nArchitecture: amd64\n";
        let gone =
            b"Package: old\nVersion: 1\nArchitecture: all\nStatus: deinstall ok config-files\n";
        let first = tar_layer(&[
            ("lib", Symlink, b"", Some("usr/lib")),
            ("usr/lib/", Directory, b"", None),
            ("etc/removed", Regular, b"x", None),
            ("var/lib/dpkg/status.d/libc6", Regular, status, None),
            (
                "var/lib/dpkg/status.d/libc6.md5sums",
                Regular,
                b"abc  usr/x\n",
                None,
            ),
            ("var/lib/dpkg/status", Regular, gone, None),
        ]);
        let second = tar_layer(&[("etc/.wh.removed", Regular, b"", None)]);
        let image = pulled(&[first, second], dir.path());
        let fs = BaseFilesystem::read(&image).expect("valid base");
        assert!(fs.merged_usr());
        assert!(fs.tree().get("etc/removed").is_none());
        let packages = fs.packages().expect("valid db");
        assert_eq!(packages.len(), 1);
        assert_eq!(
            (packages[0].name.as_str(), packages[0].version.as_str()),
            ("libc6", "2.36-9+deb12u7")
        );
    }

    #[test]
    fn overlay_check_names_the_clash() {
        use crate::rootfs::tree::Node;
        use tar::EntryType::{Directory, Regular, Symlink};
        let dir = tempfile::tempdir().expect("temp");
        let layer = tar_layer(&[
            ("lib", Symlink, b"", Some("/usr/lib")),
            ("usr/bin/", Directory, b"", None),
            ("usr/bin/tool", Regular, b"base bytes", None),
        ]);
        let fs = BaseFilesystem::read(&pulled(&[layer], dir.path())).expect("valid base");
        let node = |kind| Node {
            kind,
            mode: 0o755,
            uid: 0,
            gid: 0,
            mtime: 0,
            owner: Some(0),
        };
        let owner = |path: &str| format!("pkg-of-{path}");
        let mut fine = Tree::default();
        fine.insert("lib".into(), node(NodeKind::Symlink("usr/lib".into())));
        fine.insert("usr/bin".into(), node(NodeKind::Dir));
        fine.insert(
            "usr/bin/tool".into(),
            node(NodeKind::File(b"base bytes".into())),
        );
        fine.insert("usr/bin/new".into(), node(NodeKind::File(b"new".into())));
        assert_eq!(
            fs.tree().get("lib").map(|n| &n.kind),
            Some(&NodeKind::Symlink("/usr/lib".into()))
        );
        fs.check_overlay(&fine, &owner)
            .expect("same content is no clash");

        let mut other_bytes = fine.clone();
        other_bytes.insert("usr/bin/tool".into(), node(NodeKind::File(b"other".into())));
        let err = fs.check_overlay(&other_bytes, &owner).expect_err("clash");
        assert_eq!(
            err.to_string(),
            "`/usr/bin/tool` from package `pkg-of-usr/bin/tool` would overwrite the base image's file with other content"
        );
        let mut dir_over_link = fine;
        dir_over_link.insert("lib".into(), node(NodeKind::Dir));
        let err = fs.check_overlay(&dir_over_link, &owner).expect_err("clash");
        assert!(
            err.to_string().contains("base image's symbolic link"),
            "{err}"
        );
    }

    #[test]
    fn refuses_a_layer_that_does_not_match_its_diff_id() {
        let dir = tempfile::tempdir().expect("temp");
        let mut image = pulled(&[tar_layer(&[])], dir.path());
        image.config = serde_json::to_vec(&serde_json::json!({
            "rootfs": {"diff_ids": [Digest::of(b"other").to_string()]}
        }))
        .expect("json");
        let err = BaseFilesystem::read(&image).expect_err("mismatch");
        assert!(err.to_string().contains("the diff_id"), "{err}");
    }

    #[test]
    fn config_inherits_and_overrides() {
        let dir = tempfile::tempdir().expect("temp");
        let image = pulled(&[tar_layer(&[])], dir.path());
        let overrides = ConfigOverrides {
            env: BTreeMap::from([("LANG".into(), "C.UTF-8".into())]),
            spec: ImageSpec {
                cmd: Some(vec!["python3".into()]),
                ..ImageSpec::default()
            },
        };
        let opts = OciOptions {
            epoch: 0,
            compression: Compression::Gzip,
            arch: crate::debian::Arch::parse("amd64").expect("arch"),
            layers: 1,
        };
        let layer = LayerDescriptor {
            media_type: Compression::Gzip.media_type().into(),
            digest: Digest::of(b"a"),
            diff_id: Digest::of(b"b"),
            size: 1,
        };
        let json = inherited_config(&image.config, &[layer], &overrides, 1, &opts).expect("ok");
        let doc: serde_json::Value = serde_json::from_slice(&json).expect("json");
        assert_eq!(
            doc["config"]["Env"],
            serde_json::json!(["PATH=/usr/bin", "LANG=C.UTF-8"])
        );
        assert_eq!(doc["config"]["User"], "65532");
        assert_eq!(doc["config"]["Cmd"], serde_json::json!(["python3"]));
        assert_eq!(doc["history"].as_array().map(Vec::len), Some(2));
        assert_eq!(doc["rootfs"]["diff_ids"][0], Digest::of(b"b").to_string());
        assert_eq!(
            oci_layer_media_type("application/vnd.docker.image.rootfs.diff.tar.gzip"),
            Compression::Gzip.media_type()
        );
    }
}
