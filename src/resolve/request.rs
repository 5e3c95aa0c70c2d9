//! What the manifest asks the resolver for: roots (`name`, `name:arch`, `name=version`,
//! `name (>= 1.2)`), excludes, provider preferences, pins and base-image packages.

use std::collections::{BTreeMap, BTreeSet};

use super::candidates::Pin;
use super::error::ResolveError;
use crate::debian::{Arch, Atom, Relation, Version};

/// A resolution request.
#[derive(Clone, Debug, Default)]
pub struct Request {
    /// The packages the manifest names, in manifest order (order decides OR/provider choices
    /// shared between roots, as in apt).
    pub roots: Vec<Root>,
    /// Names never chosen; a dependency only they could satisfy is left unmet with a note.
    pub exclude: BTreeSet<String>,
    /// Virtual (or real) name -> the package to pick for it when several could.
    pub prefer: BTreeMap<String, String>,
    /// Versions recorded by the existing lock, kept when still available and acceptable.
    pub pins: Vec<Pin>,
    /// Packages a base image already has: they satisfy dependencies and are not added.
    pub already_installed: Vec<Installed>,
}

/// One requested package.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Root {
    pub name: String,
    /// Defaults to the native architecture.
    pub arch: Option<Arch>,
    pub constraint: Option<(Relation, Version)>,
}

/// A package present in the base image.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Installed {
    pub name: String,
    /// `all` or a Debian architecture.
    pub arch: String,
    pub version: Version,
}

impl Root {
    /// Parses `name`, `name:arch`, `name=version` or `name (>= 1.2)` (any Debian operator).
    pub fn parse(text: &str) -> Result<Self, ResolveError> {
        let bad = |reason: String| ResolveError::BadRoot {
            text: text.to_owned(),
            reason,
        };
        let trimmed = text.trim();
        let atom_text = match trimmed.split_once('=') {
            Some((name, version)) if !name.contains('(') => {
                format!("{} (= {})", name.trim(), version.trim())
            }
            _ => trimmed.to_owned(),
        };
        let atom = Atom::parse(&atom_text).map_err(|e| bad(e.to_string()))?;
        let arch = match atom.arch.as_deref() {
            None => None,
            Some(arch) => Some(Arch::parse(arch).map_err(|e| bad(e.to_string()))?),
        };
        Ok(Self {
            name: atom.name,
            arch,
            constraint: atom.constraint,
        })
    }

    /// The root as a relationship atom (for matching and messages).
    pub(crate) fn atom(&self) -> Atom {
        Atom {
            name: self.name.clone(),
            arch: self.arch.as_ref().map(|a| a.as_str().to_owned()),
            constraint: self.constraint.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_spelling() {
        let plain = Root::parse("python3").expect("valid");
        assert_eq!(
            (plain.name.as_str(), plain.arch, plain.constraint),
            ("python3", None, None)
        );
        let arch = Root::parse("libc6:i386").expect("valid");
        assert_eq!(arch.arch.as_ref().map(Arch::as_str), Some("i386"));
        let exact = Root::parse("tzdata=2024a-0+deb12u1").expect("valid");
        let (relation, version) = exact.constraint.expect("versioned");
        assert_eq!(
            (relation, version.as_str()),
            (Relation::Exactly, "2024a-0+deb12u1")
        );
        let ranged = Root::parse("bash (>= 5.2)").expect("valid");
        assert_eq!(ranged.constraint.map(|c| c.0), Some(Relation::LaterOrEqual));
        assert!(Root::parse("Bash").is_err());
        assert!(Root::parse("bash:amd46").is_err());
    }
}
