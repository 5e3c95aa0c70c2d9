//! `debless export`: the lock as JSON for build systems that cannot read TOML (Bazel's
//! `json.decode` in the `debless_debs` repository rule): every `.deb` with its sha256 and the
//! URLs to fetch it from, resolved here so no caller reimplements mirror discovery.
//!
//! Reads the lock (and the manifest beside it when present, for its sources' `url`); never
//! the network.

use std::path::PathBuf;

use anyhow::Result;

use super::Globals;
use super::diagnostics::Diagnostic;
use crate::fetch::export::export;
use crate::lock::Lock;
use crate::manifest::Manifest;

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
    let lock_path = args.lock.clone().unwrap_or_else(|| globals.lock_path());
    let Some(lock) = Lock::load(&lock_path)? else {
        return Err(Diagnostic::new(
            format!("`{}` does not exist", lock_path.display()),
            "run `debless lock` to create it, or name the lock with `--lock PATH`",
        )
        .into());
    };
    // The manifest only adds the `url` a source may name; a lock exported on its own uses
    // the discovered mirror.
    let manifest = if globals.manifest.is_file() {
        Some(Manifest::load(&globals.manifest)?)
    } else {
        None
    };
    let needs_discovery = lock.sources.iter().any(|source| {
        manifest
            .as_ref()
            .and_then(|m| m.sources.iter().find(|s| s.suite == source.suite))
            .and_then(|s| s.url.as_ref())
            .is_none()
    });
    let discovered = if needs_discovery {
        match globals.settings.mirrors() {
            Ok(mirrors) => Some(mirrors),
            Err(_) if !args.mirrors.is_empty() => None,
            Err(err) => {
                return Err(Diagnostic::new(
                    err.to_string(),
                    "set DEBLESS_MIRROR=http://<host>/debian (with Bazel: --repo_env=DEBLESS_MIRROR=…) or pass --mirror URL",
                )
                .into());
            }
        }
    } else {
        None
    };
    let fallbacks: Vec<String> = args
        .mirrors
        .iter()
        .map(|m| m.trim_end_matches('/').to_owned())
        .collect();
    let roots = |suite: &str| -> Vec<String> {
        let named = manifest
            .as_ref()
            .and_then(|m| m.sources.iter().find(|s| s.suite == suite))
            .and_then(|s| s.url.clone());
        let found = named.or_else(|| {
            discovered
                .as_ref()
                .and_then(|m| m.root_for(suite).ok())
                .map(str::to_owned)
        });
        found.into_iter().chain(fallbacks.iter().cloned()).collect()
    };
    let document = match args.format {
        ExportFormat::BazelJson => export(&lock, &roots),
    };
    let missing = document.suites_without_roots();
    if !missing.is_empty() {
        return Err(Diagnostic::new(
            format!("no mirror for suite(s) {}", missing.join(", ")),
            "set DEBLESS_SECURITY_MIRROR for `*-security` suites, give the source a `url`, or pass --mirror URL",
        )
        .into());
    }
    let mut text = serde_json::to_string_pretty(&document)?;
    text.push('\n');
    match &args.output {
        Some(path) => write_atomically(path, &text)?,
        None => print!("{text}"),
    }
    Ok(())
}

/// Writes `text` to a temp file beside `path`, then renames it into place.
fn write_atomically(path: &std::path::Path, text: &str) -> Result<()> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(std::path::Path::new("."));
    let mut temp = tempfile::Builder::new()
        .prefix(".debless-export-")
        .tempfile_in(dir)?;
    std::io::Write::write_all(&mut temp, text.as_bytes())?;
    temp.persist(path).map_err(|e| e.error)?;
    Ok(())
}
