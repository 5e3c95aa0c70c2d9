//! Which packages can satisfy one dependency atom, best first: the real package of that name
//! and every provider, ranked as apt's `CompareProviders` ranks them
//! (apt-pkg/depcache.cc, apt 2.6.1).
//!
//! apt's order, restricted to what an empty dpkg status can show: (1) the package of the same
//! name as the target (the real package beats providers); (2) `Essential: yes`; (3)
//! `Important: yes` / `Protected: yes`; (4) the native architecture, then the configured order;
//! (5) `Priority` (required first); (6) apt's internal package ID, higher wins. The ID is the
//! order in which apt's cache first met a name while parsing the indices, as a package or as
//! the target of any relationship; debless counts first mentions as a package, a `Depends`
//! target or a provided name, which reproduced apt on every tie seen so far (trixie
//! `c-shell` -> csh, `librust-strsim-0+default-dev` -> librust-strsim-0.10-dev). It is still
//! an approximation (apt also counts Recommends, Suggests, Enhances, ...), so ties are
//! reported as notes. A manifest `[prefer]` entry for the target name overrides all of this.
//!
//! Versioned provides: only `Provides: x (= v)` carries a version; an unversioned provide
//! never satisfies a versioned dependency (Policy §7.5, dpkg depcon.c).

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet};

use super::candidates::{Pins, order_versions};
use super::multiarch::Wanted;
use super::universe::{MentionOrder, PkgId, Universe};
use crate::debian::package::Priority;
use crate::debian::{Atom, Relation, Version};

/// Whether package `id` satisfies `atom` as its real package or through one of its provides.
pub(crate) fn atom_matches(
    universe: &Universe,
    atom: &Atom,
    wanted: Wanted<'_>,
    id: PkgId,
) -> bool {
    real_matches(universe, atom, wanted, id) || provide_matches(universe, atom, wanted, id)
}

/// Whether package `id` is `atom`'s own package at an acceptable version and architecture.
pub(crate) fn real_matches(
    universe: &Universe,
    atom: &Atom,
    wanted: Wanted<'_>,
    id: PkgId,
) -> bool {
    let entry = universe.entry(id);
    entry.package.name == atom.name
        && wanted.accepts(&entry.arch, entry.package.multi_arch)
        && atom.accepts(Some(&entry.package.version))
}

/// Whether package `id` provides `atom` at an acceptable version, for an acceptable
/// architecture.
pub(crate) fn provide_matches(
    universe: &Universe,
    atom: &Atom,
    wanted: Wanted<'_>,
    id: PkgId,
) -> bool {
    let entry = universe.entry(id);
    wanted.accepts(&entry.arch, entry.package.multi_arch)
        && entry
            .package
            .provides
            .iter()
            .any(|provide| provide.name == atom.name && atom.accepts(provided_version(provide)))
}

/// The version a `Provides` atom carries: only `(= v)` counts.
pub(crate) fn provided_version(provide: &Atom) -> Option<&Version> {
    match &provide.constraint {
        Some((Relation::Exactly, version)) => Some(version),
        _ => None,
    }
}

/// The packages of one name on one architecture that satisfy an atom, best version first.
#[derive(Clone, Debug)]
pub(crate) struct SlotCandidates {
    pub name: String,
    pub versions: Vec<PkgId>,
    /// Whether the slot is the atom's own package (not a provider).
    pub is_real: bool,
    rank: Rank,
}

/// apt's `CompareProviders` key, smallest first; the stand-in for apt's package ID last,
/// descending (the higher ID wins in apt).
type Rank = (
    bool,
    bool,
    bool,
    bool,
    usize,
    Priority,
    Reverse<MentionOrder>,
);

