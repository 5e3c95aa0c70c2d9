//! Stage `rootfs`: every package's data.tar merged into one checked, in-memory tree.
//!
//! [`assemble`] reads and decompresses the packages in parallel (rayon), each into its own
//! entry list, then merges them one by one in the given order, so the result never depends on
//! the thread count. Everything that can go wrong (path escapes, device nodes, conflicts
//! between packages) fails here, before a single byte is written. The tree keeps which package
//! shipped each path, so `oci` can group packages into layers and size reports can attribute
//! bytes. [`Rootfs::write_to_dir`] is the `--rootfs DIR` output.
//!
//! Path filters ([`filter`], dpkg's `path-exclude`/`path-include`) drop entries before they
//! are merged, and the matching `md5sums` lines, so the tree, the package database and
//! [`Rootfs::bytes_per_package`] all describe the filtered image.
//!
//! Merged /usr (debian-notes §7.1): with [`MergedUsr::Yes`] (or `Auto` and a package shipping
//! `./bin -> usr/bin`, as trixie base-files does, or a loader found only under `/usr`; the
//! manifest's `auto` is `Yes` outright for trixie and later) entries under `bin/`, `sbin/`, `lib*/` move
//! to `usr/`, and the tree gets `bin -> usr/bin` style links instead of directories, which
//! keeps layers from replacing a base image's links with empty directories (§9.4).

pub mod accounts;
pub mod alternatives;
pub mod app;
pub mod ca;
pub mod dpkg;
pub mod dpkg_db;
pub mod essentials;
pub mod filter;
pub mod java;
pub mod java_keystore;
pub mod ldcache;
pub mod merge;
pub mod overlay;
pub mod tree;
mod write;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rayon::prelude::*;

pub use self::filter::{PathFilter, PathRule};
pub use self::tree::{Content, Node, NodeKind, PackageId, PathProblem, Tree};
use crate::deb::{ControlFiles, DataEntry, Deb, DebError, SpillFile};

/// A verified `.deb` on disk, as the fetch stage hands it over.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PackageDeb {
    /// Package name (`libc6`).
    pub name: String,
    /// Full version (`2.36-9+deb12u4`).
    pub version: String,
    /// Debian architecture (`amd64`, `all`).
    pub arch: String,
    /// Where the verified file is.
    pub path: PathBuf,
}

/// Whether top-level `bin`, `sbin`, `lib*` become links into `usr/`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum MergedUsr {
    /// Always merge.
    Yes,
    /// Keep whatever the packages ship.
    No,
    /// Merge when some package ships `./bin` or `./lib` as a link into usr (trixie's
    /// base-files), or when a program interpreter (`PT_INTERP`) is shipped only on its `/usr`
    /// side ([`merge::interpreter_only_under_usr`]).
    #[default]
    Auto,
}

impl MergedUsr {
    /// The `auto` policy for images of `suites`: [`MergedUsr::Yes`] when one of them is of a
    /// merged-/usr-only release ([`merge::release_is_merged_only`], Debian 13 and later),
    /// else [`MergedUsr::Auto`].
    pub fn auto_for_suites<'a>(suites: impl IntoIterator<Item = &'a str>) -> Self {
        if suites.into_iter().any(merge::release_is_merged_only) {
            Self::Yes
        } else {
            Self::Auto
        }
    }
}

/// How to assemble the tree.
#[derive(Clone, Debug, Default)]
pub struct RootfsOptions {
    /// Merged /usr policy.
    pub merged_usr: MergedUsr,
    /// Package names or path globs that may overwrite another package's file (like
    /// `Replaces:`); `*` matches across `/`.
    pub allow_overwrite: Vec<String>,
    /// mtime of files debless generates (status.d), usually `SOURCE_DATE_EPOCH`; `None`: the
    /// newest mtime among the packages' data.tar entries (see [`Rootfs::epoch`]).
    pub generated_mtime: Option<i64>,
    /// `path-exclude`/`path-include` rules: filtered entries never reach the tree and their
    /// md5sums lines leave the package database (see [`filter`]).
    pub path_filter: PathFilter,
    /// Where large files' bytes go while the tree is alive (an anonymous scratch file, see
    /// [`crate::deb::content`]); `None` keeps every file in memory.
    pub scratch: Option<Arc<SpillFile>>,
}

/// Name, version and architecture of a package in the tree.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PackageInfo {
    /// Package name.
    pub name: String,
    /// Version.
    pub version: String,
    /// Architecture.
    pub arch: String,
}

