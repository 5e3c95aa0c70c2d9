//! The walk itself: apt's depth-first marking order with chronological backtracking at
//! choice points (see the design note in `mod.rs`). State is a list of chosen packages plus
//! an agenda (a stack of tasks); a choice point records both so a failure can resume from the
//! next candidate.

use std::collections::{HashMap, HashSet};
use std::rc::Rc;

use super::candidates::{Pins, order_versions};
use super::error::{Note, ResolveError};
use super::multiarch::{Wanted, coinstallable};
use super::provides::{atom_matches, candidates_for_atom, is_tie, provided_version};
use super::request::Request;
use super::universe::{PkgId, Universe};
use super::{Chosen, Resolution};
use crate::debian::{Alternatives, Atom, relation::display_alternatives, suggest::suggestions};

/// How many times the search may back up before it gives up.
const BACKTRACK_LIMIT: usize = 20_000;

/// The parsed relationship fields of one visited package.
struct Relations {
    /// `Pre-Depends` then `Depends`.
    depends: Vec<Alternatives>,
    /// `Conflicts` and `Breaks` atoms with the verb for messages.
    negative: Vec<(Atom, &'static str)>,
}

#[derive(Clone, Copy, Debug)]
enum Task {
    /// Mark the `n`th root.
    Root(usize),
    /// All roots are marked: walk their dependencies, root by root.
    RootDeps,
    /// Satisfy dependency group `group` of `pkg`.
    Group { pkg: PkgId, group: usize },
}

/// Who pulled a package in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Parent {
    Manifest,
    Package(PkgId),
}

/// One way to satisfy a task, with the note to record if it is taken.
#[derive(Clone, Debug)]
struct Pick {
    id: PkgId,
    note: Option<Note>,
}

struct ChoicePoint {
    agenda: Vec<Task>,
    task: Task,
    parent: Parent,
    picks: Vec<Pick>,
    next: usize,
    selected_len: usize,
    notes_len: usize,
}

pub(crate) struct Solver<'a> {
    universe: &'a Universe,
    request: &'a Request,
    pins: Pins,
    relations: HashMap<PkgId, Rc<Relations>>,
    /// Chosen packages in marking order.
    selected: Vec<(PkgId, Parent)>,
    /// Chosen and base-image packages.
    present: HashSet<PkgId>,
    /// (name, arch) of chosen and base-image packages.
    slots: HashMap<(String, String), PkgId>,
    /// Base-image packages that are in the universe.
    installed: Vec<PkgId>,
    /// Base-image packages that are not: they satisfy only dependencies on their own name.
    installed_elsewhere: Vec<super::Installed>,
    notes: Vec<Note>,
    first_failure: Option<ResolveError>,
}

impl<'a> Solver<'a> {
    pub(crate) fn new(universe: &'a Universe, request: &'a Request) -> Self {
        let mut solver = Self {
            universe,
            request,
            pins: Pins::new(&request.pins),
            relations: HashMap::new(),
            selected: Vec::new(),
            present: HashSet::new(),
            slots: HashMap::new(),
            installed: Vec::new(),
            installed_elsewhere: Vec::new(),
            notes: Vec::new(),
            first_failure: None,
        };
        for base in &request.already_installed {
            let found = universe.named(&base.name).into_iter().find(|&id| {
                let entry = universe.entry(id);
                (entry.arch == base.arch || entry.package.architecture == base.arch)
                    && entry.package.version == base.version
            });
            match found {
                Some(id) => {
                    solver.installed.push(id);
                    solver.present.insert(id);
                    solver.slots.insert(solver.slot_of(id), id);
                }
                None => solver.installed_elsewhere.push(base.clone()),
            }
        }
        solver
    }

    fn slot_of(&self, id: PkgId) -> (String, String) {
        let entry = self.universe.entry(id);
        (entry.package.name.clone(), entry.arch.clone())
    }

