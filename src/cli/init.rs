//! `debless init`: a commented `debless.toml` for the host's Debian release, to start from,
//! through [`crate::ops::init`]; this file parses the flags and says what was written.

use anyhow::Result;

use super::{Globals, Ui, status};
use crate::ops::init::{InitOptions, init};

/// Arguments of `debless init`.
#[derive(Debug, clap::Args)]
pub struct InitArgs {
    /// The Debian release to start from (`bookworm`, `trixie`, …) [default: this host's,
    /// from /etc/os-release].
    #[arg(long, value_name = "SUITE")]
    pub suite: Option<String>,
    /// Replace an existing manifest.
    #[arg(long)]
    pub force: bool,
}

/// Runs `debless init`.
pub fn run(globals: &Globals, args: &InitArgs) -> Result<()> {
    let options = InitOptions {
        suite: args.suite.clone(),
        force: args.force,
    };
    let written = init(
        &globals.project(),
        &globals.settings,
        &options,
        &Ui::new(globals),
    )?;
    status(
        globals,
        format_args!(
            "Wrote {} for {} ({}) from {}; next: `debless lock`",
            globals.manifest.display(),
            written.codename,
            written.arch.as_str(),
            written.suites.join(", ")
        ),
    );
    Ok(())
}
