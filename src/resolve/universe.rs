//! The packages a resolution may choose from: every stanza of every configured suite, looked
//! up by package name and by the names it provides. Built once per `debless lock` and
//! architecture, read-only for the solver.
//!
//! # Lazy by design
//!
//! A suite holds 60,000 stanzas; a python3 closure visits a few hundred. The universe keeps
//! each index in its packed form ([`PackedIndex`]: name tables, first mentions, records read in
//! place) and decodes a record into an [`Entry`] only the first time a lookup returns it, so a
//! warm `debless lock` costs the lookups, not the size of the archive. A package's id
//! ([`PkgId`]) is its record's position in the concatenation of every index, suites in
//! manifest order: input order, which the solver's tie-breaks rely on.
//!
//! Packages of architectures that are not configured are never returned, so the solver never
//! has to ask "is this arch enabled?". `Architecture: all` is mapped to the native architecture
//! as apt does (apt-pkg/pkgcachegen.cc `NewPackage`: "all is mapped to the native architecture").
//!
//! A record that fails to decode (a packed file consistent with its checksum but not with
//! itself: a bug, or someone who wrote the cache) is never returned; the universe remembers
//! the damage and [`super::resolve`] reports it instead of any result.

use std::fmt;
use std::sync::{Arc, OnceLock};

use crate::debian::{Arch, BinaryPackage};
use crate::repo::packed::{NameId, PackedError, PackedIndex};

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

/// The packed indices of one suite, as [`SourcePackages`] without decoding them.
#[derive(Clone, Debug)]
pub struct SourceIndices {
    /// As [`SourcePackages::label`].
    pub label: String,
    /// As [`SourcePackages::priority`].
    pub priority: i32,
    /// Its indices, in order.
    pub indices: Vec<Arc<PackedIndex>>,
}

/// Index of one package version inside a [`Universe`].
pub(crate) type PkgId = usize;

/// When the indices first mentioned a name (as a package, a `Depends` target or a provided
/// name): the id of the record, then the position inside it. A stand-in for apt's package
/// ID, its last provider tie-break; names never mentioned come last.
pub(crate) type MentionOrder = (usize, u32);

/// One package version with the facts the solver asks about it over and over.
#[derive(Debug)]
pub(crate) struct Entry {
    pub package: Arc<BinaryPackage>,
    /// Index into the universe's labels.
    pub source: usize,
    pub priority: i32,
    /// The architecture apt files it under: `all` is the native architecture.
    pub arch: String,
}

/// One packed index inside the universe.
struct Index {
    packed: Arc<PackedIndex>,
    source: usize,
    /// Id of its first record.
    base: PkgId,
    /// Its architecture classes whose records are configured (`all` and the configured
    /// architectures).
    classes: Vec<usize>,
}

/// Every package version debless may choose from, indexed for the solver.
pub struct Universe {
    labels: Vec<String>,
    priorities: Vec<i32>,
    indices: Vec<Index>,
    /// Configured architectures, native first.
    pub(crate) architectures: Vec<String>,
    /// One slot per record: `None` once decoded when it is of another architecture (or
    /// damaged).
    entries: Vec<OnceLock<Option<Box<Entry>>>>,
    /// The first damage found in a packed index.
    damage: OnceLock<String>,
}

impl Universe {
    /// Indexes `sources`. The first architecture is the native one, the others are foreign
    /// (multi-arch); packages of other architectures are left out.
    pub fn new(sources: Vec<SourcePackages>, architectures: &[Arch]) -> Self {
        const UNSIGNED: &str = "0000000000000000000000000000000000000000000000000000000000000000";
        let sources = sources
            .into_iter()
            .map(|source| {
                let bytes = crate::repo::packed::encode(&source.packages, UNSIGNED);
                let packed = PackedIndex::open(bytes, UNSIGNED)
                    .expect("a packed index made in memory opens");
                SourceIndices {
                    label: source.label,
                    priority: source.priority,
                    indices: vec![Arc::new(packed)],
                }
            })
            .collect();
        Self::from_indices(sources, architectures)
    }

