//! `debless diff OLD.lock NEW.lock`: what a re-lock changed, as text for a terminal, a
//! markdown table for a pull-request body, or JSON for machines. The comparison itself is
//! [`crate::lock::diff`]; this file only renders it. Exits 0 whether or not anything changed.

use std::fmt::Write as _;
use std::path::PathBuf;

use anyhow::Result;

use super::Globals;
use super::diagnostics::Diagnostic;
use crate::lock::Lock;
use crate::lock::diff::{Counts, LockDiff, PackageChange, TargetDiff, diff};

/// Arguments of `debless diff`.
#[derive(Debug, clap::Args)]
pub struct DiffArgs {
    /// The lock before (e.g. a copy of debless.lock from the main branch).
    #[arg(value_name = "OLD.lock")]
    pub old: PathBuf,
    /// The lock after.
    #[arg(value_name = "NEW.lock")]
    pub new: PathBuf,
    /// `text` for terminals, `markdown` for a pull-request body, `json` for machines.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

/// Output formats of `debless diff`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Text,
    Markdown,
    Json,
}

/// Runs `debless diff`.
pub fn run(_globals: &Globals, args: &DiffArgs) -> Result<()> {
    let load = |path: &PathBuf| -> Result<Lock> {
        Lock::load(path)?.ok_or_else(|| {
            Diagnostic::new(
                format!("`{}` does not exist", path.display()),
                "pass two lock files, e.g. `debless diff old.lock debless.lock`",
            )
            .into()
        })
    };
    let changes = diff(&load(&args.old)?, &load(&args.new)?);
    let rendered = match args.format {
        Format::Text => render_text(&changes),
        Format::Markdown => render_markdown(&changes),
        Format::Json => format!("{}\n", serde_json::to_string_pretty(&changes)?),
    };
    print!("{rendered}");
    Ok(())
}

fn summary(counts: Counts) -> String {
    let mut parts = Vec::new();
    for (count, word) in [
        (counts.upgraded, "upgraded"),
        (counts.downgraded, "downgraded"),
        (counts.added, "added"),
        (counts.removed, "removed"),
        (counts.rebuilt, "rebuilt"),
    ] {
        if count > 0 {
            parts.push(format!("{count} {word}"));
        }
    }
    let mut line = parts.join(", ");
    if counts.security > 0 {
        let _ = write!(line, " ({} from security suites)", counts.security);
    }
    line
}

fn versions(change: &PackageChange) -> String {
    match (&change.old_version, &change.new_version) {
        (Some(old), Some(new)) if old.as_str() == new.as_str() => format!("{new} (new sha256)"),
        (Some(old), Some(new)) => format!("{old} -> {new}"),
        (Some(only), None) | (None, Some(only)) => only.to_string(),
        (None, None) => String::new(),
    }
}

/// The package as the lock's graph names it: `name`, or `name:arch` for a foreign one.
fn label(change: &PackageChange, target: &str) -> String {
    if change.architecture == target || change.architecture == "all" {
        change.name.clone()
    } else {
        format!("{}:{}", change.name, change.architecture)
    }
}

/// Text for terminals (also printed by `debless lock` after a re-lock).
pub fn render_text(changes: &LockDiff) -> String {
    let mut out = String::new();
    if changes.is_empty() {
        out.push_str("no changes\n");
        return out;
    }
    let several = changes.targets.len() > 1;
    for target in &changes.targets {
        let indent = if several {
            let _ = writeln!(out, "{}:", target.target);
            "  "
        } else {
            ""
        };
        if target.sources.is_empty() {
            let _ = writeln!(out, "{indent}no changes");
            continue;
        }
        for source in &target.sources {
            let _ = writeln!(out, "{indent}{}", source.source_package);
            for change in &source.packages {
                let _ = writeln!(
                    out,
                    "{indent}  {:<10} {} {}{}",
                    change.change.as_str(),
                    label(change, &target.target),
                    versions(change),
                    if change.security { " [security]" } else { "" }
                );
            }
        }
    }
    let _ = writeln!(out, "{}", summary(changes.counts()));
    out
}

/// A markdown table per target, for a pull-request body.
pub fn render_markdown(changes: &LockDiff) -> String {
    let mut out = String::new();
    if changes.is_empty() {
        out.push_str("No changes.\n");
        return out;
    }
    let _ = writeln!(out, "**debless.lock**: {}\n", summary(changes.counts()));
    let several = changes.targets.len() > 1;
    for target in &changes.targets {
        if several {
            let _ = writeln!(out, "### {}\n", target.target);
        }
        markdown_table(&mut out, target);
    }
    out
}

fn markdown_table(out: &mut String, target: &TargetDiff) {
    if target.sources.is_empty() {
        out.push_str("No changes.\n\n");
        return;
    }
    out.push_str("| Source | Package | Change | Old | New |\n");
    out.push_str("|---|---|---|---|---|\n");
    // Versions go in code spans: `~` would otherwise be read as strikethrough.
    let code = |v: Option<&crate::debian::Version>| v.map_or(String::new(), |v| format!("`{v}`"));
    for source in &target.sources {
        for change in &source.packages {
            let _ = writeln!(
                out,
                "| {} | `{}` | {}{} | {} | {} |",
                source.source_package,
                label(change, &target.target),
                change.change.as_str(),
                if change.security {
                    " **[security]**"
                } else {
                    ""
                },
                code(change.old_version.as_ref()),
                code(change.new_version.as_ref()),
            );
        }
    }
    out.push('\n');
}
