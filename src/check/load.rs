//! Images the check reads from disk: a root filesystem directory (`build --rootfs`) or the
//! images of an OCI layout (`build --output`), each turned into an in-memory tree.
//!
//! Only what the check reads keeps its bytes: files starting with the ELF magic, the
//! `/etc/ld.so.conf*` files and the package database of `/var/lib/dpkg/status.d/` (who owns
//! a file and what it recommends, see `optional`). Every other file is kept as an empty file, so paths, symlinks and
//! the existence of `/etc/ld.so.cache` stay visible without holding the image in memory.

use std::io::{self, Read};
use std::path::{Path, PathBuf};

use crate::oci::inspect::{LayerBlob, blob_path, layer_blobs};
use crate::oci::model::Document;
use crate::oci::unpack::{self, UnpackError, insert_entry};
use crate::rootfs::{NodeKind, Tree};

/// Why an image could not be read for checking; each variant names the file.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("`{path}`: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("`{path}` is not an OCI image layout: {reason}")]
    NotLayout { path: PathBuf, reason: String },
    /// A layer blob that cannot be applied (unreadable, or an unsafe entry).
    #[error(transparent)]
    Layer(#[from] UnpackError),
}

/// One image of an OCI layout: its platform architecture (`amd64`) and layers, bottom first.
#[derive(Clone, Debug)]
pub struct LayoutImage {
    pub architecture: Option<String>,
    pub layers: Vec<LayerBlob>,
}

/// Whether the check keeps this file's bytes (`path` normalised, no leading `/`).
fn keeps_bytes(path: &str, head: &[u8]) -> bool {
    super::elf::is_elf(head)
        || path.starts_with("etc/ld.so.conf")
        || path.starts_with("var/lib/dpkg/status.d/")
}

/// Reads a root filesystem directory (symlinks are read, never followed).
pub fn tree_from_dir(root: &Path) -> Result<Tree, LoadError> {
    let io_err = |path: &Path| {
        let path = path.to_path_buf();
        move |source| LoadError::Io { path, source }
    };
    let mut tree = Tree::default();
    let mut pending = vec![(root.to_path_buf(), String::new())];
    while let Some((dir, prefix)) = pending.pop() {
        let mut children: Vec<_> = std::fs::read_dir(&dir)
            .map_err(io_err(&dir))?
            .collect::<Result<_, _>>()
            .map_err(io_err(&dir))?;
        children.sort_by_key(std::fs::DirEntry::file_name);
        for child in children {
            let name = child.file_name().to_string_lossy().into_owned();
            let path = if prefix.is_empty() {
                name
            } else {
                format!("{prefix}/{name}")
            };
            let full = child.path();
            let meta = std::fs::symlink_metadata(&full).map_err(io_err(&full))?;
            let mode = std::os::unix::fs::PermissionsExt::mode(&meta.permissions()) & 0o7777;
            if meta.is_symlink() {
                let target = std::fs::read_link(&full).map_err(io_err(&full))?;
                let target = target.to_string_lossy().into_owned();
                insert_entry(&mut tree, path, NodeKind::Symlink(target), 0o777);
            } else if meta.is_dir() {
                insert_entry(&mut tree, path.clone(), NodeKind::Dir, mode);
                pending.push((full, path));
            } else if meta.is_file() {
                let mut file = std::fs::File::open(&full).map_err(io_err(&full))?;
                let mut head = [0u8; 4];
                let read = file.read(&mut head).map_err(io_err(&full))?;
                let bytes = if keeps_bytes(&path, &head[..read]) {
                    std::fs::read(&full).map_err(io_err(&full))?
                } else {
                    Vec::new()
                };
                insert_entry(&mut tree, path, NodeKind::File(bytes.into()), mode);
            }
        }
    }
    Ok(tree)
}

/// The images an OCI layout holds (through `index.json` and any nested image index).
pub fn layout_images(layout: &Path) -> Result<Vec<LayoutImage>, LoadError> {
    let not_layout = |reason: String| LoadError::NotLayout {
        path: layout.to_path_buf(),
        reason,
    };
    let read_document = |path: PathBuf| -> Result<Document, LoadError> {
        let bytes = std::fs::read(&path).map_err(|source| LoadError::Io {
            path: path.clone(),
            source,
        })?;
        Document::parse(&bytes).map_err(|err| not_layout(format!("`{}`: {err}", path.display())))
    };
    let mut images = Vec::new();
    let mut pending: Vec<(Document, Option<String>)> =
        vec![(read_document(layout.join("index.json"))?, None)];
    while let Some((document, architecture)) = pending.pop() {
        match document {
            Document::Manifest(manifest) => images.push(LayoutImage {
                architecture,
                layers: layer_blobs(layout, &manifest),
            }),
            Document::Index(index) => {
                for descriptor in index.manifests.iter().rev() {
                    let arch = descriptor
                        .platform
                        .as_ref()
                        .map(|p| p.architecture.clone())
                        .or_else(|| architecture.clone());
                    pending.push((read_document(blob_path(layout, &descriptor.digest))?, arch));
                }
            }
        }
    }
    Ok(images)
}