    /// Indexes the packed indices of `sources` (see [`Universe::new`]), decoding nothing yet.
    pub fn from_indices(sources: Vec<SourceIndices>, architectures: &[Arch]) -> Self {
        let architectures: Vec<String> = if architectures.is_empty() {
            vec![Arch::host().as_str().to_owned()]
        } else {
            architectures
                .iter()
                .map(|a| a.as_str().to_owned())
                .collect()
        };
        let mut universe = Self {
            labels: Vec::new(),
            priorities: Vec::new(),
            indices: Vec::new(),
            architectures,
            entries: Vec::new(),
            damage: OnceLock::new(),
        };
        let mut base = 0;
        for (source, suite) in sources.into_iter().enumerate() {
            universe.labels.push(suite.label);
            universe.priorities.push(suite.priority);
            for packed in suite.indices {
                let classes = match packed.classes() {
                    Ok(classes) => classes
                        .iter()
                        .enumerate()
                        .filter(|(_, arch)| universe.configured(arch))
                        .map(|(class, _)| class)
                        .collect(),
                    Err(err) => {
                        universe.note_damage(source, &packed, &err);
                        Vec::new()
                    }
                };
                let len = packed.len();
                universe.indices.push(Index {
                    packed,
                    source,
                    base,
                    classes,
                });
                base += len;
            }
        }
        universe.entries = std::iter::repeat_with(OnceLock::new).take(base).collect();
        universe
    }

    fn configured(&self, arch: &str) -> bool {
        arch == "all" || self.architectures.iter().any(|a| a == arch)
    }

    fn note_damage(&self, source: usize, packed: &PackedIndex, err: &PackedError) {
        let _ = self.damage.set(format!(
            "suite `{}`, packed index {}: {err}",
            self.labels[source],
            packed.index_sha256()
        ));
    }

    /// The first damage found in a packed index, if any: no resolution over it can be trusted.
    pub(crate) fn damage(&self) -> Option<&str> {
        self.damage.get().map(String::as_str)
    }

    /// The index holding `id` and the record's number inside it.
    fn locate(&self, id: PkgId) -> (&Index, usize) {
        let at = self.indices.partition_point(|index| index.base <= id) - 1;
        let index = &self.indices[at];
        (index, id - index.base)
    }

    /// The entry of `id`, decoded on first use; `None` when it is of another architecture.
    fn materialise(&self, id: PkgId) -> Option<&Entry> {
        let slot = self.entries.get(id)?;
        slot.get_or_init(|| {
            let (index, record) = self.locate(id);
            match self.decode(index, record) {
                Ok(entry) => entry.map(Box::new),
                Err(err) => {
                    self.note_damage(index.source, &index.packed, &err);
                    None
                }
            }
        })
        .as_deref()
    }

    fn decode(&self, index: &Index, record: usize) -> Result<Option<Entry>, PackedError> {
        let arch = index.packed.architecture_of(record)?;
        let arch = if arch == "all" {
            self.architectures[0].clone()
        } else if self.configured(arch) {
            arch.to_owned()
        } else {
            return Ok(None);
        };
        Ok(Some(Entry {
            package: Arc::new(index.packed.package(record)?),
            source: index.source,
            priority: self.priorities[index.source],
            arch,
        }))
    }

    /// The ids `list` gives for `name` in each index, decoded, in input order.
    fn lookup(
        &self,
        name: &str,
        list: fn(&PackedIndex, NameId) -> Result<Vec<usize>, PackedError>,
    ) -> Vec<PkgId> {
        let mut ids = Vec::new();
        for index in &self.indices {
            let records = index
                .packed
                .lookup(name)
                .and_then(|found| found.map(|id| list(&index.packed, id)).transpose());
            match records {
                Ok(records) => ids.extend(
                    records
                        .into_iter()
                        .flatten()
                        .map(|record| index.base + record)
                        .filter(|&id| self.materialise(id).is_some()),
                ),
                Err(err) => self.note_damage(index.source, &index.packed, &err),
            }
        }
        ids
    }

    /// Versions named `name`, in input order.
    pub(crate) fn named(&self, name: &str) -> Vec<PkgId> {
        self.lookup(name, PackedIndex::records_named)
    }

    /// Versions providing `name`, in input order.
    pub(crate) fn providing(&self, name: &str) -> Vec<PkgId> {
        self.lookup(name, PackedIndex::records_providing)
    }

