//! Reading images back: the layers of a manifest in an OCI layout, and a layer's entries as
//! comparable lines, so `build --verify` can say which files changed between two builds.

use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};

use sha2::{Digest as _, Sha256};

use super::model::{Digest, ImageManifest};

/// A layer blob of an image in a layout: its media type and where its bytes are.
#[derive(Clone, Debug)]
pub struct LayerBlob {
    pub media_type: String,
    pub path: PathBuf,
}

/// The layers of the manifest `manifest_digest` (`sha256:…`) in the OCI layout at `layout`,
/// bottom first; `None` when the layout does not hold that manifest.
pub fn manifest_layers(layout: &Path, manifest_digest: &str) -> Option<Vec<LayerBlob>> {
    let digest = Digest::parse(manifest_digest).ok()?;
    let manifest = ImageManifest::parse(&std::fs::read(blob_path(layout, &digest)).ok()?).ok()?;
    Some(layer_blobs(layout, &manifest))
}

/// Where blob `digest` of the OCI layout at `layout` is (`blobs/sha256/<hex>`).
pub fn blob_path(layout: &Path, digest: &Digest) -> PathBuf {
    layout.join("blobs").join("sha256").join(digest.hex())
}

/// The layer blobs of `manifest`, an image of the layout at `layout`, bottom first.
pub fn layer_blobs(layout: &Path, manifest: &ImageManifest) -> Vec<LayerBlob> {
    manifest
        .layers
        .iter()
        .map(|layer| LayerBlob {
            media_type: layer.media_type.clone(),
            path: blob_path(layout, &layer.digest),
        })
        .collect()
}

/// What a layer says about one path, field by field, so differences can be named.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EntrySummary {
    /// `d`, `-`, `l` (symlink) or `h` (hard link).
    pub kind: &'static str,
    pub mode: u32,
    pub owner: String,
    pub mtime: u64,
    pub size: u64,
    /// sha256 of the content, or the link target.
    pub content: String,
}

impl EntrySummary {
    /// `field old -> new` for each field that differs.
    fn changes(&self, new: &Self) -> Vec<String> {
        let mut out = Vec::new();
        let mut field = |name: &str, old: String, new: String| {
            if old != new {
                out.push(format!("{name} {old} -> {new}"));
            }
        };
        field("type", self.kind.to_owned(), new.kind.to_owned());
        field(
            "mode",
            format!("{:04o}", self.mode),
            format!("{:04o}", new.mode),
        );
        field("owner", self.owner.clone(), new.owner.clone());
        field("mtime", self.mtime.to_string(), new.mtime.to_string());
        field("size", self.size.to_string(), new.size.to_string());
        field("content", short(&self.content), short(&new.content));
        out
    }
}

fn short(text: &str) -> String {
    text.chars().take(12).collect()
}

/// Every entry of a layer, by path.
pub fn layer_entries(blob: &LayerBlob) -> io::Result<BTreeMap<String, EntrySummary>> {
    let file = std::io::BufReader::new(fs_err::File::open(&blob.path)?);
    let reader = super::layer::decoding_of(&blob.media_type).decoder(file)?;
    let mut archive = tar::Archive::new(reader);
    let mut out = BTreeMap::new();
    for entry in archive.entries()? {
        let mut entry = entry?;
        let path = entry.path()?.to_string_lossy().into_owned();
        let header = entry.header().clone();
        let kind = match header.entry_type() {
            tar::EntryType::Directory => "d",
            tar::EntryType::Symlink => "l",
            tar::EntryType::Link => "h",
            _ => "-",
        };
        let target = entry.link_name()?.map(|t| t.to_string_lossy().into_owned());
        let mut hasher = Sha256::new();
        let size = io::copy(&mut entry, &mut hasher)?;
        out.insert(
            path,
            EntrySummary {
                kind,
                mode: header.mode()? & 0o7777,
                owner: format!("{}:{}", header.uid()?, header.gid()?),
                mtime: header.mtime()?,
                size,
                content: target.unwrap_or_else(|| hex::encode(hasher.finalize())),
            },
        );
    }
    Ok(out)
}

/// The paths whose entries differ between two layer listings, each with the fields that
/// changed; at most `limit` of them, then how many more.
pub fn differing_entries(
    old: &BTreeMap<String, EntrySummary>,
    new: &BTreeMap<String, EntrySummary>,
    limit: usize,
) -> Vec<String> {
    let mut paths: Vec<&String> = old.keys().chain(new.keys()).collect();
    paths.sort();
    paths.dedup();
    let differing: Vec<String> = paths
        .into_iter()
        .filter(|p| old.get(*p) != new.get(*p))
        .map(|p| match (old.get(p), new.get(p)) {
            (Some(o), Some(n)) => format!("{p} ({})", o.changes(n).join(", ")),
            (Some(_), None) => format!("{p} (removed)"),
            _ => format!("{p} (added)"),
        })
        .collect();
    let more = differing.len().saturating_sub(limit);
    let mut shown: Vec<String> = differing.into_iter().take(limit).collect();
    if more > 0 {
        shown.push(format!("and {more} more"));
    }
    shown
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn describes_differences() {
        let entry = |mtime, content: &str| EntrySummary {
            kind: "-",
            mode: 0o644,
            owner: "0:0".into(),
            mtime,
            size: 1,
            content: content.into(),
        };
        let old = BTreeMap::from([
            ("a".to_owned(), entry(1, "x")),
            ("b".to_owned(), entry(1, "y")),
        ]);
        let new = BTreeMap::from([
            ("a".to_owned(), entry(2, "x")),
            ("c".to_owned(), entry(2, "z")),
        ]);
        assert_eq!(
            differing_entries(&old, &new, 10),
            ["a (mtime 1 -> 2)", "b (removed)", "c (added)"]
        );
        assert_eq!(
            differing_entries(&old, &new, 1),
            ["a (mtime 1 -> 2)", "and 2 more"]
        );
    }
}
