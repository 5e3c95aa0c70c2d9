//! Brute-force model check (after cargo's `resolver-tests`): on thousands of tiny random
//! universes, every resolution must be closed and conflict-free, and `resolve` may fail only
//! when no subset of the universe is a valid closure either.

use std::collections::BTreeSet;

use super::multiarch::Wanted;
use super::provides::atom_matches;
use super::solver::negative_matches;
use super::test_support::{pkg, universe_of};
use super::universe::PkgId;
use super::*;

/// xorshift64*: tiny, deterministic, good enough to shuffle test universes.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        usize::try_from(self.next() % n as u64).expect("small")
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
}

const NAMES: &[&str] = &["pa", "pb", "pc", "pd", "pe"];
const VIRTUALS: &[&str] = &["va", "vb"];

fn random_atom(rng: &mut Rng) -> String {
    let pool: Vec<&str> = NAMES.iter().chain(VIRTUALS).copied().collect();
    let name = pool[rng.below(pool.len())];
    match rng.below(8) {
        0 => format!("{name} (>= 2)"),
        1 => format!("{name} (<< 2)"),
        2 => format!("{name} (= 1)"),
        _ => name.to_owned(),
    }
}

fn random_universe(rng: &mut Rng) -> Universe {
    let mut packages = Vec::new();
    for name in NAMES {
        let versions = if rng.chance(30) { 2 } else { 1 };
        for version in 1..=versions {
            let mut fields = String::new();
            let groups: Vec<String> = (0..rng.below(3))
                .map(|_| {
                    (0..1 + rng.below(2))
                        .map(|_| random_atom(rng))
                        .collect::<Vec<_>>()
                        .join(" | ")
                })
                .collect();
            if !groups.is_empty() {
                fields.push_str(&format!("Depends: {}\n", groups.join(", ")));
            }
            if rng.chance(30) {
                let virt = VIRTUALS[rng.below(VIRTUALS.len())];
                if rng.chance(50) {
                    fields.push_str(&format!("Provides: {virt} (= {version})\n"));
                } else {
                    fields.push_str(&format!("Provides: {virt}\n"));
                }
            }
            if rng.chance(20) {
                fields.push_str(&format!("Conflicts: {}\n", random_atom(rng)));
            }
            if rng.chance(10) {
                fields.push_str(&format!("Breaks: {}\n", random_atom(rng)));
            }
            packages.push(pkg(name, &version.to_string(), &fields));
        }
    }
    universe_of(vec![("model", 500, packages)])
}

/// Whether `chosen` is a valid answer to `request`: roots present, nothing excluded, one
/// version per package, every dependency group met (or unmeetable except by excluded
/// packages), no conflicts.
fn is_valid(universe: &Universe, request: &Request, chosen: &BTreeSet<PkgId>) -> bool {
    let name = |id: PkgId| universe.entry(id).package.name.as_str();
    let excluded = |id: PkgId| request.exclude.contains(name(id));
    if chosen.iter().any(|&id| excluded(id)) {
        return false;
    }
    let names: BTreeSet<&str> = chosen.iter().map(|&id| name(id)).collect();
    if names.len() != chosen.len() {
        return false;
    }
    let roots_ok = request.roots.iter().all(|root| {
        let atom = root.atom();
        chosen.iter().any(|&id| {
            name(id) == root.name && atom.accepts(Some(&universe.entry(id).package.version))
        })
    });
    if !roots_ok {
        return false;
    }
    let all: Vec<PkgId> = universe.ids();
    for &id in chosen {
        let package = &universe.entry(id).package;
        for group in package.dependencies().expect("model relations parse") {
            let matching = |pool: &mut dyn Iterator<Item = PkgId>| -> Vec<PkgId> {
                pool.filter(|&other| {
                    group
                        .iter()
                        .any(|atom| atom_matches(universe, atom, Wanted::SameAs("amd64"), other))
                })
                .collect()
            };
            if !matching(&mut chosen.iter().copied()).is_empty() {
                continue;
            }
            let possible = matching(&mut all.iter().copied());
            let only_excluded = !possible.is_empty() && possible.iter().all(|&p| excluded(p));
            if !only_excluded {
                return false;
            }
        }
        let negatives: Vec<_> = package
            .conflicts()
            .expect("model relations parse")
            .into_iter()
            .chain(package.breaks().expect("model relations parse"))
            .collect();
        for &other in chosen {
            if other != id
                && negatives
                    .iter()
                    .any(|atom| negative_matches(universe, atom, other))
            {
                return false;
            }
        }
    }
    true
}

fn brute_force_has_solution(universe: &Universe, request: &Request) -> bool {
    let ids = universe.ids();
    (0u32..1 << ids.len()).any(|mask| {
        let chosen: BTreeSet<PkgId> = (0..ids.len())
            .filter(|i| mask & (1 << i) != 0)
            .map(|i| ids[i])
            .collect();
        is_valid(universe, request, &chosen)
    })
}

#[test]
fn resolutions_are_closed_conflict_free_and_complete() {
    let mut rng = Rng(0x0DEB_1E55_5EED_0001);
    let (mut solved, mut unsolvable) = (0, 0);
    for round in 0..3000 {
        let universe = random_universe(&mut rng);
        let mut request = Request::default();
        for _ in 0..1 + rng.below(2) {
            let name = NAMES[rng.below(NAMES.len())];
            let text = if rng.chance(15) {
                format!("{name} (>= 2)")
            } else {
                name.to_owned()
            };
            request.roots.push(Root::parse(&text).expect("valid root"));
        }
        if rng.chance(30) {
            request
                .exclude
                .insert(NAMES[rng.below(NAMES.len())].to_owned());
        }
        let exists = brute_force_has_solution(&universe, &request);
        match resolve(&universe, &request) {
            Ok(resolution) => {
                let chosen: BTreeSet<PkgId> = resolution
                    .packages
                    .iter()
                    .map(|c| {
                        universe
                            .ids()
                            .into_iter()
                            .find(|&id| {
                                std::sync::Arc::ptr_eq(&universe.entry(id).package, &c.package)
                            })
                            .expect("chosen package comes from the universe")
                    })
                    .collect();
                assert!(
                    is_valid(&universe, &request, &chosen),
                    "round {round}: invalid resolution {:?} for {request:?}\n{universe:#?}",
                    resolution
                        .packages
                        .iter()
                        .map(|c| (&c.package.name, c.package.version.as_str()))
                        .collect::<Vec<_>>()
                );
                solved += 1;
            }
            Err(error) => {
                assert!(
                    !exists,
                    "round {round}: resolve failed ({error}) but a closure exists for {request:?}\n{universe:#?}"
                );
                unsolvable += 1;
            }
        }
    }
    // The generator must exercise both outcomes to mean anything.
    assert!(
        solved > 500 && unsolvable > 100,
        "solved {solved}, unsolvable {unsolvable}"
    );
}
