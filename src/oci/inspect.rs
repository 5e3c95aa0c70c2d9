//! Reading images back: the layers of a manifest in an OCI layout, and a layer's entries as
//! comparable lines, so `build --verify` can say which files changed between two builds.

use std::collections::BTreeMap;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use sha2::{Digest as _, Sha256};

use super::Compression;

/// A layer blob of an image in a layout: its media type and where its bytes are.
#[derive(Clone, Debug)]
pub struct LayerBlob {
    pub media_type: String,
    pub path: PathBuf,
}

/// The layers of the manifest `manifest_digest` (`sha256:…`) in the OCI layout at `layout`,
/// bottom first; `None` when the layout does not hold that manifest.
pub fn manifest_layers(layout: &Path, manifest_digest: &str) -> Option<Vec<LayerBlob>> {
    let blob = |digest: &str| {
        let hex = digest.strip_prefix("sha256:")?;
        Some(layout.join("blobs").join("sha256").join(hex))
    };
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(blob(manifest_digest)?).ok()?).ok()?;
    manifest
        .get("layers")?
        .as_array()?
        .iter()
        .map(|layer| {
            Some(LayerBlob {
                media_type: layer.get("mediaType")?.as_str()?.to_owned(),
                path: blob(layer.get("digest")?.as_str()?)?,
            })
        })
        .collect()
}

/// Every entry of a layer as `path -> "type mode uid:gid mtime size sha256|target"`.
pub fn layer_entries(blob: &LayerBlob) -> io::Result<BTreeMap<String, String>> {
    let file = std::io::BufReader::new(fs_err::File::open(&blob.path)?);
    let reader: Box<dyn Read> = if blob.media_type == Compression::Gzip.media_type() {
        Box::new(flate2::read::GzDecoder::new(file))
    } else if blob.media_type == Compression::Zstd.media_type() {
        Box::new(zstd::stream::read::Decoder::new(file)?)
    } else {
        Box::new(file)
    };
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
        let what = target.unwrap_or_else(|| hex::encode(hasher.finalize()));
        out.insert(
            path,
            format!(
                "{kind} {:04o} {}:{} mtime {} size {size} {what}",
                header.mode()? & 0o7777,
                header.uid()?,
                header.gid()?,
                header.mtime()?
            ),
        );
    }
    Ok(out)
}

/// The paths whose entries differ between two layer listings, described, at most `limit`.
pub fn differing_entries(
    old: &BTreeMap<String, String>,
    new: &BTreeMap<String, String>,
    limit: usize,
) -> Vec<String> {
    let mut paths: Vec<&String> = old.keys().chain(new.keys()).collect();
    paths.sort();
    paths.dedup();
    paths
        .into_iter()
        .filter(|p| old.get(*p) != new.get(*p))
        .take(limit)
        .map(|p| match (old.get(p), new.get(p)) {
            (Some(o), Some(n)) => format!("{p} ({o} -> {n})"),
            (Some(_), None) => format!("{p} (removed)"),
            _ => format!("{p} (added)"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn describes_differences() {
        let old = BTreeMap::from([
            ("a".to_owned(), "- 0644 0:0 mtime 1 size 1 x".to_owned()),
            ("b".to_owned(), "- 0644 0:0 mtime 1 size 1 y".to_owned()),
        ]);
        let new = BTreeMap::from([
            ("a".to_owned(), "- 0644 0:0 mtime 2 size 1 x".to_owned()),
            ("c".to_owned(), "d 0755 0:0 mtime 2 size 0 z".to_owned()),
        ]);
        assert_eq!(
            differing_entries(&old, &new, 10),
            [
                "a (- 0644 0:0 mtime 1 size 1 x -> - 0644 0:0 mtime 2 size 1 x)",
                "b (removed)",
                "c (added)"
            ]
        );
        assert_eq!(differing_entries(&old, &new, 1).len(), 1);
    }
}
