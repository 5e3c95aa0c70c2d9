//! `debless show PKG` and `debless search WORD`: what the manifest's suites offer, read exactly
//! as `lock` reads them (verified InRelease, indices from the sha256 cache), like
//! `apt-cache show` + `apt-cache policy` and `apt-cache search --names-only`.
//!
//! The questions are answered by `repo::query`; this file holds the arguments and the
//! rendering. Nothing is resolved or written; `show` also reads `debless.lock` to say which
//! version is pinned. Unknown names fail with the nearest names the suites have, and a purely
//! virtual name fails naming its providers, since there is no package of that name to show.

use std::fmt::Write as _;

use anyhow::{Context as _, Result};
use serde::Serialize;

use super::Globals;
use super::diagnostics::Diagnostic;
use crate::debian::{Arch, BinaryPackage, MultiArch, Version};
use crate::lock::Lock;
use crate::manifest::Manifest;
use crate::repo::suites;
use crate::repo::{VerifiedSuite, query};

/// Arguments of `debless show`.
#[derive(Debug, clap::Args)]
pub struct ShowArgs {
    /// The package to show (a real package; virtual names are answered with their providers).
    #[arg(value_name = "PKG")]
    pub package: String,
    /// Print JSON instead of apt-style stanzas.
    #[arg(long)]
    pub json: bool,
}

/// Arguments of `debless search`.
#[derive(Debug, clap::Args)]
pub struct SearchArgs {
    /// Part of a package name (or of a name a package provides), e.g. `awk`.
    #[arg(value_name = "WORD")]
    pub word: String,
    /// Print JSON instead of one line per package.
    #[arg(long)]
    pub json: bool,
}

/// Runs `debless show`.
pub fn run(globals: &Globals, args: &ShowArgs) -> Result<()> {
    let manifest = globals.project().load_manifest()?;
    let suites = suites::load_all(
        &manifest,
        || globals.settings.mirrors(),
        &globals.settings.cache_dir,
    )?;
    let lock_path = globals.lock_path();
    let lock = Lock::load(&lock_path)
        .with_context(|| format!("reading `{}` for the pinned version", lock_path.display()))?;
    let report = PackageReport::collect(&args.package, &manifest, &suites, lock.as_ref());
    if report.architectures.iter().all(|a| a.versions.is_empty()) {
        return Err(unknown_package(&args.package, &report, &suites).into());
    }
    let text = if args.json {
        serde_json::to_string_pretty(&report)? + "\n"
    } else {
        report.render()
    };
    out!("{text}");
    Ok(())
}

/// Runs `debless search`.
pub fn search(globals: &Globals, args: &SearchArgs) -> Result<()> {
    let manifest = globals.project().load_manifest()?;
    let suites = suites::load_all(
        &manifest,
        || globals.settings.mirrors(),
        &globals.settings.cache_dir,
    )?;
    let word = args.word.to_ascii_lowercase();
    let hits = query::search_names(&word, &suites);
    if hits.is_empty() {
        return Err(Diagnostic::new(
            format!(
                "no package name contains `{word}` in {}",
                suite_list(&suites)
            ),
            "try a shorter word, or add the suite or component that has it to debless.toml",
        )
        .into());
    }
    if args.json {
        outln!("{}", serde_json::to_string_pretty(&hits)?);
    } else {
        for hit in &hits {
            outln!(
                "{} {} ({}){}",
                hit.name,
                hit.version,
                hit.suite,
                provides_note(&hit.provides)
            );
        }
    }
    Ok(())
}

/// Everything `show` prints about one name.
#[derive(Debug, Serialize)]
struct PackageReport {
    package: String,
    /// Packages whose `Provides` names it, best first (as the resolver ranks them).
    provided_by: Vec<String>,
    architectures: Vec<ArchReport>,
}

/// The versions available to one image architecture.
#[derive(Debug, Serialize)]
struct ArchReport {
    architecture: String,
    /// What `debless.lock` pins for this architecture, if anything.
    locked: Option<LockedPin>,
    /// Highest version first.
    versions: Vec<Available>,
}

