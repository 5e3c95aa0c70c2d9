//! Reading image layers back into an in-memory [`Tree`]: the one layer reader behind a base
//! image (`oci::base`) and the shared-library check of a built layout
//! (`check::load`).
//!
//! [`apply_layer`] decompresses a layer blob (gzip, zstd or xz, told apart by their magic
//! bytes by [`sniffed_decoder`], else a plain tar), applies its entries over the tree as a container runtime would, and
//! hashes the blob and the uncompressed tar in the same pass, so callers can compare them
//! with a manifest's digest and a config's `diff_id`:
//!
//! - `.wh.NAME` removes `NAME` and what lies under it; `.wh..wh..opq` empties its directory;
//! - a directory over a directory keeps the old one (and its children); any other entry
//!   replaces what was at its path, children included;
//! - devices and fifos are skipped; parents a layer does not list become directories;
//! - absolute names, `..` components and NUL bytes (in entry names and hard-link targets)
//!   are refused, naming the layer and the entry. Symlinks are kept as written: the tree is
//!   never written to disk here, and [`Tree::resolve`] refuses escapes when following them.
//!
//! Which file bytes are kept is the caller's choice (`keep_bytes`): the check needs only ELF
//! objects and `ld.so.conf`, a base image keeps everything to compare new files against.

use std::io::{self, Read};
use std::path::{Path, PathBuf};

use sha2::{Digest as _, Sha256};

use super::Digest;
use crate::debian::compression::sniffed_decoder;
use crate::rootfs::tree::{PathProblem, normalize_entry_name, split_parent};
use crate::rootfs::{Node, NodeKind, Tree};

/// Why a layer could not be applied; each variant names the blob file.
#[derive(Debug, thiserror::Error)]
pub enum UnpackError {
    /// The blob could not be read, decompressed or parsed as a tar.
    #[error("`{path}`: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    /// An entry (or a hard link's target) that would land outside the root.
    #[error("layer `{layer}` has an unsafe entry `{entry}`")]
    UnsafeEntry {
        layer: PathBuf,
        entry: String,
        problem: PathProblem,
    },
}

/// The digests of one applied layer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LayerDigests {
    /// sha256 of the blob as stored (the manifest's layer digest).
    pub blob: Digest,
    /// sha256 of the uncompressed tar (the config's `diff_id`).
    pub diff_id: Digest,
}

/// Applies the layer blob at `blob` over `tree` (see the module doc). A regular file keeps
/// its bytes when `keep_bytes(path, bytes)` says so, else it is stored empty.
pub fn apply_layer(
    tree: &mut Tree,
    blob: &Path,
    keep_bytes: &dyn Fn(&str, &[u8]) -> bool,
) -> Result<LayerDigests, UnpackError> {
    let io_err = |source| UnpackError::Io {
        path: blob.to_path_buf(),
        source,
    };
    let file = fs_err::File::open(blob).map_err(io_err)?;
    let mut blob_reader = HashingReader::new(io::BufReader::new(file));
    // xz layers are not an OCI media type, but sniffing them costs nothing.
    let decoded = sniffed_decoder(&mut blob_reader).map_err(io_err)?;
    let mut tar_reader = HashingReader::new(decoded);
    {
        let mut archive = tar::Archive::new(&mut tar_reader);
        for entry in archive.entries().map_err(io_err)? {
            let mut entry = entry.map_err(io_err)?;
            let raw = entry.path().map_err(io_err)?.to_string_lossy().into_owned();
            let unsafe_entry = |problem| UnpackError::UnsafeEntry {
                layer: blob.to_path_buf(),
                entry: raw.clone(),
                problem,
            };
            let path = normalize_entry_name(&raw).map_err(unsafe_entry)?;
            if path.is_empty() {
                continue;
            }
            let (dir, name) = split_parent(&path);
            if name == ".wh..wh..opq" {
                tree.remove_below(dir);
                continue;
            }
            if let Some(hidden) = name.strip_prefix(".wh.") {
                let hidden = if dir.is_empty() {
                    hidden.to_owned()
                } else {
                    format!("{dir}/{hidden}")
                };
                tree.remove_below(&hidden);
                tree.remove(&hidden);
                continue;
            }
            let mode = entry.header().mode().map_err(io_err)? & 0o7777;
            let link_target = |entry: &tar::Entry<'_, _>| -> Result<String, UnpackError> {
                Ok(entry
                    .link_name()
                    .map_err(io_err)?
                    .map(|t| t.to_string_lossy().into_owned())
                    .unwrap_or_default())
            };
            let kind = match entry.header().entry_type() {
                tar::EntryType::Directory => NodeKind::Dir,
                tar::EntryType::Symlink => NodeKind::Symlink(link_target(&entry)?),
                tar::EntryType::Link => NodeKind::Hardlink(
                    normalize_entry_name(&link_target(&entry)?).map_err(unsafe_entry)?,
                ),
                tar::EntryType::Regular | tar::EntryType::Continuous => {
                    let mut bytes = Vec::new();
                    entry.read_to_end(&mut bytes).map_err(io_err)?;
                    if !keep_bytes(&path, &bytes) {
                        bytes = Vec::new();
                    }
                    NodeKind::File(bytes.into())
                }
                _ => continue,
            };
            if matches!(kind, NodeKind::Dir) && tree.get(&path).is_some_and(Node::is_dir) {
                continue;
            }
            tree.remove_below(&path);
            insert_entry(tree, path, kind, mode);
        }
    }
    // Read to the end: the digests cover the padding after the tar's last block.
    io::copy(&mut tar_reader, &mut io::sink()).map_err(io_err)?;
    let diff_id = tar_reader.finish();
    drop(tar_reader);
    io::copy(&mut blob_reader, &mut io::sink()).map_err(io_err)?;
    Ok(LayerDigests {
        blob: blob_reader.finish(),
        diff_id,
    })
}

