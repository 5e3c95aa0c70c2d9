//! `update-alternatives` without running maintainer scripts (debian-notes §7.2): the
//! `--install LINK NAME PATH PRIORITY [--slave LINK NAME PATH]…` calls of the packages'
//! `postinst` scripts are read as text, and the links dpkg's auto mode would leave are
//! written into the tree: `/etc/alternatives/NAME -> PATH` and `LINK ->
//! /etc/alternatives/NAME`, and the same for each slave of the chosen alternative.
//!
//! Per name the highest priority wins; equal priorities go to the byte-wise smallest path
//! (dpkg keeps whichever was installed first, an order debless does not have). A candidate
//! whose PATH is not in the tree (a path filter dropped it) is passed over; a slave whose
//! path is missing gets no link, as dpkg removes it. A LINK that a package ships as a file
//! or directory is left alone with a notice (update-alternatives refuses it without
//! `--force`); a symlink there is replaced. Calls with shell variables or command
//! substitutions cannot be evaluated and are skipped; the state directory
//! `/var/lib/dpkg/alternatives` is not written (nothing in an image runs update-alternatives).

use std::collections::BTreeMap;

use super::Rootfs;
use super::tree::{Node, NodeKind, PathProblem, split_parent};

/// Where update-alternatives keeps the indirection links.
const ALTERNATIVES_DIR: &str = "etc/alternatives";

/// One `--install` call of a postinst.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Registration {
    /// The package whose postinst makes the call.
    pub package: String,
    /// The generic link (`/usr/bin/awk`).
    pub link: String,
    /// The alternative's name (`awk`).
    pub name: String,
    /// The implementation (`/usr/bin/mawk`).
    pub path: String,
    /// Its priority; the highest wins in auto mode.
    pub priority: i64,
    /// `--slave LINK NAME PATH` groups.
    pub slaves: Vec<Slave>,
}

/// A `--slave LINK NAME PATH` of a registration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Slave {
    /// The slave's generic link (`/usr/bin/nawk`, as a tree path).
    pub link: String,
    /// Its name under /etc/alternatives (`nawk`).
    pub name: String,
    /// Its implementation (`usr/bin/mawk`).
    pub path: String,
}

/// Why the alternatives' links cannot be written.
#[derive(Debug, thiserror::Error)]
#[error("alternative `{name}` of package `{package}`: cannot place `/{path}`: {problem}")]
pub struct AlternativesError {
    /// The alternative's name.
    pub name: String,
    /// The package that registers it.
    pub package: String,
    /// The link that could not be placed.
    pub path: String,
    /// Why.
    pub problem: PathProblem,
}

/// The `update-alternatives --install` calls of a postinst script, in script order.
pub fn parse_postinst(package: &str, script: &[u8]) -> Vec<Registration> {
    let text = String::from_utf8_lossy(script);
    // Shell line continuations first, so a call spread over lines is one line.
    let joined = text.replace("\\\r\n", " ").replace("\\\n", " ");
    let mut found = Vec::new();
    for line in joined.lines() {
        let line = line.split(" #").next().unwrap_or_default();
        let words: Vec<&str> = line.split_whitespace().collect();
        let mut rest = words.as_slice();
        while let Some(start) = rest
            .iter()
            .position(|w| *w == "update-alternatives" || w.ends_with("/update-alternatives"))
        {
            rest = &rest[start + 1..];
            let end = rest
                .iter()
                .position(|w| matches!(*w, ";" | "||" | "&&" | "|") || w.starts_with('>'))
                .unwrap_or(rest.len());
            if let Some(registration) = parse_call(package, &rest[..end]) {
                found.push(registration);
            }
            rest = &rest[end..];
        }
    }
    found
}

