//! The package database scanners read: distroless's `/var/lib/dpkg/status.d/` layout
//! (debian-notes §8). One file per package holding its control file with
//! `Status: install ok installed` after `Package:`, plus `<pkg>.md5sums` verbatim.
//!
//! dpkg itself does not read status.d; syft and trivy do, and they need the control file
//! verbatim (Source, full Description) and md5sums byte-identical (two-space separator).

use super::tree::{Node, NodeKind, PackageId, Tree};

/// Where the per-package files go.
pub const STATUS_D: &str = "var/lib/dpkg/status.d";

/// The line inserted into each control file; syft treats a missing Status as installed, but
/// other readers (and `dpkg-query --admindir`) want it.
const STATUS_LINE: &[u8] = b"Status: install ok installed\n";

/// What one package contributes to the database.
pub struct PackageRecord<'a> {
    /// Which package owns the files.
    pub id: PackageId,
    /// The file name under status.d (the package name, `name:arch` if the name repeats).
    pub file_name: String,
    /// The `control` file verbatim.
    pub control: &'a [u8],
    /// The `md5sums` file, when the package has one.
    pub md5sums: Option<&'a [u8]>,
}

/// Inserts the status line after the `Package:` field (or first, if there is none).
pub fn status_stanza(control: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(control.len() + STATUS_LINE.len() + 1);
    let mut inserted = false;
    let mut rest = control;
    while !rest.is_empty() {
        let end = rest
            .iter()
            .position(|&b| b == b'\n')
            .map_or(rest.len(), |i| i + 1);
        let line = &rest[..end];
        out.extend_from_slice(line);
        if !inserted && line.len() >= 8 && line[..8].eq_ignore_ascii_case(b"package:") {
            if !line.ends_with(b"\n") {
                out.push(b'\n');
            }
            out.extend_from_slice(STATUS_LINE);
            inserted = true;
        }
        rest = &rest[end..];
    }
    if !inserted {
        let mut with_status = STATUS_LINE.to_vec();
        with_status.extend_from_slice(&out);
        return with_status;
    }
    out
}

/// Writes status.d files for every package into the tree, creating the directories.
pub fn add_status_d(
    tree: &mut Tree,
    records: &[PackageRecord<'_>],
    mtime: i64,
) -> Result<(), super::tree::PathProblem> {
    let dir = tree.resolve(STATUS_D, true)?;
    tree.ensure_dirs(&dir, None, mtime)?;
    for record in records {
        let file = |data: Vec<u8>| Node {
            kind: NodeKind::File(data.into()),
            mode: 0o644,
            uid: 0,
            gid: 0,
            mtime,
            owner: Some(record.id),
        };
        tree.insert(
            format!("{dir}/{}", record.file_name),
            file(status_stanza(record.control)),
        );
        if let Some(md5sums) = record.md5sums {
            tree.insert(
                format!("{dir}/{}.md5sums", record.file_name),
                file(md5sums.to_vec()),
            );
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_goes_after_package() {
        let control = b"Package: libc6\nVersion: 2.36-9\nDescription: GNU C\n more\n";
        assert_eq!(
            status_stanza(control),
            b"Package: libc6\nStatus: install ok installed\nVersion: 2.36-9\nDescription: GNU C\n more\n"
        );
        assert_eq!(
            status_stanza(b"Package: a"),
            b"Package: a\nStatus: install ok installed\n"
        );
        assert_eq!(
            status_stanza(b"Version: 1\n"),
            b"Status: install ok installed\nVersion: 1\n"
        );
    }

    #[test]
    fn writes_control_and_md5sums() {
        let mut tree = Tree::default();
        let records = [PackageRecord {
            id: 0,
            file_name: "a".into(),
            control: b"Package: a\n",
            md5sums: Some(b"x  y\n"),
        }];
        add_status_d(&mut tree, &records, 7).expect("writable");
        let status = tree.get("var/lib/dpkg/status.d/a").expect("status file");
        assert_eq!(
            status.kind,
            NodeKind::File(b"Package: a\nStatus: install ok installed\n".into())
        );
        assert_eq!((status.mode, status.owner), (0o644, Some(0)));
        let sums = tree
            .get("var/lib/dpkg/status.d/a.md5sums")
            .expect("md5sums");
        assert_eq!(sums.kind, NodeKind::File(b"x  y\n".into()));
        assert!(tree.get("var/lib/dpkg").is_some_and(Node::is_dir));
    }
}
