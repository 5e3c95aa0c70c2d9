//! `debless provides`: which packages of the manifest's suites ship a file or soname, from
//! the signed `Contents-<arch>` indices (`repo::contents`).

use std::collections::BTreeSet;

use anyhow::Result;

use super::Globals;
use crate::ops::query::provides;

/// Arguments of `debless provides`.
#[derive(Debug, clap::Args)]
pub struct ProvidesArgs {
    /// Sonames or file names (`libgmp.so.10`, matched against every path's last component)
    /// or absolute paths (`/usr/lib/x86_64-linux-gnu/libgmp.so.10`, matched exactly).
    #[arg(required = true, value_name = "NAME-OR-PATH")]
    pub names: Vec<String>,
    /// The architecture whose Contents index to read [default: the manifest's first].
    #[arg(long, value_name = "ARCH")]
    pub arch: Option<String>,
    /// Print the matches as JSON on stdout.
    #[arg(long)]
    pub json: bool,
}

/// Runs `debless provides`; fails (exit 1) when a name is shipped by no package.
pub fn run(globals: &Globals, args: &ProvidesArgs) -> Result<()> {
    let found = provides(
        &globals.project(),
        &globals.settings,
        &args.names,
        args.arch.as_deref(),
    )?;
    let providers = &found.providers;
    if args.json {
        outln!("{}", serde_json::to_string_pretty(providers)?);
    } else {
        // One line per path and package; the suites that list it do not change the answer.
        let lines: BTreeSet<(&str, &str)> = providers
            .iter()
            .map(|p| (p.path.as_str(), p.package.as_str()))
            .collect();
        let width = lines.iter().map(|(path, _)| path.len()).max().unwrap_or(0);
        for (path, package) in lines {
            outln!("{path:<width$}  {package}");
        }
    }
    if let Some(err) = found.missing_error() {
        return Err(err.into());
    }
    Ok(())
}
