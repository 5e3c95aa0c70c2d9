//! The binary package record of a `Packages` index: what resolution needs and what the lock
//! pins. Relationship fields other than `Provides` stay raw until asked for, because a resolver
//! visits a few dozen of the 60,000 stanzas of a suite.

use super::deb822::Stanza;
use super::relation::{self, Alternatives, Atom, RelationError};
use super::version::{Version, VersionError};

/// `Multi-Arch` (deb-control(5)): how a package satisfies dependencies across architectures.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum MultiArch {
    #[default]
    No,
    Same,
    Foreign,
    Allowed,
}

/// `Priority` ordered as apt ranks providers: required first.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub enum Priority {
    Required,
    Important,
    Standard,
    #[default]
    Optional,
    Extra,
}

/// One stanza of a `Packages` index.
#[derive(Clone, Debug)]
pub struct BinaryPackage {
    pub name: String,
    pub version: Version,
    /// `amd64`, `arm64`, … or `all`.
    pub architecture: String,
    pub multi_arch: MultiArch,
    pub essential: bool,
    /// `Important: yes` or `Protected: yes`, which apt ranks above priority.
    pub important: bool,
    pub priority: Priority,
    /// The source package name (the binary's own name when `Source` is absent).
    pub source: String,
    /// The source version when it differs from the binary's (binNMUs).
    pub source_version: Option<String>,
    pub provides: Vec<Atom>,
    /// Path relative to the archive root (`pool/main/g/glibc/libc6_…_amd64.deb`).
    pub filename: String,
    pub size: u64,
    /// Lower-case hex.
    pub sha256: String,
    pub installed_size: Option<u64>,
    pub section: Option<String>,
    // Raw until asked for (see the module doc); crate-visible for the packed index cache.
    pub(crate) depends: Option<Box<str>>,
    pub(crate) pre_depends: Option<Box<str>>,
    pub(crate) breaks: Option<Box<str>>,
    pub(crate) conflicts: Option<Box<str>>,
}

/// Why a `Packages` stanza is unusable.
#[derive(Debug, thiserror::Error)]
pub enum PackageError {
    #[error("stanza at line {line} has no `{field}` field")]
    Missing { line: usize, field: &'static str },
    #[error("package `{package}`: field `{field}`: {source}")]
    Relation {
        package: String,
        field: &'static str,
        #[source]
        source: RelationError,
    },
    #[error("package `{package}`: {source}")]
    Version {
        package: String,
        #[source]
        source: VersionError,
    },
    #[error("package `{package}`: field `{field}` has invalid value `{value}`")]
    Invalid {
        package: String,
        field: &'static str,
        value: String,
    },
}

/// The fields of a `Packages` stanza that [`BinaryPackage`] reads, so a reader that finds them
/// faster than [`Stanza::get`] (the index parser of `repo`) builds the very same record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Field {
    Package,
    Version,
    Architecture,
    MultiArch,
    Essential,
    Important,
    Protected,
    Priority,
    Source,
    Provides,
    Size,
    Sha256,
    Filename,
    InstalledSize,
    Section,
    Depends,
    PreDepends,
    Breaks,
    Conflicts,
}

impl Field {
    /// Every field, in declaration order (`ALL[f as usize] == f`).
    pub const ALL: [Field; 19] = [
        Field::Package,
        Field::Version,
        Field::Architecture,
        Field::MultiArch,
        Field::Essential,
        Field::Important,
        Field::Protected,
        Field::Priority,
        Field::Source,
        Field::Provides,
        Field::Size,
        Field::Sha256,
        Field::Filename,
        Field::InstalledSize,
        Field::Section,
        Field::Depends,
        Field::PreDepends,
        Field::Breaks,
        Field::Conflicts,
    ];

    /// The field name as Debian writes it (matched without regard to ASCII case).
    pub fn name(self) -> &'static str {
        match self {
            Field::Package => "Package",
            Field::Version => "Version",
            Field::Architecture => "Architecture",
            Field::MultiArch => "Multi-Arch",
            Field::Essential => "Essential",
            Field::Important => "Important",
            Field::Protected => "Protected",
            Field::Priority => "Priority",
            Field::Source => "Source",
            Field::Provides => "Provides",
            Field::Size => "Size",
            Field::Sha256 => "SHA256",
            Field::Filename => "Filename",
            Field::InstalledSize => "Installed-Size",
            Field::Section => "Section",
            Field::Depends => "Depends",
            Field::PreDepends => "Pre-Depends",
            Field::Breaks => "Breaks",
            Field::Conflicts => "Conflicts",
        }
    }
}

