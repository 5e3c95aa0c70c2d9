//! Reading back an image's dpkg database: which packages a filesystem tree already has
//! (a base image's, before debless resolves what to add over it).
//!
//! Both layouts count: `var/lib/dpkg/status.d/<package>` as distroless writes it (its
//! `*.md5sums` siblings skipped) and dpkg's own `var/lib/dpkg/status`. Stanzas whose
//! `Status` says the package is not installed (`deinstall`, `purge`, `not-installed`) are
//! skipped; one package listed twice (same name and architecture) counts once.

use std::collections::BTreeMap;

use super::tree::{NodeKind, Tree};
use crate::debian::{Version, deb822};

const STATUS_D: &str = "var/lib/dpkg/status.d/";
const STATUS: &str = "var/lib/dpkg/status";

/// A package a dpkg database lists as installed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InstalledPackage {
    pub name: String,
    pub version: Version,
    pub architecture: String,
}

/// A database file that cannot be read, named by its path in the tree.
#[derive(Debug, thiserror::Error)]
#[error("package database `/{path}`: {reason}")]
pub struct DpkgDbError {
    /// Relative path of the database file (`var/lib/dpkg/status`).
    pub path: String,
    pub reason: String,
}

/// The installed packages of `tree`'s dpkg database, sorted by name and architecture.
pub fn installed_packages(tree: &Tree) -> Result<Vec<InstalledPackage>, DpkgDbError> {
    let mut packages = BTreeMap::new();
    let database = tree.iter().filter_map(|(path, node)| match &node.kind {
        NodeKind::File(bytes) if path == STATUS || path.starts_with(STATUS_D) => {
            Some((path, bytes))
        }
        _ => None,
    });
    for (path, bytes) in database {
        if path.ends_with(".md5sums") {
            continue;
        }
        let bad = |reason: String| DpkgDbError {
            path: path.to_owned(),
            reason,
        };
        let bytes = bytes.read().map_err(|e| bad(e.to_string()))?;
        let text = std::str::from_utf8(&bytes).map_err(|e| bad(e.to_string()))?;
        for stanza in deb822::parse(text).map_err(|e| bad(e.to_string()))? {
            if stanza.is_empty() {
                continue;
            }
            if stanza.get("Status").is_some_and(|s| {
                s.contains("deinstall") || s.contains("purge") || s.contains("not-installed")
            }) {
                continue;
            }
            let field = |name: &str| {
                stanza
                    .get(name)
                    .map(str::trim)
                    .ok_or_else(|| bad(format!("a stanza has no `{name}`")))
            };
            let name = field("Package")?.to_owned();
            let version =
                Version::parse(field("Version")?).map_err(|e| bad(format!("`{name}`: {e}")))?;
            let architecture = field("Architecture")?.to_owned();
            packages.insert(
                (name.clone(), architecture.clone()),
                InstalledPackage {
                    name,
                    version,
                    architecture,
                },
            );
        }
    }
    Ok(packages.into_values().collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rootfs::tree::Node;

    fn file(bytes: &[u8]) -> Node {
        Node::test_file(bytes)
    }

    #[test]
    fn reads_both_layouts_and_skips_removed_packages() {
        let mut tree = Tree::default();
        tree.insert(
            "var/lib/dpkg/status.d/libc6".into(),
            file(b"Package: libc6\nVersion: 2.36-9+deb12u7\nArchitecture: amd64\n"),
        );
        tree.insert(
            "var/lib/dpkg/status.d/libc6.md5sums".into(),
            file(b"abc  usr/x\n"),
        );
        tree.insert(
            "var/lib/dpkg/status".into(),
            file(b"Package: old\nVersion: 1\nArchitecture: all\nStatus: deinstall ok config-files\n\nPackage: tzdata\nVersion: 2024a-0+deb12u1\nArchitecture: all\nStatus: install ok installed\n"),
        );
        let found: Vec<(String, String)> = installed_packages(&tree)
            .expect("valid database")
            .into_iter()
            .map(|p| (p.name, p.version.as_str().to_owned()))
            .collect();
        assert_eq!(
            found,
            [
                ("libc6".to_owned(), "2.36-9+deb12u7".to_owned()),
                ("tzdata".to_owned(), "2024a-0+deb12u1".to_owned())
            ]
        );
    }

    #[test]
    fn names_the_file_of_a_bad_stanza() {
        let mut tree = Tree::default();
        tree.insert(
            "var/lib/dpkg/status.d/x".into(),
            file(b"Package: x\nArchitecture: all\n"),
        );
        let err = installed_packages(&tree).expect_err("no version");
        assert_eq!(
            err.to_string(),
            "package database `/var/lib/dpkg/status.d/x`: a stanza has no `Version`"
        );
    }
}
