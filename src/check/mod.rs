//! Stage `check`: does every ELF file of an image find its shared libraries and its dynamic
//! loader? (issue #8, "Smaller images that provably work").
//!
//! Input is one or more in-memory trees stacked like layers ([`view::ImageView`]), so the
//! same check runs after `debless build` assembles a rootfs (packages + application layer), on
//! a `--rootfs` directory and on an OCI layout read back. Steps:
//! 1. every regular file starting with the ELF magic is parsed ([`elf`]), in parallel (rayon);
//!    nothing else is read, so the check costs little next to extraction;
//! 2. objects of another machine than the image's are checked only inside their own multiarch
//!    library directories (`libc6:i386` in an amd64 image); elsewhere (a test fixture) they
//!    cannot run and are only counted;
//! 3. every dynamic object's `PT_INTERP` must resolve to a file in the image;
//! 4. every `DT_NEEDED` is searched the way ld.so does ([`resolver`]). Each object is checked
//!    on its own; an object whose search inherits `DT_RPATH`s also walks its dependencies with
//!    that chain, since ld.so searches a library's needs with its loaders' `DT_RPATH`s too. A
//!    need counts as missing only if no walk found it.
//!
//! The report names each missing soname (or loader) with the files that need it; names the
//! manifest allows (`[image] allow-missing-libraries`) are reported apart and do not fail.
//! This module never fails: unreadable ELF files are listed in the report.

pub mod entrypoint;
pub mod load;
mod off_path;
pub mod optional;
pub mod resolver;
pub mod view;

use std::collections::{BTreeMap, BTreeSet};

use rayon::prelude::*;

use self::elf::ElfInfo;
pub use self::off_path::explanation as off_path_explanation;
pub use self::optional::{Optional, explanation as optional_explanation};
use self::resolver::{Found, SearchConfig, dir_of};
use self::view::ImageView;
/// The ELF reader lives with the vocabulary (rootfs reads `PT_INTERP` too); re-exported
/// here where the check's users have always found it.
pub use crate::elf;
use crate::rootfs::NodeKind;
use crate::rootfs::filter::fnmatch;

/// What the check needs besides the image.
#[derive(Clone, Debug, Default)]
pub struct CheckOptions {
    /// The image architecture's multiarch triplet (`Arch::multiarch_tuple`), when known.
    pub triplet: Option<String>,
    /// Sonames (or loader paths) allowed to be missing; `*` and `?` globs.
    pub allow_missing: Vec<String>,
}

/// Whether a missing name is a library or the dynamic loader itself.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum MissingKind {
    /// A `DT_NEEDED` soname no search found.
    Library,
    /// A `PT_INTERP` path that is not in the image.
    Interpreter,
}

/// One name the image lacks and who needs it.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct Missing {
    /// The soname (`libgmp.so.10`) or the loader path (`/lib64/ld-linux-x86-64.so.2`).
    pub name: String,
    pub kind: MissingKind,
    /// Absolute paths of the files that need it, sorted.
    pub needed_by: Vec<String>,
    /// An `ld.so.conf` directory holding it that ld.so does not search without
    /// `/etc/ld.so.cache`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub only_in_conf_dir: Option<String>,
    /// For a missing loader: the image has it on the `/usr` side (`/usr/lib64/…`) of a split
    /// tree, which is what a merged-/usr-only release (trixie) ships; `merged-usr = true` fixes it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub only_under_usr: Option<String>,
    /// For a library in [`CheckReport::off_path`]: where the image has it, outside every
    /// directory the loader searches for its users.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub found_off_path: Vec<String>,
    /// For a library in [`CheckReport::optional`]: the package of its users that recommends
    /// or suggests the package shipping it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub optional: Option<Optional>,
}

impl Missing {
    /// A soname nobody provides yet, before its users and findings are added.
    fn library(name: String) -> Self {
        Self {
            name,
            kind: MissingKind::Library,
            needed_by: Vec::new(),
            only_in_conf_dir: None,
            only_under_usr: None,
            found_off_path: Vec::new(),
            optional: None,
        }
    }
}

