//! Placing one package's entries into the tree: merged-/usr mapping, symlinked parents,
//! hard links, and what happens when two packages ship the same path.
//!
//! The rules follow dpkg where a rootfs built by dpkg and one built here could differ
//! (debian-notes §7.1): directories merge and the first package's attributes win; a
//! directory entry over a symlink that resolves to a directory changes nothing; a path shipped
//! by two packages with different content is an error unless the later package is allowed to
//! overwrite (the manifest's answer to `Replaces:`). Identical files (`Multi-Arch: same`) are
//! shared.

use super::RootfsError;
use super::tree::{
    Node, NodeKind, PackageId, PathProblem, Tree, normalize_entry_name, split_parent,
};
use crate::deb::{DataEntry, EntryKind};
use crate::debian::release;
use crate::elf;

/// Top-level directories that merged /usr turns into symlinks into `usr/` (sbin -> usr/sbin).
pub const MERGED_DIRS: [&str; 6] = ["bin", "sbin", "lib", "lib32", "lib64", "libx32"];

/// Whether a data.tar entry is a merged-/usr link such as trixie base-files' `./bin -> usr/bin`.
pub fn is_usr_merge_link(entry: &DataEntry) -> bool {
    let Ok(path) = normalize_entry_name(&entry.path) else {
        return false;
    };
    let EntryKind::Symlink(target) = &entry.kind else {
        return false;
    };
    MERGED_DIRS.contains(&path.as_str()) && link_points_into_usr(&path, target)
}

fn link_points_into_usr(dir: &str, target: &str) -> bool {
    let target = target
        .trim_start_matches('/')
        .trim_start_matches("./")
        .trim_end_matches('/');
    target == format!("usr/{dir}")
}

/// Whether a suite belongs to a release that is merged-/usr only: Debian 13 (trixie) and
/// later, and the rolling suites after it (`sid`, `testing`, `experimental`). Their packages
/// may ship a path only on its `/usr` side (trixie's libc6 has the loader at
/// `/usr/lib64/ld-linux-x86-64.so.2` alone), so a split tree would lack `/lib64` even when
/// `base-files` (whose links `auto` otherwise looks for) is not locked.
pub fn release_is_merged_only(suite: &str) -> bool {
    let name = release::of_suite(suite);
    match release::number(name) {
        Some(number) => number.parse::<u32>().is_ok_and(|n| n >= 13),
        None => matches!(name, "sid" | "unstable" | "testing" | "experimental"),
    }
}

/// The first program interpreter (`PT_INTERP`) named by an ELF file among `packages` that no
/// package ships at its own path while one ships it under `usr/` (the loader of a merged-/usr
/// release in a tree that was about to stay split). `None` when every interpreter is where its
/// users look, or nowhere at all (the check reports that).
pub fn interpreter_only_under_usr(packages: &[&[DataEntry]]) -> Option<String> {
    let shipped: std::collections::BTreeSet<String> = packages
        .iter()
        .flat_map(|entries| entries.iter())
        .filter(|entry| !matches!(entry.kind, EntryKind::Dir))
        .filter_map(|entry| normalize_entry_name(&entry.path).ok())
        .collect();
    let interpreters: std::collections::BTreeSet<String> = packages
        .iter()
        .flat_map(|entries| entries.iter())
        .filter_map(|entry| match &entry.kind {
            EntryKind::File(content) if content.starts_with(elf::MAGIC) => {
                elf::parse(&content.read_elf().ok()?).ok()?.interpreter
            }
            _ => None,
        })
        .collect();
    interpreters.into_iter().find(|interpreter| {
        let path = interpreter.trim_start_matches('/');
        let top = path.split('/').next().unwrap_or("");
        MERGED_DIRS.contains(&top)
            && !shipped.contains(path)
            && shipped.contains(&format!("usr/{path}"))
    })
}

/// Where a normalised path lands when /usr is merged.
enum Placement {
    /// Store it at this path.
    At(String),
    /// The entry is one of the merged top-level names itself (`bin`, `lib`): the tree gets its
    /// own link there at the end.
    MergedTop,
}

