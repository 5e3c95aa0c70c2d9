//! `debless completions SHELL`: shell completion scripts, generated from the same clap
//! definitions as `--help`, so they never drift from the real flags.

use anyhow::Result;
use clap::CommandFactory as _;

/// Arguments of `debless completions`.
#[derive(Debug, clap::Args)]
pub struct CompletionsArgs {
    /// The shell to write completions for, e.g. `debless completions bash >
    /// /etc/bash_completion.d/debless`.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

/// Prints the completion script on stdout.
pub fn run(args: &CompletionsArgs) -> Result<()> {
    let mut command = super::Cli::command();
    // Generated into memory: clap_complete panics on a failed write, `out!` stops quietly.
    let mut script = Vec::new();
    clap_complete::generate(args.shell, &mut command, "debless", &mut script);
    out!("{}", String::from_utf8_lossy(&script));
    Ok(())
}