/// The result of checking one image.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct CheckReport {
    /// ELF files read.
    pub elf_files: usize,
    /// Dynamic objects among them (files with a dynamic section or loader) that were checked.
    pub dynamic_objects: usize,
    /// Dynamic objects of another machine outside that machine's library directories (test
    /// data, firmware helpers): they cannot run in the image, so they are not checked.
    pub foreign: usize,
    /// Missing names that fail the check, sorted by name.
    pub missing: Vec<Missing>,
    /// Missing names the manifest allows.
    pub allowed: Vec<Missing>,
    /// Sonames the search does not find but the image has elsewhere (`libjvm.so` under
    /// `/usr/lib/jvm/…/server/`): warnings, not failures. ld.so reuses an object already
    /// loaded under the same soname, so a user loaded after its provider (the `java` launcher
    /// `dlopen`s libjvm.so by path first; plugins load after their host library) runs.
    pub off_path: Vec<Missing>,
    /// Sonames no file of the image provides, needed only by shared libraries whose package
    /// merely recommends or suggests the library package ([`optional`]): an optional feature
    /// the image goes without, a warning.
    pub optional: Vec<Missing>,
    /// Files with the ELF magic that could not be parsed, with the reason.
    pub unreadable: Vec<(String, String)>,
}

impl CheckReport {
    /// Whether nothing fails the check.
    pub fn passed(&self) -> bool {
        self.missing.is_empty()
    }
}

/// Checks every ELF file of `view` (see the module doc).
pub fn check_image(view: &ImageView<'_>, options: &CheckOptions) -> CheckReport {
    let (objects, unreadable, elf_files) = parse_objects(view);
    let mut report = CheckReport {
        elf_files,
        unreadable,
        ..CheckReport::default()
    };
    let config = SearchConfig::from_image(view, options.triplet.as_deref());
    let (roots, foreign): (Vec<(&String, &ElfInfo)>, Vec<_>) = objects
        .iter()
        .filter(|(_, info)| info.dynamic.is_some() || info.interpreter.is_some())
        .partition(|(path, info)| config.runs_here(path, info));
    report.dynamic_objects = roots.len();
    report.foreign = foreign.len();

    let outcomes: Vec<Outcome> = roots
        .par_iter()
        .map(|(path, info)| walk(view, &config, &objects, path, info))
        .collect();
    let mut resolved: BTreeSet<(String, String)> = BTreeSet::new();
    let mut unresolved: BTreeMap<(String, String), Option<String>> = BTreeMap::new();
    let mut missing_loaders: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for outcome in outcomes {
        resolved.extend(outcome.resolved);
        for (object, dependency) in outcome.edges {
            edges.entry(object).or_default().insert(dependency);
        }
        unresolved.extend(outcome.unresolved);
        if let Some((loader, user)) = outcome.missing_loader {
            missing_loaders.entry(loader).or_default().insert(user);
        }
    }
    let mut by_name: BTreeMap<(String, MissingKind), Missing> = BTreeMap::new();
    let mut off_path: BTreeMap<String, Missing> = BTreeMap::new();
    let mut optional: BTreeMap<(String, Optional), Missing> = BTreeMap::new();
    let elsewhere = off_path::Index::new(&objects);
    // Read only when some library misses a soname: most images never need it.
    let mut owners: Option<optional::Owners> = None;
    let mut at_start: Option<BTreeSet<String>> = None;
    for ((object, name), conf_dir) in unresolved {
        if resolved.contains(&(object.clone(), name.clone())) {
            continue;
        }
        let found = match (&conf_dir, objects.get(&object)) {
            // A library in an ld.so.conf directory without a cache is a real miss: nothing
            // loads it first.
            (None, Some(info)) => elsewhere.find(&name, info),
            _ => Vec::new(),
        };
        if !found.is_empty() {
            let entry = off_path
                .entry(name.clone())
                .or_insert_with(|| Missing::library(name));
            entry.needed_by.push(format!("/{object}"));
            entry
                .found_off_path
                .extend(found.into_iter().map(|path| format!("/{path}")));
            continue;
        }
        if conf_dir.is_none()
            && objects.get(&object).is_some_and(optional::is_library)
            && !at_start
                .get_or_insert_with(|| optional::loaded_at_start(&roots, &edges))
                .contains(&object)
            && let Some(why) = owners
                .get_or_insert_with(|| optional::Owners::read(view))
                .optional(&object, &name)
        {
            optional
                .entry((name.clone(), why.clone()))
                .or_insert_with(|| Missing {
                    optional: Some(why),
                    ..Missing::library(name)
                })
                .needed_by
                .push(format!("/{object}"));
            continue;
        }
        let entry = by_name
            .entry((name.clone(), MissingKind::Library))
            .or_insert_with(|| Missing::library(name));
        entry.needed_by.push(format!("/{object}"));
        if entry.only_in_conf_dir.is_none() {
            entry.only_in_conf_dir = conf_dir;
        }
    }
    for (loader, users) in missing_loaders {
        let usr_side = format!("usr/{}", loader.trim_start_matches('/'));
        let only_under_usr = view
            .file(&usr_side)
            .is_some()
            .then(|| format!("/{usr_side}"));
        by_name.insert(
            (loader.clone(), MissingKind::Interpreter),
            Missing {
                name: loader,
                kind: MissingKind::Interpreter,
                needed_by: users.into_iter().map(|u| format!("/{u}")).collect(),
                only_in_conf_dir: None,
                only_under_usr,
                found_off_path: Vec::new(),
                optional: None,
            },
        );
    }
    for (_, mut warning) in off_path {
        warning.needed_by.sort();
        warning.needed_by.dedup();
        warning.found_off_path.sort();
        warning.found_off_path.dedup();
        report.off_path.push(warning);
    }
    for (_, mut warning) in optional {
        warning.needed_by.sort();
        warning.needed_by.dedup();
        report.optional.push(warning);
    }
    for (_, mut missing) in by_name {
        missing.needed_by.sort();
        missing.needed_by.dedup();
        let allowed = options
            .allow_missing
            .iter()
            .any(|pattern| fnmatch(pattern, &missing.name));
        if allowed {
            report.allowed.push(missing);
        } else {
            report.missing.push(missing);
        }
    }
    report
}

