//! The application's own files (`[[image.files]]`, `[image] tars`) as a tree of their own
//! above the packages, as rules_docker's `files` and `tars` did (`oci::files` writes it as
//! the top layer).
//!
//! [`AppInputs::load`] reads every source once (a missing one is an error naming it); then,
//! per architecture, [`AppInputs::tree`] places the entries in a small [`Tree`] of their own,
//! resolving each parent directory through the package tree's symlinks (so `/bin/app` lands
//! in `usr/bin` on a merged-/usr image instead of replacing the `bin` link with a directory).
//! Parents the packages already have keep the packages' metadata; new ones are 0755 root.
//! The layer is written by the same deterministic writer as package layers (`oci::layer`):
//! sorted paths, numeric owners, mtimes clamped to the epoch. Copied files get the epoch as
//! their mtime, so a checkout's timestamps never reach the image.
//!
//! Tar entries are taken as they are (mode, owner, mtime, links) after the same checks as a
//! package's data.tar: `..`, absolute names, escapes through symlinks, device nodes and
//! `.wh.` whiteout names (which would delete package files) are refused with the entry named.

use std::collections::BTreeMap;
use std::io::Read as _;
use std::path::{Path, PathBuf};

use super::tree::{ancestors, normalize_entry_name, split_parent};
use super::{Node, NodeKind, PathProblem, Tree};
use crate::deb::tar::{EntryKind, MemberCompression, TarError, visit_entries};
use crate::manifest::{AppFile, AppTar};

/// Why the application layer cannot be made.
#[derive(Debug, thiserror::Error)]
pub enum AppFilesError {
    /// A `src` or tar named in the manifest is not there.
    #[error(
        "`{key}`: `{as_written}` does not exist{}",
        looked_for(as_written, path)
    )]
    Missing {
        key: &'static str,
        as_written: String,
        path: PathBuf,
    },
    /// Reading a source failed.
    #[error("cannot read `{}`: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    /// A tar is corrupt or its compression unreadable.
    #[error("cannot read tar `{tar}`: {source}")]
    Tar { tar: String, source: TarError },
    /// A tar entry debless will not put into an image.
    #[error("tar `{tar}`: entry `{entry}` refused: {why}")]
    Entry {
        tar: String,
        entry: String,
        why: String,
    },
    /// A source directory holds something that is neither file, directory nor symlink.
    #[error("`{}` is not a regular file, directory or symlink", path.display())]
    Special { path: PathBuf },
    /// A hard link whose target is not an earlier file of the application layer.
    #[error(
        "`/{path}` (from {origin}) is a hard link to `/{target}`, which is not an earlier file of the application files"
    )]
    HardlinkTarget {
        path: String,
        origin: String,
        target: String,
    },
    /// A source file named like an OCI whiteout, which would delete files below it.
    #[error("`{}`: `.wh.` names are OCI whiteouts and would delete files of the packages", path.display())]
    Whiteout { path: PathBuf },
    /// Two inputs give the same path.
    #[error("`/{path}` is given by both {first} and {second}")]
    Conflict {
        path: String,
        first: String,
        second: String,
    },
    /// An entry cannot be placed over the package tree.
    #[error("`/{path}` (from {origin}) cannot be placed: {problem}")]
    Placement {
        path: String,
        origin: String,
        problem: PathProblem,
    },
}

/// ` (looked for `/abs/path`)` when the manifest is not in the current directory.
fn looked_for(as_written: &str, path: &Path) -> String {
    if path == Path::new(as_written) {
        String::new()
    } else {
        format!(" (looked for `{}`)", path.display())
    }
}

/// One entry to place: a normalised path (not yet resolved), its node and where it came from.
#[derive(Clone, Debug)]
struct Staged {
    path: String,
    node: Node,
    origin: String,
}

/// Every application entry, read from disk once for all architectures.
#[derive(Clone, Debug, Default)]
pub struct AppInputs {
    entries: Vec<Staged>,
}

impl AppInputs {
    /// Reads the tars (in order) and then the files; `epoch` becomes the copied files' mtime.
    pub fn load(files: &[AppFile], tars: &[AppTar], epoch: i64) -> Result<Self, AppFilesError> {
        let mut entries = Vec::new();
        for tar in tars {
            load_tar(tar, &mut entries)?;
        }
        for file in files {
            load_file(file, epoch, &mut entries)?;
        }
        Ok(Self { entries })
    }