/// A stanza as [`BinaryPackage::from_fields`] reads it: each [`Field`]'s value (trimmed,
/// continuation lines kept, as [`Stanza::get`] returns it) and where the stanza starts.
pub trait Fields<'a> {
    fn get(&self, field: Field) -> Option<&'a str>;
    /// 1-based line of the stanza's first field, for error messages.
    fn line(&self) -> usize;
}

impl<'a> Fields<'a> for Stanza<'a> {
    fn get(&self, field: Field) -> Option<&'a str> {
        Stanza::get(self, field.name())
    }

    fn line(&self) -> usize {
        self.line
    }
}

impl BinaryPackage {
    /// Reads a stanza of a `Packages` index.
    pub fn from_stanza(stanza: &Stanza<'_>) -> Result<Self, PackageError> {
        Self::from_fields(stanza)
    }

    /// Reads a stanza of a `Packages` index, its fields found by `fields`.
    pub fn from_fields<'a>(fields: &impl Fields<'a>) -> Result<Self, PackageError> {
        let need = |field: Field| {
            fields.get(field).ok_or_else(|| PackageError::Missing {
                line: fields.line(),
                field: field.name(),
            })
        };
        let name = need(Field::Package)?.to_owned();
        let invalid = |field: &'static str, value: &str| PackageError::Invalid {
            package: name.clone(),
            field,
            value: value.to_owned(),
        };
        let version =
            Version::parse(need(Field::Version)?).map_err(|source| PackageError::Version {
                package: name.clone(),
                source,
            })?;
        let multi_arch = match fields.get(Field::MultiArch) {
            None | Some("no") => MultiArch::No,
            Some("same") => MultiArch::Same,
            Some("foreign") => MultiArch::Foreign,
            Some("allowed") => MultiArch::Allowed,
            Some(other) => return Err(invalid("Multi-Arch", other)),
        };
        let yes = |field| {
            fields
                .get(field)
                .is_some_and(|v| v.eq_ignore_ascii_case("yes"))
        };
        let priority = match fields.get(Field::Priority) {
            Some("required") => Priority::Required,
            Some("important") => Priority::Important,
            Some("standard") => Priority::Standard,
            Some("extra") => Priority::Extra,
            _ => Priority::Optional,
        };
        let (source, source_version) = match fields.get(Field::Source) {
            None => (name.clone(), None),
            Some(field) => match field.split_once('(') {
                Some((src, ver)) => (
                    src.trim().to_owned(),
                    Some(ver.trim_end_matches(')').trim().to_owned()),
                ),
                None => (field.trim().to_owned(), None),
            },
        };
        let provides = match fields.get(Field::Provides) {
            Some(field) => {
                relation::parse_atoms(field).map_err(|source| PackageError::Relation {
                    package: name.clone(),
                    field: "Provides",
                    source,
                })?
            }
            None => Vec::new(),
        };
        let size_field = need(Field::Size)?;
        let size = size_field
            .parse()
            .map_err(|_| invalid("Size", size_field))?;
        let sha256 = need(Field::Sha256)?.to_ascii_lowercase();
        if sha256.len() != 64 || !sha256.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(invalid("SHA256", &sha256));
        }
        let raw = |field| fields.get(field).map(Box::from);
        Ok(Self {
            architecture: need(Field::Architecture)?.to_owned(),
            version,
            multi_arch,
            essential: yes(Field::Essential),
            important: yes(Field::Important) || yes(Field::Protected),
            priority,
            source,
            source_version,
            provides,
            filename: need(Field::Filename)?.to_owned(),
            size,
            sha256,
            installed_size: fields
                .get(Field::InstalledSize)
                .and_then(|v| v.parse().ok()),
            section: fields.get(Field::Section).map(str::to_owned),
            depends: raw(Field::Depends),
            pre_depends: raw(Field::PreDepends),
            breaks: raw(Field::Breaks),
            conflicts: raw(Field::Conflicts),
            name,
        })
    }

    fn relations(
        &self,
        field: &'static str,
        raw: Option<&str>,
    ) -> Result<Vec<Alternatives>, PackageError> {
        raw.map_or(Ok(Vec::new()), |text| {
            relation::parse_relations(text).map_err(|source| PackageError::Relation {
                package: self.name.clone(),
                field,
                source,
            })
        })
    }

    /// `Pre-Depends` then `Depends`, the groups a closure must satisfy.
    pub fn dependencies(&self) -> Result<Vec<Alternatives>, PackageError> {
        let mut groups = self.relations("Pre-Depends", self.pre_depends.as_deref())?;
        groups.extend(self.relations("Depends", self.depends.as_deref())?);
        Ok(groups)
    }

    /// `Pre-Depends` alone.
    pub fn pre_depends(&self) -> Result<Vec<Alternatives>, PackageError> {
        self.relations("Pre-Depends", self.pre_depends.as_deref())
    }

    /// `Depends` alone.
    pub fn depends(&self) -> Result<Vec<Alternatives>, PackageError> {
        self.relations("Depends", self.depends.as_deref())
    }

    /// `Breaks` atoms (no alternatives in this field).
    pub fn breaks(&self) -> Result<Vec<Atom>, PackageError> {
        Ok(self
            .relations("Breaks", self.breaks.as_deref())?
            .into_iter()
            .flatten()
            .collect())
    }

    /// `Conflicts` atoms (no alternatives in this field).
    pub fn conflicts(&self) -> Result<Vec<Atom>, PackageError> {
        Ok(self
            .relations("Conflicts", self.conflicts.as_deref())?
            .into_iter()
            .flatten()
            .collect())
    }

    /// `Depends`, `Pre-Depends`, `Breaks`, `Conflicts` as the index wrote them.
    pub fn raw_relations(&self) -> [Option<&str>; 4] {
        [
            self.depends.as_deref(),
            self.pre_depends.as_deref(),
            self.breaks.as_deref(),
            self.conflicts.as_deref(),
        ]
    }

    /// The raw `Depends` text as the index wrote it, for error messages and `show`.
    pub fn depends_text(&self) -> Option<&str> {
        self.depends.as_deref()
    }

    /// The raw `Pre-Depends` text as the index wrote it, for `show`.
    pub fn pre_depends_text(&self) -> Option<&str> {
        self.pre_depends.as_deref()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::debian::deb822;

    const STANZA: &str = "Package: python3-gmpy2\nSource: python-gmpy2 (2.2.1-2)\nVersion: 2.2.1-2+b2\nInstalled-Size: 1234\nMaintainer: x\nArchitecture: amd64\nMulti-Arch: same\nProvides: python3.13-gmpy2, foo (= 1.0)\nDepends: python3 (<< 3.14), python3 (>= 3.13~), libc6 (>= 2.14), libgmp10 (>= 2:6.3.0+dfsg)\nPre-Depends: dpkg (>= 1.17)\nBreaks: old (<< 1)\nPriority: optional\nSection: python\nFilename: pool/main/p/python-gmpy2/python3-gmpy2_2.2.1-2+b2_amd64.deb\nSize: 180000\nSHA256: ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef0123456789\n";

    #[test]
    fn reads_a_packages_stanza() {
        let stanzas = deb822::parse(STANZA).expect("valid stanza");
        let pkg = BinaryPackage::from_stanza(&stanzas[0]).expect("valid package");
        assert_eq!(pkg.name, "python3-gmpy2");
        assert_eq!(pkg.source, "python-gmpy2");
        assert_eq!(pkg.source_version.as_deref(), Some("2.2.1-2"));
        assert_eq!(pkg.multi_arch, MultiArch::Same);
        assert_eq!(pkg.provides.len(), 2);
        assert_eq!(pkg.sha256.len(), 64);
        assert!(pkg.sha256.starts_with("abcdef"));
        let deps = pkg.dependencies().expect("valid relations");
        assert_eq!(deps.len(), 5);
        assert_eq!(deps[0][0].name, "dpkg");
        assert_eq!(pkg.breaks().expect("valid").len(), 1);
        assert_eq!(pkg.installed_size, Some(1234));
    }

    #[test]
    fn names_the_missing_field() {
        let stanzas = deb822::parse("Package: x\nVersion: 1\n").expect("valid deb822");
        let err = BinaryPackage::from_stanza(&stanzas[0]).expect_err("incomplete");
        assert!(err.to_string().contains("no `Size`") || err.to_string().contains("no `"));
    }
}