    fn relations(&mut self, id: PkgId) -> Result<Rc<Relations>, ResolveError> {
        if let Some(rel) = self.relations.get(&id) {
            return Ok(Rc::clone(rel));
        }
        let package = &self.universe.entry(id).package;
        let bad = |source| ResolveError::BadRelations {
            package: format!("{} {}", package.name, package.version),
            source,
        };
        let depends = package.dependencies().map_err(bad)?;
        let mut negative: Vec<(Atom, &'static str)> = package
            .conflicts()
            .map_err(bad)?
            .into_iter()
            .map(|a| (a, "conflicts with"))
            .collect();
        negative.extend(
            package
                .breaks()
                .map_err(bad)?
                .into_iter()
                .map(|a| (a, "breaks")),
        );
        let rel = Rc::new(Relations { depends, negative });
        self.relations.insert(id, Rc::clone(&rel));
        Ok(rel)
    }

    pub(crate) fn run(mut self) -> Result<Resolution, ResolveError> {
        let mut agenda: Vec<Task> = vec![Task::RootDeps];
        agenda.extend((0..self.request.roots.len()).rev().map(Task::Root));
        let mut choice_points: Vec<ChoicePoint> = Vec::new();
        let mut backtracks = 0;
        while let Some(task) = agenda.pop() {
            let outcome = match task {
                Task::Root(index) => self.root_picks(index)?,
                Task::RootDeps => {
                    let roots: Vec<PkgId> = self
                        .selected
                        .iter()
                        .filter(|(_, parent)| *parent == Parent::Manifest)
                        .map(|(id, _)| *id)
                        .collect();
                    for &root in roots.iter().rev() {
                        self.push_groups(&mut agenda, root)?;
                    }
                    continue;
                }
                Task::Group { pkg, group } => self.group_picks(pkg, group)?,
            };
            let (picks, parent) = match outcome {
                Outcome::Done => continue,
                Outcome::Choose(picks, parent) => (picks, parent),
                Outcome::Fail(error) => {
                    if self.first_failure.is_none() {
                        self.first_failure = Some(error);
                    }
                    // Back up to the latest choice point with a candidate left.
                    let Some(mut point) = choice_points.pop() else {
                        return Err(self.first_failure.take().expect("failure just recorded"));
                    };
                    backtracks += 1;
                    if backtracks > BACKTRACK_LIMIT {
                        let last = self
                            .first_failure
                            .take()
                            .map_or_else(String::new, |e| e.to_string());
                        return Err(ResolveError::TooComplex {
                            steps: backtracks,
                            last,
                        });
                    }
                    self.undo_to(point.selected_len, point.notes_len);
                    agenda = point.agenda.clone();
                    let pick = point.picks[point.next].clone();
                    point.next += 1;
                    let (task, parent) = (point.task, point.parent);
                    if point.next < point.picks.len() {
                        choice_points.push(point);
                    }
                    self.take(&mut agenda, task, pick, parent)?;
                    continue;
                }
            };
            if picks.len() > 1 {
                choice_points.push(ChoicePoint {
                    agenda: agenda.clone(),
                    task,
                    parent,
                    picks: picks.clone(),
                    next: 1,
                    selected_len: self.selected.len(),
                    notes_len: self.notes.len(),
                });
            }
            let first = picks.into_iter().next().expect("a choice has a pick");
            self.take(&mut agenda, task, first, parent)?;
        }
        self.finish()
    }

    /// Marks `pick` and schedules its dependencies (roots wait for `RootDeps`).
    fn take(
        &mut self,
        agenda: &mut Vec<Task>,
        task: Task,
        pick: Pick,
        parent: Parent,
    ) -> Result<(), ResolveError> {
        self.selected.push((pick.id, parent));
        self.present.insert(pick.id);
        self.slots.insert(self.slot_of(pick.id), pick.id);
        if let Some(note) = pick.note {
            self.notes.push(note);
        }
        if !matches!(task, Task::Root(_)) {
            self.push_groups(agenda, pick.id)?;
        }
        Ok(())
    }

    /// Schedules the groups of `id` so that the first group is worked on next.
    fn push_groups(&mut self, agenda: &mut Vec<Task>, id: PkgId) -> Result<(), ResolveError> {
        let count = self.relations(id)?.depends.len();
        agenda.extend((0..count).rev().map(|group| Task::Group { pkg: id, group }));
        Ok(())
    }

    fn undo_to(&mut self, selected_len: usize, notes_len: usize) {
        for (id, _) in self.selected.drain(selected_len..) {
            self.present.remove(&id);
            let entry = self.universe.entry(id);
            self.slots
                .remove(&(entry.package.name.clone(), entry.arch.clone()));
        }
        self.notes.truncate(notes_len);
    }

    fn root_picks(&mut self, index: usize) -> Result<Outcome, ResolveError> {
        let universe = self.universe;
        let root = &self.request.roots[index];
        if self.request.exclude.contains(&root.name) {
            return Err(ResolveError::ExcludedRoot {
                name: root.name.clone(),
            });
        }
        let arch = root
            .arch
            .as_ref()
            .map_or(universe.native_arch(), |a| a.as_str());
        let named = universe.named(&root.name);
        if named.is_empty() {
            return self.virtual_root(index, arch);
        }
        let mut versions: Vec<PkgId> = named
            .iter()
            .copied()
            .filter(|&id| universe.entry(id).arch == arch)
            .collect();
        order_versions(universe, &self.pins, &mut versions);
        let atom = root.atom();
        let accepted: Vec<PkgId> = versions
            .iter()
            .copied()
            .filter(|&id| atom.accepts(Some(&universe.entry(id).package.version)))
            .collect();
        if accepted.is_empty() {
            let mut available: Vec<PkgId> = named.to_vec();
            order_versions(universe, &self.pins, &mut available);
            return Err(ResolveError::NoMatchingVersion {
                name: root.name.clone(),
                request: atom.to_string(),
                available: available
                    .iter()
                    .map(|&id| {
                        let entry = universe.entry(id);
                        format!(
                            "{} ({} {})",
                            entry.package.version,
                            universe.label(id),
                            entry.package.architecture
                        )
                    })
                    .collect(),
            });
        }
        if accepted.iter().any(|id| self.present.contains(id)) {
            return Ok(Outcome::Done);
        }
        let mut picks = Vec::new();
        let mut blocked = None;
        for &id in &accepted {
            match self.blocker(id)? {
                None => picks.push(Pick { id, note: None }),
                Some(reason) => {
                    blocked.get_or_insert(reason);
                }
            }
        }
        if picks.is_empty() {
            let reason = blocked.expect("every accepted version was blocked");
            return Ok(Outcome::Fail(reason.into_root_error(universe, accepted[0])));
        }
        Ok(Outcome::Choose(picks, Parent::Manifest))
    }

    /// A root naming no real package: its single provider, the preferred one, or an error.
    fn virtual_root(&mut self, index: usize, arch: &str) -> Result<Outcome, ResolveError> {
        let universe = self.universe;
        let root = &self.request.roots[index];
        let atom = Atom {
            arch: Some(arch.to_owned()),
            ..root.atom()
        };
        let prefer = self.request.prefer.get(&root.name).map(String::as_str);
        let slots: Vec<_> = candidates_for_atom(universe, &self.pins, prefer, &atom, arch)
            .into_iter()
            .filter(|slot| !self.request.exclude.contains(&slot.name))
            .collect();
        let chosen = match slots.as_slice() {
            [] => {
                return Err(ResolveError::UnknownPackage {
                    name: root.name.clone(),
                    suggestions: suggestions(&root.name, &universe.names()),
                });
            }
            [only] => only,
            [first, ..] if prefer == Some(first.name.as_str()) => first,
            _ => {
                let mut providers: Vec<String> = slots.iter().map(|s| s.name.clone()).collect();
                providers.sort();
                providers.dedup();
                return Err(ResolveError::VirtualRoot {
                    name: root.name.clone(),
                    providers,
                });
            }
        };
        if chosen.versions.iter().any(|id| self.present.contains(id)) {
            return Ok(Outcome::Done);
        }
        let note = Note::VirtualRoot {
            virtual_name: root.name.clone(),
            picked: chosen.name.clone(),
        };
        let mut picks = Vec::new();
        for &id in &chosen.versions {
            if self.blocker(id)?.is_none() {
                picks.push(Pick {
                    id,
                    note: Some(note.clone()),
                });
            }
        }
        if picks.is_empty() {
            let reason = self
                .blocker(chosen.versions[0])?
                .expect("every version was blocked");
            return Ok(Outcome::Fail(
                reason.into_root_error(universe, chosen.versions[0]),
            ));
        }
        Ok(Outcome::Choose(picks, Parent::Manifest))
    }

    fn group_picks(&mut self, pkg: PkgId, group: usize) -> Result<Outcome, ResolveError> {
        let rel = self.relations(pkg)?;
        let alternatives = &rel.depends[group];
        if self.satisfied(alternatives, pkg) {
            return Ok(Outcome::Done);
        }
        let universe = self.universe;
        let depender_arch = universe.entry(pkg).arch.clone();
        let mut picks: Vec<Pick> = Vec::new();
        let mut excluded: Vec<String> = Vec::new();
        let mut possible = false;
        for atom in alternatives {
            let prefer = self.request.prefer.get(&atom.name).map(String::as_str);
            let slots = candidates_for_atom(universe, &self.pins, prefer, atom, &depender_arch);
            for (k, slot) in slots.iter().enumerate() {
                if self.request.exclude.contains(&slot.name) {
                    if !excluded.contains(&slot.name) {
                        excluded.push(slot.name.clone());
                    }
                    continue;
                }
                possible = true;
                let note = (!slot.is_real && slots.len() > 1).then(|| Note::Provider {
                    virtual_name: atom.name.clone(),
                    picked: slot.name.clone(),
                    others: slots
                        .iter()
                        .filter(|other| other.name != slot.name)
                        .map(|other| other.name.clone())
                        .collect(),
                    tie: slots.get(k + 1).is_some_and(|next| is_tie(slot, next)),
                });
                for &id in &slot.versions {
                    if picks.iter().any(|p| p.id == id) || self.blocker(id)?.is_some() {
                        continue;
                    }
                    picks.push(Pick {
                        id,
                        note: note.clone(),
                    });
                }
            }
        }
        if !picks.is_empty() {
            return Ok(Outcome::Choose(picks, Parent::Package(pkg)));
        }
        let package = &universe.entry(pkg).package;
        if !possible && !excluded.is_empty() {
            self.notes.push(Note::UnmetExcluded {
                package: package.name.clone(),
                dependency: display_alternatives(alternatives),
                excluded,
            });
            return Ok(Outcome::Done);
        }
        let found = self.explain(alternatives, &depender_arch)?;
        Ok(Outcome::Fail(ResolveError::Unsatisfiable {
            package: format!("{} {}", package.name, package.version),
            dependency: display_alternatives(alternatives),
            found,
            chain: self.chain(pkg),
        }))
    }

    /// Whether a chosen or base-image package already satisfies one of `alternatives`.
    fn satisfied(&self, alternatives: &[Atom], depender: PkgId) -> bool {
        let universe = self.universe;
        let depender_arch = &universe.entry(depender).arch;
        alternatives.iter().any(|atom| {
            let wanted =
                Wanted::from_qualifier(atom.arch.as_deref(), depender_arch, universe.native_arch());
            universe
                .named(&atom.name)
                .into_iter()
                .chain(universe.providing(&atom.name))
                .any(|id| self.present.contains(&id) && atom_matches(universe, atom, wanted, id))
                || self.installed_elsewhere.iter().any(|base| {
                    base.name == atom.name
                        && (atom.arch.is_none() || atom.arch.as_deref() == Some(&*base.arch))
                        && atom.accepts(Some(&base.version))
                })
        })
    }

    /// Why `id` cannot join the chosen set, if it cannot: its slot is taken by another
    /// version, or it conflicts with (or breaks) a present package, or the reverse.
    fn blocker(&mut self, id: PkgId) -> Result<Option<Blocker>, ResolveError> {
        let universe = self.universe;
        let entry = universe.entry(id);
        let slot = self.slot_of(id);
        if let Some(&other) = self.slots.get(&slot)
            && other != id
        {
            return Ok(Some(Blocker::SlotTaken { other }));
        }
        let own = self.relations(id)?;
        let present: Vec<PkgId> = self
            .selected
            .iter()
            .map(|(p, _)| *p)
            .chain(self.installed.iter().copied())
            .collect();
        for other in present {
            if other == id {
                continue;
            }
            let other_entry = universe.entry(other);
            if other_entry.package.name == entry.package.name {
                if !coinstallable(
                    (&entry.arch, entry.package.multi_arch),
                    (&other_entry.arch, other_entry.package.multi_arch),
                ) {
                    return Ok(Some(Blocker::SlotTaken { other }));
                }
                continue;
            }
            if let Some((atom, verb)) = own
                .negative
                .iter()
                .find(|(atom, _)| negative_matches(universe, atom, other))
            {
                return Ok(Some(Blocker::Conflict {
                    culprit: id,
                    verb,
                    atom: atom.to_string(),
                    victim: other,
                }));
            }
            let theirs = self.relations(other)?;
            if let Some((atom, verb)) = theirs
                .negative
                .iter()
                .find(|(atom, _)| negative_matches(universe, atom, id))
            {
                return Ok(Some(Blocker::Conflict {
                    culprit: other,
                    verb,
                    atom: atom.to_string(),
                    victim: id,
                }));
            }
        }
        for base in &self.installed_elsewhere {
            if let Some((atom, verb)) = own
                .negative
                .iter()
                .find(|(atom, _)| atom.name == base.name && atom.accepts(Some(&base.version)))
            {
                return Ok(Some(Blocker::ConflictsWithBase {
                    verb,
                    atom: atom.to_string(),
                    base: base.name.clone(),
                }));
            }
        }
        Ok(None)
    }

    /// "`bookworm` has 2.1"-style reasons, one per alternative.
    fn explain(
        &mut self,
        alternatives: &[Atom],
        depender_arch: &str,
    ) -> Result<String, ResolveError> {
        let universe = self.universe;
        let mut reasons = Vec::new();
        for atom in alternatives {
            let slots = candidates_for_atom(universe, &self.pins, None, atom, depender_arch);
            if let Some(slot) = slots.first() {
                let id = slot.versions[0];
                let reason = match self.blocker(id)? {
                    Some(blocker) => blocker.describe(universe),
                    None => format!("`{}` is excluded", slot.name),
                };
                reasons.push(reason);
                continue;
            }
            let wanted =
                Wanted::from_qualifier(atom.arch.as_deref(), depender_arch, universe.native_arch());
            let named = universe.named(&atom.name);
            let fitting: Vec<PkgId> = named
                .iter()
                .copied()
                .filter(|&id| {
                    let e = universe.entry(id);
                    wanted.accepts(&e.arch, e.package.multi_arch)
                })
                .collect();
            if !fitting.is_empty() {
                let mut by_label: Vec<(String, Vec<String>)> = Vec::new();
                for id in fitting {
                    let label = universe.label(id).to_owned();
                    let version = universe.entry(id).package.version.to_string();
                    match by_label.iter_mut().find(|(l, _)| *l == label) {
                        Some((_, versions)) => versions.push(version),
                        None => by_label.push((label, vec![version])),
                    }
                }
                reasons.extend(
                    by_label
                        .into_iter()
                        .map(|(label, versions)| format!("`{label}` has {}", versions.join(", "))),
                );
            } else if !named.is_empty() {
                reasons.push(match atom.arch.as_deref() {
                    Some("any") => format!("`{}` is not `Multi-Arch: allowed`", atom.name),
                    _ => format!("`{}` is not available for `{depender_arch}`", atom.name),
                });
            } else if !universe.providing(&atom.name).is_empty() {
                let providers: Vec<String> = universe
                    .providing(&atom.name)
                    .iter()
                    .map(|&id| {
                        let package = &universe.entry(id).package;
                        let version = package
                            .provides
                            .iter()
                            .find(|p| p.name == atom.name)
                            .and_then(provided_version)
                            .map_or_else(|| "unversioned".to_owned(), |v| format!("= {v}"));
                        format!("`{}` ({version})", package.name)
                    })
                    .collect();
                reasons.push(format!("it is only provided by {}", providers.join(", ")));
            } else {
                reasons.push(format!("`{}` is in no configured suite", atom.name));
            }
        }
        Ok(reasons.join("; "))
    }

    /// `manifest -> root -> ... -> pkg`, following who pulled each package in.
    fn chain(&self, pkg: PkgId) -> Vec<String> {
        let mut chain = vec![self.universe.display_name(pkg)];
        let mut current = pkg;
        while let Some(&(_, Parent::Package(parent))) =
            self.selected.iter().find(|(id, _)| *id == current)
        {
            chain.push(self.universe.display_name(parent));
            current = parent;
            if chain.len() > self.selected.len() + 1 {
                break;
            }
        }
        chain.push("manifest".to_owned());
        chain.reverse();
        chain
    }

    fn finish(mut self) -> Result<Resolution, ResolveError> {
        let universe = self.universe;
        let chosen: Vec<(PkgId, Parent)> = self.selected.clone();
        let mut required_by: HashMap<PkgId, Vec<String>> = HashMap::new();
        let mut depends_on: HashMap<PkgId, Vec<String>> = HashMap::new();
        let chosen_ids: HashSet<PkgId> = chosen.iter().map(|(id, _)| *id).collect();
        for &(id, parent) in &chosen {
            if parent == Parent::Manifest {
                required_by
                    .entry(id)
                    .or_default()
                    .push("manifest".to_owned());
            }
            let rel = self.relations(id)?;
            let arch = &universe.entry(id).arch;
            for group in &rel.depends {
                let satisfiers = group.iter().find_map(|atom| {
                    let wanted =
                        Wanted::from_qualifier(atom.arch.as_deref(), arch, universe.native_arch());
                    let found: Vec<PkgId> = universe
                        .named(&atom.name)
                        .into_iter()
                        .chain(universe.providing(&atom.name))
                        .filter(|s| {
                            chosen_ids.contains(s) && atom_matches(universe, atom, wanted, *s)
                        })
                        .collect();
                    (!found.is_empty()).then_some(found)
                });
                for satisfier in satisfiers.unwrap_or_default() {
                    if satisfier == id {
                        continue;
                    }
                    depends_on
                        .entry(id)
                        .or_default()
                        .push(universe.display_name(satisfier));
                    required_by
                        .entry(satisfier)
                        .or_default()
                        .push(universe.display_name(id));
                }
            }
        }
        let mut packages: Vec<Chosen> = chosen
            .iter()
            .map(|&(id, _)| {
                let mut required = required_by.remove(&id).unwrap_or_default();
                required.sort();
                required.dedup();
                let mut deps = depends_on.remove(&id).unwrap_or_default();
                deps.sort();
                deps.dedup();
                Chosen {
                    source_label: universe.label(id).to_owned(),
                    package: std::sync::Arc::clone(&universe.entry(id).package),
                    required_by: required,
                    depends_on: deps,
                }
            })
            .collect();
        packages.sort_by(|a, b| {
            (&a.package.name, &a.package.architecture)
                .cmp(&(&b.package.name, &b.package.architecture))
        });
        let mut notes: Vec<Note> = Vec::new();
        for note in self.notes {
            if !notes.contains(&note) {
                notes.push(note);
            }
        }
        Ok(Resolution { packages, notes })
    }
}

/// What a task leads to.
enum Outcome {
    /// Nothing to do (already satisfied, or left unmet with a note).
    Done,
    /// Candidates, best first, and who would pull them in.
    Choose(Vec<Pick>, Parent),
    /// Nothing can satisfy the task on this path.
    Fail(ResolveError),
}

/// Why a candidate cannot join the chosen set.
enum Blocker {
    SlotTaken {
        other: PkgId,
    },
    Conflict {
        culprit: PkgId,
        verb: &'static str,
        atom: String,
        victim: PkgId,
    },
    ConflictsWithBase {
        verb: &'static str,
        atom: String,
        base: String,
    },
}

impl Blocker {
    fn describe(&self, universe: &Universe) -> String {
        let full = |id: PkgId| {
            format!(
                "{} {}",
                universe.display_name(id),
                universe.entry(id).package.version
            )
        };
        match self {
            Self::SlotTaken { other } => format!("`{}` is already chosen", full(*other)),
            Self::Conflict {
                culprit,
                verb,
                atom,
                victim,
            } => format!("`{}` {verb} `{atom}` (`{}`)", full(*culprit), full(*victim)),
            Self::ConflictsWithBase { verb, atom, base } => {
                format!("it {verb} `{atom}`, which the base image has (`{base}`)")
            }
        }
    }

