//! ld.so's library search (glibc `elf/dl-load.c` `_dl_map_object`, ld.so(8)), run against
//! an image instead of the running system.
//!
//! For a `DT_NEEDED` name without a `/`, an object `O` searches, in order:
//! 1. if `O` has no `DT_RUNPATH`: the `DT_RPATH` of `O`, then the `DT_RPATH` of the object that
//!    loaded `O`, and so on up to the executable (objects with a `DT_RUNPATH` contribute none);
//! 2. `LD_LIBRARY_PATH` (not set in an image; ignored);
//! 3. the `DT_RUNPATH` of `O` — for `O`'s own direct dependencies only;
//! 4. `/etc/ld.so.cache`, which `ldconfig` builds from the directories of `/etc/ld.so.conf`
//!    and its `include`d files;
//! 5. the default directories `/lib/<triplet>`, `/usr/lib/<triplet>`, `/lib`, `/usr/lib`
//!    (Debian's glibc).
//!
//! `$ORIGIN` (the directory of the object), `$LIB` (`lib/<triplet>` on Debian) and `$PLATFORM`
//! (`x86_64`, `aarch64`, …) are expanded, also spelled `${ORIGIN}`. A candidate counts only
//! when it is an ELF shared object of the object's class and machine: ld.so skips a 32-bit
//! library in a 64-bit search and goes on.
//!
//! Step 4 differs on purpose: debless does not run `ldconfig`, so an image normally has no
//! `ld.so.cache`, and then glibc never reads `ld.so.conf`. The directories it lists count only
//! when the image has a cache; otherwise a library found only there is reported missing, with
//! a note naming the directory.

use std::collections::{BTreeMap, BTreeSet};

use super::elf::{Class, ET_DYN, ElfInfo};
use super::view::ImageView;
use crate::rootfs::filter::fnmatch;

/// The multiarch triplet and `$PLATFORM` of an ELF machine, as Debian's glibc knows them.
/// `(class, e_machine, triplet, platform)`.
const MACHINES: &[(Class, u16, &str, &str)] = &[
    (Class::Elf64, 62, "x86_64-linux-gnu", "x86_64"),
    (Class::Elf32, 3, "i386-linux-gnu", "i686"),
    (Class::Elf64, 183, "aarch64-linux-gnu", "aarch64"),
    (Class::Elf32, 40, "arm-linux-gnueabihf", "v7l"),
    (Class::Elf64, 21, "powerpc64le-linux-gnu", "power8"),
    (Class::Elf64, 22, "s390x-linux-gnu", "z13"),
    (Class::Elf64, 243, "riscv64-linux-gnu", "riscv64"),
    (Class::Elf64, 8, "mips64el-linux-gnuabi64", "mips64"),
    (Class::Elf64, 258, "loongarch64-linux-gnu", "loongarch64"),
];

/// Where the image's loader looks, beyond each object's own paths.
#[derive(Clone, Debug, Default)]
pub struct SearchConfig {
    /// The image architecture's triplet: used for objects of its machine (it tells `armel`
    /// from `armhf`, which share `e_machine`).
    pub image_triplet: Option<String>,
    /// Directories from `/etc/ld.so.conf` (absolute, in file order).
    pub conf_dirs: Vec<String>,
    /// Whether `/etc/ld.so.cache` exists (only then are `conf_dirs` searched).
    pub has_cache: bool,
}

/// The outcome of one search.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Found {
    /// The library's path as found (unresolved, absolute) and its resolved path in the tree.
    At { path: String, resolved: String },
    /// Not found; `Some(dir)` when it is in an `ld.so.conf` directory that no cache makes
    /// visible.
    Missing { only_in_conf_dir: Option<String> },
}

impl SearchConfig {
    /// Reads `/etc/ld.so.conf` (following `include` globs, relative ones from `/etc`) and
    /// whether `/etc/ld.so.cache` exists.
    pub fn from_image(view: &ImageView<'_>, image_triplet: Option<&str>) -> Self {
        let mut conf_dirs = Vec::new();
        let mut seen = BTreeSet::new();
        read_conf(view, "/etc/ld.so.conf", &mut conf_dirs, &mut seen, 0);
        // debless' own ld.so.cache (rootfs::ldcache) lists `/etc/ld.so.conf.d/*.conf` even
        // without libc-bin's `/etc/ld.so.conf` that includes them; mirror what it wrote.
        for included in glob(view, "/etc/ld.so.conf.d/*.conf") {
            read_conf(view, &included, &mut conf_dirs, &mut seen, 1);
        }
        Self {
            image_triplet: image_triplet.map(str::to_owned),
            conf_dirs,
            has_cache: view.file("/etc/ld.so.cache").is_some(),
        }
    }

