//! `debless diff OLD.lock NEW.lock`: what a re-lock changed, as text for a terminal, a
//! markdown table for a pull-request body, or JSON for machines. The comparison itself is
//! [`crate::lock::diff`]; this file only renders it. Exits 0 whether or not anything changed.

use std::fmt::Write as _;
use std::path::PathBuf;

use anyhow::Result;

use super::Globals;
use crate::lock::diff::{Counts, LockDiff, PackageChange, TargetDiff};

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
    let changes = crate::ops::query::diff(&args.old, &args.new)?;
    let rendered = match args.format {
        Format::Text => render_text(&changes),
        Format::Markdown => render_markdown(&changes),
        Format::Json => format!(
            "{}\n",
            serde_json::to_string_pretty(&DiffJson::new(&changes))?
        ),
    };
    out!("{rendered}");
    Ok(())
}

/// The JSON document: a yes/no and totals first, so a pipeline can branch with one `jq`.
#[derive(serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct DiffJson<'a> {
    changed: bool,
    counts: Counts,
    /// New minus old download size of the `.deb` files, in bytes.
    download_size_delta: i64,
    targets: &'a [TargetDiff],
}

impl<'a> DiffJson<'a> {
    /// The document for `changes`.
    pub fn new(changes: &'a LockDiff) -> Self {
        Self {
            changed: !changes.is_empty(),
            counts: changes.counts(),
            download_size_delta: changes.size_delta(),
            targets: &changes.targets,
        }
    }
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

/// A signed size for people: `+340 B`, `-1.2 kB`, `+3.4 MB` (decimal units).
pub fn signed_size(delta: i64) -> String {
    let sign = if delta < 0 { '-' } else { '+' };
    let bytes = delta.unsigned_abs();
    if bytes < 1_000 {
        format!("{sign}{bytes} B")
    } else if bytes < 1_000_000 {
        format!("{sign}{:.1} kB", bytes as f64 / 1e3)
    } else {
        format!("{sign}{:.1} MB", bytes as f64 / 1e6)
    }
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
                    "{indent}  {:<10} {} {}{} ({})",
                    change.change.as_str(),
                    label(change, &target.target),
                    versions(change),
                    if change.security { " [security]" } else { "" },
                    signed_size(change.size_delta())
                );
            }
        }
    }
    let _ = writeln!(
        out,
        "{}; download size {}",
        summary(changes.counts()),
        signed_size(changes.size_delta())
    );
    out
}

/// A markdown table per target, for a pull-request body.
pub fn render_markdown(changes: &LockDiff) -> String {
    let mut out = String::new();
    if changes.is_empty() {
        out.push_str("No changes.\n");
        return out;
    }
    let _ = writeln!(
        out,
        "**debless.lock**: {}; download size {}\n",
        summary(changes.counts()),
        signed_size(changes.size_delta())
    );
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
    out.push_str("| Source | Package | Change | Old | New | Download size |\n");
    out.push_str("|---|---|---|---|---|---:|\n");
    // Versions go in code spans: `~` would otherwise be read as strikethrough.
    let code = |v: Option<&crate::debian::Version>| v.map_or(String::new(), |v| format!("`{v}`"));
    for source in &target.sources {
        for change in &source.packages {
            let _ = writeln!(
                out,
                "| {} | `{}` | {}{} | {} | {} | {} |",
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
                signed_size(change.size_delta()),
            );
        }
    }
    out.push('\n');
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::debian::Version;
    use crate::lock::diff::{ChangeKind, SourceChanges};

    fn upgrade(target: &str, name: &str, old: &str, new: &str, security: bool) -> TargetDiff {
        let version = |v: &str| Some(Version::parse(v).expect("valid version"));
        TargetDiff {
            target: target.into(),
            sources: vec![SourceChanges {
                source_package: "openssl".into(),
                packages: vec![PackageChange {
                    name: name.into(),
                    architecture: target.into(),
                    change: ChangeKind::Upgraded,
                    old_version: version(old),
                    new_version: version(new),
                    suite: "bookworm-security".into(),
                    security,
                    old_size: Some(1_000_000),
                    new_size: Some(1_250_000),
                }],
            }],
        }
    }

    #[test]
    fn text_marks_security_and_names_targets_when_several() {
        let one = LockDiff {
            targets: vec![upgrade(
                "amd64",
                "libssl3",
                "3.0.11-1~deb12u1",
                "3.0.11-1~deb12u2",
                true,
            )],
        };
        assert_eq!(
            render_text(&one),
            "openssl\n  upgraded   libssl3 3.0.11-1~deb12u1 -> 3.0.11-1~deb12u2 [security] (+250.0 kB)\n\
             1 upgraded (1 from security suites); download size +250.0 kB\n"
        );
        let two = LockDiff {
            targets: vec![
                TargetDiff {
                    target: "amd64".into(),
                    sources: Vec::new(),
                },
                upgrade("arm64", "libssl3", "3.0.11-1", "3.0.12-1", false),
            ],
        };
        assert_eq!(
            render_text(&two),
            "amd64:\n  no changes\narm64:\n  openssl\n    upgraded   libssl3 3.0.11-1 -> 3.0.12-1 (+250.0 kB)\n\
             1 upgraded; download size +250.0 kB\n"
        );
    }

    #[test]
    fn sizes_read_as_signed_decimal_units() {
        assert_eq!(signed_size(0), "+0 B");
        assert_eq!(signed_size(-340), "-340 B");
        assert_eq!(signed_size(1_250), "+1.2 kB");
        assert_eq!(signed_size(-3_400_000), "-3.4 MB");
    }

    #[test]
    fn markdown_keeps_tildes_in_code_spans() {
        let one = LockDiff {
            targets: vec![upgrade(
                "amd64",
                "libssl3",
                "3.0.11-1~deb12u1",
                "3.0.11-1~deb12u2",
                true,
            )],
        };
        let markdown = render_markdown(&one);
        assert!(
            markdown.contains(
                "| openssl | `libssl3` | upgraded **[security]** | `3.0.11-1~deb12u1` | `3.0.11-1~deb12u2` | +250.0 kB |"
            ),
            "{markdown}"
        );
        assert_eq!(
            render_markdown(&LockDiff {
                targets: Vec::new()
            }),
            "No changes.\n"
        );
    }
}
