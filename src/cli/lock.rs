//! `debless lock`: manifest → verified suites → resolution → `debless.lock`, through
//! [`crate::ops::lock`]; this file parses the flags and renders the outcome.

use anyhow::Result;

use super::{Globals, Ui, status};
use crate::ops::lock::{LockOptions, LockOutcome, lock};

/// Arguments of `debless lock`.
#[derive(Debug, clap::Args)]
pub struct LockArgs {
    /// Do not write; exit 3 if debless.lock does not match the manifest (a CI guard).
    #[arg(long, conflicts_with = "update")]
    pub check: bool,
    /// Move the named packages (all when none are named) to the newest versions the suites
    /// offer; without it, pins that still satisfy the manifest are kept.
    #[arg(long, num_args = 0.., value_name = "PKG")]
    pub update: Option<Vec<String>>,
    /// Print a JSON summary on stdout (lock path, whether it changed, package count, the diff
    /// against the previous lock) for scripts.
    #[arg(long)]
    pub json: bool,
}

/// Runs `debless lock`.
pub fn run(globals: &Globals, args: &LockArgs) -> Result<()> {
    let started = std::time::Instant::now();
    let options = LockOptions {
        check: args.check,
        update: args.update.clone(),
    };
    let ui = Ui::new(globals);
    let project = globals.project();
    let outcome = lock(&project, &globals.settings, &options, &ui)?;
    if args.check {
        return Ok(());
    }
    render(globals, &project, &outcome, started.elapsed());
    if args.json {
        let diff = match &outcome {
            LockOutcome::Changed { diff, .. } => diff.as_ref(),
            LockOutcome::Unchanged { .. } => None,
        };
        print_json(
            &project.lock,
            matches!(outcome, LockOutcome::Changed { .. }),
            outcome.lock().packages.len(),
            diff,
        )?;
    }
    Ok(())
}

/// Shows a lock's outcome: the summary line (and with `--verbose` each package) on stderr, the
/// diff against the previous lock. `debless add` shows its re-locks this way too.
pub fn render(
    globals: &Globals,
    project: &crate::ops::Project,
    outcome: &LockOutcome,
    elapsed: std::time::Duration,
) {
    let lock_path = &project.lock;
    let lock = outcome.lock();
    if globals.verbose && matches!(outcome, LockOutcome::Changed { .. }) {
        for p in &lock.packages {
            status(
                globals,
                format_args!(
                    "  {} {} {} from {} (required by {})",
                    p.name,
                    p.version,
                    p.architecture,
                    p.suite,
                    p.required_by.join(", ")
                ),
            );
        }
    }
    let verb = match outcome {
        LockOutcome::Changed { .. } => format!("Locked {}", lock_path.display()),
        LockOutcome::Unchanged { .. } => format!("{} is up to date", lock_path.display()),
    };
    let archs: Vec<&str> = lock.architectures.iter().map(String::as_str).collect();
    let suites: Vec<&str> = lock.sources.iter().map(|s| s.suite.as_str()).collect();
    status(
        globals,
        format_args!(
            "{verb}: {} packages for {} from {} in {:.2}s",
            lock.packages.len(),
            archs.join(", "),
            suites.join(", "),
            elapsed.as_secs_f64()
        ),
    );
    let diff = match outcome {
        LockOutcome::Changed { diff, .. } => diff.as_ref(),
        LockOutcome::Unchanged { .. } => None,
    };
    if let Some(changes) = diff {
        status(
            globals,
            format_args!("{}", super::diff::render_text(changes).trim_end()),
        );
    }
}

/// `lock --json`: what was written, for scripts (the daily re-lock job branches on `changed`).
fn print_json(
    lock_path: &std::path::Path,
    changed: bool,
    packages: usize,
    changes: Option<&crate::lock::diff::LockDiff>,
) -> Result<()> {
    let summary = serde_json::json!({
        "lock": lock_path.display().to_string(),
        "changed": changed,
        "packages": packages,
        "diff": changes.map(super::diff::DiffJson::new),
    });
    outln!("{}", serde_json::to_string_pretty(&summary)?);
    Ok(())
}