/// Everything that can satisfy `atom` for a depender filed under `depender_arch`, grouped by
/// slot and sorted best first.
pub(crate) fn candidates_for_atom(
    universe: &Universe,
    pins: &Pins,
    prefer: Option<&str>,
    atom: &Atom,
    depender_arch: &str,
) -> Vec<SlotCandidates> {
    let wanted =
        Wanted::from_qualifier(atom.arch.as_deref(), depender_arch, universe.native_arch());
    let ids: BTreeSet<PkgId> = universe
        .named(&atom.name)
        .into_iter()
        .chain(universe.providing(&atom.name))
        .filter(|&id| atom_matches(universe, atom, wanted, id))
        .collect();
    let mut slots: BTreeMap<(String, String), Vec<PkgId>> = BTreeMap::new();
    for id in ids {
        let entry = universe.entry(id);
        slots
            .entry((entry.package.name.clone(), entry.arch.clone()))
            .or_default()
            .push(id);
    }
    let mut out: Vec<SlotCandidates> = slots
        .into_iter()
        .map(|((name, arch), mut versions)| {
            order_versions(universe, pins, &mut versions);
            let best = universe.entry(versions[0]);
            let arch_rank = universe
                .architectures
                .iter()
                .position(|a| *a == arch)
                .unwrap_or(usize::MAX);
            let is_real = name == atom.name;
            let rank = (
                prefer != Some(name.as_str()),
                !is_real,
                !best.package.essential,
                !best.package.important,
                arch_rank,
                best.package.priority,
                Reverse(universe.mention_order(&name)),
            );
            SlotCandidates {
                name,
                versions,
                is_real,
                rank,
            }
        })
        .collect();
    out.sort_by_key(|slot| slot.rank);
    out
}

/// Whether apt would have had to fall back to its arbitrary tie-break between the first two
/// slots (everything but the name is equal).
pub(crate) fn is_tie(first: &SlotCandidates, second: &SlotCandidates) -> bool {
    let (a, b) = (&first.rank, &second.rank);
    (a.0, a.1, a.2, a.3, a.4, a.5) == (b.0, b.1, b.2, b.3, b.4, b.5)
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{atom, pkg, universe_of};
    use super::*;

    fn names(slots: &[SlotCandidates]) -> Vec<&str> {
        slots.iter().map(|s| s.name.as_str()).collect()
    }

    #[test]
    fn real_package_beats_providers() {
        let universe = universe_of(vec![(
            "s",
            500,
            vec![
                pkg("lsb-base", "1", ""),
                pkg(
                    "sysvinit-utils",
                    "1",
                    "Provides: lsb-base\nEssential: yes\nPriority: required",
                ),
            ],
        )]);
        let slots = candidates_for_atom(
            &universe,
            &Pins::default(),
            None,
            &atom("lsb-base"),
            "amd64",
        );
        assert_eq!(names(&slots), ["lsb-base", "sysvinit-utils"]);
    }

    #[test]
    fn providers_ranked_by_essential_important_priority_then_name() {
        let universe = universe_of(vec![(
            "s",
            500,
            vec![
                pkg("gawk", "1", "Provides: awk\nPriority: optional"),
                pkg("mawk", "1", "Provides: awk\nPriority: required"),
                pkg("original-awk", "1", "Provides: awk\nPriority: optional"),
                pkg(
                    "busybox-awk",
                    "1",
                    "Provides: awk\nImportant: yes\nPriority: optional",
                ),
            ],
        )]);
        let slots = candidates_for_atom(&universe, &Pins::default(), None, &atom("awk"), "amd64");
        assert_eq!(
            names(&slots),
            ["busybox-awk", "mawk", "original-awk", "gawk"]
        );
        assert!(is_tie(&slots[2], &slots[3]));
        assert!(!is_tie(&slots[1], &slots[2]));
        let preferred = candidates_for_atom(
            &universe,
            &Pins::default(),
            Some("gawk"),
            &atom("awk"),
            "amd64",
        );
        assert_eq!(preferred[0].name, "gawk");
    }

    #[test]
    fn versioned_dependency_needs_versioned_provide() {
        let universe = universe_of(vec![(
            "s",
            500,
            vec![
                pkg("unversioned", "1", "Provides: virt"),
                pkg("versioned", "1", "Provides: virt (= 2.0)"),
                pkg("old", "1", "Provides: virt (= 1.0)"),
            ],
        )]);
        let slots = candidates_for_atom(
            &universe,
            &Pins::default(),
            None,
            &atom("virt (>= 2)"),
            "amd64",
        );
        assert_eq!(names(&slots), ["versioned"]);
        let any = candidates_for_atom(&universe, &Pins::default(), None, &atom("virt"), "amd64");
        assert_eq!(any.len(), 3);
    }

    #[test]
    fn any_qualifier_needs_allowed() {
        let universe = universe_of(vec![(
            "s",
            500,
            vec![
                pkg("python3", "3.11", "Multi-Arch: allowed"),
                pkg("perl", "5.36", ""),
            ],
        )]);
        let pins = Pins::default();
        assert_eq!(
            candidates_for_atom(&universe, &pins, None, &atom("python3:any"), "amd64").len(),
            1
        );
        assert!(candidates_for_atom(&universe, &pins, None, &atom("perl:any"), "amd64").is_empty());
    }
}
