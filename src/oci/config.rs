//! The image configuration (image-spec config.md) and the manifest and index documents,
//! as plain serde structs serialised in a fixed field order, with maps as `BTreeMap`.
//!
//! Everything time-dependent comes from the epoch passed in (`SOURCE_DATE_EPOCH`), so the
//! same inputs give the same JSON bytes and therefore the same digests.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::blob::Digest;

/// Media type of an image manifest.
pub const MANIFEST_MEDIA_TYPE: &str = "application/vnd.oci.image.manifest.v1+json";
/// Media type of an image index.
pub const INDEX_MEDIA_TYPE: &str = "application/vnd.oci.image.index.v1+json";
/// Media type of an image config.
pub const CONFIG_MEDIA_TYPE: &str = "application/vnd.oci.image.config.v1+json";
/// The `PATH` images get unless the manifest says otherwise (as distroless and Docker).
pub const DEFAULT_PATH: &str = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// What the user asks the image to run and carry (the manifest's `[image]` section).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImageSpec {
    /// `Entrypoint`.
    pub entrypoint: Option<Vec<String>>,
    /// `Cmd`.
    pub cmd: Option<Vec<String>>,
    /// `Env` as `KEY=value`, in order.
    pub env: Vec<String>,
    /// `User` (numeric ids are safest: the image may have no /etc/passwd).
    pub user: Option<String>,
    /// `WorkingDir`.
    pub workdir: Option<String>,
    /// Config `Labels`.
    pub labels: BTreeMap<String, String>,
    /// Manifest `annotations`.
    pub annotations: BTreeMap<String, String>,
}

impl Default for ImageSpec {
    fn default() -> Self {
        Self {
            entrypoint: None,
            cmd: None,
            env: vec![DEFAULT_PATH.to_owned()],
            user: None,
            workdir: None,
            labels: BTreeMap::new(),
            annotations: BTreeMap::new(),
        }
    }
}

/// An OCI platform (written in this field order; read by [`super::model`], which ignores
/// fields debless does not use, such as `os.version`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Platform {
    /// `amd64`, `arm64`, ...
    pub architecture: String,
    /// Always `linux` here.
    pub os: String,
    /// `v8`, `v7`, ...
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
}

/// A content descriptor (written in this field order; read by [`super::model`], its digest
/// validated while parsing).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Descriptor {
    /// Media type of the target.
    #[serde(rename = "mediaType", default)]
    pub media_type: String,
    /// Its digest.
    pub digest: Digest,
    /// Its size in bytes.
    pub size: u64,
    /// Platform, in an index.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<Platform>,
    /// Annotations (`org.opencontainers.image.ref.name` in `index.json`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

/// An image manifest.
#[derive(Serialize)]
pub struct Manifest<'a> {
    #[serde(rename = "schemaVersion")]
    pub schema_version: u32,
    #[serde(rename = "mediaType")]
    pub media_type: &'a str,
    pub config: Descriptor,
    pub layers: Vec<Descriptor>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: &'a BTreeMap<String, String>,
}

/// An image index (also the shape of `index.json`).
#[derive(Serialize)]
pub struct Index {
    #[serde(rename = "schemaVersion")]
    pub schema_version: u32,
    #[serde(rename = "mediaType")]
    pub media_type: &'static str,
    pub manifests: Vec<Descriptor>,
}

#[derive(Serialize)]
struct ImageConfig<'a> {
    created: &'a str,
    architecture: &'a str,
    os: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    variant: Option<&'a str>,
    config: RuntimeConfig<'a>,
    rootfs: RootFs<'a>,
    history: Vec<History<'a>>,
}

#[derive(Serialize)]
struct RuntimeConfig<'a> {
    #[serde(rename = "User", skip_serializing_if = "Option::is_none")]
    user: Option<&'a str>,
    #[serde(rename = "Env", skip_serializing_if = "<[String]>::is_empty")]
    env: &'a [String],
    #[serde(rename = "Entrypoint", skip_serializing_if = "Option::is_none")]
    entrypoint: Option<&'a [String]>,
    #[serde(rename = "Cmd", skip_serializing_if = "Option::is_none")]
    cmd: Option<&'a [String]>,
    #[serde(rename = "WorkingDir", skip_serializing_if = "Option::is_none")]
    working_dir: Option<&'a str>,
    #[serde(rename = "Labels", skip_serializing_if = "BTreeMap::is_empty")]
    labels: &'a BTreeMap<String, String>,
}

#[derive(Serialize)]
struct RootFs<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    diff_ids: &'a [Digest],
}

#[derive(Serialize)]
struct History<'a> {
    created: &'a str,
    created_by: &'static str,
}

/// The image config JSON bytes for these layers.
pub fn config_json(
    spec: &ImageSpec,
    platform: &Platform,
    diff_ids: &[Digest],
    epoch: i64,
) -> Vec<u8> {
    let created = crate::timestamp::format_rfc3339(epoch);
    let config = ImageConfig {
        created: &created,
        architecture: &platform.architecture,
        os: &platform.os,
        variant: platform.variant.as_deref(),
        config: RuntimeConfig {
            user: spec.user.as_deref(),
            env: &spec.env,
            entrypoint: spec.entrypoint.as_deref(),
            cmd: spec.cmd.as_deref(),
            working_dir: spec.workdir.as_deref(),
            labels: &spec.labels,
        },
        rootfs: RootFs {
            kind: "layers",
            diff_ids,
        },
        history: diff_ids
            .iter()
            .map(|_| History {
                created: &created,
                created_by: "debless build",
            })
            .collect(),
    };
    serde_json::to_vec(&config).expect("serialising plain structs cannot fail")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_has_fixed_shape() {
        let platform = Platform {
            architecture: "arm64".into(),
            os: "linux".into(),
            variant: Some("v8".into()),
        };
        let spec = ImageSpec {
            user: Some("65532".into()),
            cmd: Some(vec!["/bin/sh".into()]),
            ..ImageSpec::default()
        };
        let json = config_json(&spec, &platform, &[Digest::of(b"")], 0);
        let text = String::from_utf8(json).expect("utf-8");
        assert_eq!(
            text,
            format!(
                r#"{{"created":"1970-01-01T00:00:00Z","architecture":"arm64","os":"linux","variant":"v8","config":{{"User":"65532","Env":["{DEFAULT_PATH}"],"Cmd":["/bin/sh"]}},"rootfs":{{"type":"layers","diff_ids":["{}"]}},"history":[{{"created":"1970-01-01T00:00:00Z","created_by":"debless build"}}]}}"#,
                Digest::of(b"")
            )
        );
    }
}