/// One call's arguments (after `update-alternatives`): `None` unless it is a complete,
/// literal `--install`.
fn parse_call(package: &str, args: &[&str]) -> Option<Registration> {
    let args: Vec<String> = args
        .iter()
        .map(|a| a.trim_matches(|c| c == '"' || c == '\'').to_owned())
        .collect();
    if args
        .iter()
        .any(|a| a.contains('$') || a.contains('`') || a.contains('*'))
    {
        return None;
    }
    let mut i = args.iter().position(|a| a == "--install")?;
    let install = args.get(i + 1..i + 5)?;
    let registration = Registration {
        package: package.to_owned(),
        link: clean_path(&install[0])?,
        name: install[1].clone(),
        path: clean_path(&install[2])?,
        priority: install[3].parse().ok()?,
        slaves: Vec::new(),
    };
    i += 5;
    let mut registration = registration;
    while i < args.len() {
        if args[i] == "--slave" {
            let slave = args.get(i + 1..i + 4)?;
            registration.slaves.push(Slave {
                link: clean_path(&slave[0])?,
                name: slave[1].clone(),
                path: clean_path(&slave[2])?,
            });
            i += 4;
        } else {
            i += 1;
        }
    }
    Some(registration)
}

/// An absolute path as a tree path (`/usr/bin/awk` -> `usr/bin/awk`); relative ones are
/// not something update-alternatives accepts.
fn clean_path(path: &str) -> Option<String> {
    let relative = path.strip_prefix('/')?;
    let clean = super::tree::normalize_entry_name(relative).ok()?;
    (!clean.is_empty()).then_some(clean)
}

/// Per alternative name, the registration auto mode picks among those whose path exists.
pub fn choose(
    registrations: &[Registration],
    exists: impl Fn(&str) -> bool,
) -> BTreeMap<&str, &Registration> {
    let mut chosen: BTreeMap<&str, &Registration> = BTreeMap::new();
    for candidate in registrations.iter().filter(|r| exists(&r.path)) {
        let better = match chosen.get(candidate.name.as_str()) {
            None => true,
            Some(current) => {
                candidate.priority > current.priority
                    || (candidate.priority == current.priority && candidate.path < current.path)
            }
        };
        if better {
            chosen.insert(&candidate.name, candidate);
        }
    }
    chosen
}

impl Rootfs {
    /// Writes the links of every alternative the packages' postinst scripts register;
    /// returns notices for links left alone.
    pub fn add_alternatives(&mut self, mtime: i64) -> Result<Vec<String>, AlternativesError> {
        let registrations = std::mem::take(&mut self.alternatives);
        let exists = |tree: &super::Tree, path: &str| {
            tree.resolve(path, true)
                .is_ok_and(|resolved| tree.get(&resolved).is_some_and(|n| !n.is_dir()))
        };
        let tree = &self.tree;
        let chosen: Vec<Registration> = choose(&registrations, |p| exists(tree, p))
            .into_values()
            .cloned()
            .collect();
        let mut notices = Vec::new();
        for registration in &chosen {
            let mut pairs = vec![(&registration.link, &registration.name, &registration.path)];
            pairs.extend(
                registration
                    .slaves
                    .iter()
                    .filter(|s| exists(&self.tree, &s.path))
                    .map(|s| (&s.link, &s.name, &s.path)),
            );
            for (link, name, path) in pairs {
                let error = |path: &str| {
                    let (name, package) = (name.clone(), registration.package.clone());
                    let path = path.to_owned();
                    move |problem| AlternativesError {
                        name,
                        package,
                        path,
                        problem,
                    }
                };
                let indirect = format!("{ALTERNATIVES_DIR}/{name}");
                self.place_link(&indirect, &format!("/{path}"), mtime)
                    .map_err(error(&indirect))?;
                let placed = self
                    .place_link_unless_real(link, &format!("/{indirect}"), mtime)
                    .map_err(error(link))?;
                if !placed {
                    notices.push(format!(
                        "alternative `{name}` of `{}`: `/{link}` is a file shipped by a package; not replaced",
                        registration.package
                    ));
                }
            }
        }
        self.alternatives = registrations;
        Ok(notices)
    }

