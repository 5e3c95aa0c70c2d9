//! `debless show PKG` and `debless search WORD`: what the manifest's suites offer, read exactly
//! as `lock` reads them (verified InRelease, indices from the sha256 cache), like
//! `apt-cache show` + `apt-cache policy` and `apt-cache search --names-only`.
//!
//! The questions are answered by `repo::query`; this file holds the arguments and the
//! rendering. Nothing is resolved or written; `show` also reads `debless.lock` to say which
//! version is pinned. Unknown names fail with the nearest names the suites have, and a purely
//! virtual name fails naming its providers, since there is no package of that name to show.

use std::fmt::Write as _;

use anyhow::Result;

use super::Globals;
use crate::ops::show::{Available, PackageReport, show};

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
    let report = show(&globals.project(), &globals.settings, &args.package)?;
    let text = if args.json {
        serde_json::to_string_pretty(&report)? + "\n"
    } else {
        render(&report)
    };
    out!("{text}");
    Ok(())
}

/// Runs `debless search`.
pub fn search(globals: &Globals, args: &SearchArgs) -> Result<()> {
    let hits = crate::ops::show::search(&globals.project(), &globals.settings, &args.word)?;
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

/// `apt-cache policy` lines per architecture, then one `apt-cache show` stanza per version.
fn render(report: &PackageReport) -> String {
    let mut out = String::new();
    for arch in &report.architectures {
        let _ = writeln!(out, "{} for {}:", report.package, arch.architecture);
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
        if !report.provided_by.is_empty() {
            let _ = writeln!(out, "  also provided by: {}", report.provided_by.join(", "));
        }
        out.push('\n');
        for v in &arch.versions {
            render_available(v, &report.package, &mut out);
            out.push('\n');
        }
    }
    out
}

/// One `apt-cache show` stanza.
fn render_available(v: &Available, name: &str, out: &mut String) {
    let mut field = |key: &str, value: &str| {
        let _ = writeln!(out, "{key}: {value}");
    };
    field("Package", name);
    field("Version", v.version.as_str());
    field("Suite", &v.suite);
    field("Architecture", &v.architecture);
    field("Multi-Arch", v.multi_arch);
    if let Some(text) = &v.pre_depends {
        field("Pre-Depends", text);
    }
    if let Some(text) = &v.depends {
        field("Depends", text);
    }
    if !v.provides.is_empty() {
        field("Provides", &v.provides.join(", "));
    }
    if let Some(section) = &v.section {
        field("Section", section);
    }
    field("Source", &v.source);
    field("Size", &v.size.to_string());
    if let Some(size) = v.installed_size {
        field("Installed-Size", &size.to_string());
    }
    field("Filename", &v.filename);
    field("SHA256", &v.sha256);
    field("Locked", if v.locked { "yes" } else { "no" });
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
}