/// Every ELF file of the view parsed (in parallel): the objects by tree path, the files that
/// failed to parse with the reason, and how many files had the ELF magic.
type ParsedObjects = (BTreeMap<String, ElfInfo>, Vec<(String, String)>, usize);

fn parse_objects(view: &ImageView<'_>) -> ParsedObjects {
    let files: Vec<(&str, &crate::rootfs::Content)> = view
        .entries()
        .filter(|(path, _)| !path.starts_with("usr/lib/debug/"))
        .filter_map(|(path, node)| match node {
            NodeKind::File(content) => Some((path, content)),
            _ => None,
        })
        .collect();
    // Contents are read one file at a time per thread (large ones live in the scratch file).
    let parsed: Vec<(String, Result<ElfInfo, String>)> = files
        .par_iter()
        .filter(|(_, content)| content.starts_with(elf::MAGIC))
        .map(|(path, content)| {
            let info = content
                .read_elf()
                .map_err(|err| format!("cannot read it back: {err}"))
                .and_then(|bytes| elf::parse(bytes.as_ref()).map_err(|err| err.to_string()));
            ((*path).to_owned(), info)
        })
        .collect();
    let count = parsed.len();
    let mut objects = BTreeMap::new();
    let mut unreadable = Vec::new();
    for (path, result) in parsed {
        match result {
            Ok(info) => {
                objects.insert(path, info);
            }
            Err(err) => unreadable.push((format!("/{path}"), err)),
        }
    }
    (objects, unreadable, count)
}

/// The `DT_NEEDED` names of one object (for instance a file about to be added to the image,
/// `debless add --for`) that the image `view` does not satisfy, searched as if the object
/// sat at `path` (tree path, no leading `/`; its directory is `$ORIGIN`). A missing loader
/// (`PT_INTERP`) is included by its path.
pub fn unresolved_needs(
    view: &ImageView<'_>,
    options: &CheckOptions,
    path: &str,
    info: &ElfInfo,
) -> Vec<String> {
    let (objects, _, _) = parse_objects(view);
    let config = SearchConfig::from_image(view, options.triplet.as_deref());
    let outcome = walk(view, &config, &objects, path, info);
    let found: BTreeSet<&(String, String)> = outcome.resolved.iter().collect();
    let mut names: Vec<String> = outcome
        .missing_loader
        .iter()
        .map(|(loader, _)| loader.clone())
        .chain(
            outcome
                .unresolved
                .iter()
                .filter(|(key, _)| key.0 == path && !found.contains(key))
                .map(|(key, _)| key.1.clone()),
        )
        .collect();
    names.dedup();
    names
}