/// Stores an entry read back from an image (a layer, or a root filesystem directory): owner
/// ids, time and package left at zero and `None` (nothing that reads images back uses them),
/// parents the listing did not name made directories (`ensure_dirs` fails only under a file,
/// which a later entry of a well-formed listing cannot need).
pub fn insert_entry(tree: &mut Tree, path: String, kind: NodeKind, mode: u32) {
    let _ = tree.ensure_dirs(split_parent(&path).0, None, 0);
    tree.insert(
        path,
        Node {
            kind,
            mode,
            uid: 0,
            gid: 0,
            mtime: 0,
            owner: None,
        },
    );
}

/// A reader that hashes what passes through it.
struct HashingReader<R> {
    inner: R,
    hasher: Sha256,
}

impl<R: Read> HashingReader<R> {
    fn new(inner: R) -> Self {
        Self {
            inner,
            hasher: Sha256::new(),
        }
    }

    fn finish(&mut self) -> Digest {
        Digest::from_sha256(std::mem::take(&mut self.hasher))
    }
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A tar of `(name, type, bytes, link target)` entries, names written byte for byte.
    fn tar(entries: &[(&str, tar::EntryType, &[u8], Option<&str>)]) -> Vec<u8> {
        let mut builder = tar::Builder::new(Vec::new());
        for (name, kind, data, link) in entries {
            let mut header = tar::Header::new_ustar();
            header.set_entry_type(*kind);
            header.set_mode(0o644);
            header.set_size(data.len() as u64);
            // tar-rs refuses to write `..` and absolute names: set the raw fields.
            header.as_old_mut().name[..name.len()].copy_from_slice(name.as_bytes());
            if let Some(link) = link {
                header.as_old_mut().linkname[..link.len()].copy_from_slice(link.as_bytes());
            }
            header.set_cksum();
            builder.append(&header, *data).expect("append");
        }
        builder.into_inner().expect("tar")
    }

    fn apply(tree: &mut Tree, dir: &Path, blob: &[u8]) -> Result<LayerDigests, UnpackError> {
        let path = dir.join("layer");
        fs_err::write(&path, blob).expect("write layer");
        apply_layer(tree, &path, &|_, _| true)
    }

    #[test]
    fn digests_cover_the_blob_and_the_tar_whatever_the_compression() {
        use tar::EntryType::Regular;
        let dir = tempfile::tempdir().expect("temp");
        let plain = tar(&[("etc/hostname", Regular, b"box\n", None)]);
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        io::Write::write_all(&mut gz, &plain).expect("gzip");
        let gz = gz.finish().expect("gzip");
        let zst = zstd::encode_all(plain.as_slice(), 3).expect("zstd");
        for blob in [&plain, &gz, &zst] {
            let mut tree = Tree::default();
            let digests = apply(&mut tree, dir.path(), blob).expect("applies");
            assert_eq!(digests.blob, Digest::of(blob));
            assert_eq!(digests.diff_id, Digest::of(&plain));
            assert_eq!(
                tree.get("etc/hostname").map(|n| &n.kind),
                Some(&NodeKind::File(b"box\n".into()))
            );
            assert!(tree.get("etc").is_some_and(Node::is_dir), "implicit parent");
        }
    }

