//! `debless why PKG`: every dependency chain from the manifest's roots to a locked package,
//! read from `debless.lock` alone (no network), like `cargo tree -i`.
//!
//! The lock's `required-by` lists are the reverse edges of the closure (a root lists
//! `manifest`); a chain is found by walking them backwards from PKG until a root is reached.
//! A chain starts at the first root it meets: `python3 -> python3.11 -> libpython3.11` is
//! the explanation even when another root also depends on `python3`. The number of simple
//! paths grows quickly in a large closure, so chains are listed shortest first and only
//! [`SHOWN_BY_DEFAULT`] per architecture unless `--all`.

use std::fmt::Write as _;

use anyhow::Result;
use serde::Serialize;

use super::Globals;
use crate::lock::graph::Explanation;
use crate::ops::query::why;

/// Chains listed per architecture without `--all`.
pub const SHOWN_BY_DEFAULT: usize = 20;

/// Arguments of `debless why`.
#[derive(Debug, clap::Args)]
pub struct WhyArgs {
    /// The locked package to explain: `name`, or `name:arch` for a foreign-architecture one.
    #[arg(value_name = "PKG")]
    pub package: String,
    /// List every chain, not only the shortest ones.
    #[arg(long)]
    pub all: bool,
    /// Print JSON (per architecture: whether PKG is a root, and its chains) for scripts.
    #[arg(long)]
    pub json: bool,
}

#[derive(Serialize)]
struct WhyJson<'a> {
    package: &'a str,
    targets: &'a [Explanation],
}

/// Runs `debless why`.
pub fn run(globals: &Globals, args: &WhyArgs) -> Result<()> {
    let wanted = args.package.as_str();
    let limit = if args.all {
        usize::MAX
    } else {
        SHOWN_BY_DEFAULT
    };
    let explanations = why(&globals.lock_path(), wanted, limit)?;
    if args.json {
        let json = WhyJson {
            package: wanted,
            targets: &explanations,
        };
        outln!("{}", serde_json::to_string_pretty(&json)?);
        return Ok(());
    }
    out!("{}", render_text(wanted, &explanations));
    Ok(())
}

/// One line per chain (`a -> b -> PKG`), prefixed by the architecture when there are several.
pub fn render_text(wanted: &str, explanations: &[Explanation]) -> String {
    let mut out = String::new();
    let several = explanations.len() > 1;
    for explanation in explanations {
        let prefix = if several {
            format!("{}: ", explanation.target)
        } else {
            String::new()
        };
        if !explanation.locked {
            let _ = writeln!(out, "{prefix}{wanted} is not part of this image");
        } else if explanation.chains.is_empty() && !explanation.root {
            let _ = writeln!(out, "{prefix}{wanted} is locked but nothing requires it");
        }
        if explanation.root {
            let _ = writeln!(out, "{prefix}{wanted} is a root of the manifest");
        }
        for chain in &explanation.chains {
            let _ = writeln!(out, "{prefix}{}", chain.join(" -> "));
        }
        if explanation.truncated {
            let _ = writeln!(
                out,
                "{prefix}… only the {} shortest chains are shown; --all lists every one",
                explanation.chains.len()
            );
        }
    }
    out
}

/// ` (did you mean `x`?)` for the closest locked name, if one is close.
#[cfg(test)]
mod tests {
    use super::*;
    use crate::debian::{Arch, Version};
    use crate::lock::Lock;
    use crate::lock::LockedPackage;
    use crate::lock::LockedSource;
    use crate::lock::graph::explain;
    use crate::ops::query::suggestion;