#[derive(Debug, Serialize)]
struct LockedPin {
    version: Version,
    suite: String,
    architecture: String,
}

/// One stanza of one suite's index.
#[derive(Debug, Serialize)]
struct Available {
    version: Version,
    suite: String,
    architecture: String,
    multi_arch: &'static str,
    pre_depends: Option<String>,
    depends: Option<String>,
    provides: Vec<String>,
    section: Option<String>,
    source: String,
    size: u64,
    installed_size: Option<u64>,
    filename: String,
    sha256: String,
    locked: bool,
}

impl PackageReport {
    fn collect(
        name: &str,
        manifest: &Manifest,
        suites: &[VerifiedSuite],
        lock: Option<&Lock>,
    ) -> Self {
        let architectures = manifest
            .architectures
            .iter()
            .map(|arch| ArchReport::collect(name, arch, suites, lock))
            .collect();
        Self {
            package: name.to_owned(),
            provided_by: query::providers(name, suites),
            architectures,
        }
    }

    /// `apt-cache policy` lines per architecture, then one `apt-cache show` stanza per version.
    fn render(&self) -> String {
        let mut out = String::new();
        for arch in &self.architectures {
            let _ = writeln!(out, "{} for {}:", self.package, arch.architecture);
            match &arch.locked {
                Some(pin) => {
                    let _ = writeln!(out, "  locked: {} ({})", pin.version, pin.suite);
                }
                None => out.push_str("  locked: (none)\n"),
            }
            if arch.versions.is_empty() {
                out.push_str("  no version for this architecture\n");
            }
            for v in &arch.versions {
                let mark = if v.locked { " [locked]" } else { "" };
                let _ = writeln!(out, "  {} ({}){mark}", v.version, v.suite);
            }
            if !self.provided_by.is_empty() {
                let _ = writeln!(out, "  also provided by: {}", self.provided_by.join(", "));
            }
            out.push('\n');
            for v in &arch.versions {
                v.render(&self.package, &mut out);
                out.push('\n');
            }
        }
        out
    }
}

impl ArchReport {
    fn collect(name: &str, arch: &Arch, suites: &[VerifiedSuite], lock: Option<&Lock>) -> Self {
        let locked = lock.and_then(|lock| {
            lock.packages_for(arch)
                .find(|p| p.name == name)
                .map(|p| LockedPin {
                    version: p.version.clone(),
                    suite: p.suite.clone(),
                    architecture: p.architecture.clone(),
                })
        });
        let versions = query::versions(name, arch, suites)
            .into_iter()
            .map(|offer| {
                let pkg = offer.package;
                let is_locked = locked.as_ref().is_some_and(|pin| {
                    pin.version == pkg.version
                        && pin.suite == offer.suite
                        && pin.architecture == pkg.architecture
                });
                Available::from_package(pkg, offer.suite, is_locked)
            })
            .collect();
        Self {
            architecture: arch.as_str().to_owned(),
            locked,
            versions,
        }
    }
}

impl Available {
    fn from_package(pkg: &BinaryPackage, suite: &str, locked: bool) -> Self {
        let source = match &pkg.source_version {
            Some(version) => format!("{} ({version})", pkg.source),
            None => pkg.source.clone(),
        };
        Self {
            version: pkg.version.clone(),
            suite: suite.to_owned(),
            architecture: pkg.architecture.clone(),
            multi_arch: multi_arch_name(pkg.multi_arch),
            pre_depends: pkg.pre_depends_text().map(one_line),
            depends: pkg.depends_text().map(one_line),
            provides: pkg.provides.iter().map(ToString::to_string).collect(),
            section: pkg.section.clone(),
            source,
            size: pkg.size,
            installed_size: pkg.installed_size,
            filename: pkg.filename.clone(),
            sha256: pkg.sha256.clone(),
            locked,
        }
    }

