//! Whether a new filesystem tree may lie over an existing one (a base image's) without
//! silently changing what the lower one holds: the same directory, file bytes or link
//! destination is fine, anything else at a path both have is a clash.
//!
//! Links compare by where they lead, so `lib -> usr/lib` over `lib -> /usr/lib` is no clash.

use super::tree::{NodeKind, Tree};

/// A path of the upper tree that would replace something else in the lower one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Clash {
    /// The path (relative, as in the trees).
    pub path: String,
    /// What the lower tree has there: `file`, `directory` or `symbolic link`.
    pub lower: &'static str,
}

/// The first path (in path order) where `upper` would replace `lower`'s content.
pub fn first_clash(lower: &Tree, upper: &Tree) -> Option<Clash> {
    upper.iter().find_map(|(path, node)| {
        let base = lower.get(path)?;
        let clash = match (&node.kind, &base.kind) {
            (NodeKind::Dir, NodeKind::Dir) => None,
            (NodeKind::Dir, NodeKind::Symlink(_)) => Some("symbolic link"),
            (NodeKind::Dir, _) => Some("file"),
            (NodeKind::File(bytes), NodeKind::File(base_bytes)) => {
                (bytes != base_bytes).then_some("file")
            }
            (NodeKind::Symlink(target), NodeKind::Symlink(base_target)) => {
                (link_destination(path, target) != link_destination(path, base_target))
                    .then_some("symbolic link")
            }
            (_, NodeKind::Dir) => Some("directory"),
            (_, NodeKind::Symlink(_)) => Some("symbolic link"),
            _ => Some("file"),
        };
        clash.map(|lower| Clash {
            path: path.to_owned(),
            lower,
        })
    })
}

/// Where a link at `path` pointing at `target` leads, as a normalised absolute path, so
/// `lib -> usr/lib` and `lib -> /usr/lib` count as the same link.
fn link_destination(path: &str, target: &str) -> Option<String> {
    if target.starts_with('/') {
        return Some(normalise(target).unwrap_or_default());
    }
    let parent = path.rsplit_once('/').map_or("", |(parent, _)| parent);
    let mut parts: Vec<&str> = parent.split('/').filter(|p| !p.is_empty()).collect();
    for part in target.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop()?;
            }
            other => parts.push(other),
        }
    }
    Some(parts.join("/"))
}

/// `./usr/bin/` → `usr/bin`; `None` for the root and for `..` escapes.
fn normalise(raw: &str) -> Option<String> {
    let mut parts = Vec::new();
    for part in raw.split('/') {
        match part {
            "" | "." => {}
            ".." => return None,
            other => parts.push(other),
        }
    }
    (!parts.is_empty()).then(|| parts.join("/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_compare_by_destination() {
        assert_eq!(
            link_destination("lib", "usr/lib"),
            link_destination("lib", "/usr/lib")
        );
        assert_eq!(
            link_destination("usr/bin/python3", "python3.11"),
            Some("usr/bin/python3.11".into())
        );
        assert_ne!(
            link_destination("lib", "usr/lib"),
            link_destination("lib", "usr/lib64")
        );
    }
}
