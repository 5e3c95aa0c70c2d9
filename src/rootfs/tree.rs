//! The in-memory root filesystem: a map from normalised path to node, plus the path rules
//! every entry passes before it is stored.
//!
//! Paths are relative (`usr/bin/x`), `/`-separated, without `.`/`..` components; the root itself
//! is implicit. A `BTreeMap<String, _>` keeps them in byte-wise order, which is also the order
//! layers and `--rootfs` directories are written in: a parent (a prefix) sorts before its
//! children. Symlinks are stored as written and only followed *inside this map* when an entry's
//! parent passes through one (the same thing dpkg does on disk, minus the escape).
//!
//! The tree holds metadata; a regular file's bytes are a [`Content`]: in memory when small or
//! generated, in the build's scratch file when extracted from a large data.tar entry. Read them
//! with [`Tree::file_bytes`] (whole, on demand) or [`Content::reader`] (streamed into a layer).

use std::borrow::Cow;
use std::collections::{BTreeMap, VecDeque};

pub use crate::deb::Content;

/// Index of a package in [`super::Rootfs::packages`].
pub type PackageId = usize;

/// Symlink hops allowed while resolving one path (Linux's `MAXSYMLINKS` is 40).
const MAX_SYMLINK_HOPS: usize = 40;

/// What a path is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NodeKind {
    /// A directory.
    Dir,
    /// A regular file and its bytes (in memory or in the scratch file).
    File(Content),
    /// A symbolic link, target as written in the package.
    Symlink(String),
    /// A hard link to the regular file at this normalised path, which sorts before the link.
    Hardlink(String),
}

/// One path of the tree with the metadata the .deb gave it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Node {
    /// What it is.
    pub kind: NodeKind,
    /// Permission bits including setuid, setgid and sticky.
    pub mode: u32,
    /// Numeric owner from the .deb.
    pub uid: u64,
    /// Numeric group from the .deb.
    pub gid: u64,
    /// Modification time from the .deb (layers clamp it).
    pub mtime: i64,
    /// The package that shipped it; `None` for paths debless made up (merged-/usr links).
    pub owner: Option<PackageId>,
}

impl Node {
    /// A root-owned 0644 file with `bytes`, for tests that lay out a tree by hand.
    #[cfg(test)]
    pub(crate) fn test_file(bytes: &[u8]) -> Self {
        Self {
            kind: NodeKind::File(bytes.into()),
            mode: 0o644,
            uid: 0,
            gid: 0,
            mtime: 0,
            owner: None,
        }
    }

    /// A directory debless creates because a package shipped a file without its parent.
    pub fn implicit_dir(owner: Option<PackageId>, mtime: i64) -> Self {
        Self {
            kind: NodeKind::Dir,
            mode: 0o755,
            uid: 0,
            gid: 0,
            mtime,
            owner,
        }
    }

    /// Whether the node is a directory.
    pub fn is_dir(&self) -> bool {
        matches!(self.kind, NodeKind::Dir)
    }

    /// Whether two nodes would produce the same filesystem object (owner and mtime aside):
    /// the case of `Multi-Arch: same` packages sharing a file.
    pub fn same_content(&self, other: &Self) -> bool {
        self.kind == other.kind
            && self.mode == other.mode
            && self.uid == other.uid
            && self.gid == other.gid
    }
}

/// Why a path cannot be placed in the tree.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PathProblem {
    /// A `..` component in an entry name.
    #[error("`..` component")]
    DotDot,
    /// A NUL byte in an entry name.
    #[error("NUL byte in name")]
    Nul,
    /// An absolute entry name (`/etc/x`); .deb entries are always relative (`./etc/x`).
    #[error("absolute entry name")]
    Absolute,
    /// Resolving symlinks inside the tree leaves the root.
    #[error("resolves outside the root through symlink `{0}`")]
    Escapes(String),
    /// Too many symlinks, probably a loop.
    #[error("too many levels of symlinks")]
    SymlinkLoop,
    /// A file at `bin`, `lib`, ... where merged /usr needs a link into usr.
    #[error("merged /usr needs a link into usr at this path")]
    MergedUsrTop,
    /// A parent component is a file, not a directory.
    #[error("parent `{0}` is not a directory")]
    NotADirectory(String),
}

