//! Stage `resolve`: the dependency closure of the manifest's packages, as apt would install it
//! into an empty system with `APT::Install-Recommends=false`.
//!
//! Input: a [`Universe`] (every package of the configured suites) and a [`Request`] (roots,
//! excludes, provider preferences, pins from the old lock, packages a base image already has).
//! Output: a [`Resolution`]: the chosen packages with who pulled them in, plus [`Note`]s.
//! Fetching and verifying indices is `repo`'s job; writing the lock is `lock`'s.
//!
//! # Design note: how the closure is computed, and why it matches apt
//!
//! The oracle is `apt-get -s install ROOTS` with an empty dpkg status (bookworm apt 2.6.1,
//! the "classic" solver, apt-pkg/depcache.cc `MarkInstall`). That solver is not a SAT solver:
//! it is a greedy depth-first walk, and its result depends on the order of the walk. debless
//! replays the same walk:
//!
//! 1. Every root is marked first (apt-get marks the command line without auto-install, then
//!    auto-installs each root's dependencies), so a root satisfies dependencies of the roots
//!    before it. Then the roots' dependencies are walked root by root.
//! 2. Marking a package walks its `Pre-Depends` then `Depends` (the order apt's cache keeps),
//!    each OR-group in written order, depth first: the first dependency of the first
//!    dependency is settled before the second dependency of the root.
//! 3. A group already satisfied by a marked package (or a base-image package) is skipped.
//!    Otherwise the alternatives are tried in written order; inside one alternative the real
//!    package and its providers are ranked by apt's `CompareProviders` (see `provides.rs`);
//!    each candidate slot contributes its versions ranked by `candidates.rs` (pin, priority,
//!    version). The first candidate that can be marked wins.
//!
//! Where apt's greedy walk would fail (a conflict, a versioned dependency nothing meets),
//! debless does not stop: every point with more than one candidate is a choice point, and a
//! failure backtracks chronologically to the latest one and tries its next candidate. When
//! the greedy walk succeeds no choice is ever revisited, so the first solution found is
//! exactly apt's; when it fails, the search is complete (it finds a closure whenever one
//! exists, checked against brute force in `model_check`), which apt's is not. The error
//! reported when nothing works is the first failure of the greedy walk: the one apt users
//! would recognise.
//!
//! Deliberate differences from apt 2.6.1, all invisible for ordinary roots:
//! - apt auto-installs the roots' dependencies in its cache's package order, not in command
//!   line order; debless uses the manifest's order (only OR/provider choices shared by two
//!   roots can tell).
//! - apt breaks a full provider tie by internal package ID; debless approximates that ID by
//!   the order of first mention in the indices, and says so in a [`Note`] so the user can pin
//!   the choice with `[prefer]`.
//! - apt only ever tries each package's candidate version; debless tries older ones when the
//!   candidate does not meet a versioned dependency (several suites, pins).
//! - apt leaves the marks of a failed alternative behind; debless undoes them.
//! - Candidates that conflict with (or are broken by) what is already chosen are skipped
//!   rather than chosen and repaired by apt's problem resolver.
//!
//! # Costs
//!
//! Records are decoded from the packed indices only when a lookup returns them, and
//! relationship fields parsed only for visited packages (a few hundred of 60,000), both
//! cached for the resolution (see `universe`). Each visited group costs one index lookup by name and by
//! provided name plus a conflict scan over the chosen set (O(chosen × their conflict
//! atoms)); a closure of a few dozen packages visits a few hundred groups. Indexing a suite
//! costs nothing: the packed index already holds its name tables. Backtracking is exponential in the
//! worst case, so it is bounded ([`ResolveError::TooComplex`]); when apt's greedy walk
//! succeeds, debless walks the same path and never backtracks.

mod candidates;
mod error;
mod multiarch;
mod provides;
mod request;
mod solver;
mod universe;

#[cfg(test)]
mod model_check;
#[cfg(test)]
mod test_support;
#[cfg(test)]
mod tests;

use std::sync::Arc;

pub use candidates::Pin;
pub use error::{Note, ResolveError};
pub use request::{Installed, Request, Root};
pub use universe::{SourceIndices, SourcePackages, Universe};

use crate::debian::BinaryPackage;

/// The closure of a request: what the lock records.
#[derive(Clone, Debug)]
pub struct Resolution {
    /// Sorted by (name, architecture).
    pub packages: Vec<Chosen>,
    /// Choices and omissions worth telling the user about, in the order they were made.
    pub notes: Vec<Note>,
}

/// One package of the closure.
#[derive(Clone, Debug)]
pub struct Chosen {
    /// The suite it was taken from (`bookworm`, `bookworm-security`, ...).
    pub source_label: String,
    pub package: Arc<BinaryPackage>,
    /// Chosen packages (`name`, or `name:arch` when foreign) whose dependencies it satisfies,
    /// and `manifest` when it is a root. Sorted.
    pub required_by: Vec<String>,
    /// Chosen packages satisfying its `Pre-Depends`/`Depends`. Sorted.
    pub depends_on: Vec<String>,
}

/// Computes the closure of `request` over `universe`; see the design note above.
/// A damaged packed index (see `universe`) fails the resolution whatever the walk found.
pub fn resolve(universe: &Universe, request: &Request) -> Result<Resolution, ResolveError> {
    let result = solver::Solver::new(universe, request).run();
    match universe.damage() {
        Some(damage) => Err(ResolveError::DamagedIndex {
            reason: damage.to_owned(),
        }),
        None => result,
    }
}