fn place_merged(path: String, merged: bool) -> Placement {
    if !merged {
        return Placement::At(path);
    }
    let top = path.split('/').next().unwrap_or("");
    if MERGED_DIRS.contains(&top) {
        if path.len() == top.len() {
            return Placement::MergedTop;
        }
        return Placement::At(format!("usr/{path}"));
    }
    Placement::At(path)
}

/// Who is adding entries: used for ownership and error messages.
pub struct PackageContext<'a> {
    /// Index into the rootfs's package list.
    pub id: PackageId,
    /// Package name for messages and `allow_overwrite`.
    pub name: &'a str,
    /// Whether /usr is merged in this rootfs.
    pub merged_usr: bool,
    /// Whether this package may overwrite the given path of another package.
    pub may_overwrite: &'a dyn Fn(&str) -> bool,
    /// Names of the packages already merged, for conflict messages.
    pub package_names: &'a [String],
}

/// Puts `bin -> usr/bin` style links into an empty tree before any package is merged, so
/// that a path reaching `/bin` through another symlink lands in `usr/bin` like every other
/// `bin/` entry. [`prune_merged_links`] drops the ones nothing ended up under.
pub fn add_merged_links(tree: &mut Tree) {
    for dir in MERGED_DIRS {
        let link = Node {
            kind: NodeKind::Symlink(format!("usr/{dir}")),
            mode: 0o777,
            uid: 0,
            gid: 0,
            mtime: 0,
            owner: None,
        };
        tree.insert(dir.to_owned(), link);
    }
}

/// Removes merged links whose `usr/<dir>` does not exist (lib32 on amd64, lib64 on arm64).
pub fn prune_merged_links(tree: &mut Tree) {
    for dir in MERGED_DIRS {
        if !tree.get(&format!("usr/{dir}")).is_some_and(Node::is_dir) {
            tree.remove(dir);
        }
    }
}

/// Adds one package's data.tar entries, in archive order.
pub fn merge_package(
    tree: &mut Tree,
    ctx: &PackageContext<'_>,
    entries: Vec<DataEntry>,
) -> Result<(), RootfsError> {
    for entry in entries {
        merge_entry(tree, ctx, entry)?;
    }
    Ok(())
}

fn merge_entry(
    tree: &mut Tree,
    ctx: &PackageContext<'_>,
    entry: DataEntry,
) -> Result<(), RootfsError> {
    let unsafe_path = |path: &str, problem: PathProblem| RootfsError::UnsafePath {
        package: ctx.name.to_owned(),
        path: path.to_owned(),
        problem,
    };
    let raw_path = entry.path.clone();
    let normalized = normalize_entry_name(&raw_path).map_err(|p| unsafe_path(&raw_path, p))?;
    if normalized.is_empty() {
        return Ok(()); // the `./` root entry: the root's attributes are not ours to set.
    }
    let kind = match entry.kind {
        EntryKind::Dir => NodeKind::Dir,
        EntryKind::File(data) => NodeKind::File(data),
        EntryKind::Symlink(target) => {
            if target.is_empty() || target.contains('\0') {
                return Err(unsafe_path(&raw_path, PathProblem::Nul));
            }
            NodeKind::Symlink(target)
        }
        EntryKind::Hardlink(target) => NodeKind::Hardlink(target),
        EntryKind::Other(type_byte) => {
            return Err(RootfsError::UnsupportedEntry {
                package: ctx.name.to_owned(),
                path: raw_path,
                type_byte: char::from(type_byte),
            });
        }
    };
    let node = Node {
        kind,
        mode: entry.mode,
        uid: entry.uid,
        gid: entry.gid,
        mtime: entry.mtime,
        owner: Some(ctx.id),
    };

    let path = match place_merged(normalized, ctx.merged_usr) {
        Placement::At(path) => path,
        Placement::MergedTop => {
            return match node.kind {
                NodeKind::Dir => Ok(()),
                NodeKind::Symlink(_) => {
                    // The first package shipping the link gives it owner and attributes.
                    let top = raw_path.trim_start_matches("./").trim_end_matches('/');
                    if let Some(link) = tree.get_mut(top).filter(|l| l.owner.is_none()) {
                        *link = Node {
                            kind: link.kind.clone(),
                            ..node
                        };
                    }
                    Ok(())
                }
                _ => Err(unsafe_path(&raw_path, PathProblem::MergedUsrTop)),
            };
        }
    };

    // Parents pass through the tree's symlinks, never out of the root.
    let (parent, name) = split_parent(&path);
    let parent = tree
        .resolve(parent, true)
        .map_err(|p| unsafe_path(&raw_path, p))?;
    tree.ensure_dirs(&parent, Some(ctx.id), node.mtime)
        .map_err(|p| unsafe_path(&raw_path, p))?;
    let path = if parent.is_empty() {
        name.to_owned()
    } else {
        format!("{parent}/{name}")
    };

    let node = match node.kind {
        NodeKind::Hardlink(target) => {
            let target = resolve_hardlink_target(tree, ctx, &raw_path, &target)?;
            Node {
                kind: NodeKind::Hardlink(target),
                ..node
            }
        }
        _ => node,
    };
    place(tree, ctx, path, node)
}