    /// The triplet and platform for an object of this class and machine.
    fn machine(&self, info: &ElfInfo) -> (Option<&str>, Option<&'static str>) {
        let known = MACHINES
            .iter()
            .find(|(class, machine, _, _)| *class == info.class && *machine == info.machine);
        let platform = known.map(|m| m.3);
        let triplet = match (&self.image_triplet, known) {
            // The image's own triplet when it belongs to this machine (armel vs armhf).
            (Some(image), Some(m)) if image.split('-').next() == m.2.split('-').next() => {
                Some(image.as_str())
            }
            (_, Some(m)) => Some(m.2),
            (image, None) => image.as_deref(),
        };
        (triplet, platform)
    }

    /// Whether an object at `path` (tree path) could run in the image: any object when the
    /// image's architecture is unknown; otherwise one of the image's class and machine, or a
    /// library of another known machine inside its own multiarch directory (`usr/lib/i386-
    /// linux-gnu/` in an amd64 image with `libc6:i386`).
    pub fn runs_here(&self, path: &str, info: &ElfInfo) -> bool {
        let Some(image) = &self.image_triplet else {
            return true;
        };
        let image_cpu = image.split('-').next();
        let own = MACHINES
            .iter()
            .find(|(class, machine, _, _)| *class == info.class && *machine == info.machine);
        match own {
            Some((_, _, triplet, _)) if triplet.split('-').next() == image_cpu => true,
            Some((_, _, triplet, _)) => {
                path.starts_with(&format!("usr/lib/{triplet}/"))
                    || path.starts_with(&format!("lib/{triplet}/"))
            }
            None => false,
        }
    }

    /// The default directories for an object (step 5).
    fn default_dirs(&self, info: &ElfInfo) -> Vec<String> {
        let mut dirs = Vec::new();
        if let (Some(triplet), _) = self.machine(info) {
            dirs.push(format!("/lib/{triplet}"));
            dirs.push(format!("/usr/lib/{triplet}"));
        }
        dirs.push("/lib".to_owned());
        dirs.push("/usr/lib".to_owned());
        dirs
    }

    /// Expands a colon-separated `DT_RPATH`/`DT_RUNPATH` for an object whose directory
    /// (`$ORIGIN`) is `origin`; empty entries mean the current directory and are dropped, as
    /// they mean nothing in an image.
    pub fn expand(&self, list: &str, origin: &str, info: &ElfInfo) -> Vec<String> {
        let (triplet, platform) = self.machine(info);
        let lib = triplet.map_or_else(|| "lib".to_owned(), |t| format!("lib/{t}"));
        list.split(':')
            .filter(|entry| !entry.is_empty())
            .map(|entry| {
                entry
                    .replace("${ORIGIN}", origin)
                    .replace("$ORIGIN", origin)
                    .replace("${LIB}", &lib)
                    .replace("$LIB", &lib)
                    .replace("${PLATFORM}", platform.unwrap_or("unknown"))
                    .replace("$PLATFORM", platform.unwrap_or("unknown"))
            })
            .collect()
    }

    /// Searches `name`, needed by an object described by `info`, whose own `DT_RUNPATH`
    /// (expanded) is `runpath` and whose `DT_RPATH` chain (its own, then its loaders',
    /// expanded, empty when it has a `DT_RUNPATH`) is `rpath_chain`.
    pub fn search(
        &self,
        view: &ImageView<'_>,
        objects: &BTreeMap<String, ElfInfo>,
        name: &str,
        info: &ElfInfo,
        rpath_chain: &[String],
        runpath: &[String],
    ) -> Found {
        let fits = |path: &str| -> Option<String> {
            let (resolved, _) = view.file(path)?;
            let candidate = objects.get(&resolved)?;
            (candidate.class == info.class
                && candidate.machine == info.machine
                && candidate.kind == ET_DYN)
                .then_some(resolved)
        };
        if name.contains('/') {
            let path = if name.starts_with('/') {
                name.to_owned()
            } else {
                format!("/{name}")
            };
            return match fits(&path) {
                Some(resolved) => Found::At { path, resolved },
                None => Found::Missing {
                    only_in_conf_dir: None,
                },
            };
        }
        let conf: &[String] = if self.has_cache { &self.conf_dirs } else { &[] };
        let defaults = self.default_dirs(info);
        let dirs = rpath_chain
            .iter()
            .chain(runpath)
            .chain(conf)
            .chain(&defaults);
        for dir in dirs {
            let path = format!("{}/{name}", dir.trim_end_matches('/'));
            if let Some(resolved) = fits(&path) {
                return Found::At { path, resolved };
            }
        }
        let only_in_conf_dir = if self.has_cache {
            None
        } else {
            self.conf_dirs
                .iter()
                .find(|dir| fits(&format!("{}/{name}", dir.trim_end_matches('/'))).is_some())
                .cloned()
        };
        Found::Missing { only_in_conf_dir }
    }
}

