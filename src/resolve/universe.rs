//! The packages a resolution may choose from: every stanza of every configured suite, indexed
//! by package name and by the names it provides. Built once per `debless lock`, read-only after.
//!
//! Packages of architectures that are not configured are dropped here, so the solver never
//! has to ask "is this arch enabled?". `Architecture: all` is mapped to the native architecture
//! as apt does (apt-pkg/pkgcachegen.cc `NewPackage`: "all is mapped to the native architecture").

use std::sync::Arc;

use rustc_hash::FxHashMap as HashMap;

use crate::debian::{Arch, BinaryPackage};

/// The packages of one suite (or one suite component), with the apt-like pin priority that
/// ranks it against the others.
#[derive(Clone, Debug)]
pub struct SourcePackages {
    /// Where these packages come from, e.g. `bookworm` or `bookworm-security`; shown in errors
    /// and recorded in the lock.
    pub label: String,
    /// apt pin priority (default 500): a higher priority wins before a higher version.
    pub priority: i32,
    pub packages: Vec<BinaryPackage>,
}

/// Index of one package version inside a [`Universe`].
pub(crate) type PkgId = usize;

/// One package version with the facts the solver asks about it over and over.
#[derive(Debug)]
pub(crate) struct Entry {
    pub package: Arc<BinaryPackage>,
    /// Index into [`Universe::labels`].
    pub source: usize,
    pub priority: i32,
    /// The architecture apt files it under: `all` is the native architecture.
    pub arch: String,
}

/// Every package version debless may choose from, indexed for the solver.
#[derive(Debug)]
pub struct Universe {
    pub(crate) entries: Vec<Entry>,
    pub(crate) labels: Vec<String>,
    /// Configured architectures, native first.
    pub(crate) architectures: Vec<String>,
    // FxHash: these maps take every name of every index (a third of a warm lock's time with
    // SipHash); names come from signed indices, not from an adversary choosing collisions.
    /// Package name -> versions of that name (all architectures), in input order.
    pub(crate) by_name: HashMap<String, Vec<PkgId>>,
    /// Provided name -> versions providing it, in input order.
    pub(crate) providers: HashMap<String, Vec<PkgId>>,
    /// Name -> when the indices first mentioned it (as a package, a `Depends` target or a
    /// provided name): a stand-in for apt's package ID, its last provider tie-break.
    pub(crate) first_mention: HashMap<String, usize>,
}

impl Universe {
    /// Indexes `sources`. The first architecture is the native one, the others are foreign
    /// (multi-arch); packages of other architectures are left out.
    pub fn new(sources: Vec<SourcePackages>, architectures: &[Arch]) -> Self {
        let architectures: Vec<String> = if architectures.is_empty() {
            vec![Arch::host().as_str().to_owned()]
        } else {
            architectures
                .iter()
                .map(|a| a.as_str().to_owned())
                .collect()
        };
        let native = architectures[0].clone();
        let stanzas: usize = sources.iter().map(|s| s.packages.len()).sum();
        let mut universe = Self {
            entries: Vec::new(),
            labels: Vec::new(),
            architectures,
            // Sized up front: growing maps of 60,000 names rehashes them several times.
            by_name: HashMap::with_capacity_and_hasher(stanzas, Default::default()),
            providers: HashMap::with_capacity_and_hasher(stanzas / 8, Default::default()),
            first_mention: HashMap::with_capacity_and_hasher(stanzas, Default::default()),
        };
        for (source, suite) in sources.into_iter().enumerate() {
            universe.labels.push(suite.label);
            for package in suite.packages {
                let arch = if package.architecture == "all" {
                    native.clone()
                } else if universe.architectures.contains(&package.architecture) {
                    package.architecture.clone()
                } else {
                    continue;
                };
                universe.mention(&package.name);
                for target in package.depends_text().into_iter().flat_map(relation_names) {
                    universe.mention(target);
                }
                for provided in &package.provides {
                    universe.mention(&provided.name);
                }
                let id = universe.entries.len();
                universe
                    .by_name
                    .entry(package.name.clone())
                    .or_default()
                    .push(id);
                for provided in &package.provides {
                    let list = universe.providers.entry(provided.name.clone()).or_default();
                    if list.last() != Some(&id) {
                        list.push(id);
                    }
                }
                universe.entries.push(Entry {
                    package: Arc::new(package),
                    source,
                    priority: suite.priority,
                    arch,
                });
            }
        }
        universe
    }

    fn mention(&mut self, name: &str) {
        if !self.first_mention.contains_key(name) {
            let next = self.first_mention.len();
            self.first_mention.insert(name.to_owned(), next);
        }
    }

    /// When the indices first mentioned `name` (later mentions rank higher in apt's tie-break).
    pub(crate) fn mention_order(&self, name: &str) -> usize {
        self.first_mention.get(name).copied().unwrap_or(usize::MAX)
    }

    /// The native architecture (the first one configured).
    pub fn native_arch(&self) -> &str {
        &self.architectures[0]
    }

    /// How many package versions the universe holds.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether no package survived the architecture filter.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub(crate) fn entry(&self, id: PkgId) -> &Entry {
        &self.entries[id]
    }

    pub(crate) fn label(&self, id: PkgId) -> &str {
        &self.labels[self.entries[id].source]
    }

    /// `name` or `name:arch` when the architecture is foreign, as apt prints it.
    pub(crate) fn display_name(&self, id: PkgId) -> String {
        let entry = &self.entries[id];
        if entry.arch == self.architectures[0] {
            entry.package.name.clone()
        } else {
            format!("{}:{}", entry.package.name, entry.arch)
        }
    }

    /// Versions named `name`, in input order.
    pub(crate) fn named(&self, name: &str) -> &[PkgId] {
        self.by_name.get(name).map_or(&[], Vec::as_slice)
    }

    /// Versions providing `name`, in input order.
    pub(crate) fn providing(&self, name: &str) -> &[PkgId] {
        self.providers.get(name).map_or(&[], Vec::as_slice)
    }

    /// Every distinct real package name, in no particular order.
    pub fn package_names(&self) -> impl Iterator<Item = &str> {
        self.by_name.keys().map(String::as_str)
    }

    /// Every distinct package name, sorted (for "did you mean" suggestions).
    pub(crate) fn names(&self) -> Vec<&str> {
        let mut names: Vec<&str> = self.by_name.keys().map(String::as_str).collect();
        names.sort_unstable();
        names
    }
}

/// The package names a raw relationship field mentions, without parsing versions.
fn relation_names(field: &str) -> impl Iterator<Item = &str> {
    field.split([',', '|']).filter_map(|atom| {
        atom.split([' ', '(', ':', '\n', '\t'])
            .find(|w| !w.is_empty())
    })
}