/// A hard link must name a regular file this package shipped earlier (deb(5): targets are
/// re-prefixed like names).
fn resolve_hardlink_target(
    tree: &Tree,
    ctx: &PackageContext<'_>,
    raw_path: &str,
    raw_target: &str,
) -> Result<String, RootfsError> {
    let bad = |reason: String| RootfsError::BadHardlink {
        package: ctx.name.to_owned(),
        path: raw_path.to_owned(),
        target: raw_target.to_owned(),
        reason,
    };
    let normalized = normalize_entry_name(raw_target).map_err(|p| bad(p.to_string()))?;
    let Placement::At(mapped) = place_merged(normalized, ctx.merged_usr) else {
        return Err(bad("target is a merged /usr directory".into()));
    };
    let resolved = tree
        .resolve(&mapped, false)
        .map_err(|p| bad(p.to_string()))?;
    match tree.get(&resolved) {
        Some(Node {
            kind: NodeKind::File(_),
            owner,
            ..
        }) if *owner == Some(ctx.id) => Ok(resolved),
        Some(Node {
            kind: NodeKind::Hardlink(first),
            owner,
            ..
        }) if *owner == Some(ctx.id) => Ok(first.clone()),
        Some(_) => Err(bad(
            "target is not a regular file shipped earlier by this package".into(),
        )),
        None => Err(bad(
            "target does not exist (it must come earlier in the same package)".into(),
        )),
    }
}

/// Stores `node` at `path` (parents already resolved), applying the conflict rules.
fn place(
    tree: &mut Tree,
    ctx: &PackageContext<'_>,
    path: String,
    node: Node,
) -> Result<(), RootfsError> {
    let Some(existing) = tree.get(&path) else {
        tree.insert(path, node);
        return Ok(());
    };
    if existing.is_dir() && node.is_dir() {
        return Ok(()); // first package's directory attributes win, as with dpkg.
    }
    // dpkg stat()s through a link: a directory there means nothing to do.
    if node.is_dir()
        && let NodeKind::Symlink(_) = existing.kind
        && tree
            .resolve(&path, true)
            .ok()
            .and_then(|r| tree.get(&r))
            .is_some_and(Node::is_dir)
    {
        return Ok(());
    }
    if existing.same_content(&node) {
        return Ok(()); // shared file of Multi-Arch: same packages; the first owner stays.
    }
    let same_package = existing.owner == Some(ctx.id);
    if !existing.is_dir() && !node.is_dir() && (same_package || (ctx.may_overwrite)(&path)) {
        if let Some(slot) = tree.get_mut(&path) {
            *slot = node;
        }
        return Ok(());
    }
    let first = existing
        .owner
        .and_then(|id| ctx.package_names.get(id).cloned())
        .unwrap_or_else(|| "debless".to_owned());
    Err(RootfsError::Conflict {
        path,
        first,
        second: ctx.name.to_owned(),
    })
}