    /// Whether there is nothing to add (no layer is written then).
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The application layer's tree, placed over `base` (the packages' tree).
    pub fn tree(&self, base: &Tree, epoch: i64) -> Result<Tree, AppFilesError> {
        let mut tree = Tree::default();
        let mut origins: BTreeMap<String, &str> = BTreeMap::new();
        for staged in &self.entries {
            let placement = |problem| AppFilesError::Placement {
                path: staged.path.clone(),
                origin: staged.origin.clone(),
                problem,
            };
            let mut node = staged.node.clone();
            // A directory follows a symlink of the same name (`bin` -> `usr/bin`), as dpkg
            // does; anything else replaces the last component.
            let path = place(base, &tree, &staged.path, node.is_dir()).map_err(placement)?;
            add_parents(&mut tree, base, split_parent(&path).0, epoch).map_err(placement)?;
            if let NodeKind::Hardlink(target) = &node.kind {
                let target = place(base, &tree, target, false).map_err(placement)?;
                if !matches!(tree.get(&target).map(|n| &n.kind), Some(NodeKind::File(_))) {
                    return Err(AppFilesError::HardlinkTarget {
                        path: staged.path.clone(),
                        origin: staged.origin.clone(),
                        target,
                    });
                }
                node.kind = NodeKind::Hardlink(target);
            }
            match (tree.get(&path), origins.get(path.as_str())) {
                (Some(old), _) if old.is_dir() && node.is_dir() => {}
                (Some(_), Some(first)) if *first != staged.origin => {
                    return Err(AppFilesError::Conflict {
                        path,
                        first: (*first).to_owned(),
                        second: staged.origin.clone(),
                    });
                }
                (Some(old), None) if !old.is_dir() || !node.is_dir() => {
                    return Err(AppFilesError::Conflict {
                        path,
                        first: "a directory of another entry".to_owned(),
                        second: staged.origin.clone(),
                    });
                }
                _ => {}
            }
            if !node.is_dir() {
                origins.insert(path.clone(), &staged.origin);
            }
            tree.insert(path, node);
        }
        tree.canonicalize_hardlinks();
        Ok(tree)
    }
}

/// Where a normalised path lands: its parent resolved through the packages' symlinks, then
/// through the application tree's own; the last component too when `follow_last`.
fn place(base: &Tree, tree: &Tree, path: &str, follow_last: bool) -> Result<String, PathProblem> {
    let (parent, name) = if follow_last {
        (path, "")
    } else {
        split_parent(path)
    };
    let parent = base.resolve(parent, true)?;
    let parent = tree.resolve(&parent, true)?;
    Ok(match (parent.is_empty(), name.is_empty()) {
        (_, true) => parent,
        (true, false) => name.to_owned(),
        (false, false) => format!("{parent}/{name}"),
    })
}

/// Creates the missing ancestors of `dir` (resolved) in `tree`, copying the packages' own
/// directory when there is one so the layer does not change it.
fn add_parents(tree: &mut Tree, base: &Tree, dir: &str, epoch: i64) -> Result<(), PathProblem> {
    if dir.is_empty() {
        return Ok(());
    }
    for prefix in ancestors(dir).chain([dir]) {
        match tree.get(prefix) {
            Some(node) if node.is_dir() => continue,
            Some(_) => return Err(PathProblem::NotADirectory(prefix.to_owned())),
            None => {}
        }
        let node = match base.get(prefix) {
            Some(dir) if dir.is_dir() => Node {
                owner: None,
                ..dir.clone()
            },
            Some(_) => return Err(PathProblem::NotADirectory(prefix.to_owned())),
            None => Node::implicit_dir(None, epoch),
        };
        tree.insert(prefix.to_owned(), node);
    }
    Ok(())
}