/// What one root object's walk learned: `(object, soname)` pairs found and not found (the
/// latter with an `ld.so.conf` note), and whether its loader is missing.
#[derive(Default)]
struct Outcome {
    resolved: Vec<(String, String)>,
    /// `(object, dependency)` tree paths of the needs found: the load graph.
    edges: Vec<(String, String)>,
    unresolved: Vec<((String, String), Option<String>)>,
    missing_loader: Option<(String, String)>,
}

/// Checks one object's loader and needs; follows its dependencies further only while a
/// `DT_RPATH` chain is being inherited (without one, each dependency's own walk says the same).
fn walk(
    view: &ImageView<'_>,
    config: &SearchConfig,
    objects: &BTreeMap<String, ElfInfo>,
    path: &str,
    info: &ElfInfo,
) -> Outcome {
    let mut outcome = Outcome::default();
    if let Some(loader) = &info.interpreter
        && view.file(loader).is_none()
    {
        outcome.missing_loader = Some((loader.clone(), path.to_owned()));
    }
    // (resolved path, $ORIGIN as loaded, info, inherited DT_RPATH chain of its loaders)
    let mut queue: Vec<(String, String, &ElfInfo, Vec<String>)> = vec![(
        path.to_owned(),
        format!("/{}", dir_of(path)),
        info,
        Vec::new(),
    )];
    let mut visited = BTreeSet::new();
    while let Some((object, origin, info, inherited)) = queue.pop() {
        if !visited.insert(object.clone()) {
            continue;
        }
        let Some(dynamic) = &info.dynamic else {
            continue;
        };
        let origin = origin.trim_end_matches('/');
        let runpath = dynamic
            .runpath
            .as_deref()
            .map(|list| config.expand(list, origin, info))
            .unwrap_or_default();
        // With a DT_RUNPATH, the object's DT_RPATH is dropped (glibc get-dynamic-info.h) and
        // the loaders' DT_RPATHs are not searched for its needs; its own dependencies still
        // inherit the loaders' chain.
        let own_rpath = match (&dynamic.runpath, &dynamic.rpath) {
            (None, Some(list)) => config.expand(list, origin, info),
            _ => Vec::new(),
        };
        let chain: Vec<String> = own_rpath.into_iter().chain(inherited).collect();
        let searched: &[String] = if dynamic.runpath.is_some() {
            &[]
        } else {
            &chain
        };
        for name in &dynamic.needed {
            let key = (object.clone(), name.clone());
            match config.search(view, objects, name, info, searched, &runpath) {
                Found::At { path, resolved } => {
                    outcome.resolved.push(key);
                    outcome.edges.push((object.clone(), resolved.clone()));
                    if !chain.is_empty()
                        && let Some(dependency) = objects.get(&resolved)
                    {
                        let origin = dir_of(&path).to_owned();
                        queue.push((resolved, origin, dependency, chain.clone()));
                    }
                }
                Found::Missing { only_in_conf_dir } => {
                    outcome.unresolved.push((key, only_in_conf_dir));
                }
            }
        }
    }
    outcome
}

/// Test support: [`check_image`] of one tree from [`test_tree`] entries, for x86_64.
#[cfg(test)]
pub(crate) fn test_check(entries: &[TestEntry<'_>]) -> CheckReport {
    let tree = test_tree(entries);
    let layers = [&tree];
    let options = CheckOptions {
        triplet: Some("x86_64-linux-gnu".into()),
        allow_missing: Vec::new(),
    };
    check_image(&ImageView::new(&layers), &options)
}

/// Test support: `(path, file bytes, symlink target)`; neither means a directory.
#[cfg(test)]
pub(crate) type TestEntry<'a> = (&'a str, Option<&'a [u8]>, Option<&'a str>);