/// Applies an image's layers, bottom first, into one tree (whiteouts honoured, unsafe
/// entries refused: see [`crate::oci::unpack`]).
pub fn tree_from_layers(layers: &[LayerBlob]) -> Result<Tree, LoadError> {
    let mut tree = Tree::default();
    for layer in layers {
        // The digests are not compared: the layout's own files named these blobs.
        unpack::apply_layer(&mut tree, &layer.path, &keeps_bytes)?;
    }
    Ok(tree)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layer(dir: &Path, name: &str, entries: &[crate::check::TestEntry<'_>]) -> LayerBlob {
        let path = dir.join(name);
        let mut builder = tar::Builder::new(std::fs::File::create(&path).expect("create layer"));
        for (entry, bytes, target) in entries {
            let mut header = tar::Header::new_ustar();
            header.set_mode(0o755);
            match (bytes, target) {
                (_, Some(target)) => {
                    header.set_entry_type(tar::EntryType::Symlink);
                    header.set_size(0);
                    builder
                        .append_link(&mut header, entry, target)
                        .expect("append link");
                }
                (Some(bytes), None) => {
                    header.set_size(bytes.len() as u64);
                    builder
                        .append_data(&mut header, entry, *bytes)
                        .expect("append file");
                }
                (None, None) => {
                    header.set_entry_type(tar::EntryType::Directory);
                    header.set_size(0);
                    builder
                        .append_data(&mut header, entry, io::empty())
                        .expect("append dir");
                }
            }
        }
        builder.finish().expect("finish layer");
        LayerBlob {
            media_type: "application/vnd.oci.image.layer.v1.tar".into(),
            path,
        }
    }

    #[test]
    fn layers_stack_with_whiteouts_and_keep_only_elf_bytes() {
        let dir = tempfile::tempdir().expect("temp dir");
        let bottom = layer(
            dir.path(),
            "bottom.tar",
            &[
                ("usr/lib/", None, None),
                ("usr/lib/libgone.so", Some(b"\x7fELFgone".as_slice()), None),
                ("usr/share/doc/readme", Some(b"text".as_slice()), None),
                ("opaque/old", Some(b"x".as_slice()), None),
                ("lib", None, Some("usr/lib")),
            ],
        );
        let top = layer(
            dir.path(),
            "top.tar",
            &[
                ("usr/lib/.wh.libgone.so", Some(b"".as_slice()), None),
                ("opaque/.wh..wh..opq", Some(b"".as_slice()), None),
                ("opaque/new", Some(b"\x7fELFnew".as_slice()), None),
            ],
        );
        let tree = tree_from_layers(&[bottom, top]).expect("layers apply");
        assert!(tree.get("usr/lib/libgone.so").is_none());
        assert!(tree.get("opaque/old").is_none());
        assert_eq!(
            tree.get("opaque/new").map(|n| &n.kind),
            Some(&NodeKind::File(b"\x7fELFnew".into()))
        );
        assert_eq!(
            tree.get("usr/share/doc/readme").map(|n| &n.kind),
            Some(&NodeKind::File(Vec::new().into()))
        );
        assert_eq!(
            tree.get("lib").map(|n| &n.kind),
            Some(&NodeKind::Symlink("usr/lib".into()))
        );
    }

    #[test]
    fn reads_a_directory_without_following_links() {
        let dir = tempfile::tempdir().expect("temp dir");
        let root = dir.path();
        std::fs::create_dir_all(root.join("usr/lib")).expect("mkdir");
        std::fs::write(root.join("usr/lib/libx.so.1"), b"\x7fELFx").expect("write");
        std::fs::write(root.join("usr/lib/notes"), b"plain").expect("write");
        std::os::unix::fs::symlink("usr/lib", root.join("lib")).expect("symlink");
        // The package database keeps its bytes: the check reads owners and Recommends there.
        std::fs::create_dir_all(root.join("var/lib/dpkg/status.d")).expect("mkdir");
        let control = b"Package: x\nRecommends: liby1\n";
        std::fs::write(root.join("var/lib/dpkg/status.d/x"), control).expect("write");
        let tree = tree_from_dir(root).expect("readable");
        assert_eq!(
            tree.get("var/lib/dpkg/status.d/x").map(|n| &n.kind),
            Some(&NodeKind::File(control.to_vec().into()))
        );
        assert_eq!(
            tree.get("usr/lib/libx.so.1").map(|n| &n.kind),
            Some(&NodeKind::File(b"\x7fELFx".into()))
        );
        assert_eq!(
            tree.get("usr/lib/notes").map(|n| &n.kind),
            Some(&NodeKind::File(Vec::new().into()))
        );
        assert_eq!(
            tree.get("lib").map(|n| &n.kind),
            Some(&NodeKind::Symlink("usr/lib".into()))
        );
    }
}