/// Stages one `[[image.files]]` entry: a file, or a directory copied recursively (sorted).
fn load_file(file: &AppFile, epoch: i64, out: &mut Vec<Staged>) -> Result<(), AppFilesError> {
    let meta = std::fs::metadata(&file.src).map_err(|source| {
        if source.kind() == std::io::ErrorKind::NotFound {
            AppFilesError::Missing {
                key: "image.files",
                as_written: file.src_as_written.clone(),
                path: file.src.clone(),
            }
        } else {
            AppFilesError::Read {
                path: file.src.clone(),
                source,
            }
        }
    })?;
    let origin = format!("`{}`", file.src_as_written);
    let mut dst = file.dst.trim_start_matches('/').to_owned();
    if meta.is_file() && dst.ends_with('/') {
        let name = file
            .src
            .file_name()
            .map_or_else(|| "file".to_owned(), |n| n.to_string_lossy().into_owned());
        dst.push_str(&name);
    }
    let dst = dst.trim_end_matches('/').to_owned();
    let node = |kind: NodeKind, mode: u32| Node {
        kind,
        mode,
        uid: file.uid,
        gid: file.gid,
        mtime: epoch,
        owner: None,
    };
    if meta.is_file() {
        let bytes = read(&file.src)?;
        let mode = file.mode.unwrap_or_else(|| default_mode(&meta));
        out.push(Staged {
            path: dst,
            node: node(NodeKind::File(bytes.into()), mode),
            origin,
        });
        return Ok(());
    }
    out.push(Staged {
        path: dst.clone(),
        node: node(NodeKind::Dir, 0o755),
        origin: origin.clone(),
    });
    let mut pending = vec![(file.src.clone(), dst)];
    while let Some((dir, dst_dir)) = pending.pop() {
        let mut children: Vec<PathBuf> = fs_err::read_dir(&dir)
            .map_err(|source| AppFilesError::Read {
                path: dir.clone(),
                source,
            })?
            .map(|e| e.map(|e| e.path()))
            .collect::<Result<_, _>>()
            .map_err(|source| AppFilesError::Read {
                path: dir.clone(),
                source,
            })?;
        children.sort();
        let mut subdirs = Vec::new();
        for child in children {
            let name = child.file_name().map(|n| n.to_string_lossy().into_owned());
            let Some(name) = name else { continue };
            if name.starts_with(".wh.") {
                return Err(AppFilesError::Whiteout { path: child });
            }
            let path = format!("{dst_dir}/{name}");
            let meta = fs_err::symlink_metadata(&child).map_err(|source| AppFilesError::Read {
                path: child.clone(),
                source,
            })?;
            let kind = if meta.is_dir() {
                subdirs.push((child, path.clone()));
                node(NodeKind::Dir, 0o755)
            } else if meta.is_symlink() {
                let target = fs_err::read_link(&child).map_err(|source| AppFilesError::Read {
                    path: child.clone(),
                    source,
                })?;
                node(
                    NodeKind::Symlink(target.to_string_lossy().into_owned()),
                    0o777,
                )
            } else if meta.is_file() {
                let mode = file.mode.unwrap_or_else(|| default_mode(&meta));
                node(NodeKind::File(read(&child)?.into()), mode)
            } else {
                return Err(AppFilesError::Special { path: child });
            };
            out.push(Staged {
                path,
                node: kind,
                origin: origin.clone(),
            });
        }
        // Depth-first in sorted order; placement order does not matter for the layer (the
        // tree sorts), only for which input is named first in a conflict.
        pending.extend(subdirs.into_iter().rev());
    }
    Ok(())
}

/// 0755 when any execute bit is set on the source, else 0644.
fn default_mode(meta: &std::fs::Metadata) -> u32 {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        if meta.permissions().mode() & 0o111 != 0 {
            return 0o755;
        }
    }
    #[cfg(not(unix))]
    let _ = meta;
    0o644
}

fn read(path: &Path) -> Result<Vec<u8>, AppFilesError> {
    fs_err::read(path).map_err(|source| AppFilesError::Read {
        path: path.to_owned(),
        source,
    })
}

