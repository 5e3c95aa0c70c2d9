//! Writing the tree to a directory (`debless build --rootfs DIR`).
//!
//! The tree is written in path order, so parents exist before children and a hard link's
//! target before the link. Every path is created fresh (`create_new`, `symlink`, `mkdir`) in a
//! directory this function created, so no existing symlink is ever followed. Directory modes
//! are applied last, deepest first, so a `0555` directory does not block its own children.

use std::fs;
use std::io::ErrorKind;
use std::os::unix::fs::{PermissionsExt, lchown, symlink};
use std::path::Path;

use super::RootfsError;
use super::tree::{NodeKind, Tree};

pub(super) fn write_tree(tree: &Tree, dir: &Path) -> Result<(), RootfsError> {
    let write_err = |path: &Path| {
        let path = path.to_path_buf();
        move |source| RootfsError::Write { path, source }
    };
    match fs::read_dir(dir) {
        Ok(mut entries) => {
            if entries.next().is_some() {
                return Err(RootfsError::TargetNotEmpty {
                    dir: dir.to_path_buf(),
                });
            }
        }
        Err(e) if e.kind() == ErrorKind::NotFound => {
            fs::create_dir_all(dir).map_err(write_err(dir))?
        }
        Err(e) => return Err(write_err(dir)(e)),
    }
    let mut dirs = Vec::new();
    for (path, node) in tree.iter() {
        let target = dir.join(path);
        match &node.kind {
            NodeKind::Dir => {
                fs::create_dir(&target).map_err(write_err(&target))?;
                dirs.push((target, node));
                continue;
            }
            NodeKind::File(data) => {
                let mut file = fs::OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .open(&target)
                    .map_err(write_err(&target))?;
                std::io::copy(&mut data.reader(), &mut file).map_err(write_err(&target))?;
                let mtime = std::time::UNIX_EPOCH
                    + std::time::Duration::from_secs(node.mtime.max(0).unsigned_abs());
                file.set_modified(mtime).map_err(write_err(&target))?;
            }
            NodeKind::Symlink(link) => symlink(link, &target).map_err(write_err(&target))?,
            NodeKind::Hardlink(first) => {
                fs::hard_link(dir.join(first), &target).map_err(write_err(&target))?
            }
        }
        chown_if_permitted(&target, node.uid, node.gid).map_err(write_err(&target))?;
        if matches!(node.kind, NodeKind::File(_)) {
            fs::set_permissions(&target, fs::Permissions::from_mode(node.mode))
                .map_err(write_err(&target))?;
        }
    }
    for (target, node) in dirs.iter().rev() {
        chown_if_permitted(target, node.uid, node.gid).map_err(write_err(target))?;
        fs::set_permissions(target, fs::Permissions::from_mode(node.mode))
            .map_err(write_err(target))?;
    }
    Ok(())
}

/// Sets the owner when the process may (root); an unprivileged build keeps its own ids.
fn chown_if_permitted(path: &Path, uid: u64, gid: u64) -> std::io::Result<()> {
    let (Ok(uid), Ok(gid)) = (u32::try_from(uid), u32::try_from(gid)) else {
        return Ok(());
    };
    match lchown(path, Some(uid), Some(gid)) {
        Err(e) if e.kind() == ErrorKind::PermissionDenied => Ok(()),
        other => other,
    }
}