    /// When the indices first mentioned `name` (later mentions rank higher in apt's tie-break).
    pub(crate) fn mention_order(&self, name: &str) -> MentionOrder {
        for index in &self.indices {
            let first = index.packed.lookup(name).and_then(|found| {
                let Some(id) = found else { return Ok(None) };
                let mut first = None;
                for &class in &index.classes {
                    if let Some(mention) = index.packed.first_mention(id, class)? {
                        first = Some(first.map_or(mention, |seen: (u32, u32)| seen.min(mention)));
                    }
                }
                Ok(first)
            });
            match first {
                Ok(Some((record, position))) => return (index.base + record as usize, position),
                Ok(None) => {}
                Err(err) => self.note_damage(index.source, &index.packed, &err),
            }
        }
        (usize::MAX, u32::MAX)
    }

    /// The native architecture (the first one configured).
    pub fn native_arch(&self) -> &str {
        &self.architectures[0]
    }

    /// Every package version of a configured architecture, decoded (for checks over the
    /// whole universe; a resolution never needs this).
    pub(crate) fn ids(&self) -> Vec<PkgId> {
        (0..self.entries.len())
            .filter(|&id| self.materialise(id).is_some())
            .collect()
    }

    /// How many package versions the universe holds.
    pub fn len(&self) -> usize {
        self.indices
            .iter()
            .map(|index| {
                (0..index.packed.len())
                    .filter(|&record| {
                        index
                            .packed
                            .architecture_of(record)
                            .is_ok_and(|arch| self.configured(arch))
                    })
                    .count()
            })
            .sum()
    }

    /// Whether no package survived the architecture filter.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The entry of `id`. Ids come from the lookups, which decode what they return.
    pub(crate) fn entry(&self, id: PkgId) -> &Entry {
        self.materialise(id)
            .expect("ids come from lookups, which only return decoded entries")
    }

    pub(crate) fn label(&self, id: PkgId) -> &str {
        &self.labels[self.entry(id).source]
    }

    /// `name` or `name:arch` when the architecture is foreign, as apt prints it.
    pub(crate) fn display_name(&self, id: PkgId) -> String {
        let entry = self.entry(id);
        if entry.arch == self.architectures[0] {
            entry.package.name.clone()
        } else {
            format!("{}:{}", entry.package.name, entry.arch)
        }
    }

    /// Every distinct real package name, sorted.
    pub fn package_names(&self) -> impl Iterator<Item = &str> {
        self.names().into_iter()
    }

    /// Every distinct package name of a configured architecture, sorted (for "did you mean"
    /// suggestions: a scan of every name table, only on that error path).
    pub(crate) fn names(&self) -> Vec<&str> {
        let mut names = Vec::new();
        for index in &self.indices {
            let packed = &index.packed;
            for id in packed.name_ids() {
                let real = packed.records_named(id).is_ok_and(|records| {
                    records.into_iter().any(|record| {
                        packed
                            .architecture_of(record)
                            .is_ok_and(|arch| self.configured(arch))
                    })
                });
                if real && let Ok(name) = packed.name_text(id) {
                    names.push(name);
                }
            }
        }
        names.sort_unstable();
        names.dedup();
        names
    }
}

impl fmt::Debug for Universe {
    /// The decoded view (labels, architectures, every package), not the packed bytes.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let packages: Vec<(PkgId, String, String)> = self
            .ids()
            .into_iter()
            .map(|id| {
                let entry = self.entry(id);
                (id, self.display_name(id), entry.package.version.to_string())
            })
            .collect();
        f.debug_struct("Universe")
            .field("labels", &self.labels)
            .field("architectures", &self.architectures)
            .field("packages", &packages)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::super::test_support::pkg;
    use super::*;
    use crate::repo::packed;

    const SHA: &str = "1111111111111111111111111111111111111111111111111111111111111111";

    fn packed_of(packages: &[BinaryPackage]) -> Arc<PackedIndex> {
        let bytes = packed::encode(packages, SHA);
        Arc::new(PackedIndex::open(bytes, SHA).expect("fresh packed index"))
    }