/// Turns an entry name as written in a data.tar (`./usr/bin/x`, `./usr/`) into a tree path
/// (`usr/bin/x`); the root entry `./` becomes the empty string.
pub fn normalize_entry_name(raw: &str) -> Result<String, PathProblem> {
    if raw.contains('\0') {
        return Err(PathProblem::Nul);
    }
    if raw.starts_with('/') {
        return Err(PathProblem::Absolute);
    }
    let mut parts = Vec::new();
    for component in raw.split('/') {
        match component {
            "" | "." => {}
            ".." => return Err(PathProblem::DotDot),
            name => parts.push(name),
        }
    }
    Ok(parts.join("/"))
}

/// The directory part and the last component of a tree path.
pub fn split_parent(path: &str) -> (&str, &str) {
    path.rsplit_once('/').unwrap_or(("", path))
}

/// The proper ancestors of a `/`-separated path, shortest first: `a/b/c` gives `a`, `a/b`.
pub fn ancestors(path: &str) -> impl Iterator<Item = &str> {
    path.match_indices('/')
        .map(move |(slash, _)| &path[..slash])
}

/// The tree itself.
#[derive(Clone, Debug, Default)]
pub struct Tree {
    nodes: BTreeMap<String, Node>,
}

impl Tree {
    /// The node at a normalised path, without following symlinks.
    pub fn get(&self, path: &str) -> Option<&Node> {
        self.nodes.get(path)
    }

    /// Mutable access for the merge rules.
    pub(crate) fn get_mut(&mut self, path: &str) -> Option<&mut Node> {
        self.nodes.get_mut(path)
    }

    /// Stores a node, replacing whatever was there.
    pub(crate) fn insert(&mut self, path: String, node: Node) {
        self.nodes.insert(path, node);
    }

    /// Removes a node (merged-/usr links nothing ended up under).
    pub(crate) fn remove(&mut self, path: &str) -> Option<Node> {
        self.nodes.remove(path)
    }

    /// Removes every node below `dir` (all of them when `dir` is the root, `""`), keeping
    /// `dir` itself: what a layer entry or an opaque whiteout does to what lies under it.
    pub(crate) fn remove_below(&mut self, dir: &str) {
        if dir.is_empty() {
            self.nodes.clear();
            return;
        }
        let prefix = format!("{dir}/");
        let doomed: Vec<String> = self
            .nodes
            .range(prefix.clone()..)
            .map(|(path, _)| path)
            .take_while(|path| path.starts_with(&prefix))
            .cloned()
            .collect();
        for path in doomed {
            self.nodes.remove(&path);
        }
    }

