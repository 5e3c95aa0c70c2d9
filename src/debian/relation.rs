//! Relationship fields (Policy §7.1): `Depends`, `Pre-Depends`, `Provides`, `Breaks`,
//! `Conflicts`. `,` is AND, `|` is OR; each atom is `name[:arch] [(op version)]`.
//!
//! Binary indices never carry `[arch]` lists or `<profile>` formulas (they are reduced at build
//! time); meeting one is an error rather than a silently wrong closure.

use std::fmt;

use super::version::{Version, VersionError};

/// A version operator. `<` and `>` are dpkg's deprecated spellings of `<=` and `>=`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Relation {
    /// `<<`
    Earlier,
    /// `<=`
    EarlierOrEqual,
    /// `=`
    Exactly,
    /// `>=`
    LaterOrEqual,
    /// `>>`
    Later,
}

impl Relation {
    fn parse(op: &str) -> Option<Self> {
        Some(match op {
            "<<" => Self::Earlier,
            "<=" | "<" => Self::EarlierOrEqual,
            "=" => Self::Exactly,
            ">=" | ">" => Self::LaterOrEqual,
            ">>" => Self::Later,
            _ => return None,
        })
    }

    /// Whether `candidate` stands in this relation to `bound`.
    pub fn holds(self, candidate: &Version, bound: &Version) -> bool {
        use std::cmp::Ordering::{Equal, Greater, Less};
        let ord = candidate.cmp(bound);
        match self {
            Self::Earlier => ord == Less,
            Self::EarlierOrEqual => ord != Greater,
            Self::Exactly => ord == Equal,
            Self::LaterOrEqual => ord != Less,
            Self::Later => ord == Greater,
        }
    }

    /// The operator as Debian writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Earlier => "<<",
            Self::EarlierOrEqual => "<=",
            Self::Exactly => "=",
            Self::LaterOrEqual => ">=",
            Self::Later => ">>",
        }
    }
}

/// One package reference inside a relationship field.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Atom {
    pub name: String,
    /// The architecture qualifier after `:` (`any`, `native` or an architecture name).
    pub arch: Option<String>,
    pub constraint: Option<(Relation, Version)>,
}

/// An OR-group: any one atom satisfies it, tried in written order.
pub type Alternatives = Vec<Atom>;

/// Why a relationship field could not be read.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum RelationError {
    #[error("empty package name in `{0}`")]
    EmptyName(String),
    #[error("unknown version operator `{op}` in `{text}`")]
    UnknownOperator { op: String, text: String },
    #[error("unclosed `(` in `{0}`")]
    Unclosed(String),
    #[error("architecture or build-profile restriction in a binary relationship: `{0}`")]
    Restriction(String),
    #[error("invalid package name `{0}`")]
    BadName(String),
    #[error(transparent)]
    Version(#[from] VersionError),
}

impl Atom {
    /// Parses one atom such as `libc6:any (>= 2.36)`.
    pub fn parse(text: &str) -> Result<Self, RelationError> {
        let text = text.trim();
        if text.contains('[') || text.contains('<') && !text.contains('(') {
            return Err(RelationError::Restriction(text.to_owned()));
        }
        let (head, constraint) = match text.find('(') {
            Some(open) => {
                let close = text
                    .rfind(')')
                    .filter(|&close| close > open)
                    .ok_or_else(|| RelationError::Unclosed(text.to_owned()))?;
                if !text[close + 1..].trim().is_empty() {
                    return Err(RelationError::Restriction(text.to_owned()));
                }
                let inner = text[open + 1..close].trim();
                let op_len = inner
                    .find(|c: char| !matches!(c, '<' | '>' | '='))
                    .unwrap_or(inner.len());
                let (op, version) = inner.split_at(op_len);
                let relation =
                    Relation::parse(op).ok_or_else(|| RelationError::UnknownOperator {
                        op: op.to_owned(),
                        text: text.to_owned(),
                    })?;
                (
                    text[..open].trim(),
                    Some((relation, Version::parse(version.trim())?)),
                )
            }
            None => (text, None),
        };
        let (name, arch) = match head.split_once(':') {
            Some((name, arch)) => (name, Some(arch.to_owned())),
            None => (head, None),
        };
        if name.is_empty() {
            return Err(RelationError::EmptyName(text.to_owned()));
        }
        if !is_package_name(name) {
            return Err(RelationError::BadName(name.to_owned()));
        }
        Ok(Self {
            name: name.to_owned(),
            arch,
            constraint,
        })
    }