    #[test]
    fn a_gzip_layer_of_several_members_is_read_whole() {
        // debless's own gzip layers and eStargz layers are one gzip member per piece.
        use tar::EntryType::Regular;
        let dir = tempfile::tempdir().expect("temp");
        let plain = tar(&[
            ("etc/hostname", Regular, b"box\n", None),
            ("etc/motd", Regular, &[b'm'; 3000], None),
        ]);
        let mut blob = Vec::new();
        for part in plain.chunks(700) {
            let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            io::Write::write_all(&mut gz, part).expect("gzip");
            blob.extend(gz.finish().expect("gzip"));
        }
        let mut tree = Tree::default();
        let digests = apply(&mut tree, dir.path(), &blob).expect("applies");
        assert_eq!(digests.diff_id, Digest::of(&plain));
        assert_eq!(
            tree.get("etc/motd").map(|n| &n.kind),
            Some(&NodeKind::File(vec![b'm'; 3000].into()))
        );
    }

    #[test]
    fn whiteouts_and_replacements() {
        use tar::EntryType::{Directory, Regular, Symlink};
        let dir = tempfile::tempdir().expect("temp");
        let mut tree = Tree::default();
        let bottom = tar(&[
            ("a/", Directory, b"", None),
            ("a/keep", Regular, b"k", None),
            ("b/", Directory, b"", None),
            ("b/x", Regular, b"x", None),
            ("c/", Directory, b"", None),
            ("c/y", Regular, b"y", None),
        ]);
        apply(&mut tree, dir.path(), &bottom).expect("bottom");
        let top = tar(&[
            ("a/", Directory, b"", None),
            ("b/.wh..wh..opq", Regular, b"", None),
            ("b/new", Regular, b"n", None),
            (".wh.c", Regular, b"", None),
            ("c", Symlink, b"", Some("a")),
        ]);
        apply(&mut tree, dir.path(), &top).expect("top");
        let paths: Vec<&str> = tree.iter().map(|(p, _)| p).collect();
        assert_eq!(paths, ["a", "a/keep", "b", "b/new", "c"]);
        assert_eq!(
            tree.get("c").map(|n| &n.kind),
            Some(&NodeKind::Symlink("a".into()))
        );
        let root_opaque = tar(&[(".wh..wh..opq", Regular, b"", None)]);
        apply(&mut tree, dir.path(), &root_opaque).expect("opaque root");
        assert!(tree.is_empty());
    }

    #[test]
    fn refuses_entries_outside_the_root() {
        use tar::EntryType::{Link, Regular};
        let dir = tempfile::tempdir().expect("temp");
        for (entry, kind, link) in [
            ("../etc/passwd", Regular, None),
            ("/etc/passwd", Regular, None),
            ("etc/passwd", Link, Some("../../etc/shadow")),
        ] {
            let mut tree = Tree::default();
            let err = apply(&mut tree, dir.path(), &tar(&[(entry, kind, b"", link)]))
                .expect_err("unsafe");
            assert!(
                matches!(&err, UnpackError::UnsafeEntry { entry: e, .. } if e == entry),
                "{entry}: {err}"
            );
        }
    }

    #[test]
    fn keeps_only_the_bytes_asked_for() {
        use tar::EntryType::Regular;
        let dir = tempfile::tempdir().expect("temp");
        let path = dir.path().join("layer");
        fs_err::write(
            &path,
            tar(&[
                ("lib/x.so", Regular, b"\x7fELF", None),
                ("doc", Regular, b"text", None),
            ]),
        )
        .expect("write");
        let mut tree = Tree::default();
        apply_layer(&mut tree, &path, &|_, bytes| bytes.starts_with(b"\x7fELF")).expect("ok");
        assert_eq!(
            tree.get("lib/x.so").map(|n| &n.kind),
            Some(&NodeKind::File(b"\x7fELF".into()))
        );
        assert_eq!(
            tree.get("doc").map(|n| &n.kind),
            Some(&NodeKind::File(Vec::new().into()))
        );
    }
}
