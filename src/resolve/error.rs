//! What a resolution reports: errors that stop `debless lock` (each names the culprit package
//! and the chain of packages that pulled it in from the manifest) and notes that do not
//! (choices the user may want to pin with `[prefer]`, dependencies left out by `exclude`).

use std::fmt;

use crate::debian::package::PackageError;

/// Why no closure could be computed.
#[derive(Debug, thiserror::Error)]
pub enum ResolveError {
    #[error("invalid package request `{text}`: {reason}")]
    BadRoot { text: String, reason: String },
    #[error("package `{name}` is not in any configured suite{}", did_you_mean(.suggestions))]
    UnknownPackage {
        name: String,
        suggestions: Vec<String>,
    },
    #[error(
        "`{name}` is a virtual package provided by {}\n\nhint: name one of them, or add `prefer = {{ {name} = \"{}\" }}` to debless.toml",
        quoted(.providers), .providers.first().map_or("", String::as_str)
    )]
    VirtualRoot {
        name: String,
        providers: Vec<String>,
    },
    #[error("`{name}` is requested and excluded at the same time")]
    ExcludedRoot { name: String },
    #[error("no version of `{name}` satisfies `{request}`; available: {}", available_text(.available))]
    NoMatchingVersion {
        name: String,
        request: String,
        available: Vec<String>,
    },
    #[error("`{package}` depends on `{dependency}` but {found}\n  required by {}", .chain.join(" -> "))]
    Unsatisfiable {
        /// `name version` of the depending package.
        package: String,
        dependency: String,
        /// Why each alternative failed, e.g. "`bookworm` has 2.1".
        found: String,
        /// From `manifest` down to the depending package.
        chain: Vec<String>,
    },
    #[error("`{package}` {relation} `{target}`, which `{other}` satisfies; both are requested")]
    Conflict {
        package: String,
        /// `conflicts with` or `breaks`.
        relation: &'static str,
        target: String,
        other: String,
    },
    #[error("package `{package}` has an unreadable relationship field: {source}")]
    BadRelations {
        package: String,
        #[source]
        source: PackageError,
    },
    #[error(
        "the index cache is damaged: {reason}\n\nhint: remove the `packed-v{}` directory of debless's cache directory and lock again",
        crate::repo::packed::FORMAT_VERSION
    )]
    DamagedIndex { reason: String },
    #[error("gave up after {steps} backtracking steps; the last failure was: {last}")]
    TooComplex { steps: usize, last: String },
}

fn did_you_mean(suggestions: &[String]) -> String {
    if suggestions.is_empty() {
        String::new()
    } else {
        format!("\n\nhint: did you mean {}?", quoted(suggestions))
    }
}

fn quoted(names: &[String]) -> String {
    names
        .iter()
        .map(|n| format!("`{n}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn available_text(available: &[String]) -> String {
    if available.is_empty() {
        "none".to_owned()
    } else {
        available.join(", ")
    }
}

/// Something the user may want to know about a successful resolution.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Note {
    /// Several packages could satisfy a dependency; one was picked by apt's rules.
    Provider {
        virtual_name: String,
        picked: String,
        others: Vec<String>,
        /// apt itself would have decided by internal cache order: pin the choice.
        tie: bool,
    },
    /// A dependency only excluded packages could satisfy; it was left unmet.
    UnmetExcluded {
        package: String,
        dependency: String,
        excluded: Vec<String>,
    },
    /// A requested name was virtual with a single provider, which was taken instead.
    VirtualRoot {
        virtual_name: String,
        picked: String,
    },
}

impl fmt::Display for Note {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Provider {
                virtual_name,
                picked,
                others,
                tie,
            } => {
                write!(
                    f,
                    "`{virtual_name}`: picked `{picked}`, others {}",
                    quoted(others)
                )?;
                if *tie {
                    write!(f, " (a tie apt breaks by cache order)")?;
                }
                write!(
                    f,
                    "\n\nhint: `prefer = {{ {virtual_name} = \"...\" }}` in debless.toml chooses another"
                )
            }
            Self::UnmetExcluded {
                package,
                dependency,
                excluded,
            } => write!(
                f,
                "`{package}` depends on `{dependency}`, left unmet: only excluded {} could satisfy it",
                quoted(excluded)
            ),
            Self::VirtualRoot {
                virtual_name,
                picked,
            } => write!(
                f,
                "`{virtual_name}` is virtual; selecting its only provider `{picked}`"
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unsatisfiable_names_the_chain() {
        let err = ResolveError::Unsatisfiable {
            package: "python3-foo 1.2".into(),
            dependency: "libbar (>= 3)".into(),
            found: "`bookworm` has 2.1".into(),
            chain: vec!["manifest".into(), "python3".into(), "python3-foo".into()],
        };
        assert_eq!(
            err.to_string(),
            "`python3-foo 1.2` depends on `libbar (>= 3)` but `bookworm` has 2.1\n  required by manifest -> python3 -> python3-foo"
        );
    }
}