    /// Two suites, the first with an amd64 and an i386 index (the `all` stanzas in both, as
    /// the archive has them), the same names in both suites, provides (versioned or not),
    /// Multi-Arch qualifiers and an architecture nobody configures.
    fn suites() -> Vec<(&'static str, i32, Vec<Vec<BinaryPackage>>)> {
        vec![
            (
                "stable",
                500,
                vec![
                    vec![
                        pkg("aa", "1", "Depends: bb, cc | dd\nProvides: vv"),
                        pkg("bb", "1", "Architecture: all\nProvides: vv (= 1)"),
                        pkg("ee", "1", "Architecture: arm64\nDepends: zz\nProvides: ww"),
                        pkg("ff", "1", "Architecture: all\nDepends: gg:any, ww"),
                        pkg("aa", "1", "Architecture: i386\nDepends: bb"),
                    ],
                    vec![
                        pkg("aa", "1", "Architecture: i386\nMulti-Arch: same"),
                        pkg("bb", "1", "Architecture: all\nProvides: vv (= 1)"),
                        pkg("hh", "1", "Architecture: i386\nDepends: yy\nProvides: vv"),
                    ],
                ],
            ),
            (
                "security",
                990,
                vec![vec![
                    pkg("aa", "2", "Depends: cc\nProvides: xx"),
                    pkg("vv", "1", ""),
                    pkg("bb", "2", "Architecture: all\nDepends: yy"),
                    pkg("yy", "1", "Architecture: arm64"),
                ]],
            ),
        ]
    }

    /// What the universe said before it was lazy: every package decoded up front, indexed by
    /// name and provided name, and a counter of first mentions over the configured records.
    struct Eager {
        packages: Vec<(String, String, String, String)>,
        by_name: HashMap<String, Vec<usize>>,
        providers: HashMap<String, Vec<usize>>,
        first_mention: HashMap<String, usize>,
    }

    fn eager(architectures: &[&str]) -> Eager {
        let mut model = Eager {
            packages: Vec::new(),
            by_name: HashMap::new(),
            providers: HashMap::new(),
            first_mention: HashMap::new(),
        };
        for (label, _, indices) in suites() {
            for package in indices.iter().flatten() {
                let arch = if package.architecture == "all" {
                    architectures[0].to_owned()
                } else if architectures.contains(&package.architecture.as_str()) {
                    package.architecture.clone()
                } else {
                    continue;
                };
                let mut mention = |name: &str| {
                    let next = model.first_mention.len();
                    model.first_mention.entry(name.to_owned()).or_insert(next);
                };
                mention(&package.name);
                for target in package.depends_text().into_iter().flat_map(|field| {
                    field.split([',', '|']).filter_map(|atom| {
                        atom.split([' ', '(', ':', '\n', '\t'])
                            .find(|w| !w.is_empty())
                    })
                }) {
                    mention(target);
                }
                for provided in &package.provides {
                    mention(&provided.name);
                }
                let id = model.packages.len();
                model
                    .by_name
                    .entry(package.name.clone())
                    .or_default()
                    .push(id);
                for provided in &package.provides {
                    let list = model.providers.entry(provided.name.clone()).or_default();
                    if list.last() != Some(&id) {
                        list.push(id);
                    }
                }
                let version = package.version.to_string();
                model
                    .packages
                    .push((label.to_owned(), package.name.clone(), version, arch));
            }
        }
        model
    }

    fn lazy(architectures: &[&str]) -> Universe {
        let sources = suites()
            .into_iter()
            .map(|(label, priority, indices)| SourceIndices {
                label: label.to_owned(),
                priority,
                indices: indices.iter().map(|packages| packed_of(packages)).collect(),
            })
            .collect();
        let archs: Vec<Arch> = architectures
            .iter()
            .map(|a| Arch::parse(a).expect("arch"))
            .collect();
        Universe::from_indices(sources, &archs)
    }

    const NAMES: [&str; 12] = [
        "aa", "bb", "cc", "dd", "ee", "ff", "gg", "hh", "vv", "ww", "xx", "yy",
    ];

