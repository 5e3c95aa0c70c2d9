//! The one typed model for READING image documents: OCI image indices and manifests, their
//! Docker v2 schema 2 twins (manifest lists and manifests, which registries still serve),
//! descriptors, platforms and the part of the image config debless reads.
//!
//! The registry pull, the check's layout loader, `fsck_layout`, `inspect` and a base image's
//! config all parse through these types, so every digest they meet is validated the same way
//! ([`Digest`]: sha256 only, checked while parsing) and a document is told apart from
//! another by one rule ([`Document::parse`]). Writing stays with [`super::config`], whose
//! structs serialise in a fixed field order so digests never change; [`Descriptor`] and
//! [`Platform`] are those same structs.
//!
//! Why not the `oci-spec` crate: debless reads five fields of these documents and must
//! accept Docker's media types unchanged; `oci-spec`'s builder-generated types would add
//! `derive_builder`, `getset` and `strum` to the build, accept digests of algorithms debless
//! cannot verify, and would still need these writer structs beside them for byte-stable
//! output (see the README's "OCI documents" note).

use std::collections::BTreeMap;

use serde::Deserialize;

pub use super::config::{Descriptor, Platform};
pub use super::digest::{Digest, DigestError};

/// OCI image manifest.
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
/// OCI image index.
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
/// Docker v2 schema 2 manifest.
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
/// Docker v2 schema 2 manifest list.
pub const DOCKER_MANIFEST_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";

/// Whether a descriptor's media type names an image manifest (OCI or Docker).
pub fn is_manifest(media_type: &str) -> bool {
    media_type == OCI_MANIFEST || media_type == DOCKER_MANIFEST
}

/// Whether a descriptor's media type names an index (OCI index or Docker manifest list).
pub fn is_index(media_type: &str) -> bool {
    media_type == OCI_INDEX || media_type == DOCKER_MANIFEST_LIST
}

/// An image manifest (OCI or Docker schema 2): config and layers, bottom first.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct ImageManifest {
    /// `mediaType` when the document says it (OCI makes it optional).
    #[serde(rename = "mediaType", default)]
    pub media_type: Option<String>,
    pub config: Descriptor,
    pub layers: Vec<Descriptor>,
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
}

/// An image index (also `index.json`) or a Docker manifest list.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct ImageIndex {
    #[serde(rename = "mediaType", default)]
    pub media_type: Option<String>,
    pub manifests: Vec<Descriptor>,
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
}

/// The fields of an image config debless reads (the rest is kept as bytes by whoever
/// needs to rewrite it, as a base image's config is).
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct ImageConfig {
    #[serde(default)]
    pub architecture: String,
    #[serde(default)]
    pub os: String,
    #[serde(default)]
    pub variant: Option<String>,
    pub rootfs: RootFs,
}

/// `rootfs` of an image config.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct RootFs {
    /// Digests of the uncompressed layer tars, bottom first.
    pub diff_ids: Vec<Digest>,
}

/// An index or a manifest, whichever a document is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Document {
    Index(ImageIndex),
    Manifest(ImageManifest),
}

impl Document {
    /// Parses `bytes` as an index when it says so (`mediaType`) or, without a media type,
    /// when it has `manifests`; as a manifest otherwise.
    pub fn parse(bytes: &[u8]) -> Result<Self, serde_json::Error> {
        #[derive(Deserialize)]
        struct Probe {
            #[serde(rename = "mediaType", default)]
            media_type: Option<String>,
            #[serde(default)]
            manifests: Option<serde::de::IgnoredAny>,
        }
        let probe: Probe = serde_json::from_slice(bytes)?;
        let index = match probe.media_type.as_deref() {
            Some(media_type) if is_index(media_type) => true,
            Some(media_type) if is_manifest(media_type) => false,
            _ => probe.manifests.is_some(),
        };
        Ok(if index {
            Self::Index(serde_json::from_slice(bytes)?)
        } else {
            Self::Manifest(serde_json::from_slice(bytes)?)
        })
    }
}

impl ImageManifest {
    /// Parses an image manifest.
    pub fn parse(bytes: &[u8]) -> Result<Self, serde_json::Error> {
        serde_json::from_slice(bytes)
    }
}

impl ImageIndex {
    /// Parses an image index or manifest list.
    pub fn parse(bytes: &[u8]) -> Result<Self, serde_json::Error> {
        serde_json::from_slice(bytes)
    }
}

impl ImageConfig {
    /// Parses the fields of an image config debless reads.
    pub fn parse(bytes: &[u8]) -> Result<Self, serde_json::Error> {
        serde_json::from_slice(bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn digest(text: &[u8]) -> String {
        Digest::of(text).to_string()
    }

    #[test]
    fn reads_oci_and_docker_documents() {
        let list = format!(
            r#"{{"schemaVersion":2,"mediaType":"{DOCKER_MANIFEST_LIST}","manifests":[
                {{"mediaType":"{DOCKER_MANIFEST}","digest":"{}","size":7,
                  "platform":{{"architecture":"arm","os":"linux","variant":"v7","os.features":[]}}}}]}}"#,
            digest(b"m")
        );
        let Document::Index(index) = Document::parse(list.as_bytes()).expect("list") else {
            panic!("a manifest list is an index");
        };
        let platform = index.manifests[0].platform.as_ref().expect("platform");
        assert_eq!(
            (platform.architecture.as_str(), platform.variant.as_deref()),
            ("arm", Some("v7"))
        );
        let manifest = format!(
            r#"{{"schemaVersion":2,"config":{{"mediaType":"application/vnd.docker.container.image.v1+json","digest":"{}","size":1}},
                "layers":[{{"mediaType":"application/vnd.docker.image.rootfs.diff.tar.gzip","digest":"{}","size":2}}]}}"#,
            digest(b"c"),
            digest(b"l")
        );
        let Document::Manifest(manifest) = Document::parse(manifest.as_bytes()).expect("manifest")
        else {
            panic!("no manifests key and no media type: a manifest");
        };
        assert_eq!(manifest.layers[0].digest, Digest::of(b"l"));
    }

    #[test]
    fn a_bad_digest_fails_the_document() {
        let bad = r#"{"manifests":[{"mediaType":"x","digest":"sha256:../../etc","size":1}]}"#;
        let err = Document::parse(bad.as_bytes()).expect_err("bad digest");
        assert!(err.to_string().contains("not a sha256 digest"), "{err}");
        let config = r#"{"rootfs":{"type":"layers","diff_ids":["md5:00"]}}"#;
        assert!(ImageConfig::parse(config.as_bytes()).is_err());
    }
}
