//! Libraries a package only recommends: a missing soname its maintainers made optional.
//!
//! Debian splits a program's optional features into libraries it `dlopen`s, or loads only
//! when a feature is used, and lists their packages in `Recommends` or `Suggests` rather than
//! `Depends`: trixie's `openjdk-21-jre-headless` ships `lib/libjsound.so` (needs
//! `libasound.so.2`) and `lib/libfontmanager.so` (needs `libfreetype.so.6`,
//! `libharfbuzz.so.0`) but only recommends `libasound2t64`, `libfreetype6` and
//! `libharfbuzz0b`. The JRE runs without them; only javax.sound and font rendering fail.
//!
//! So a soname no file of the image provides is a warning, not an error, when the needing
//! file is a shared library that no program of the image loads at start-up (a program needing
//! it, directly or through its libraries, cannot start) and the package
//! owning that file recommends or suggests a package whose name is the one Debian's library
//! naming rule ([`policy_package_name`]) gives that soname. Owners and relations come from the
//! image's `/var/lib/dpkg/status.d/` (each package's control file verbatim and its md5sums,
//! written by `build`); an image without them gets no such warnings.

use std::collections::{BTreeMap, BTreeSet};

use super::elf::{ET_DYN, ElfInfo};
use super::view::ImageView;
use crate::debian::deb822;
use crate::debian::relation::parse_relations;

/// Where the package database scanners read lives (`crate::rootfs::dpkg::STATUS_D`).
const STATUS_D: &str = "var/lib/dpkg/status.d";

/// Why a missing soname is optional: the owning package's field naming its provider.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct Optional {
    /// The package owning the files that need the soname (`openjdk-21-jre-headless`).
    pub package: String,
    /// `Recommends` or `Suggests`.
    pub field: String,
    /// The recommended package that would ship the soname (`libasound2t64`).
    pub provider: String,
}

/// The library package name Debian Policy §8.1 gives a soname: `libfoo.so.6` → `libfoo6`;
/// when the name ends in a digit a hyphen separates the version (`libfoo-1.2.so.3` →
/// `libfoo-1.2-3`, `libfoo2.so.0` → `libfoo2-0`); lower case, `_` as `-`. `None` for a
/// soname without a version (`libjvm.so`), which no library package is named after.
pub fn policy_package_name(soname: &str) -> Option<String> {
    let (name, version) = soname.split_once(".so.")?;
    if name.is_empty()
        || version.is_empty()
        || !version.chars().all(|c| c.is_ascii_digit() || c == '.')
    {
        return None;
    }
    let name = name.to_ascii_lowercase().replace('_', "-");
    let separator = if name.ends_with(|c: char| c.is_ascii_digit()) {
        "-"
    } else {
        ""
    };
    Some(format!("{name}{separator}{version}"))
}

/// Whether package `candidate` is the library package for `soname`: the policy name
/// ([`policy_package_name`]), optionally followed by one lower-case letter (a rebuild for an
/// ABI change that kept the soname: `libharfbuzz0b`) and then optionally `t64` (the 64-bit
/// `time_t` transition of trixie: `libasound2t64`).
pub fn names_library(candidate: &str, soname: &str) -> bool {
    let Some(stem) = policy_package_name(soname) else {
        return false;
    };
    let Some(rest) = candidate.strip_prefix(&stem) else {
        return false;
    };
    let rest = rest.strip_suffix("t64").unwrap_or(rest);
    rest.is_empty() || (rest.len() == 1 && rest.bytes().all(|b| b.is_ascii_lowercase()))
}

/// Whether `info` is a shared library rather than a program: only a library's needs can be
/// an optional feature (a program that needs a missing soname does not start).
pub(super) fn is_library(info: &ElfInfo) -> bool {
    info.kind == ET_DYN && info.interpreter.is_none()
}

/// Tree paths of every object a program of the image loads when it starts: the programs
/// (objects with a loader) and the closure of their needs. A library among them is not an
/// optional feature: its missing needs stop the program.
pub(super) fn loaded_at_start(
    roots: &[(&String, &ElfInfo)],
    edges: &BTreeMap<String, BTreeSet<String>>,
) -> BTreeSet<String> {
    let mut pending: Vec<&str> = roots
        .iter()
        .filter(|(_, info)| info.interpreter.is_some())
        .map(|(path, _)| path.as_str())
        .collect();
    let mut seen = BTreeSet::new();
    while let Some(object) = pending.pop() {
        if seen.insert(object.to_owned()) {
            pending.extend(edges.get(object).into_iter().flatten().map(String::as_str));
        }
    }
    seen
}