    #[test]
    fn lookups_and_mention_order_match_the_eager_universe() {
        for architectures in [
            &["amd64"][..],
            &["i386"],
            &["amd64", "i386"],
            &["i386", "amd64", "arm64"],
        ] {
            let model = eager(architectures);
            let universe = lazy(architectures);
            let describe = |id: PkgId| {
                let entry = universe.entry(id);
                (
                    universe.label(id).to_owned(),
                    entry.package.name.clone(),
                    entry.package.version.to_string(),
                    entry.arch.clone(),
                )
            };
            let expected = |ids: Option<&Vec<usize>>| -> Vec<_> {
                ids.into_iter()
                    .flatten()
                    .map(|&id| model.packages[id].clone())
                    .collect()
            };
            for name in NAMES.iter().chain(&["zz", "unknown"]) {
                let named: Vec<_> = universe.named(name).into_iter().map(describe).collect();
                assert_eq!(
                    named,
                    expected(model.by_name.get(*name)),
                    "{architectures:?} {name}"
                );
                let providing: Vec<_> =
                    universe.providing(name).into_iter().map(describe).collect();
                assert_eq!(
                    providing,
                    expected(model.providers.get(*name)),
                    "{architectures:?} provides {name}"
                );
            }
            // Only the order of first mentions matters (apt's ID tie-break compares them).
            let order = |key: &dyn Fn(&str) -> (usize, u32)| {
                let mut names: Vec<&str> = NAMES.to_vec();
                names.sort_by_key(|name| key(name));
                names
            };
            let by_model = order(&|name| {
                model
                    .first_mention
                    .get(name)
                    .map_or((usize::MAX, u32::MAX), |&n| (n, 0))
            });
            assert_eq!(
                order(&|name| universe.mention_order(name)),
                by_model,
                "{architectures:?}"
            );
            let mut real: Vec<&str> = model.by_name.keys().map(String::as_str).collect();
            real.sort_unstable();
            assert_eq!(universe.names(), real, "{architectures:?}");
            assert_eq!(universe.len(), model.packages.len());
            let all: Vec<_> = universe.ids().into_iter().map(describe).collect();
            assert_eq!(all, model.packages);
            assert_eq!(universe.damage(), None);
        }
    }

    /// Ids follow input order across indices and suites, with gaps where a record is of an
    /// architecture nobody configured.
    #[test]
    fn ids_are_in_input_order() {
        let universe = lazy(&["amd64"]);
        let ids = universe.named("aa");
        assert!(ids.windows(2).all(|pair| pair[0] < pair[1]), "{ids:?}");
        assert_eq!(universe.label(ids[0]), "stable");
        assert_eq!(universe.label(ids[ids.len() - 1]), "security");
        assert!(universe.named("ee").is_empty(), "arm64 is not configured");
        assert!(universe.providing("ww").is_empty());
        // `ww` is first mentioned by the arm64 record 2, which does not count unless arm64 is
        // configured; then by `ff` (record 3).
        assert_eq!(universe.mention_order("ww"), (3, 2));
        assert_eq!(lazy(&["amd64", "arm64"]).mention_order("ww"), (2, 2));
        assert_eq!(universe.mention_order("nothing"), (usize::MAX, u32::MAX));
    }

    /// A record that does not decode, in a file whose checksum was made to match, is never
    /// returned, and the resolution reports the damage instead of a result.
    #[test]
    fn a_damaged_record_fails_the_resolution_with_a_clear_error() {
        let packages = [pkg("aa", "1", "Depends: bb"), pkg("bb", "7.7~zz", "")];
        let mut bytes = packed::encode(&packages, SHA);
        // The first copy of the text is the version (the file name comes after it).
        let at = bytes
            .windows(6)
            .position(|w| w == b"7.7~zz")
            .expect("bb's version in the blob");
        bytes[at + 3] = b'!';
        packed::reseal(&mut bytes);
        let index = PackedIndex::open(bytes, SHA).expect("the checksum matches");
        let universe = Universe::from_indices(
            vec![SourceIndices {
                label: "stable".into(),
                priority: 500,
                indices: vec![Arc::new(index)],
            }],
            &[Arch::parse("amd64").expect("arch")],
        );
        let request = super::super::Request {
            roots: vec![super::super::Root::parse("aa").expect("root")],
            ..Default::default()
        };
        let err = super::super::resolve(&universe, &request).expect_err("damaged");
        let text = err.to_string();
        assert!(text.contains("index cache is damaged"), "{text}");
        assert!(text.contains("suite `stable`"), "{text}");
        assert!(text.contains("packed-v2"), "{text}");
    }
}
