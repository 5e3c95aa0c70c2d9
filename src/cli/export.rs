//! `debless export`: the lock as JSON for build systems that cannot read TOML (Bazel's
//! `json.decode` in the `debless_debs` repository rule): every `.deb` with its sha256 and the
//! URLs to fetch it from, resolved here so no caller reimplements mirror discovery.
//!
//! The document is built by [`crate::ops::export`]; this file parses the flags and writes it.

use std::path::PathBuf;

use anyhow::Result;

use super::Globals;
use crate::ops::export::{ExportOptions, export};

/// The formats `debless export` writes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum ExportFormat {
    /// JSON for Bazel's `json.decode`: debs (file, sha256, size, urls), mirrors per suite,
    /// recorded image digests, base pin.
    #[default]
    BazelJson,
}

/// Arguments of `debless export`.
#[derive(Debug, clap::Args)]
pub struct ExportArgs {
    /// The lock to export [default: debless.lock beside the manifest].
    #[arg(long, value_name = "PATH")]
    pub lock: Option<PathBuf>,
    /// The output format.
    #[arg(long, value_enum, default_value_t)]
    pub format: ExportFormat,
    /// Archive roots to list after each suite's mirror (e.g. a snapshot archive), as extra
    /// URLs of every .deb.
    #[arg(long = "mirror", value_name = "URL")]
    pub mirrors: Vec<String>,
    /// Write the document to this file (temp file + rename) instead of stdout.
    #[arg(short, long, value_name = "PATH")]
    pub output: Option<PathBuf>,
}

/// Runs `debless export`.
pub fn run(globals: &Globals, args: &ExportArgs) -> Result<()> {
    let mut project = globals.project();
    if let Some(lock) = &args.lock {
        project.lock.clone_from(lock);
    }
    let options = ExportOptions {
        fallback_mirrors: args.mirrors.clone(),
    };
    let document = match args.format {
        ExportFormat::BazelJson => export(&project, &globals.settings, &options)?,
    };
    let mut text = serde_json::to_string_pretty(&document)?;
    text.push('\n');
    match &args.output {
        Some(path) => write_atomically(path, &text)?,
        None => out!("{text}"),
    }
    Ok(())
}

/// Writes `text` to a temp file beside `path`, then renames it into place.
fn write_atomically(path: &std::path::Path, text: &str) -> Result<()> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(std::path::Path::new("."));
    let mut temp = crate::cleanup::temp_file_in(dir, ".debless-export-")?;
    std::io::Write::write_all(&mut temp, text.as_bytes())?;
    temp.persist(path).map_err(|e| e.error)?;
    Ok(())
}
