//! Directory trees as comparable maps (`path -> kind, mode, content digest or link target`),
//! to hold debless's rootfs against `dpkg-deb -x`.

use std::collections::{BTreeMap, BTreeSet};
use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;

/// Every path under `root` (relative, without `./`) with a description of what it is.
pub fn walk(root: &Path) -> BTreeMap<String, String> {
    fn visit(root: &Path, dir: &Path, out: &mut BTreeMap<String, String>) {
        let mut entries: Vec<_> = std::fs::read_dir(dir)
            .expect("readable")
            .map(|e| e.expect("entry").path())
            .collect();
        entries.sort();
        for path in entries {
            let meta = std::fs::symlink_metadata(&path).expect("lstat");
            let rel = path
                .strip_prefix(root)
                .expect("inside")
                .display()
                .to_string();
            let mode = meta.permissions().mode() & 0o7777;
            let description = if meta.file_type().is_symlink() {
                format!(
                    "l -> {}",
                    std::fs::read_link(&path).expect("link").display()
                )
            } else if meta.is_dir() {
                visit(root, &path, out);
                format!("d {mode:04o}")
            } else {
                let data = std::fs::read(&path).expect("file");
                format!(
                    "- {mode:04o} {}",
                    hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&data))
                )
            };
            out.insert(rel, description);
        }
    }
    let mut out = BTreeMap::new();
    visit(root, root, &mut out);
    out
}

/// The paths where `ours` and `theirs` differ, described, skipping paths `ignore` names and
/// the directories debless creates only to hold what it adds (`var/lib/dpkg`, …).
pub fn differences(
    ours: &BTreeMap<String, String>,
    theirs: &BTreeMap<String, String>,
    ignore: impl Fn(&str) -> bool,
) -> Vec<String> {
    let added_parents = ["var/lib/dpkg", "var/lib", "var"];
    ours.keys()
        .chain(theirs.keys())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .filter(|p| !ignore(p))
        .filter(|p| theirs.contains_key(*p) || !added_parents.contains(&p.as_str()))
        .filter(|p| ours.get(*p) != theirs.get(*p))
        .map(|p| format!("{p}: ours {:?}, dpkg-deb {:?}", ours.get(p), theirs.get(p)))
        .collect()
}
