//! `debless provides`: which packages of the manifest's suites ship a file or soname, from
//! the signed `Contents-<arch>` indices (`repo::contents`).

use std::collections::BTreeSet;

use anyhow::Result;

use super::Globals;
use super::diagnostics::Diagnostic;
use crate::debian::Arch;
use crate::repo::contents::ContentsQuery;
use crate::repo::provides::find;

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
    let manifest = globals.project().load_manifest()?;
    let arch = match &args.arch {
        Some(name) => Arch::parse(name).map_err(|err| {
            Diagnostic::new(
                err.to_string(),
                "name a Debian architecture such as amd64 or arm64",
            )
        })?,
        None => manifest
            .architectures
            .first()
            .cloned()
            .expect("a validated manifest has an architecture"),
    };
    let queries: Vec<ContentsQuery> = args.names.iter().map(|n| ContentsQuery::parse(n)).collect();
    let providers = find(
        &manifest,
        || globals.settings.mirrors(),
        &globals.settings.cache_dir,
        &arch,
        &queries,
    )?;
    if args.json {
        outln!("{}", serde_json::to_string_pretty(&providers)?);
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
    let missing: Vec<String> = queries
        .iter()
        .map(ContentsQuery::text)
        .filter(|text| !providers.iter().any(|p| &p.query == text))
        .collect();
    if !missing.is_empty() {
        return Err(Diagnostic::new(
            format!(
                "no package of the manifest's suites ships {} on {arch}",
                missing
                    .iter()
                    .map(|m| format!("`{m}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            "check the spelling; a path must be absolute and exact, a bare name matches any directory",
        )
        .into());
    }
    Ok(())
}