/// A minimal glob: `*` matches any run of characters (including `/`), `?` one character.
pub fn glob_match(pattern: &str, text: &str) -> bool {
    let (p, t) = (pattern.as_bytes(), text.as_bytes());
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && (p[pi] == b'?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == b'*' {
            star = Some((pi, ti));
            pi += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == b'*')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs() {
        assert!(glob_match("usr/share/doc/*", "usr/share/doc/a/copyright"));
        assert!(glob_match("libc6", "libc6"));
        assert!(glob_match("lib?6", "libc6"));
        assert!(!glob_match("libc6", "libc6-dev"));
        assert!(glob_match("*", ""));
        assert!(!glob_match("a*b", "acd"));
    }

    #[test]
    fn merged_placement() {
        assert!(
            matches!(place_merged("bin/sh".into(), true), Placement::At(p) if p == "usr/bin/sh")
        );
        assert!(
            matches!(place_merged("sbin/ldconfig".into(), true), Placement::At(p) if p == "usr/sbin/ldconfig")
        );
        assert!(matches!(
            place_merged("lib64".into(), true),
            Placement::MergedTop
        ));
        assert!(
            matches!(place_merged("library/x".into(), true), Placement::At(p) if p == "library/x")
        );
        assert!(matches!(place_merged("bin/sh".into(), false), Placement::At(p) if p == "bin/sh"));
    }

    #[test]
    fn merged_only_releases() {
        for suite in [
            "trixie",
            "trixie-security",
            "forky",
            "sid",
            "unstable",
            "testing",
        ] {
            assert!(release_is_merged_only(suite), "{suite}");
        }
        for suite in [
            "bookworm",
            "bookworm-updates",
            "bullseye",
            "jammy",
            "custom",
        ] {
            assert!(!release_is_merged_only(suite), "{suite}");
        }
    }

    #[test]
    fn an_interpreter_shipped_only_under_usr_asks_for_merging() {
        let file = |path: &str, bytes: Vec<u8>| DataEntry {
            path: path.into(),
            kind: EntryKind::File(bytes.into()),
            mode: 0o755,
            uid: 0,
            gid: 0,
            mtime: 0,
        };
        let loader = "/lib64/ld-linux-x86-64.so.2";
        let program = elf::synthesize(
            elf::Class::Elf64,
            62,
            Some(loader),
            &elf::Dynamic::default(),
        );
        let app = [file("./usr/bin/app", program)];
        let trixie_libc = [file("./usr/lib64/ld-linux-x86-64.so.2", b"ld".to_vec())];
        let bookworm_libc = [
            file("./lib64/ld-linux-x86-64.so.2", b"ld".to_vec()),
            file("./usr/lib64/ld-linux-x86-64.so.2", b"ld".to_vec()),
        ];
        assert_eq!(
            interpreter_only_under_usr(&[&app, &trixie_libc]).as_deref(),
            Some(loader)
        );
        assert_eq!(interpreter_only_under_usr(&[&app, &bookworm_libc]), None);
        assert_eq!(interpreter_only_under_usr(&[&app]), None, "nowhere at all");
    }

    #[test]
    fn recognises_usr_merge_links() {
        let link = |path: &str, target: &str| DataEntry {
            path: path.into(),
            kind: EntryKind::Symlink(target.into()),
            mode: 0o777,
            uid: 0,
            gid: 0,
            mtime: 0,
        };
        assert!(is_usr_merge_link(&link("./bin", "usr/bin")));
        assert!(is_usr_merge_link(&link("./lib64", "/usr/lib64")));
        assert!(!is_usr_merge_link(&link("./sbin", "usr/bin")));
        assert!(!is_usr_merge_link(&link("./usr/bin/sh", "dash")));
    }
}