/// Why a rootfs could not be assembled or written; each variant names the package and path.
#[derive(Debug, thiserror::Error)]
pub enum RootfsError {
    /// A .deb could not be read.
    #[error("package `{package}`: {source}")]
    Deb { package: String, source: DebError },
    /// An entry name or its resolution is unsafe.
    #[error("package `{package}` ships `{path}`: {problem}")]
    UnsafePath {
        package: String,
        path: String,
        problem: PathProblem,
    },
    /// Device nodes, fifos and sockets are not allowed in images built by debless.
    #[error(
        "package `{package}` ships `{path}` of unsupported tar type `{type_byte}` (device node, fifo or socket)"
    )]
    UnsupportedEntry {
        package: String,
        path: String,
        type_byte: char,
    },
    /// A hard link points somewhere it may not.
    #[error("package `{package}` ships hard link `{path}` -> `{target}`: {reason}")]
    BadHardlink {
        package: String,
        path: String,
        target: String,
        reason: String,
    },
    /// Two packages ship different content at the same path.
    #[error("`{path}` is shipped by both `{first}` and `{second}` with different content")]
    Conflict {
        path: String,
        first: String,
        second: String,
    },
    /// The status.d directory could not be placed.
    #[error("cannot write the dpkg database at `{}`: {problem}", dpkg::STATUS_D)]
    Database { problem: PathProblem },
    /// `--rootfs DIR` exists and is not empty.
    #[error("`{}` exists and is not empty; debless writes a rootfs only into a new or empty directory", dir.display())]
    TargetNotEmpty { dir: PathBuf },
    /// Writing the tree to disk failed.
    #[error("cannot write `{}`: {source}", path.display())]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
}

impl RootfsError {
    /// The error hint for a conflict: how to allow the overwrite.
    pub fn hint(&self) -> Option<String> {
        match self {
            Self::Conflict { second, .. } => Some(format!(
                "if `{second}` is meant to replace the file, add it to `[image] allow-overwrite`"
            )),
            _ => None,
        }
    }
}

/// The assembled root filesystem.
#[derive(Clone, Debug)]
pub struct Rootfs {
    tree: Tree,
    packages: Vec<PackageInfo>,
    merged_usr: bool,
    /// `update-alternatives --install` calls of the postinst scripts, in package order,
    /// applied by [`Rootfs::add_alternatives`] when the manifest asks.
    alternatives: Vec<alternatives::Registration>,
    /// The mtime given to generated files: the option's, else the packages' newest.
    epoch: i64,
}

/// One package after reading, before merging: its control files and data.tar entries (large
/// files' bytes in the scratch file). Reading depends on the `.deb` alone, so it can start as
/// soon as the file is verified, while other packages still download.
#[derive(Clone, Debug)]
pub struct ExtractedDeb {
    control: ControlFiles,
    entries: Vec<DataEntry>,
}

/// Reads all packages (in parallel) and merges them in the given order.
pub fn assemble(debs: &[PackageDeb], opts: &RootfsOptions) -> Result<Rootfs, RootfsError> {
    assemble_with(debs, Vec::new(), opts)
}

/// [`assemble`] with some packages already read ([`extract`]): `ready[i]` is `debs[i]`'s, and
/// the missing ones (or all, past the end of `ready`) are read here, in parallel. The result
/// does not depend on which were ready: merging always goes in `debs` order.
pub fn assemble_with(
    debs: &[PackageDeb],
    mut ready: Vec<Option<ExtractedDeb>>,
    opts: &RootfsOptions,
) -> Result<Rootfs, RootfsError> {
    ready.resize(debs.len(), None);
    let read: Vec<Result<ExtractedDeb, RootfsError>> = debs
        .par_iter()
        .zip(ready)
        .map(|(deb, ready)| match ready {
            Some(extracted) => Ok(extracted),
            None => extract(deb, opts.scratch.as_ref()),
        })
        .collect();
    // Report the first failing package in the given order, whatever thread finished first.
    let read = read.into_iter().collect::<Result<Vec<_>, _>>()?;

    let merged_usr = match opts.merged_usr {
        MergedUsr::Yes => true,
        MergedUsr::No => false,
        MergedUsr::Auto => {
            read.iter()
                .any(|p| p.entries.iter().any(merge::is_usr_merge_link))
                || merge::interpreter_only_under_usr(
                    &read
                        .iter()
                        .map(|p| p.entries.as_slice())
                        .collect::<Vec<_>>(),
                )
                .is_some()
        }
    };
    // Debian builds clamp every data.tar mtime to the changelog's date, so the newest one
    // depends only on which packages (and versions) go in, never on when they were locked.
    let epoch = opts.generated_mtime.unwrap_or_else(|| {
        read.iter()
            .flat_map(|p| p.entries.iter().map(|e| e.mtime))
            .max()
            .unwrap_or(0)
    });
    let package_names: Vec<String> = debs.iter().map(|d| d.name.clone()).collect();
    let mut tree = Tree::default();
    if merged_usr {
        merge::add_merged_links(&mut tree);
    }
    let mut controls = Vec::with_capacity(read.len());
    for (id, (deb, package)) in debs.iter().zip(read).enumerate() {
        let name = deb.name.as_str();
        let may_overwrite = |path: &str| {
            opts.allow_overwrite.iter().any(|pattern| {
                merge::glob_match(pattern, name)
                    || merge::glob_match(pattern.trim_start_matches('/'), path)
            })
        };
        let ctx = merge::PackageContext {
            id,
            name,
            merged_usr,
            may_overwrite: &may_overwrite,
            package_names: &package_names,
        };
        let entries = opts.path_filter.apply(package.entries);
        merge::merge_package(&mut tree, &ctx, entries)?;
        controls.push(package.control);
    }
    if merged_usr {
        merge::prune_merged_links(&mut tree);
    }
    tree.canonicalize_hardlinks();

    let md5sums: Vec<Option<Vec<u8>>> = controls
        .iter()
        .map(|c| {
            c.md5sums
                .as_deref()
                .map(|m| opts.path_filter.filter_md5sums(m))
        })
        .collect();
    let records: Vec<dpkg::PackageRecord<'_>> = debs
        .iter()
        .zip(&controls)
        .zip(&md5sums)
        .map(|((deb, control), md5sums)| (deb, control, md5sums))
        .enumerate()
        .map(|(id, (deb, control, md5sums))| {
            let repeated = debs[..id].iter().any(|earlier| earlier.name == deb.name);
            dpkg::PackageRecord {
                id,
                file_name: if repeated {
                    format!("{}:{}", deb.name, deb.arch)
                } else {
                    deb.name.clone()
                },
                control: &control.control,
                md5sums: md5sums.as_deref(),
            }
        })
        .collect();
    dpkg::add_status_d(&mut tree, &records, epoch)
        .map_err(|problem| RootfsError::Database { problem })?;

    let packages = debs
        .iter()
        .map(|d| PackageInfo {
            name: d.name.clone(),
            version: d.version.clone(),
            arch: d.arch.clone(),
        })
        .collect();
    let alternatives = debs
        .iter()
        .zip(&controls)
        .filter_map(|(deb, control)| Some((deb, control.postinst.as_deref()?)))
        .flat_map(|(deb, script)| alternatives::parse_postinst(&deb.name, script))
        .collect();
    Ok(Rootfs {
        tree,
        packages,
        merged_usr,
        alternatives,
        epoch,
    })
}

