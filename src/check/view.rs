//! The image as the loader would see it: in-memory trees stacked like layers (the application
//! layer over the packages), looked up and walked through symlinks the way the kernel does
//! inside a chroot.

use crate::rootfs::{Node, NodeKind, Tree};

/// Symlink hops allowed while resolving one path (Linux's `MAXSYMLINKS`).
const MAX_SYMLINK_HOPS: usize = 40;

/// Trees stacked top first: a path is whatever the highest tree holding it says.
#[derive(Clone, Copy, Debug)]
pub struct ImageView<'a> {
    layers: &'a [&'a Tree],
}

impl<'a> ImageView<'a> {
    /// A view of `layers`, top first.
    pub fn new(layers: &'a [&'a Tree]) -> Self {
        Self { layers }
    }

    /// The node at a normalised path (no leading `/`), without following symlinks.
    pub fn get(&self, path: &str) -> Option<&'a NodeKind> {
        self.layers
            .iter()
            .find_map(|tree| tree.get(path))
            .map(|node| &node.kind)
    }

    /// The whole node (mode, owner) at a normalised path, without following symlinks.
    pub fn node(&self, path: &str) -> Option<&'a Node> {
        self.layers.iter().find_map(|tree| tree.get(path))
    }

    /// Every path of the view with its node, each path once (the top layer's node), in
    /// byte-wise path order within each layer.
    pub fn entries(&self) -> impl Iterator<Item = (&'a str, &'a NodeKind)> + '_ {
        self.layers
            .iter()
            .enumerate()
            .flat_map(move |(depth, tree)| {
                tree.iter()
                    .filter(move |(path, _)| {
                        !self.layers[..depth]
                            .iter()
                            .any(|upper| upper.get(path).is_some())
                    })
                    .map(|(path, node)| (path, &node.kind))
            })
    }

    /// Resolves `path` (absolute or relative to the root) through the view's symlinks, as the
    /// kernel does in a chroot: `..` at the root stays at the root. `None` when a symlink loops.
    pub fn resolve(&self, path: &str) -> Option<String> {
        let mut pending: Vec<String> = path
            .split('/')
            .rev()
            .filter(|c| !c.is_empty() && *c != ".")
            .map(str::to_owned)
            .collect();
        let mut resolved: Vec<String> = Vec::new();
        let mut hops = 0;
        while let Some(component) = pending.pop() {
            if component == "." {
                continue;
            }
            if component == ".." {
                resolved.pop();
                continue;
            }
            resolved.push(component);
            let here = resolved.join("/");
            if let Some(NodeKind::Symlink(target)) = self.get(&here) {
                hops += 1;
                if hops > MAX_SYMLINK_HOPS {
                    return None;
                }
                resolved.pop();
                if target.starts_with('/') {
                    resolved.clear();
                }
                pending.extend(
                    target
                        .split('/')
                        .rev()
                        .filter(|c| !c.is_empty())
                        .map(str::to_owned),
                );
            }
        }
        Some(resolved.join("/"))
    }

    /// The regular file `path` ends at after symlinks and hard links: its resolved path and
    /// content.
    pub fn file(&self, path: &str) -> Option<(String, &'a crate::rootfs::Content)> {
        let resolved = self.resolve(path)?;
        match self.get(&resolved)? {
            NodeKind::File(bytes) => Some((resolved, bytes)),
            NodeKind::Hardlink(target) => match self.get(target)? {
                NodeKind::File(bytes) => Some((target.clone(), bytes)),
                _ => None,
            },
            _ => None,
        }
    }

    /// The names in directory `dir` (resolved), sorted.
    pub fn list(&self, dir: &str) -> Vec<String> {
        let Some(dir) = self.resolve(dir) else {
            return Vec::new();
        };
        let prefix = if dir.is_empty() {
            String::new()
        } else {
            format!("{dir}/")
        };
        let mut names: Vec<String> = self
            .entries()
            .filter_map(|(path, _)| path.strip_prefix(&prefix))
            .filter(|rest| !rest.is_empty() && !rest.contains('/'))
            .map(str::to_owned)
            .collect();
        names.sort();
        names.dedup();
        names
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::test_tree;

    #[test]
    fn top_layer_wins_and_symlinks_resolve_across_layers() {
        let base = test_tree(&[
            ("usr/lib/a", Some(b"base".as_slice()), None),
            ("lib", None, Some("usr/lib")),
        ]);
        let top = test_tree(&[("usr/lib/a", Some(b"top".as_slice()), None)]);
        let layers = [&top, &base];
        let view = ImageView::new(&layers);
        assert_eq!(
            view.file("/lib/a"),
            Some((
                "usr/lib/a".to_owned(),
                &crate::rootfs::Content::from(b"top")
            ))
        );
        assert_eq!(view.resolve("/lib/../etc/x").as_deref(), Some("usr/etc/x"));
        assert_eq!(view.resolve("/../../etc").as_deref(), Some("etc"));
        assert_eq!(view.list("/lib"), vec!["a".to_owned()]);
        assert_eq!(view.entries().filter(|(p, _)| *p == "usr/lib/a").count(), 1);
    }
}
