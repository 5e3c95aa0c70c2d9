//! Writing built images out: an OCI image layout directory, the same layout as one tar
//! (`oci-archive:`), or a docker archive (`docker load`, `docker-archive:`).
//!
//! All three are described first as a sorted list of files ([`LayoutFiles`]), then written:
//! a directory into a temporary sibling renamed into place, an archive into a temporary file
//! renamed into place, so an interrupted build never leaves a half-written image behind.
//! Archive headers are fixed (mode 0644/0755, uid 0, the image epoch as mtime) so the same
//! images give the same archive bytes.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::config::{self, Descriptor, Index};
use super::model::{self, Document};
use super::{BuiltImage, Digest, OciError};
use crate::rootfs::tree::ancestors;

/// The annotation naming a tag in `index.json`.
pub const REF_NAME: &str = "org.opencontainers.image.ref.name";

/// Where a file's bytes come from.
enum Source {
    Bytes(Vec<u8>),
    Blob(PathBuf),
}

/// The files of a layout or archive, by relative path, in byte-wise order.
struct LayoutFiles {
    files: BTreeMap<String, Source>,
}

impl LayoutFiles {
    fn new() -> Self {
        Self {
            files: BTreeMap::new(),
        }
    }

    fn add_blobs(&mut self, image: &BuiltImage) {
        let digests = std::iter::once(&image.manifest.digest)
            .chain(std::iter::once(&image.config.digest))
            .chain(image.layers.iter().map(|l| &l.digest));
        for digest in digests {
            self.files
                .insert(blob_path(digest), Source::Blob(image.store.path(digest)));
        }
    }

    fn add_bytes(&mut self, path: String, bytes: Vec<u8>) {
        self.files.insert(path, Source::Bytes(bytes));
    }

    /// Every directory the files need, sorted.
    fn dirs(&self) -> BTreeSet<String> {
        let mut dirs = BTreeSet::new();
        for path in self.files.keys() {
            dirs.extend(ancestors(path).map(str::to_owned));
        }
        dirs
    }
}

fn blob_path(digest: &Digest) -> String {
    format!("blobs/sha256/{}", digest.hex())
}

/// The OCI layout files for `images` under one tag; returns them and the top digest
/// (the manifest for one image, an image index for several).
fn oci_files(images: &[BuiltImage], tag: &str) -> Result<(LayoutFiles, Digest), OciError> {
    let first = images.first().ok_or(OciError::NoImages)?;
    let mut files = LayoutFiles::new();
    for image in images {
        files.add_blobs(image);
    }
    files.add_bytes(
        "oci-layout".to_owned(),
        br#"{"imageLayoutVersion":"1.0.0"}"#.to_vec(),
    );
    let ref_name = BTreeMap::from([(REF_NAME.to_owned(), tag.to_owned())]);
    let top = if images.len() == 1 {
        Descriptor {
            annotations: ref_name,
            ..first.manifest.clone()
        }
    } else {
        let index = Index {
            schema_version: 2,
            media_type: config::INDEX_MEDIA_TYPE,
            manifests: images.iter().map(|i| i.manifest.clone()).collect(),
        };
        let bytes = json(&index);
        let digest = Digest::of(&bytes);
        let size = bytes.len() as u64;
        files.add_bytes(blob_path(&digest), bytes);
        Descriptor {
            media_type: config::INDEX_MEDIA_TYPE.to_owned(),
            digest,
            size,
            platform: None,
            annotations: ref_name,
        }
    };
    let digest = top.digest.clone();
    let index_json = Index {
        schema_version: 2,
        media_type: config::INDEX_MEDIA_TYPE,
        manifests: vec![top],
    };
    files.add_bytes("index.json".to_owned(), json(&index_json));
    Ok((files, digest))
}

fn json<T: Serialize>(value: &T) -> Vec<u8> {
    serde_json::to_vec(value).expect("serialising plain structs cannot fail")
}

fn io_error(path: &Path) -> impl Fn(io::Error) -> OciError + '_ {
    move |source| OciError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Writes an OCI image layout at `dir` (replacing an earlier layout there) and returns the
