//! Which version of one package (one name on one architecture, a "slot") to try first.
//!
//! apt's candidate is the version with the highest pin priority, then the highest version
//! (apt-pkg/policy.cc `GetCandidateVer`). debless adds two things apt does not do: a version
//! pinned by the existing lock comes first when it is still available (Cargo semantics: a
//! re-lock changes nothing it does not have to), and when the candidate does not satisfy a
//! versioned dependency the next versions are tried in the same order (apt would give up).

use std::cmp::Reverse;
use std::collections::HashMap;

use super::universe::{PkgId, Universe};
use crate::debian::Version;

/// A version kept from an existing lock.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pin {
    pub name: String,
    /// The architecture as the lock records it (`all` or a Debian architecture).
    pub arch: String,
    pub version: Version,
}

/// Pins indexed by package name for the solver.
#[derive(Debug, Default)]
pub(crate) struct Pins {
    by_name: HashMap<String, Vec<Pin>>,
}

impl Pins {
    pub(crate) fn new(pins: &[Pin]) -> Self {
        let mut by_name: HashMap<String, Vec<Pin>> = HashMap::new();
        for pin in pins {
            by_name
                .entry(pin.name.clone())
                .or_default()
                .push(pin.clone());
        }
        Self { by_name }
    }

    /// Whether the lock pinned exactly this package version.
    pub(crate) fn is_pinned(&self, universe: &Universe, id: PkgId) -> bool {
        let entry = universe.entry(id);
        self.by_name.get(&entry.package.name).is_some_and(|pins| {
            pins.iter().any(|pin| {
                (pin.arch == entry.arch || pin.arch == entry.package.architecture)
                    && pin.version == entry.package.version
            })
        })
    }
}

/// Sorts versions of one slot best first: pinned, then source priority, then version, then
/// input order (the first suite listed wins a tie, e.g. a package both in a suite and in its
/// security suite).
pub(crate) fn order_versions(universe: &Universe, pins: &Pins, versions: &mut [PkgId]) {
    versions.sort_by(|&a, &b| {
        let ea = universe.entry(a);
        let eb = universe.entry(b);
        let key = |id: PkgId, e: &super::universe::Entry| {
            (
                Reverse(pins.is_pinned(universe, id)),
                Reverse(e.priority),
                Reverse(e.package.version.clone()),
                id,
            )
        };
        key(a, ea).cmp(&key(b, eb))
    });
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{pkg, universe_of};
    use super::*;

    #[test]
    fn priority_beats_version_and_pins_beat_both() {
        let universe = universe_of(vec![
            ("stable", 500, vec![pkg("a", "1.0", "")]),
            ("backports", 100, vec![pkg("a", "2.0", "")]),
            ("updates", 500, vec![pkg("a", "1.1", "")]),
        ]);
        let mut ids: Vec<PkgId> = universe.named("a").to_vec();
        order_versions(&universe, &Pins::default(), &mut ids);
        let versions: Vec<&str> = ids
            .iter()
            .map(|&id| universe.entry(id).package.version.as_str())
            .collect();
        assert_eq!(versions, ["1.1", "1.0", "2.0"]);

        let pins = Pins::new(&[Pin {
            name: "a".into(),
            arch: "amd64".into(),
            version: Version::parse("1.0").expect("valid"),
        }]);
        order_versions(&universe, &pins, &mut ids);
        assert_eq!(universe.entry(ids[0]).package.version.as_str(), "1.0");
    }
}
