//! Pushing an OCI layout directory to a registry: every blob the registry lacks (a
//! cross-repository mount first when the blob's source repository on the same registry is
//! known), then each image manifest by digest, then the top document (manifest or index)
//! under the reference's tag.

use std::path::Path;

use super::RegistryError;
use super::client::RegistryClient;
use super::pull::{Descriptor, ImageIndex, ImageManifest};
use super::reference::Reference;

/// What happened to one blob.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BlobPush {
    /// The registry had it.
    Present,
    /// Linked from another repository of the same registry.
    Mounted,
    /// Sent.
    Uploaded,
}

/// Counts of what a push did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PushReport {
    /// The digest of the top document as pushed.
    pub digest: String,
    pub present: usize,
    pub mounted: usize,
    pub uploaded: usize,
}

/// Pushes the image of the layout at `dir` (its only `index.json` entry) to `target`.
/// `mount_from`: a repository of the same registry that may already hold some blobs (the
/// base image's). `auth` and `http`: credentials and trusted CAs.
pub fn push_layout(
    dir: &Path,
    target: &Reference,
    mount_from: Option<&Reference>,
    auth: &super::auth::RegistryAuth,
    http: &crate::net::HttpConfig,
) -> Result<PushReport, RegistryError> {
    let read = |path: &Path| {
        fs_err::read(path).map_err(|source| RegistryError::Write {
            what: path.display().to_string(),
            source,
        })
    };
    let blob = |digest: &crate::oci::Digest| dir.join("blobs/sha256").join(digest.hex());
    let parse_error = |what: &str, err: serde_json::Error| RegistryError::BadDocument {
        what: what.to_owned(),
        reason: err.to_string(),
    };
    let index_path = dir.join("index.json");
    let index = ImageIndex::parse(&read(&index_path)?)
        .map_err(|e| parse_error(&index_path.display().to_string(), e))?;
    let [top] = index.manifests.as_slice() else {
        return Err(RegistryError::BadDocument {
            what: index_path.display().to_string(),
            reason: format!("{} images; push needs exactly one", index.manifests.len()),
        });
    };
    let client = RegistryClient::new(target, auth, http)?;
    let from = mount_from
        .filter(|base| base.registry == target.registry && base.repository != target.repository)
        .map(|base| base.repository.as_str());
    let mut report = PushReport::default();
    let top_bytes = read(&blob(&top.digest))?;
    let manifests: Vec<Descriptor> = if crate::oci::model::is_index(&top.media_type) {
        let nested =
            ImageIndex::parse(&top_bytes).map_err(|e| parse_error(top.digest.as_str(), e))?;
        nested.manifests
    } else {
        vec![top.clone()]
    };
    for manifest in &manifests {
        let bytes = read(&blob(&manifest.digest))?;
        let doc =
            ImageManifest::parse(&bytes).map_err(|e| parse_error(manifest.digest.as_str(), e))?;
        for descriptor in std::iter::once(&doc.config).chain(&doc.layers) {
            let outcome = push_blob(
                &client,
                target,
                from,
                descriptor.digest.as_str(),
                &blob(&descriptor.digest),
            )?;
            match outcome {
                BlobPush::Present => report.present += 1,
                BlobPush::Mounted => report.mounted += 1,
                BlobPush::Uploaded => report.uploaded += 1,
            }
        }
        if manifests.len() > 1 {
            client.put_manifest(
                &target.repository,
                manifest.digest.as_str(),
                &bytes,
                &manifest.media_type,
            )?;
        }
    }
    let key = target.tag.clone().unwrap_or_else(|| top.digest.to_string());
    report.digest = client.put_manifest(&target.repository, &key, &top_bytes, &top.media_type)?;
    if let Some(pinned) = &target.digest
        && *pinned != report.digest
    {
        return Err(RegistryError::DigestMismatch {
            what: target.to_string(),
            expected: pinned.clone(),
            actual: report.digest,
        });
    }
    Ok(report)
}

fn push_blob(
    client: &RegistryClient,
    target: &Reference,
    from: Option<&str>,
    digest: &str,
    path: &Path,
) -> Result<BlobPush, RegistryError> {
    if client.has_blob(&target.repository, digest)? {
        return Ok(BlobPush::Present);
    }
    if let Some(from) = from
        && client.mount_blob(&target.repository, digest, from)?
    {
        return Ok(BlobPush::Mounted);
    }
    if !path.is_file() {
        return Err(RegistryError::NotFound {
            what: format!("blob {digest} at `{}`", path.display()),
        });
    }
    client.upload_blob(&target.repository, digest, path)?;
    Ok(BlobPush::Uploaded)
}