/// digest `index.json` points at.
pub fn write_oci_layout(dir: &Path, images: &[BuiltImage], tag: &str) -> Result<Digest, OciError> {
    let (files, digest) = oci_files(images, tag)?;
    let parent = dir
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let replaces_old = match std::fs::symlink_metadata(dir) {
        Ok(meta) if meta.is_dir() && (dir.join("oci-layout").is_file() || is_empty_dir(dir)) => {
            true
        }
        Ok(_) => {
            return Err(OciError::TargetExists {
                path: dir.to_path_buf(),
            });
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => false,
        Err(e) => return Err(io_error(dir)(e)),
    };
    let staging = crate::cleanup::temp_dir_in(parent, ".debless-oci-").map_err(io_error(parent))?;
    for sub in files.dirs() {
        let path = staging.path().join(sub);
        std::fs::create_dir(&path).map_err(io_error(&path))?;
    }
    for (name, source) in &files.files {
        let path = staging.path().join(name);
        match source {
            Source::Bytes(bytes) => std::fs::write(&path, bytes).map_err(io_error(&path))?,
            Source::Blob(from) => {
                if std::fs::hard_link(from, &path).is_err() {
                    std::fs::copy(from, &path).map_err(io_error(&path))?;
                }
            }
        }
    }
    let staged = staging.keep();
    if replaces_old {
        let aside =
            crate::cleanup::temp_dir_in(parent, ".debless-old-").map_err(io_error(parent))?;
        let aside_path = aside.path().join("layout");
        std::fs::rename(dir, &aside_path).map_err(io_error(dir))?;
        std::fs::rename(&staged, dir).map_err(io_error(dir))?;
        drop(aside);
    } else {
        std::fs::rename(&staged, dir).map_err(io_error(dir))?;
    }
    Ok(digest)
}

fn is_empty_dir(dir: &Path) -> bool {
    std::fs::read_dir(dir).is_ok_and(|mut d| d.next().is_none())
}

/// Writes the OCI layout as one tar file (`oci-archive:`); returns the top digest.
pub fn write_oci_archive(
    file: &Path,
    images: &[BuiltImage],
    tag: &str,
) -> Result<Digest, OciError> {
    let (files, digest) = oci_files(images, tag)?;
    write_tar(file, &files, images[0].epoch)?;
    Ok(digest)
}

/// Writes a docker archive (`manifest.json` with Config, RepoTags and Layers, plus the blobs)
/// for one image, as `docker load` and `skopeo copy docker-archive:` read it. `tag` should be
/// `name:tag`. Returns the manifest digest.
pub fn write_docker_archive(
    file: &Path,
    images: &[BuiltImage],
    tag: &str,
) -> Result<Digest, OciError> {
    let [image] = images else {
        return Err(OciError::DockerArchiveNeedsOneImage(images.len()));
    };
    #[derive(Serialize)]
    struct DockerManifest<'a> {
        #[serde(rename = "Config")]
        config: String,
        #[serde(rename = "RepoTags")]
        repo_tags: [&'a str; 1],
        #[serde(rename = "Layers")]
        layers: Vec<String>,
    }
    let mut files = LayoutFiles::new();
    files.add_blobs(image);
    let manifest = [DockerManifest {
        config: blob_path(&image.config.digest),
        repo_tags: [tag],
        layers: image.layers.iter().map(|l| blob_path(&l.digest)).collect(),
    }];
    files.add_bytes("manifest.json".to_owned(), json(&manifest));
    write_tar(file, &files, image.epoch)?;
    Ok(image.manifest.digest.clone())
}

/// Writes `files` as a deterministic tar into a temporary file beside `file`, then renames it.
fn write_tar(file: &Path, files: &LayoutFiles, epoch: i64) -> Result<(), OciError> {
    let parent = file
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let temp =
        crate::cleanup::temp_file_in(parent, ".debless-archive-").map_err(io_error(parent))?;
    let mtime = super::layer::clamp_mtime(epoch, epoch);
    let header = |mode: u32, size: u64, kind: tar::EntryType| {
        let mut h = tar::Header::new_ustar();
        h.set_mode(mode);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(mtime);
        h.set_size(size);
        h.set_entry_type(kind);
        h
    };
    let mut builder = tar::Builder::new(BufWriter::new(temp.as_file()));
    let write_err = io_error(file);
    // Directories first, then files: both sets are sorted, and each directory sorts before its
    // own files.
    let mut entries: BTreeMap<&str, Option<&Source>> = files
        .files
        .iter()
        .map(|(p, s)| (p.as_str(), Some(s)))
        .collect();
    let dirs = files.dirs();
    entries.extend(dirs.iter().map(|d| (d.as_str(), None)));
    for (path, source) in entries {
        match source {
            None => {
                let mut h = header(0o755, 0, tar::EntryType::Directory);
                builder
                    .append_data(&mut h, format!("{path}/"), io::empty())
                    .map_err(&write_err)?;
            }
            Some(Source::Bytes(bytes)) => {
                let mut h = header(0o644, bytes.len() as u64, tar::EntryType::Regular);
                builder
                    .append_data(&mut h, path, bytes.as_slice())
                    .map_err(&write_err)?;
            }
            Some(Source::Blob(from)) => {
                let blob = std::fs::File::open(from).map_err(io_error(from))?;
                let len = blob.metadata().map_err(io_error(from))?.len();
                let mut h = header(0o644, len, tar::EntryType::Regular);
                builder
                    .append_data(&mut h, path, blob)
                    .map_err(&write_err)?;
            }
        }
    }
    let mut out = builder.into_inner().map_err(&write_err)?;
    out.flush().map_err(&write_err)?;
    drop(out);
    temp.persist(file).map_err(|e| write_err(e.error))?;
    Ok(())
}

/// Checks an OCI layout: every blob's content matches its name, and everything reachable from
/// `index.json` (indexes, manifests, configs, layers) is present with the recorded size.
/// Returns the number of blobs checked. Used by tests, and cheap enough for `debless build`.
pub fn fsck_layout(dir: &Path) -> Result<usize, OciError> {
    let corrupt = |what: String| OciError::Corrupt {
        path: dir.to_path_buf(),
        what,
    };
    let blobs = dir.join("blobs/sha256");
    let mut checked = 0;
    for entry in std::fs::read_dir(&blobs).map_err(io_error(&blobs))? {
        let path = entry.map_err(io_error(&blobs))?.path();
        let mut hasher = <sha2::Sha256 as sha2::Digest>::new();
        let mut file = std::fs::File::open(&path).map_err(io_error(&path))?;
        io::copy(&mut file, &mut hasher).map_err(io_error(&path))?;
        let digest = Digest::from_sha256(hasher);
        if path.file_name().and_then(|n| n.to_str()) != Some(digest.hex()) {
            return Err(corrupt(format!(
                "blob `{}` has content {digest}",
                path.display()
            )));
        }
        checked += 1;
    }
    let index_path = dir.join("index.json");
    let index = std::fs::read(&index_path).map_err(io_error(&index_path))?;
    let mut pending =
        vec![Document::parse(&index).map_err(|e| corrupt(format!("index.json: {e}")))?];
    while let Some(document) = pending.pop() {
        let children: Vec<&Descriptor> = match &document {
            Document::Index(index) => index.manifests.iter().collect(),
            Document::Manifest(manifest) => std::iter::once(&manifest.config)
                .chain(&manifest.layers)
                .collect(),
        };
        for descriptor in children {
            let digest = &descriptor.digest;
            let path = blobs.join(digest.hex());
            let size = std::fs::metadata(&path)
                .map_err(|_| corrupt(format!("missing blob {digest}")))?
                .len();
            if size != descriptor.size {
                return Err(corrupt(format!(
                    "blob {digest} has size {size}, descriptor says {}",
                    descriptor.size
                )));
            }
            let media_type = descriptor.media_type.as_str();
            if model::is_manifest(media_type) || model::is_index(media_type) {
                let bytes = std::fs::read(&path).map_err(io_error(&path))?;
                pending
                    .push(Document::parse(&bytes).map_err(|e| corrupt(format!("{digest}: {e}")))?);
            }
        }
    }
    Ok(checked)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_dirs_are_derived_from_files() {
        let mut files = LayoutFiles::new();
        files.add_bytes("blobs/sha256/aa".into(), vec![]);
        files.add_bytes("index.json".into(), vec![]);
        assert_eq!(
            files.dirs().into_iter().collect::<Vec<_>>(),
            ["blobs", "blobs/sha256"]
        );
    }
}
