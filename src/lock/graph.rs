//! The lock as a graph: the `required-by` lists are the reverse edges of the closure (a root
//! lists `manifest`), so "why is PKG here" is a walk backwards from PKG to the roots. `debless
//! why` prints it; layering and size reports can reuse the same edges.

use std::collections::{BTreeMap, VecDeque};

use serde::Serialize;

use super::{Lock, LockedPackage};

/// Partial chains explored before giving up even with `--all`, so a pathological lock
/// cannot hang the command.
const EXPLORATION_BUDGET: usize = 200_000;

/// Why one package is in the image of one architecture.
#[derive(Debug, PartialEq, Eq, Serialize)]
pub struct Explanation {
    pub target: String,
    /// PKG is in this architecture's image at all.
    pub locked: bool,
    /// PKG is one of the manifest's packages.
    pub root: bool,
    /// Chains from a root to PKG (both included), shortest first.
    pub chains: Vec<Vec<String>>,
    /// More chains exist than are listed.
    pub truncated: bool,
}

/// The name the lock's `depends`/`required-by` lists use for a package of `target`:
/// `name`, or `name:arch` for a foreign architecture.
pub(crate) fn graph_name(p: &LockedPackage) -> String {
    if p.architecture == p.target.as_str() || p.architecture == "all" {
        p.name.clone()
    } else {
        format!("{}:{}", p.name, p.architecture)
    }
}

/// Whether `p` is the package a user means by `wanted` (`name` or `name:arch`).
pub fn is_named(p: &LockedPackage, wanted: &str) -> bool {
    p.name == wanted || graph_name(p) == wanted
}

/// The chains from the manifest's roots to `wanted` in the image of `target`, at most
/// `limit` of them, shortest first (then alphabetical).
pub fn explain(lock: &Lock, target: &str, wanted: &str, limit: usize) -> Explanation {
    let graph: BTreeMap<String, &LockedPackage> = lock
        .packages
        .iter()
        .filter(|p| p.target.as_str() == target)
        .map(|p| (graph_name(p), p))
        .collect();
    let is_root = |name: &str| {
        graph
            .get(name)
            .is_some_and(|p| p.required_by.iter().any(|r| r == "manifest"))
    };
    let starts: Vec<&String> = graph
        .iter()
        .filter(|(_, p)| is_named(p, wanted))
        .map(|(name, _)| name)
        .collect();
    let root = starts.iter().any(|name| is_root(name));
    // Breadth-first over reversed partial chains, so complete chains come out by length.
    let mut queue: VecDeque<Vec<&str>> = starts.iter().map(|s| vec![s.as_str()]).collect();
    let mut chains: Vec<Vec<String>> = Vec::new();
    let mut explored = 0;
    let mut truncated = false;
    while let Some(reversed) = queue.pop_front() {
        // Finish the current length before stopping, so the cut is alphabetical, not arbitrary.
        if chains.len() >= limit && chains.last().is_some_and(|c| c.len() < reversed.len()) {
            truncated = true;
            break;
        }
        explored += 1;
        if explored > EXPLORATION_BUDGET {
            truncated = true;
            break;
        }
        let last = *reversed.last().expect("partial chains are never empty");
        if reversed.len() > 1 && is_root(last) {
            chains.push(reversed.iter().rev().map(|s| (*s).to_owned()).collect());
            continue;
        }
        let Some(package) = graph.get(last) else {
            continue;
        };
        for parent in &package.required_by {
            if parent != "manifest" && !reversed.contains(&parent.as_str()) {
                let mut longer = reversed.clone();
                longer.push(parent);
                queue.push_back(longer);
            }
        }
    }
    chains.sort_by(|a, b| a.len().cmp(&b.len()).then_with(|| a.cmp(b)));
    if chains.len() > limit {
        chains.truncate(limit);
        truncated = true;
    }
    Explanation {
        target: target.to_owned(),
        locked: !starts.is_empty(),
        root,
        chains,
        truncated,
    }
}