/// The directory part of an absolute path (`/usr/lib/x.so` -> `/usr/lib`, `/x` -> ``).
pub fn dir_of(path: &str) -> &str {
    path.rsplit_once('/').map_or("", |(dir, _)| dir)
}

/// Adds the directories of one ld.so.conf file, following `include` lines (glibc
/// `ldconfig.c` `parse_conf`): `#` comments, `include GLOB`, `hwcap` lines ignored.
fn read_conf(
    view: &ImageView<'_>,
    path: &str,
    dirs: &mut Vec<String>,
    seen: &mut BTreeSet<String>,
    depth: usize,
) {
    if depth > 8 || !seen.insert(path.to_owned()) {
        return;
    }
    let Some(bytes) = view.file(path).and_then(|(_, content)| content.read().ok()) else {
        return;
    };
    let text = String::from_utf8_lossy(&bytes);
    for line in text.lines() {
        let line = line.split('#').next().unwrap_or("").trim();
        if line.is_empty() || line.starts_with("hwcap ") {
            continue;
        }
        if let Some(patterns) = line
            .strip_prefix("include")
            .filter(|r| r.starts_with([' ', '\t']))
        {
            for pattern in patterns.split_whitespace() {
                let pattern = if pattern.starts_with('/') {
                    pattern.to_owned()
                } else {
                    format!("{}/{pattern}", dir_of(path))
                };
                for included in glob(view, &pattern) {
                    read_conf(view, &included, dirs, seen, depth + 1);
                }
            }
            continue;
        }
        for dir in line
            .split([':', ',', ' ', '\t'])
            .filter(|d| d.starts_with('/'))
        {
            let dir = dir.trim_end_matches('/').to_owned();
            if !dirs.contains(&dir) {
                dirs.push(dir);
            }
        }
    }
}

/// The files matching an absolute glob whose wildcards are in the last component only (the
/// `/etc/ld.so.conf.d/*.conf` shape), sorted as glob(3) sorts them.
fn glob(view: &ImageView<'_>, pattern: &str) -> Vec<String> {
    let (dir, name) = pattern.rsplit_once('/').unwrap_or(("", pattern));
    if !name.contains(['*', '?', '[']) {
        return vec![pattern.to_owned()];
    }
    view.list(dir)
        .into_iter()
        .filter(|entry| fnmatch(name, entry))
        .map(|entry| format!("{dir}/{entry}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::test_tree;

    fn amd64() -> ElfInfo {
        ElfInfo {
            class: Class::Elf64,
            machine: 62,
            kind: ET_DYN,
            interpreter: None,
            dynamic: None,
        }
    }

    #[test]
    fn expands_origin_lib_and_platform() {
        let config = SearchConfig {
            image_triplet: Some("x86_64-linux-gnu".into()),
            ..SearchConfig::default()
        };
        assert_eq!(
            config.expand(
                "$ORIGIN/../lib:${ORIGIN}/x::/opt/$LIB/$PLATFORM",
                "/app/bin",
                &amd64()
            ),
            vec![
                "/app/bin/../lib",
                "/app/bin/x",
                "/opt/lib/x86_64-linux-gnu/x86_64"
            ]
        );
    }

    #[test]
    fn reads_ld_so_conf_with_include_globs() {
        let tree = test_tree(&[
            (
                "etc/ld.so.conf",
                Some(b"include /etc/ld.so.conf.d/*.conf\n/opt/first # comment\n".as_slice()),
                None,
            ),
            (
                "etc/ld.so.conf.d/b.conf",
                Some(b"/opt/b\n".as_slice()),
                None,
            ),
            (
                "etc/ld.so.conf.d/a.conf",
                Some(b"# multiarch\n/usr/local/lib/x86_64-linux-gnu\n".as_slice()),
                None,
            ),
            (
                "etc/ld.so.conf.d/skip.txt",
                Some(b"/nope\n".as_slice()),
                None,
            ),
        ]);
        let layers = [&tree];
        let config = SearchConfig::from_image(&ImageView::new(&layers), None);
        assert_eq!(
            config.conf_dirs,
            vec!["/usr/local/lib/x86_64-linux-gnu", "/opt/b", "/opt/first"]
        );
        assert!(!config.has_cache);
    }
}