/// Stages every entry of one tar, refusing hostile names and special files.
fn load_tar(tar: &AppTar, out: &mut Vec<Staged>) -> Result<(), AppFilesError> {
    let bytes = match fs_err::read(&tar.path) {
        Ok(bytes) => bytes,
        Err(source) if source.kind() == std::io::ErrorKind::NotFound => {
            return Err(AppFilesError::Missing {
                key: "image.tars",
                as_written: tar.as_written.clone(),
                path: tar.path.clone(),
            });
        }
        Err(source) => {
            return Err(AppFilesError::Read {
                path: tar.path.clone(),
                source,
            });
        }
    };
    let corrupt = |source: TarError| AppFilesError::Tar {
        tar: tar.as_written.clone(),
        source,
    };
    let mut decoder = MemberCompression::sniff(&bytes)
        .decoder(bytes.as_slice())
        .map_err(|e| corrupt(e.into()))?;
    let mut plain = Vec::new();
    decoder
        .read_to_end(&mut plain)
        .map_err(|e| corrupt(e.into()))?;
    let origin = format!("tar `{}`", tar.as_written);
    let refuse = |entry: &str, why: String| AppFilesError::Entry {
        tar: tar.as_written.clone(),
        entry: entry.to_owned(),
        why,
    };
    visit_entries::<_, AppFilesError>(plain.as_slice(), None, |entry| {
        let path =
            normalize_entry_name(&entry.path).map_err(|p| refuse(&entry.path, p.to_string()))?;
        if path.is_empty() {
            return Ok(());
        }
        if split_parent(&path).1.starts_with(".wh.") {
            return Err(refuse(
                &entry.path,
                "`.wh.` names are OCI whiteouts and would delete files of the packages".into(),
            ));
        }
        let kind = match entry.kind {
            EntryKind::Dir => NodeKind::Dir,
            EntryKind::File(data) => NodeKind::File(data),
            EntryKind::Symlink(target) => NodeKind::Symlink(target),
            EntryKind::Hardlink(target) => NodeKind::Hardlink(
                normalize_entry_name(&target)
                    .map_err(|p| refuse(&entry.path, format!("hard link target: {p}")))?,
            ),
            EntryKind::Other(byte) => {
                return Err(refuse(
                    &entry.path,
                    format!(
                        "device nodes, fifos and sockets do not belong in an image (tar type `{}`)",
                        char::from(byte)
                    ),
                ));
            }
        };
        out.push(Staged {
            path,
            node: Node {
                kind,
                mode: entry.mode,
                uid: entry.uid,
                gid: entry.gid,
                mtime: entry.mtime,
                owner: None,
            },
            origin: origin.clone(),
        });
        Ok(())
    })
    .map_err(|err| match err {
        AppFilesError::Tar { tar, source } if tar.is_empty() => corrupt(source),
        other => other,
    })
}