/// One package of the image's database: its name and weak relations.
struct Package {
    name: String,
    /// `(field, package names)` of `Recommends` then `Suggests`, every alternative included.
    weak: Vec<(&'static str, Vec<String>)>,
}

/// The image's packages and which one owns each file (resolved tree paths).
#[derive(Default)]
pub(super) struct Owners {
    packages: Vec<Package>,
    owner: BTreeMap<String, usize>,
}

impl Owners {
    /// Reads `/var/lib/dpkg/status.d/` of `view`; unreadable or malformed entries are skipped
    /// (they only cost a warning that would have been possible).
    pub(super) fn read(view: &ImageView<'_>) -> Self {
        let mut owners = Owners::default();
        let names = view.list(STATUS_D);
        for file in names.iter().filter(|n| !n.ends_with(".md5sums")) {
            let Some(control) = read_text(view, &format!("{STATUS_D}/{file}")) else {
                continue;
            };
            let Some(package) = parse_control(&control) else {
                continue;
            };
            let index = owners.packages.len();
            owners.packages.push(package);
            let Some(sums) = read_text(view, &format!("{STATUS_D}/{file}.md5sums")) else {
                continue;
            };
            for path in sums.lines().filter_map(|line| line.split_once("  ")) {
                let path = path.1.trim_start_matches("./").trim_start_matches('/');
                if let Some(resolved) = view.resolve(path) {
                    owners.owner.entry(resolved).or_insert(index);
                }
            }
        }
        owners
    }