    fn into_root_error(self, universe: &Universe, root: PkgId) -> ResolveError {
        match self {
            Self::Conflict {
                culprit,
                verb,
                atom,
                victim,
            } => ResolveError::Conflict {
                package: universe.display_name(culprit),
                relation: verb,
                target: atom,
                other: universe.display_name(victim),
            },
            other => ResolveError::Unsatisfiable {
                package: universe.display_name(root),
                dependency: "(requested by the manifest)".to_owned(),
                found: other.describe(universe),
                chain: vec!["manifest".to_owned()],
            },
        }
    }
}

/// Whether a `Conflicts`/`Breaks` atom hits package `id`: by its name (any architecture
/// unless qualified, deb-control(5)) or by something it provides.
pub(crate) fn negative_matches(universe: &Universe, atom: &Atom, id: PkgId) -> bool {
    let entry = universe.entry(id);
    let arch_ok = match atom.arch.as_deref() {
        None | Some("any") => true,
        Some("native") => entry.arch == universe.native_arch(),
        Some(arch) => entry.arch == arch,
    };
    arch_ok
        && ((entry.package.name == atom.name && atom.accepts(Some(&entry.package.version)))
            || entry
                .package
                .provides
                .iter()
                .any(|p| p.name == atom.name && atom.accepts(provided_version(p))))
}
