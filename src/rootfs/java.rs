//! Java's command links (`/usr/bin/java`, `keytool`, …), which the openjdk postinst makes in a
//! shell loop over its tools (`update-alternatives --install /usr/bin/$i $i $path …`) that the
//! postinst parser of [`super::alternatives`] cannot follow.
//!
//! The JRE ships the same list as data: `/usr/lib/jvm/.java-*.jinfo`, which
//! `update-java-alternatives` reads. Its `priority=` line and its `hl NAME PATH` (headless
//! JRE) and `jre NAME PATH` (desktop JRE) lines become ordinary alternatives registrations
//! (`/usr/bin/NAME -> /etc/alternatives/NAME -> PATH`), so they go through the same choice
//! (highest priority wins, an existing real file at the link is kept) as every other
//! alternative, as distroless' java images have them. `jdk`/`jdkhl` lines (compilers) are
//! left out: a JRE image runs programs.

use super::alternatives::Registration;
use super::{Rootfs, Tree};

/// Where JREs keep their `.jinfo` files.
const JVM_DIR: &str = "usr/lib/jvm/";

/// The registrations of every `.jinfo` file in the tree, in path order.
pub fn jinfo_registrations(tree: &Tree) -> Vec<Registration> {
    let mut registrations = Vec::new();
    for (path, _) in tree.iter().filter(|(path, _)| {
        path.strip_prefix(JVM_DIR).is_some_and(|name| {
            name.starts_with(".java-") && name.ends_with(".jinfo") && !name.contains('/')
        })
    }) {
        let Some(bytes) = tree.file_bytes(path) else {
            continue;
        };
        let text = String::from_utf8_lossy(&bytes);
        let package = text
            .lines()
            .find_map(|line| line.strip_prefix("name="))
            .unwrap_or(path)
            .to_owned();
        let priority = text
            .lines()
            .find_map(|line| line.strip_prefix("priority=")?.trim().parse::<i64>().ok())
            .unwrap_or(0);
        for line in text.lines() {
            let mut fields = line.split_whitespace();
            let (Some(kind), Some(name), Some(target)) =
                (fields.next(), fields.next(), fields.next())
            else {
                continue;
            };
            if !matches!(kind, "hl" | "jre") || name.contains('/') || !target.starts_with('/') {
                continue;
            }
            registrations.push(Registration {
                package: package.clone(),
                link: format!("usr/bin/{name}"),
                name: name.to_owned(),
                path: target.trim_start_matches('/').to_owned(),
                priority,
                slaves: Vec::new(),
            });
        }
    }
    registrations
}

impl Rootfs {
    /// Queues the `.jinfo` registrations with the postinst ones, before
    /// [`Rootfs::add_alternatives`] applies them all.
    pub fn add_java_alternatives(&mut self) -> usize {
        let registrations = jinfo_registrations(&self.tree);
        let count = registrations.len();
        self.alternatives.extend(registrations);
        count
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rootfs::Node;

    fn file(bytes: &[u8]) -> Node {
        Node::test_file(bytes)
    }

    #[test]
    fn hl_and_jre_lines_become_usr_bin_links() {
        let mut tree = Tree::default();
        tree.ensure_dirs("usr/lib/jvm", None, 0).expect("dirs");
        tree.insert(
            "usr/lib/jvm/.java-1.17.0-openjdk-amd64.jinfo".into(),
            file(b"name=java-1.17.0-openjdk-amd64\nalias=java-17-openjdk-amd64\npriority=1711\nsection=main\n\nhl java /usr/lib/jvm/java-17-openjdk-amd64/bin/java\nhl keytool /usr/lib/jvm/java-17-openjdk-amd64/bin/keytool\njre jexec /usr/lib/jvm/java-17-openjdk-amd64/lib/jexec\njdkhl javac /usr/lib/jvm/java-17-openjdk-amd64/bin/javac\n"),
        );
        let registrations = jinfo_registrations(&tree);
        let links: Vec<(&str, &str, i64)> = registrations
            .iter()
            .map(|r| (r.link.as_str(), r.path.as_str(), r.priority))
            .collect();
        assert_eq!(
            links,
            [
                (
                    "usr/bin/java",
                    "usr/lib/jvm/java-17-openjdk-amd64/bin/java",
                    1711
                ),
                (
                    "usr/bin/keytool",
                    "usr/lib/jvm/java-17-openjdk-amd64/bin/keytool",
                    1711
                ),
                (
                    "usr/bin/jexec",
                    "usr/lib/jvm/java-17-openjdk-amd64/lib/jexec",
                    1711
                ),
            ]
        );
        assert!(
            registrations
                .iter()
                .all(|r| r.package == "java-1.17.0-openjdk-amd64")
        );
    }
}