/// Reads one verified `.deb`: checks it is the package the lock names and collects its
/// entries, large files' bytes going to `spill`.
pub fn extract(
    deb: &PackageDeb,
    spill: Option<&Arc<SpillFile>>,
) -> Result<ExtractedDeb, RootfsError> {
    let wrap = |source| RootfsError::Deb {
        package: deb.name.clone(),
        source,
    };
    let opened = Deb::open(&deb.path).map_err(wrap)?.mark_verified();
    opened
        .expect_identity(&deb.name, &deb.version, &deb.arch)
        .map_err(wrap)?;
    let entries = opened.data_entries_spilled(spill).map_err(wrap)?;
    Ok(ExtractedDeb {
        control: opened.into_control_files(),
        entries,
    })
}

impl Rootfs {
    /// The packages, indexed by [`Node::owner`].
    pub fn packages(&self) -> &[PackageInfo] {
        &self.packages
    }

    /// The tree, for layer writers and reports.
    pub fn tree(&self) -> &Tree {
        &self.tree
    }

    /// Every path in byte-wise order, parents first.
    pub fn entries(&self) -> impl Iterator<Item = (&str, &Node)> {
        self.tree.iter()
    }

    /// The mtime generated files were (and further ones should be) given: the option's, else
    /// the newest mtime among the packages' data.tar entries.
    pub fn epoch(&self) -> i64 {
        self.epoch
    }

    /// Whether the tree was assembled with merged /usr.
    pub fn merged_usr(&self) -> bool {
        self.merged_usr
    }

    /// Bytes of regular files each package owns, for size reports and layer grouping.
    pub fn bytes_per_package(&self) -> Vec<u64> {
        let mut sizes = vec![0u64; self.packages.len()];
        for (_, node) in self.tree.iter() {
            if let (NodeKind::File(data), Some(owner)) = (&node.kind, node.owner)
                && let Some(size) = sizes.get_mut(owner)
            {
                *size += data.len();
            }
        }
        sizes
    }

    /// Writes the tree into `dir`, which must not exist or be empty. Files, directories,
    /// symlinks and hard links get their modes; owners only when running as root. Symlinks
    /// are never followed.
    pub fn write_to_dir(&self, dir: &Path) -> Result<(), RootfsError> {
        write::write_tree(&self.tree, dir)
    }

    /// Writes the tree with `overlay` (the application's layer) laid over it, as a runtime
    /// unpacks the image's layers in order: an overlay path replaces the package one.
    pub fn write_to_dir_with(&self, overlay: &Tree, dir: &Path) -> Result<(), RootfsError> {
        if overlay.is_empty() {
            return self.write_to_dir(dir);
        }
        let mut merged = self.tree.clone();
        for (path, node) in overlay.iter() {
            merged.insert(path.to_owned(), node.clone());
        }
        write::write_tree(&merged, dir)
    }

    /// Writes the whole image's files as its layers stack them: a base image's files, then
    /// this tree, then `overlay` (the application layer), each replacing what is below.
    pub fn write_to_dir_over(
        &self,
        base: &Tree,
        overlay: &Tree,
        dir: &Path,
    ) -> Result<(), RootfsError> {
        let mut merged = base.clone();
        for (path, node) in self.tree.iter().chain(overlay.iter()) {
            merged.insert(path.to_owned(), node.clone());
        }
        write::write_tree(&merged, dir)
    }
}