    /// A lock for amd64 from `(name, required_by)` pairs.
    fn lock(graph: &[(&str, &[&str])]) -> Lock {
        let mut lock = Lock {
            manifest_digest: "sha256:00".into(),
            architectures: vec!["amd64".into()],
            roots: Vec::new(),
            sources: vec![LockedSource {
                suite: "bookworm".into(),
                codename: "bookworm".into(),
                components: vec!["main".into()],
                date: 0,
                valid_until: None,
                inrelease_sha256: "ab".repeat(32),
                signed_by: Vec::new(),
            }],
            packages: graph
                .iter()
                .map(|(name, required_by)| LockedPackage {
                    name: (*name).into(),
                    version: Version::parse("1.0").expect("valid"),
                    architecture: "amd64".into(),
                    target: Arch::parse("amd64").expect("known"),
                    suite: "bookworm".into(),
                    source_package: (*name).into(),
                    source_version: None,
                    path: format!("pool/main/{name}.deb"),
                    size: 1,
                    sha256: "cd".repeat(32),
                    depends: Vec::new(),
                    required_by: required_by.iter().map(|r| (*r).to_owned()).collect(),
                })
                .collect(),
            images: std::collections::BTreeMap::new(),
            base: None,
        };
        lock.normalise();
        lock
    }

    fn python() -> Lock {
        lock(&[
            ("python3", &["manifest"]),
            ("python3.11", &["python3"]),
            ("libpython3.11-stdlib", &["python3.11"]),
            ("libsqlite3-0", &["libpython3.11-stdlib", "sqlite3"]),
            ("sqlite3", &["manifest"]),
            (
                "libc6",
                &["libsqlite3-0", "python3.11", "sqlite3", "manifest"],
            ),
        ])
    }

    fn lines(explanation: &Explanation) -> Vec<String> {
        explanation.chains.iter().map(|c| c.join(" -> ")).collect()
    }

    #[test]
    fn lists_chains_shortest_first_and_stops_at_roots() {
        let why = explain(&python(), "amd64", "libsqlite3-0", usize::MAX);
        assert!(!why.root);
        assert_eq!(
            lines(&why),
            [
                "sqlite3 -> libsqlite3-0",
                "python3 -> python3.11 -> libpython3.11-stdlib -> libsqlite3-0",
            ]
        );
        assert!(!why.truncated);
    }

    #[test]
    fn a_root_says_so_and_still_lists_who_needs_it() {
        let why = explain(&python(), "amd64", "libc6", usize::MAX);
        assert!(why.root);
        assert_eq!(
            lines(&why),
            [
                "sqlite3 -> libc6",
                "python3 -> python3.11 -> libc6",
                "sqlite3 -> libsqlite3-0 -> libc6",
                "python3 -> python3.11 -> libpython3.11-stdlib -> libsqlite3-0 -> libc6",
            ]
        );
    }

    #[test]
    fn limits_the_chains_and_says_so() {
        let why = explain(&python(), "amd64", "libc6", 2);
        assert_eq!(
            lines(&why),
            ["sqlite3 -> libc6", "python3 -> python3.11 -> libc6"]
        );
        assert!(why.truncated);
    }

    #[test]
    fn survives_dependency_cycles() {
        let cyclic = lock(&[("app", &["manifest"]), ("a", &["app", "b"]), ("b", &["a"])]);
        let why = explain(&cyclic, "amd64", "b", usize::MAX);
        assert_eq!(lines(&why), ["app -> a -> b"]);
    }

    #[test]
    fn prefixes_lines_with_the_architecture_only_when_several() {
        let lock = python();
        let amd64 = explain(&lock, "amd64", "sqlite3", usize::MAX);
        assert_eq!(
            render_text("sqlite3", std::slice::from_ref(&amd64)),
            "sqlite3 is a root of the manifest\n"
        );
        let arm64 = explain(&lock, "arm64", "sqlite3", usize::MAX);
        assert!(!arm64.locked);
        assert_eq!(
            render_text("sqlite3", &[amd64, arm64]),
            "amd64: sqlite3 is a root of the manifest\narm64: sqlite3 is not part of this image\n"
        );
        let mut truncated = explain(&lock, "amd64", "libc6", 1);
        truncated.root = false;
        assert_eq!(
            render_text("libc6", &[truncated]),
            "sqlite3 -> libc6\n… only the 1 shortest chains are shown; --all lists every one\n"
        );
    }

    #[test]
    fn suggests_a_close_name() {
        let lock = python();
        assert_eq!(
            suggestion(&lock, "libsqlite-0"),
            " (did you mean `libsqlite3-0`?)"
        );
        assert_eq!(suggestion(&lock, "emacs"), "");
    }
}