    /// A root-owned symlink at `path` (parents resolved through the tree's links and
    /// created), replacing whatever is there unless it is a directory.
    fn place_link(&mut self, path: &str, target: &str, mtime: i64) -> Result<(), PathProblem> {
        self.place_link_unless_real(path, target, mtime).map(|_| ())
    }

    /// Like [`Self::place_link`], but a regular file, hard link or directory at `path`
    /// stays; returns whether the link was placed.
    fn place_link_unless_real(
        &mut self,
        path: &str,
        target: &str,
        mtime: i64,
    ) -> Result<bool, PathProblem> {
        let (parent, file) = split_parent(path);
        let parent = self.tree.resolve(parent, true)?;
        self.tree.ensure_dirs(&parent, None, mtime)?;
        let at = if parent.is_empty() {
            file.to_owned()
        } else {
            format!("{parent}/{file}")
        };
        if let Some(old) = self.tree.get(&at)
            && !matches!(old.kind, NodeKind::Symlink(_))
        {
            return Ok(false);
        }
        self.tree.insert(
            at,
            Node {
                kind: NodeKind::Symlink(target.to_owned()),
                mode: 0o777,
                uid: 0,
                gid: 0,
                mtime,
                owner: None,
            },
        );
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAWK: &[u8] = b"#!/bin/sh\nset -e\n\nupdate-alternatives \\\n  --install /usr/bin/awk awk /usr/bin/mawk 5 \\\n  --slave /usr/share/man/man1/awk.1.gz awk.1.gz /usr/share/man/man1/mawk.1.gz \\\n  --slave /usr/bin/nawk nawk /usr/bin/mawk\n\n#DEBHELPER#\n";

    #[test]
    fn reads_install_with_slaves_across_continuations() {
        let found = parse_postinst("mawk", MAWK);
        assert_eq!(
            found,
            [Registration {
                package: "mawk".into(),
                link: "usr/bin/awk".into(),
                name: "awk".into(),
                path: "usr/bin/mawk".into(),
                priority: 5,
                slaves: vec![
                    Slave {
                        link: "usr/share/man/man1/awk.1.gz".into(),
                        name: "awk.1.gz".into(),
                        path: "usr/share/man/man1/mawk.1.gz".into(),
                    },
                    Slave {
                        link: "usr/bin/nawk".into(),
                        name: "nawk".into(),
                        path: "usr/bin/mawk".into(),
                    },
                ],
            }]
        );
    }

    #[test]
    fn skips_variables_removals_and_partial_calls() {
        let script = b"case \"$1\" in configure)\n\
  update-alternatives --quiet --install /usr/sbin/rmt rmt /usr/sbin/rmt-tar 50 || true\n\
  update-alternatives --install /usr/bin/x x /usr/lib/$ARCH/x 10\n\
  update-alternatives --remove pager /usr/bin/less\n\
  update-alternatives --install /usr/bin/y y\n\
esac\n";
        let found = parse_postinst("tar", script);
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].name, "rmt");
        assert_eq!(found[0].path, "usr/sbin/rmt-tar");
        assert_eq!(found[0].priority, 50);
    }

    #[test]
    fn highest_existing_priority_wins_and_ties_are_by_path() {
        let reg = |path: &str, priority| Registration {
            package: "p".into(),
            link: "usr/bin/pager".into(),
            name: "pager".into(),
            path: path.into(),
            priority,
            slaves: vec![],
        };
        let all = [
            reg("usr/bin/more", 50),
            reg("usr/bin/less", 77),
            reg("usr/bin/most", 77),
            reg("usr/bin/gone", 99),
        ];
        let chosen = choose(&all, |p| p != "usr/bin/gone");
        assert_eq!(chosen["pager"].path, "usr/bin/less");
        let chosen = choose(&all[..1], |_| true);
        assert_eq!(chosen["pager"].path, "usr/bin/more");
        assert!(choose(&all, |_| false).is_empty());
    }
}