/// Test support: a tree from `(path, file bytes, symlink target)` triples, parents created.
#[cfg(test)]
pub(crate) fn test_tree(entries: &[TestEntry<'_>]) -> crate::rootfs::Tree {
    use crate::rootfs::{Node, Tree, tree::split_parent};
    let mut tree = Tree::default();
    for (path, bytes, target) in entries {
        tree.ensure_dirs(split_parent(path).0, None, 0)
            .expect("test paths have directory parents");
        let kind = match (bytes, target) {
            (_, Some(target)) => NodeKind::Symlink((*target).to_owned()),
            (Some(bytes), None) => NodeKind::File((*bytes).into()),
            (None, None) => NodeKind::Dir,
        };
        tree.insert(
            (*path).to_owned(),
            Node {
                kind,
                mode: 0o755,
                uid: 0,
                gid: 0,
                mtime: 0,
                owner: None,
            },
        );
    }
    tree
}

#[cfg(test)]
mod tests {
    use super::elf::{Class, Dynamic, synthesize};
    use super::*;

    const LOADER: &str = "/lib64/ld-linux-x86-64.so.2";

    fn object(class: Class, machine: u16, loader: Option<&str>, needed: &[&str]) -> Vec<u8> {
        object_with(class, machine, loader, needed, None, None)
    }

    fn object_with(
        class: Class,
        machine: u16,
        loader: Option<&str>,
        needed: &[&str],
        rpath: Option<&str>,
        runpath: Option<&str>,
    ) -> Vec<u8> {
        synthesize(
            class,
            machine,
            loader,
            &Dynamic {
                needed: needed.iter().map(|n| (*n).to_owned()).collect(),
                rpath: rpath.map(str::to_owned),
                runpath: runpath.map(str::to_owned),
                soname: None,
            },
        )
    }

    fn lib64(needed: &[&str]) -> Vec<u8> {
        object(Class::Elf64, 62, None, needed)
    }

    fn options() -> CheckOptions {
        CheckOptions {
            triplet: Some("x86_64-linux-gnu".into()),
            allow_missing: Vec::new(),
        }
    }

    fn run(entries: &[TestEntry<'_>], options: &CheckOptions) -> CheckReport {
        let tree = test_tree(entries);
        let layers = [&tree];
        check_image(&ImageView::new(&layers), options)
    }

    fn missing_names(report: &CheckReport) -> Vec<(&str, Vec<&str>)> {
        report
            .missing
            .iter()
            .map(|m| {
                (
                    m.name.as_str(),
                    m.needed_by.iter().map(String::as_str).collect(),
                )
            })
            .collect()
    }

    fn off_path_names(report: &CheckReport) -> Vec<(&str, Vec<&str>)> {
        report
            .off_path
            .iter()
            .map(|m| {
                (
                    m.name.as_str(),
                    m.needed_by.iter().map(String::as_str).collect(),
                )
            })
            .collect()
    }

    #[test]
    fn merged_usr_image_resolves_through_lib_symlink() {
        let exe = object(Class::Elf64, 62, Some(LOADER), &["libc.so.6"]);
        let libc = lib64(&["ld-linux-x86-64.so.2"]);
        let loader = lib64(&[]);
        let report = run(
            &[
                ("lib", None, Some("usr/lib")),
                ("lib64", None, Some("usr/lib64")),
                (
                    "usr/lib64/ld-linux-x86-64.so.2",
                    None,
                    Some("../lib/x86_64-linux-gnu/ld-linux-x86-64.so.2"),
                ),
                (
                    "usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2",
                    Some(&loader),
                    None,
                ),
                ("usr/lib/x86_64-linux-gnu/libc.so.6", Some(&libc), None),
                ("usr/bin/app", Some(&exe), None),
                ("usr/bin/script", Some(b"#!/bin/sh\n".as_slice()), None),
            ],
            &options(),
        );
        assert!(report.passed(), "{report:?}");
        assert_eq!((report.elf_files, report.dynamic_objects), (3, 3));
    }

    #[test]
    fn names_missing_libraries_and_loader_with_their_users() {
        let exe = object(
            Class::Elf64,
            62,
            Some(LOADER),
            &["libgmp.so.10", "libc.so.6"],
        );
        let ext = lib64(&["libgmp.so.10", "libmpfr.so.6"]);
        let libc = lib64(&[]);
        let report = run(
            &[
                ("usr/lib/x86_64-linux-gnu/libc.so.6", Some(&libc), None),
                ("usr/bin/app", Some(&exe), None),
                ("usr/lib/python3/dist-packages/gmpy2.so", Some(&ext), None),
            ],
            &options(),
        );
        assert_eq!(
            missing_names(&report),
            vec![
                ("/lib64/ld-linux-x86-64.so.2", vec!["/usr/bin/app"]),
                (
                    "libgmp.so.10",
                    vec!["/usr/bin/app", "/usr/lib/python3/dist-packages/gmpy2.so"]
                ),
                (
                    "libmpfr.so.6",
                    vec!["/usr/lib/python3/dist-packages/gmpy2.so"]
                ),
            ]
        );
        assert_eq!(report.missing[0].kind, MissingKind::Interpreter);
        let allowed = run(
            &[("usr/lib/python3/dist-packages/gmpy2.so", Some(&ext), None)],
            &CheckOptions {
                allow_missing: vec!["libgmp.so.*".into(), "libmpfr.so.6".into()],
                ..options()
            },
        );
        assert!(allowed.passed());
        assert_eq!(allowed.allowed.len(), 2);
    }

    #[test]
    fn a_library_of_the_wrong_class_or_machine_does_not_count() {
        let user = lib64(&["libz.so.1"]);
        let wrong_class = object(Class::Elf32, 3, None, &[]);
        let wrong_machine = object(Class::Elf64, 183, None, &[]);
        let report = run(
            &[
                ("usr/lib/libz.so.1", Some(&wrong_class), None),
                ("lib/libz.so.1", Some(&wrong_machine), None),
                ("usr/bin/user", Some(&user), None),
            ],
            &options(),
        );
        assert_eq!(
            missing_names(&report),
            vec![("libz.so.1", vec!["/usr/bin/user"])]
        );
        // The right one later in the search order is found after skipping the wrong ones.
        let right = lib64(&[]);
        let report = run(
            &[
                ("lib/x86_64-linux-gnu/libz.so.1", Some(&wrong_class), None),
                ("usr/lib/libz.so.1", Some(&right), None),
                ("usr/bin/user", Some(&user), None),
            ],
            &options(),
        );
        assert!(report.passed(), "{report:?}");
    }

    #[test]
    fn foreign_objects_are_checked_only_in_their_multiarch_dirs() {
        // libc6:i386 in an amd64 image: its libraries are checked against the i386 dirs.
        let i386_user = object(Class::Elf32, 3, None, &["libc.so.6", "libgone.so.1"]);
        let i386_libc = object(Class::Elf32, 3, None, &[]);
        // An aarch64 test fixture in /usr/share cannot run here and is not checked.
        let fixture = object(Class::Elf64, 183, None, &["libnothing.so"]);
        let report = run(
            &[
                ("usr/lib/i386-linux-gnu/libc.so.6", Some(&i386_libc), None),
                (
                    "usr/lib/i386-linux-gnu/libuser.so.1",
                    Some(&i386_user),
                    None,
                ),
                ("usr/share/tests/arm64-fixture", Some(&fixture), None),
            ],
            &options(),
        );
        assert_eq!(
            missing_names(&report),
            vec![("libgone.so.1", vec!["/usr/lib/i386-linux-gnu/libuser.so.1"])]
        );
        assert_eq!((report.dynamic_objects, report.foreign), (2, 1));
        // Without a known image architecture everything is checked.
        let report = run(
            &[("usr/share/tests/arm64-fixture", Some(&fixture), None)],
            &CheckOptions::default(),
        );
        assert_eq!(report.missing.len(), 1);
    }

    #[test]
    fn runpath_and_origin_apply_to_direct_dependencies_only() {
        let app = object_with(
            Class::Elf64,
            62,
            None,
            &["libpriv.so"],
            None,
            Some("$ORIGIN/../lib"),
        );
        // libpriv needs libdeep, which sits in the app's private dir too: DT_RUNPATH of the
        // app does not apply to libpriv's needs, so the search misses libdeep; the image has
        // it off the search path, so it is a warning (see `off_path`), not a failure.
        let private = lib64(&["libdeep.so"]);
        let deep = lib64(&[]);
        let entries = [
            ("opt/app/bin/app", Some(app.as_slice()), None),
            ("opt/app/lib/libpriv.so", Some(private.as_slice()), None),
            ("opt/app/lib/libdeep.so", Some(deep.as_slice()), None),
        ];
        let report = run(&entries, &options());
        assert!(report.passed(), "{report:?}");
        assert_eq!(
            off_path_names(&report),
            vec![("libdeep.so", vec!["/opt/app/lib/libpriv.so"])]
        );
        // The same with DT_RPATH: inherited by libpriv's search, so everything resolves.
        let app = object_with(
            Class::Elf64,
            62,
            None,
            &["libpriv.so"],
            Some("$ORIGIN/../lib"),
            None,
        );
        let report = run(
            &[
                ("opt/app/bin/app", Some(app.as_slice()), None),
                ("opt/app/lib/libpriv.so", Some(private.as_slice()), None),
                ("opt/app/lib/libdeep.so", Some(deep.as_slice()), None),
            ],
            &options(),
        );
        assert!(report.passed(), "{report:?}");
        // DT_RPATH is ignored when the object also has DT_RUNPATH (here pointing nowhere).
        let both = object_with(
            Class::Elf64,
            62,
            None,
            &["libdeep.so"],
            Some("/opt/app/lib"),
            Some("/nowhere"),
        );
        let report = run(
            &[
                ("usr/bin/both", Some(both.as_slice()), None),
                ("opt/app/lib/libdeep.so", Some(deep.as_slice()), None),
            ],
            &options(),
        );
        assert_eq!(
            off_path_names(&report),
            vec![("libdeep.so", vec!["/usr/bin/both"])]
        );
        assert_eq!(
            report.off_path[0].found_off_path,
            ["/opt/app/lib/libdeep.so"]
        );
    }

    #[test]
    fn ld_so_conf_dirs_count_only_with_a_cache() {
        let user = lib64(&["libextra.so.1"]);
        let extra = lib64(&[]);
        let mut entries = vec![
            (
                "etc/ld.so.conf",
                Some(b"include /etc/ld.so.conf.d/*.conf\n".as_slice()),
                None,
            ),
            (
                "etc/ld.so.conf.d/extra.conf",
                Some(b"/opt/extra/lib\n".as_slice()),
                None,
            ),
            ("opt/extra/lib/libextra.so.1", Some(extra.as_slice()), None),
            ("usr/bin/user", Some(user.as_slice()), None),
        ];
        let report = run(&entries, &options());
        assert_eq!(
            missing_names(&report),
            vec![("libextra.so.1", vec!["/usr/bin/user"])]
        );
        assert_eq!(
            report.missing[0].only_in_conf_dir.as_deref(),
            Some("/opt/extra/lib")
        );
        entries.push(("etc/ld.so.cache", Some(b"cache".as_slice()), None));
        assert!(run(&entries, &options()).passed());
    }

    #[test]
    fn the_application_layer_adds_and_overrides_files() {
        let ext = lib64(&["libgmp.so.10"]);
        let gmp = lib64(&[]);
        let base = test_tree(&[("usr/lib/x86_64-linux-gnu/libgmp.so.10", Some(&gmp), None)]);
        let app = test_tree(&[("usr/lib/python3/dist-packages/gmpy2.so", Some(&ext), None)]);
        let layers = [&app, &base];
        assert!(check_image(&ImageView::new(&layers), &options()).passed());
        let unreadable = test_tree(&[("usr/lib/broken.so", Some(&ext[..30]), None)]);
        let layers = [&unreadable];
        let report = check_image(&ImageView::new(&layers), &options());
        assert_eq!(report.unreadable.len(), 1);
        assert_eq!(report.unreadable[0].0, "/usr/lib/broken.so");
    }
}