    /// Why `soname`, needed by `object` (a resolved tree path), is optional, if it is.
    pub(super) fn optional(&self, object: &str, soname: &str) -> Option<Optional> {
        let package = &self.packages[*self.owner.get(object)?];
        package.weak.iter().find_map(|(field, names)| {
            let provider = names.iter().find(|name| names_library(name, soname))?;
            Some(Optional {
                package: package.name.clone(),
                field: (*field).to_owned(),
                provider: provider.clone(),
            })
        })
    }
}

fn read_text(view: &ImageView<'_>, path: &str) -> Option<String> {
    let (_, content) = view.file(path)?;
    let bytes = content.read().ok()?;
    String::from_utf8(bytes.into_owned()).ok()
}

/// Name, Recommends and Suggests of a control file; `None` when it is not one.
fn parse_control(text: &str) -> Option<Package> {
    let stanza = deb822::parse(text).ok()?.into_iter().next()?;
    let name = stanza.get("Package")?.trim().to_owned();
    let weak = ["Recommends", "Suggests"]
        .into_iter()
        .filter_map(|field| {
            let folded = stanza.get(field)?.replace('\n', " ");
            let names = parse_relations(&folded)
                .ok()?
                .into_iter()
                .flatten()
                .map(|atom| atom.name)
                .collect();
            Some((field, names))
        })
        .collect();
    Some(Package { name, weak })
}

/// The warning's explanation for people, the same in `check` and `build`.
pub fn explanation(optional: &Optional) -> String {
    format!(
        "not in the image; {} only {} {} (an optional feature; add it to `packages` if you need it)",
        optional.package,
        optional.field.to_ascii_lowercase(),
        optional.provider
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::elf::{Class, Dynamic, synthesize};
    use crate::check::{CheckReport, TestEntry, test_check as check};

    const LOADER: &str = "/lib64/ld-linux-x86-64.so.2";
    const JVM: &str = "usr/lib/jvm/java-21-openjdk-amd64";
    const JRE_CONTROL: &[u8] = b"Package: openjdk-21-jre-headless\nStatus: install ok installed\nArchitecture: amd64\nRecommends: libcups2t64, libfontconfig1, libfreetype6 (>= 2.3.5), libharfbuzz0b (>= 1.2.6),\n libasound2t64 (>= 1.0.16)\nDescription: OpenJDK Java runtime\n";

    fn object(loader: Option<&str>, needed: &[&str]) -> Vec<u8> {
        synthesize(
            Class::Elf64,
            62,
            loader,
            &Dynamic {
                needed: needed.iter().map(|n| (*n).to_owned()).collect(),
                ..Dynamic::default()
            },
        )
    }

    /// The JRE's files as trixie ships them, its status.d entry with `sums` as md5sums.
    fn jre_image(extra: &[TestEntry<'_>], sums: &str) -> CheckReport {
        let jsound = object(None, &["libasound.so.2"]);
        let fontmanager = object(None, &["libfreetype.so.6", "libharfbuzz.so.0"]);
        let mut entries: Vec<TestEntry<'_>> = vec![
            (&LOADER[1..], Some(b"ld".as_slice()), None),
            (
                "var/lib/dpkg/status.d/openjdk-21-jre-headless",
                Some(JRE_CONTROL),
                None,
            ),
            (
                "var/lib/dpkg/status.d/openjdk-21-jre-headless.md5sums",
                Some(sums.as_bytes()),
                None,
            ),
        ];
        let jsound_path = format!("{JVM}/lib/libjsound.so");
        let fontmanager_path = format!("{JVM}/lib/libfontmanager.so");
        entries.push((&jsound_path, Some(&jsound), None));
        entries.push((&fontmanager_path, Some(&fontmanager), None));
        entries.extend_from_slice(extra);
        check(&entries)
    }

    const JRE_SUMS: &str = "0123  usr/lib/jvm/java-21-openjdk-amd64/lib/libjsound.so\n4567  usr/lib/jvm/java-21-openjdk-amd64/lib/libfontmanager.so\n89ab  usr/lib/jvm/java-21-openjdk-amd64/bin/jfr\n";

    #[test]
    fn a_recommended_library_missing_is_a_warning_naming_the_package() {
        let report = jre_image(&[], JRE_SUMS);
        assert!(report.passed(), "{report:?}");
        let warnings: Vec<(&str, &str, &[String])> = report
            .optional
            .iter()
            .map(|m| {
                let why = m.optional.as_ref().expect("a reason");
                (
                    m.name.as_str(),
                    why.provider.as_str(),
                    m.needed_by.as_slice(),
                )
            })
            .collect();
        let fontmanager = [format!("/{JVM}/lib/libfontmanager.so")];
        let jsound = [format!("/{JVM}/lib/libjsound.so")];
        assert_eq!(
            warnings,
            [
                ("libasound.so.2", "libasound2t64", jsound.as_slice()),
                ("libfreetype.so.6", "libfreetype6", fontmanager.as_slice()),
                ("libharfbuzz.so.0", "libharfbuzz0b", fontmanager.as_slice()),
            ]
        );
        let text = explanation(report.optional[0].optional.as_ref().expect("a reason"));
        assert_eq!(
            text,
            "not in the image; openjdk-21-jre-headless only recommends libasound2t64 (an optional feature; add it to `packages` if you need it)"
        );
    }

    #[test]
    fn a_program_needing_a_recommended_library_stays_an_error() {
        // A program of the same package that needs the soname cannot start without it.
        let jfr = object(Some(LOADER), &["libasound.so.2"]);
        let path = format!("{JVM}/bin/jfr");
        let report = jre_image(&[(&path, Some(&jfr), None)], JRE_SUMS);
        assert!(!report.passed());
        assert_eq!(report.missing.len(), 1, "{report:?}");
        assert_eq!(report.missing[0].name, "libasound.so.2");
        assert_eq!(report.missing[0].needed_by, [format!("/{path}")]);
        assert_eq!(
            report.optional.len(),
            3,
            "the libraries' needs stay warnings"
        );
    }

    #[test]
    fn a_library_a_program_loads_at_start_up_keeps_its_needs_errors() {
        // A program linked against libjsound.so (found through its DT_RUNPATH) would not
        // start without libasound.so.2: an error, though the package only recommends it.
        let player = synthesize(
            Class::Elf64,
            62,
            Some(LOADER),
            &Dynamic {
                needed: vec!["libjsound.so".into()],
                runpath: Some(format!("/{JVM}/lib")),
                ..Dynamic::default()
            },
        );
        let path = format!("{JVM}/bin/player");
        let report = jre_image(&[(&path, Some(&player), None)], JRE_SUMS);
        assert_eq!(report.missing.len(), 1, "{report:?}");
        assert_eq!(report.missing[0].name, "libasound.so.2");
        assert_eq!(
            report.missing[0].needed_by,
            [format!("/{JVM}/lib/libjsound.so")]
        );
        assert_eq!(
            report.optional.len(),
            2,
            "libfontmanager's needs stay warnings"
        );
    }

    #[test]
    fn a_library_without_such_a_recommends_stays_an_error() {
        // libjsound.so owned by no package (not in md5sums): no relation to read.
        let sums = "4567  usr/lib/jvm/java-21-openjdk-amd64/lib/libfontmanager.so\n";
        let report = jre_image(&[], sums);
        assert_eq!(report.missing.len(), 1, "{report:?}");
        assert_eq!(report.missing[0].name, "libasound.so.2");
        // A library of a package that recommends something else.
        let gmp_user = object(None, &["libgmp.so.10"]);
        let report = check(&[
            (
                "var/lib/dpkg/status.d/python3-gmpy2",
                Some(
                    b"Package: python3-gmpy2\nRecommends: python3-mpmath\nSuggests: libgmp-dev\n"
                        .as_slice(),
                ),
                None,
            ),
            (
                "var/lib/dpkg/status.d/python3-gmpy2.md5sums",
                Some(b"00  usr/lib/python3/dist-packages/gmpy2.so\n".as_slice()),
                None,
            ),
            (
                "usr/lib/python3/dist-packages/gmpy2.so",
                Some(&gmp_user),
                None,
            ),
        ]);
        assert!(report.optional.is_empty(), "{report:?}");
        assert_eq!(report.missing.len(), 1);
        assert_eq!(report.missing[0].name, "libgmp.so.10");
    }

    #[test]
    fn md5sums_paths_are_resolved_through_merged_usr_links() {
        // A package listing `lib/…` in a merged-/usr image, whose tree has it under usr/lib.
        let plugin = object(None, &["libasound.so.2"]);
        let report = check(&[
            ("lib", None, Some("usr/lib")),
            (
                "var/lib/dpkg/status.d/libplug",
                Some(b"Package: libplug\nSuggests: libasound2t64\n".as_slice()),
                None,
            ),
            (
                "var/lib/dpkg/status.d/libplug.md5sums",
                Some(b"00  lib/x86_64-linux-gnu/libplug.so\n".as_slice()),
                None,
            ),
            ("usr/lib/x86_64-linux-gnu/libplug.so", Some(&plugin), None),
        ]);
        assert!(report.passed(), "{report:?}");
        let why = report.optional[0].optional.as_ref().expect("a reason");
        assert_eq!(
            (why.field.as_str(), why.package.as_str()),
            ("Suggests", "libplug")
        );
    }

    #[test]
    fn policy_names_follow_section_8_1() {
        for (soname, package) in [
            ("libasound.so.2", "libasound2"),
            ("libfreetype.so.6", "libfreetype6"),
            ("libharfbuzz.so.0", "libharfbuzz0"),
            ("libcups.so.2", "libcups2"),
            ("libfontconfig.so.1", "libfontconfig1"),
            ("libX11.so.6", "libx11-6"),
            ("libfoo-1.2.so.3", "libfoo-1.2-3"),
            ("libgdk_pixbuf-2.0.so.0", "libgdk-pixbuf-2.0-0"),
            ("libstdc++.so.6", "libstdc++6"),
        ] {
            assert_eq!(
                policy_package_name(soname).as_deref(),
                Some(package),
                "{soname}"
            );
        }
        for soname in ["libjvm.so", "libfoo.so.", ".so.1", "libpython3.so.abi3"] {
            assert_eq!(policy_package_name(soname), None, "{soname}");
        }
    }

    #[test]
    fn the_openjdk_21_recommends_name_their_sonames() {
        // Trixie's openjdk-21-jre-headless: Recommends: libcups2t64, libfontconfig1,
        // libfreetype6 (>= 2.3.5), libharfbuzz0b (>= 1.2.6), libasound2t64 (>= 1.0.16).
        for (package, soname) in [
            ("libasound2t64", "libasound.so.2"),
            ("libfreetype6", "libfreetype.so.6"),
            ("libharfbuzz0b", "libharfbuzz.so.0"),
            ("libcups2t64", "libcups.so.2"),
            ("libfontconfig1", "libfontconfig.so.1"),
            ("libasound2", "libasound.so.2"),
        ] {
            assert!(names_library(package, soname), "{package} ships {soname}");
        }
        for (package, soname) in [
            // Other packages of the same library.
            ("libasound2-data", "libasound.so.2"),
            ("libfreetype-dev", "libfreetype.so.6"),
            ("libharfbuzz-icu0", "libharfbuzz.so.0"),
            // Another soname version, or another library with the same prefix.
            ("libfreetype60", "libfreetype.so.6"),
            ("libasound3t64", "libasound.so.2"),
            ("libcupsimage2t64", "libcups.so.2"),
            ("libfontconfig1-dev", "libfontconfig.so.1"),
            // No versioned soname, no library package.
            ("libjvm", "libjvm.so"),
            ("fonts-dejavu-extra", "libfreetype.so.6"),
        ] {
            assert!(!names_library(package, soname), "{package} ≠ {soname}");
        }
    }

    #[test]
    fn control_relations_keep_every_alternative_without_versions() {
        let control = "Package: openjdk-21-jre-headless\nVersion: 21.0.8+9-1\nRecommends: libcups2t64, libfontconfig1,\n libfreetype6 (>= 2.3.5), libharfbuzz0b (>= 1.2.6), libasound2t64 (>= 1.0.16)\nSuggests: libnss-mdns, fonts-dejavu-extra | fonts-ipafont-gothic\n";
        let package = parse_control(control).expect("a control file");
        assert_eq!(package.name, "openjdk-21-jre-headless");
        assert_eq!(package.weak[0].0, "Recommends");
        assert_eq!(
            package.weak[0].1,
            [
                "libcups2t64",
                "libfontconfig1",
                "libfreetype6",
                "libharfbuzz0b",
                "libasound2t64"
            ]
        );
        assert_eq!(
            package.weak[1].1,
            ["libnss-mdns", "fonts-dejavu-extra", "fonts-ipafont-gothic"]
        );
    }
}
