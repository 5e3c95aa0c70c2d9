//! Libraries the loader's search misses but the image has: where else a soname lives.
//!
//! A `DT_NEEDED` name no search directory holds is not always a broken image. ld.so first
//! looks among the objects already loaded for one whose soname matches (glibc
//! `_dl_map_object`, "Look for this name among those already loaded"), so a library whose
//! provider is loaded before it, by path, runs: the `java` launcher `dlopen`s
//! `/usr/lib/jvm/…/lib/server/libjvm.so` and only then the JDK's own libraries that need
//! `libjvm.so`; a plugin is loaded by its host after the host's private libraries. The check
//! cannot see that order, so such a soname is a warning naming where it was found; a soname
//! that no file of the image provides stays an error.

use std::collections::BTreeMap;

use super::elf::{ET_DYN, ElfInfo};
use super::resolver::dir_of;

/// Shared objects of the image by file name and by `DT_SONAME`.
pub(super) struct Index<'a> {
    by_name: BTreeMap<&'a str, Vec<(&'a str, &'a ElfInfo)>>,
}

impl<'a> Index<'a> {
    /// Indexes every shared object of `objects` (tree paths, no leading `/`).
    pub(super) fn new(objects: &'a BTreeMap<String, ElfInfo>) -> Self {
        let mut by_name: BTreeMap<&str, Vec<(&str, &ElfInfo)>> = BTreeMap::new();
        for (path, info) in objects.iter().filter(|(_, info)| info.kind == ET_DYN) {
            let file_name = path.rsplit('/').next().unwrap_or(path);
            by_name
                .entry(file_name)
                .or_default()
                .push((path.as_str(), info));
            if let Some(soname) = info.dynamic.as_ref().and_then(|d| d.soname.as_deref())
                && soname != file_name
            {
                by_name
                    .entry(soname)
                    .or_default()
                    .push((path.as_str(), info));
            }
        }
        Self { by_name }
    }

    /// Tree paths of objects named (or with soname) `soname` that could satisfy `user`: same
    /// class and machine. Empty when the image has none.
    pub(super) fn find(&self, soname: &str, user: &ElfInfo) -> Vec<String> {
        let mut found: Vec<String> = self
            .by_name
            .get(soname)
            .into_iter()
            .flatten()
            .filter(|(_, info)| info.class == user.class && info.machine == user.machine)
            .map(|(path, _)| (*path).to_owned())
            .collect();
        found.sort();
        found.dedup();
        found
    }
}

/// The warning's explanation for people, the same in `check` and `build`.
pub fn explanation(found: &[String]) -> String {
    let dirs: Vec<&str> = found.iter().map(|path| dir_of(path)).collect();
    format!(
        "it is in the image at {} but outside the loader's search path; not an error: ld.so reuses a library already loaded under that soname, so its users run when they are loaded after it (as the `java` launcher loads libjvm.so by path, or a program its plugins); a program that needs it at start-up would need `{}` in `LD_LIBRARY_PATH` or a `DT_RUNPATH`",
        found
            .iter()
            .map(|path| format!("`{path}`"))
            .collect::<Vec<_>>()
            .join(", "),
        dirs.first().copied().unwrap_or_default()
    )
}

#[cfg(test)]
mod tests {
    use crate::check::elf::{Class, Dynamic, synthesize};
    use crate::check::test_check as check;

    const LOADER: &str = "/lib64/ld-linux-x86-64.so.2";

    fn object(needed: &[&str], soname: Option<&str>) -> Vec<u8> {
        synthesize(
            Class::Elf64,
            62,
            None,
            &Dynamic {
                needed: needed.iter().map(|n| (*n).to_owned()).collect(),
                soname: soname.map(str::to_owned),
                ..Dynamic::default()
            },
        )
    }

    #[test]
    fn a_soname_off_the_search_path_is_a_warning_naming_where_it_is() {
        let jvm = "usr/lib/jvm/java-17-openjdk-amd64/lib";
        let libjvm = object(&[], Some("libjvm.so"));
        let libawt = object(&["libjvm.so"], None);
        let libverify = object(&["libjvm.so"], None);
        let report = check(&[
            (LOADER.trim_start_matches('/'), Some(b"ld".as_slice()), None),
            (&format!("{jvm}/server/libjvm.so"), Some(&libjvm), None),
            (&format!("{jvm}/libawt.so"), Some(&libawt), None),
            (&format!("{jvm}/libverify.so"), Some(&libverify), None),
        ]);
        assert!(report.passed(), "{report:?}");
        assert!(report.missing.is_empty());
        let [warning] = report.off_path.as_slice() else {
            panic!("one warning: {report:?}")
        };
        assert_eq!(warning.name, "libjvm.so");
        assert_eq!(
            warning.needed_by,
            [format!("/{jvm}/libawt.so"), format!("/{jvm}/libverify.so")]
        );
        assert_eq!(warning.found_off_path, [format!("/{jvm}/server/libjvm.so")]);
        let text = super::explanation(&warning.found_off_path);
        assert!(text.contains("/server/libjvm.so"), "{text}");
        assert!(text.contains("not an error"), "{text}");
    }

    #[test]
    fn a_soname_no_file_provides_stays_an_error() {
        let libawt = object(&["libjvm.so"], None);
        // A 32-bit libjvm.so does not count for a 64-bit user.
        let libjvm32 = synthesize(Class::Elf32, 3, None, &Dynamic::default());
        let report = check(&[
            ("usr/lib/jvm/lib/libawt.so", Some(&libawt), None),
            ("opt/i386/libjvm.so", Some(&libjvm32), None),
        ]);
        assert!(!report.passed());
        assert!(report.off_path.is_empty(), "{report:?}");
        assert_eq!(report.missing.len(), 1);
        assert_eq!(report.missing[0].name, "libjvm.so");
    }
}