    /// Whether a package (or a versioned provide) at `version` meets this atom's constraint.
    /// `None` is an unversioned provide, which never meets a versioned constraint (Policy §7.5).
    pub fn accepts(&self, version: Option<&Version>) -> bool {
        match (&self.constraint, version) {
            (None, _) => true,
            (Some(_), None) => false,
            (Some((relation, bound)), Some(version)) => relation.holds(version, bound),
        }
    }
}

impl fmt::Display for Atom {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)?;
        if let Some(arch) = &self.arch {
            write!(f, ":{arch}")?;
        }
        if let Some((relation, version)) = &self.constraint {
            write!(f, " ({} {version})", relation.as_str())?;
        }
        Ok(())
    }
}

/// Whether `name` is a valid Debian package name (Policy §5.6.1: lower-case letters, digits,
/// `+ - .`, at least two characters, starting alphanumeric).
pub fn is_package_name(name: &str) -> bool {
    let bytes = name.as_bytes();
    bytes.len() >= 2
        && bytes[0].is_ascii_alphanumeric()
        && bytes
            .iter()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"+-.".contains(b))
}

/// Parses a whole field: AND-list of OR-groups. An empty field is an empty list.
pub fn parse_relations(field: &str) -> Result<Vec<Alternatives>, RelationError> {
    field
        .split(',')
        .map(str::trim)
        .filter(|group| !group.is_empty())
        .map(|group| group.split('|').map(Atom::parse).collect())
        .collect()
}

/// Parses a field that may not contain `|` (`Provides`, `Breaks`, `Conflicts`).
pub fn parse_atoms(field: &str) -> Result<Vec<Atom>, RelationError> {
    Ok(parse_relations(field)?.into_iter().flatten().collect())
}

/// Writes an AND-list of OR-groups back in Debian's spelling.
pub fn display_alternatives(group: &[Atom]) -> String {
    group
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(" | ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_groups_and_qualifiers() {
        let parsed = parse_relations(
            "libc6 (>= 2.36), python3:any (>= 3.11~) | python3.11\n , awk, libx (<<2:1.0-1)",
        )
        .expect("valid field");
        assert_eq!(parsed.len(), 4);
        assert_eq!(parsed[0][0].name, "libc6");
        let (rel, ver) = parsed[0][0].constraint.clone().expect("versioned");
        assert_eq!((rel, ver.as_str()), (Relation::LaterOrEqual, "2.36"));
        assert_eq!(parsed[1][0].arch.as_deref(), Some("any"));
        assert_eq!(parsed[1][1].name, "python3.11");
        assert_eq!(parsed[2][0].to_string(), "awk");
        assert_eq!(
            Atom::parse("libx (<<2:1.0-1)")
                .expect("valid atom")
                .to_string(),
            "libx (<< 2:1.0-1)"
        );
    }

    #[test]
    fn accepts_versions() {
        let atom = Atom::parse("libgmp10 (>= 2:6.2.1)").expect("valid atom");
        let ok = Version::parse("2:6.3.0+dfsg-3").expect("valid version");
        let old = Version::parse("6.3.0").expect("valid version");
        assert!(atom.accepts(Some(&ok)));
        assert!(!atom.accepts(Some(&old)));
        assert!(!atom.accepts(None), "unversioned provides never satisfy");
        assert!(Atom::parse("awk").expect("valid").accepts(None));
    }

    #[test]
    fn rejects_restrictions_and_bad_operators() {
        assert!(parse_relations("foo [amd64]").is_err());
        assert!(parse_relations("foo <!nocheck>").is_err());
        assert!(parse_relations("foo (~= 1)").is_err());
        assert!(parse_relations("foo (>= 1").is_err());
        assert!(parse_relations("Foo").is_err());
    }
}
