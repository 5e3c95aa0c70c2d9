//! `debless size`: what each locked package adds to the image, without building it.

use crate::ops::assemble::AssembleOptions;

/// Arguments of `debless size`.
#[derive(Debug, clap::Args)]
pub struct SizeArgs {
    /// Print the reports as JSON on stdout.
    #[arg(long)]
    pub json: bool,
    /// Use only the cache for the locked packages.
    #[arg(long)]
    pub offline: bool,
}

/// Runs `debless size`: one report per architecture.
pub fn run(globals: &super::Globals, args: &SizeArgs) -> anyhow::Result<()> {
    let options = AssembleOptions {
        offline: args.offline,
        ..AssembleOptions::default()
    };
    let ui = super::Ui::new(globals);
    let reports = crate::ops::size::size(&globals.project(), &globals.settings, &options, &ui)?;
    if args.json {
        outln!("{}", serde_json::to_string_pretty(&reports)?);
    } else {
        for report in &reports {
            out!("{}", report.render());
        }
    }
    Ok(())
}