    /// The bytes of the regular file at `path`, through symlinks (inside the tree) and hard
    /// links, read from the scratch file if spilled; `None` when it is missing, escapes, or is
    /// not a file (see [`Tree::file_content`] for a read error).
    pub fn file_bytes(&self, path: &str) -> Option<Cow<'_, [u8]>> {
        self.file_content(path)?.read().ok()
    }

    /// The content of the regular file at `path`, through symlinks (inside the tree) and hard
    /// links; `None` when it is missing, escapes, or is not a file.
    pub fn file_content(&self, path: &str) -> Option<&Content> {
        let resolved = self.resolve(path, true).ok()?;
        match &self.get(&resolved)?.kind {
            NodeKind::File(content) => Some(content),
            NodeKind::Hardlink(target) => match &self.get(target)?.kind {
                NodeKind::File(content) => Some(content),
                _ => None,
            },
            _ => None,
        }
    }

    /// Every node in byte-wise path order (parents before children).
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Node)> + Clone {
        self.nodes.iter().map(|(path, node)| (path.as_str(), node))
    }

    /// Number of paths (the root not counted).
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// Whether the tree holds no paths.
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// Resolves a normalised path through the tree's symlinks, as the kernel would inside a
    /// chroot, except that leaving the root is an error instead of being clamped. With
    /// `follow_last` false the final component is kept even if it is a symlink.
    pub fn resolve(&self, path: &str, follow_last: bool) -> Result<String, PathProblem> {
        let mut pending: VecDeque<String> = path
            .split('/')
            .filter(|c| !c.is_empty())
            .map(str::to_owned)
            .collect();
        let mut resolved: Vec<String> = Vec::new();
        let mut hops = 0;
        while let Some(component) = pending.pop_front() {
            match component.as_str() {
                "." => continue,
                ".." => {
                    if resolved.pop().is_none() {
                        return Err(PathProblem::Escapes(path.to_owned()));
                    }
                    continue;
                }
                _ => {}
            }
            resolved.push(component);
            let is_last = pending.is_empty();
            let here = resolved.join("/");
            match self.nodes.get(&here).map(|n| &n.kind) {
                Some(NodeKind::Symlink(target)) if follow_last || !is_last => {
                    hops += 1;
                    if hops > MAX_SYMLINK_HOPS {
                        return Err(PathProblem::SymlinkLoop);
                    }
                    resolved.pop();
                    if target.starts_with('/') {
                        resolved.clear();
                    }
                    for part in target.split('/').rev().filter(|c| !c.is_empty()) {
                        pending.push_front(part.to_owned());
                    }
                    // A `..` in the target that climbs above the root is an escape of this link.
                    if escapes(&resolved, &pending) {
                        return Err(PathProblem::Escapes(here));
                    }
                }
                Some(NodeKind::File(_) | NodeKind::Hardlink(_)) if !is_last => {
                    return Err(PathProblem::NotADirectory(here));
                }
                _ => {}
            }
        }
        Ok(resolved.join("/"))
    }

    /// Makes sure every ancestor of `dir` (which must already be resolved) exists as a
    /// directory, creating missing ones as owned by `owner`.
    pub(crate) fn ensure_dirs(
        &mut self,
        dir: &str,
        owner: Option<PackageId>,
        mtime: i64,
    ) -> Result<(), PathProblem> {
        if dir.is_empty() {
            return Ok(());
        }
        for prefix in ancestors(dir).chain([dir]) {
            match self.nodes.get(prefix) {
                None => {
                    self.nodes
                        .insert(prefix.to_owned(), Node::implicit_dir(owner, mtime));
                }
                Some(node) if node.is_dir() => {}
                Some(_) => return Err(PathProblem::NotADirectory(prefix.to_owned())),
            }
        }
        Ok(())
    }

    /// Rewrites hard-link groups so the regular file always sits at the smallest path and the
    /// links point at it: a layer or a directory is written in path order, and a link must come
    /// after its target (image-spec layer.md "Hardlinks").
    pub(crate) fn canonicalize_hardlinks(&mut self) {
        let mut groups: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (path, node) in &self.nodes {
            if let NodeKind::Hardlink(target) = &node.kind {
                groups.entry(target.clone()).or_default().push(path.clone());
            }
        }
        for (target, links) in groups {
            let Some(first_link) = links.iter().min().filter(|l| **l < target).cloned() else {
                continue;
            };
            let Some(mut file) = self.nodes.remove(&target) else {
                continue;
            };
            let link_node = self.nodes.get(&first_link).cloned();
            if let Some(link_node) = link_node {
                // The file's bytes and attributes move to the smallest path.
                file.owner = link_node.owner;
                self.nodes.insert(
                    target.clone(),
                    Node {
                        kind: NodeKind::Hardlink(first_link.clone()),
                        ..link_node
                    },
                );
            }
            self.nodes.insert(first_link.clone(), file);
            for link in links.iter().filter(|l| **l != first_link) {
                if let Some(node) = self.nodes.get_mut(link) {
                    node.kind = NodeKind::Hardlink(first_link.clone());
                }
            }
        }
    }
}