    fn render(&self, name: &str, out: &mut String) {
        let mut field = |key: &str, value: &str| {
            let _ = writeln!(out, "{key}: {value}");
        };
        field("Package", name);
        field("Version", self.version.as_str());
        field("Suite", &self.suite);
        field("Architecture", &self.architecture);
        field("Multi-Arch", self.multi_arch);
        if let Some(text) = &self.pre_depends {
            field("Pre-Depends", text);
        }
        if let Some(text) = &self.depends {
            field("Depends", text);
        }
        if !self.provides.is_empty() {
            field("Provides", &self.provides.join(", "));
        }
        if let Some(section) = &self.section {
            field("Section", section);
        }
        field("Source", &self.source);
        field("Size", &self.size.to_string());
        if let Some(size) = self.installed_size {
            field("Installed-Size", &size.to_string());
        }
        field("Filename", &self.filename);
        field("SHA256", &self.sha256);
        field("Locked", if self.locked { "yes" } else { "no" });
    }
}

/// ` [provides a, b, c, +N more]`: Rust library packages provide dozens of feature names.
fn provides_note(provides: &[String]) -> String {
    const SHOWN: usize = 3;
    match provides.len() {
        0 => String::new(),
        n if n <= SHOWN => format!(" [provides {}]", provides.join(", ")),
        n => format!(
            " [provides {}, +{} more]",
            provides[..SHOWN].join(", "),
            n - SHOWN
        ),
    }
}

/// The error for a name no suite has as a real package: its providers when it is virtual,
/// else the nearest names.
fn unknown_package(name: &str, report: &PackageReport, suites: &[VerifiedSuite]) -> Diagnostic {
    if let Some(first) = report.provided_by.first() {
        return Diagnostic::new(
            format!(
                "`{name}` is a virtual package provided by {}",
                report.provided_by.join(", ")
            ),
            format!(
                "run `debless show {first}`, or choose a provider in debless.toml: prefer = {{ {name} = \"{first}\" }}"
            ),
        );
    }
    let query::NearNames { containing, near } = query::near_names(name, suites);
    let search = match containing {
        0 => None,
        1 => Some(format!(
            "`debless search {name}` lists the name containing it"
        )),
        n => Some(format!(
            "`debless search {name}` lists the {n} names containing it"
        )),
    };
    let hint = if near.is_empty() {
        search
            .unwrap_or_else(|| "check the spelling, or the manifest's suites and components".into())
    } else {
        let list: Vec<String> = near.iter().map(|n| format!("`{n}`")).collect();
        let (last, first) = list.split_last().expect("near is not empty");
        let mut hint = if first.is_empty() {
            format!("did you mean {last}?")
        } else {
            format!("did you mean {} or {last}?", first.join(", "))
        };
        if let Some(search) = search {
            hint = format!("{hint} {search}");
        }
        hint
    };
    Diagnostic::new(
        format!("no package `{name}` in {}", suite_list(suites)),
        hint,
    )
}

fn suite_list(suites: &[VerifiedSuite]) -> String {
    let names: Vec<String> = suites
        .iter()
        .map(|s| format!("`{}`", s.verified.suite))
        .collect();
    names.join(", ")
}

fn multi_arch_name(multi_arch: MultiArch) -> &'static str {
    match multi_arch {
        MultiArch::No => "no",
        MultiArch::Same => "same",
        MultiArch::Foreign => "foreign",
        MultiArch::Allowed => "allowed",
    }
}

/// A relationship field on one line (indices may fold long fields).
fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_provides_lists_are_cut_after_three() {
        let names: Vec<String> = (1..=5).map(|i| format!("p{i}")).collect();
        assert_eq!(provides_note(&[]), "");
        assert_eq!(provides_note(&names[..1]), " [provides p1]");
        assert_eq!(provides_note(&names[..3]), " [provides p1, p2, p3]");
        assert_eq!(provides_note(&names), " [provides p1, p2, p3, +2 more]");
    }

    #[test]
    fn folded_fields_become_one_line() {
        assert_eq!(
            one_line("libc6 (>= 2.36),\n libgmp10"),
            "libc6 (>= 2.36), libgmp10"
        );
    }
}