/// For [`visit_entries`]; [`load_tar`] fills in the tar's name.
impl From<TarError> for AppFilesError {
    fn from(source: TarError) -> Self {
        Self::Tar {
            tar: String::new(),
            source,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tar_of(entries: &[(&str, tar::EntryType, &[u8], Option<&str>)]) -> Vec<u8> {
        let mut builder = tar::Builder::new(Vec::new());
        for (path, kind, data, link) in entries {
            let mut header = tar::Header::new_gnu();
            header.set_entry_type(*kind);
            header.set_mode(0o640);
            header.set_uid(7);
            header.set_gid(8);
            header.set_mtime(99);
            header.set_size(data.len() as u64);
            if let Some(link) = link {
                header.set_link_name(link).expect("link");
            }
            // `append_data` refuses `..`; write the name into the header by hand.
            let name = &mut header.as_old_mut().name;
            name[..path.len()].copy_from_slice(path.as_bytes());
            header.set_cksum();
            builder.append(&header, *data).expect("append");
        }
        builder.into_inner().expect("tar")
    }

    fn file(dir: &Path, src: &str, dst: &str, mode: Option<u32>) -> AppFile {
        AppFile {
            src: dir.join(src),
            src_as_written: src.to_owned(),
            dst: dst.to_owned(),
            mode,
            uid: 65532,
            gid: 65532,
        }
    }

    fn base_with_merged_bin() -> Tree {
        let mut base = Tree::default();
        base.insert("usr".into(), Node::implicit_dir(Some(0), 5));
        base.insert(
            "usr/bin".into(),
            Node {
                mode: 0o700,
                ..Node::implicit_dir(Some(0), 5)
            },
        );
        base.insert(
            "bin".into(),
            Node {
                kind: NodeKind::Symlink("usr/bin".into()),
                mode: 0o777,
                ..Node::implicit_dir(None, 5)
            },
        );
        base
    }

    #[test]
    fn files_and_tars_land_through_package_symlinks() {
        let dir = tempfile::tempdir().expect("temp");
        fs_err::write(dir.path().join("run.sh"), "#!/bin/sh\n").expect("write");
        let tar_path = dir.path().join("extra.tar.gz");
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        std::io::Write::write_all(
            &mut gz,
            &tar_of(&[
                ("./opt/", tar::EntryType::Directory, b"", None),
                ("./opt/data", tar::EntryType::Regular, b"d", None),
                ("./opt/same", tar::EntryType::Link, b"", Some("./opt/data")),
            ]),
        )
        .expect("gzip");
        fs_err::write(&tar_path, gz.finish().expect("gzip")).expect("write");
        let inputs = AppInputs::load(
            &[file(dir.path(), "run.sh", "/bin/", None)],
            &[AppTar {
                path: tar_path,
                as_written: "extra.tar.gz".into(),
            }],
            1000,
        )
        .expect("loadable");
        let tree = inputs.tree(&base_with_merged_bin(), 1000).expect("placed");
        let listing: Vec<(&str, u32, u64)> = tree.iter().map(|(p, n)| (p, n.mode, n.uid)).collect();
        assert_eq!(
            listing,
            [
                ("opt", 0o640, 7),
                ("opt/data", 0o640, 7),
                ("opt/same", 0o640, 7),
                ("usr", 0o755, 0),
                ("usr/bin", 0o700, 0),
                ("usr/bin/run.sh", 0o644, 65532),
            ]
        );
        assert_eq!(
            tree.get("opt/same").map(|n| &n.kind),
            Some(&NodeKind::Hardlink("opt/data".into()))
        );
        assert_eq!(tree.get("usr/bin/run.sh").map(|n| n.mtime), Some(1000));
    }

    #[test]
    fn refuses_hostile_tar_entries_and_missing_sources() {
        let dir = tempfile::tempdir().expect("temp");
        for (name, entry, kind, needle) in [
            ("up.tar", "../x", tar::EntryType::Regular, "`..`"),
            ("abs.tar", "/etc/x", tar::EntryType::Regular, "absolute"),
            ("dev.tar", "./dev/sda", tar::EntryType::Block, "device"),
            (
                "wh.tar",
                "./usr/.wh.bin",
                tar::EntryType::Regular,
                "whiteout",
            ),
        ] {
            let path = dir.path().join(name);
            fs_err::write(&path, tar_of(&[(entry, kind, b"", None)])).expect("write");
            let tar = AppTar {
                path,
                as_written: name.into(),
            };
            let err = AppInputs::load(&[], &[tar], 0).expect_err(name).to_string();
            assert!(
                err.contains(&format!("tar `{name}`: entry `{entry}`")),
                "{err}"
            );
            assert!(err.contains(needle), "{err}");
        }
        let err = AppInputs::load(&[file(dir.path(), "gone", "/a", None)], &[], 0)
            .expect_err("missing")
            .to_string();
        assert!(
            err.starts_with("`image.files`: `gone` does not exist"),
            "{err}"
        );
    }

    #[test]
    fn directories_copy_sorted_with_default_modes_and_conflicts_are_named() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().expect("temp");
        fs_err::create_dir_all(dir.path().join("dist/lib")).expect("mkdir");
        fs_err::write(dir.path().join("dist/b"), "b").expect("write");
        fs_err::write(dir.path().join("dist/lib/a"), "a").expect("write");
        fs_err::set_permissions(
            dir.path().join("dist/b"),
            std::fs::Permissions::from_mode(0o700),
        )
        .expect("chmod");
        let copy = file(dir.path(), "dist", "/app", None);
        let inputs = AppInputs::load(std::slice::from_ref(&copy), &[], 0).expect("load");
        let tree = inputs.tree(&Tree::default(), 0).expect("placed");
        let listing: Vec<(&str, u32)> = tree.iter().map(|(p, n)| (p, n.mode)).collect();
        assert_eq!(
            listing,
            [
                ("app", 0o755),
                ("app/b", 0o755),
                ("app/lib", 0o755),
                ("app/lib/a", 0o644)
            ]
        );
        let twice = AppInputs::load(
            &[copy, file(dir.path(), "dist/b", "/app/b", Some(0o600))],
            &[],
            0,
        )
        .expect("load");
        let err = twice
            .tree(&Tree::default(), 0)
            .expect_err("conflict")
            .to_string();
        assert_eq!(err, "`/app/b` is given by both `dist` and `dist/b`");
    }
}