/// Whether applying `pending` to `resolved` would climb above the root.
fn escapes(resolved: &[String], pending: &VecDeque<String>) -> bool {
    let mut depth = resolved.len() as i64;
    for part in pending {
        match part.as_str() {
            "." => {}
            ".." => {
                depth -= 1;
                if depth < 0 {
                    return true;
                }
            }
            _ => depth += 1,
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(kind: NodeKind) -> Node {
        Node {
            kind,
            mode: 0o644,
            uid: 0,
            gid: 0,
            mtime: 0,
            owner: Some(0),
        }
    }

    #[test]
    fn normalizes_names() {
        assert_eq!(
            normalize_entry_name("./usr/bin/x").as_deref(),
            Ok("usr/bin/x")
        );
        assert_eq!(normalize_entry_name("./usr/").as_deref(), Ok("usr"));
        assert_eq!(normalize_entry_name("./").as_deref(), Ok(""));
        assert_eq!(
            normalize_entry_name("./a/../../etc"),
            Err(PathProblem::DotDot)
        );
        assert_eq!(
            normalize_entry_name("/etc/passwd"),
            Err(PathProblem::Absolute)
        );
        assert_eq!(normalize_entry_name("./a\0b"), Err(PathProblem::Nul));
    }

    #[test]
    fn resolves_inside_root_and_refuses_escapes() {
        let mut tree = Tree::default();
        tree.insert("usr".into(), node(NodeKind::Dir));
        tree.insert("usr/lib".into(), node(NodeKind::Dir));
        tree.insert("lib".into(), node(NodeKind::Symlink("usr/lib".into())));
        tree.insert("abs".into(), node(NodeKind::Symlink("/usr/lib".into())));
        tree.insert("usr/up".into(), node(NodeKind::Symlink("../../..".into())));
        tree.insert("f".into(), node(NodeKind::File(b"".into())));
        assert_eq!(tree.resolve("lib/x", true).as_deref(), Ok("usr/lib/x"));
        assert_eq!(tree.resolve("abs/x", true).as_deref(), Ok("usr/lib/x"));
        assert_eq!(tree.resolve("lib", false).as_deref(), Ok("lib"));
        assert_eq!(
            tree.resolve("usr/up/evil", true),
            Err(PathProblem::Escapes("usr/up".into()))
        );
        assert_eq!(
            tree.resolve("f/x", true),
            Err(PathProblem::NotADirectory("f".into()))
        );
        tree.insert("loop".into(), node(NodeKind::Symlink("loop".into())));
        assert_eq!(tree.resolve("loop/x", true), Err(PathProblem::SymlinkLoop));
    }

    #[test]
    fn hardlink_groups_put_the_file_first() {
        let mut tree = Tree::default();
        tree.insert("b".into(), node(NodeKind::File(b"data".into())));
        tree.insert("a".into(), node(NodeKind::Hardlink("b".into())));
        tree.insert("c".into(), node(NodeKind::Hardlink("b".into())));
        tree.canonicalize_hardlinks();
        assert_eq!(
            tree.get("a").map(|n| &n.kind),
            Some(&NodeKind::File(b"data".into()))
        );
        assert_eq!(
            tree.get("b").map(|n| &n.kind),
            Some(&NodeKind::Hardlink("a".into()))
        );
        assert_eq!(
            tree.get("c").map(|n| &n.kind),
            Some(&NodeKind::Hardlink("a".into()))
        );
    }

    #[test]
    fn ensure_dirs_creates_missing_parents() {
        let mut tree = Tree::default();
        tree.ensure_dirs("usr/share/doc", Some(1), 5)
            .expect("creatable");
        assert!(tree.get("usr").is_some_and(Node::is_dir));
        assert!(tree.get("usr/share/doc").is_some_and(Node::is_dir));
        tree.insert("file".into(), node(NodeKind::File(b"".into())));
        assert_eq!(
            tree.ensure_dirs("file/x", None, 0),
            Err(PathProblem::NotADirectory("file".into()))
        );
    }
}
