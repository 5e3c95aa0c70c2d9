//! `debless push OCI-DIR REF`: an OCI layout (as `debless build --output` writes it) to a
//! registry: missing blobs, then manifests, then the tag. Prints the pushed digest.

use std::path::{Path, PathBuf};

use anyhow::Result;

use super::diagnostics::Diagnostic;
use super::{Globals, status};
use crate::registry::{Reference, RegistryError, push_layout};

/// Arguments of `debless push`.
#[derive(Debug, clap::Args)]
pub struct PushArgs {
    /// The OCI layout directory to push (one image or one index in its index.json).
    pub layout: PathBuf,
    /// Where to push: `HOST[:PORT]/REPO[:TAG]` (http for localhost and 127.0.0.1).
    pub reference: String,
}

/// Runs `debless push`.
pub fn run(globals: &Globals, args: &PushArgs) -> Result<()> {
    let digest = push_dir(globals, &args.layout, &args.reference, None)?;
    println!("{digest}");
    Ok(())
}

/// Pushes the layout at `dir` to `target`, mounting blobs from `mount_from` when it is on the
/// same registry; returns the digest of what was pushed.
pub fn push_dir(
    globals: &Globals,
    dir: &Path,
    target: &str,
    mount_from: Option<&Reference>,
) -> Result<String> {
    let reference = Reference::parse(target).map_err(|err| {
        Diagnostic::new(
            format!("cannot push: {err}"),
            "write `HOST[:PORT]/REPO[:TAG]`, e.g. `127.0.0.1:5000/app:v1`",
        )
    })?;
    let report = push_layout(dir, &reference, mount_from).map_err(|err| {
        let hint = match &err {
            RegistryError::Unauthorized { .. } => {
                "log in (`~/.docker/config.json` or REGISTRY_AUTH_FILE), or set DEBLESS_REGISTRY_USERNAME and DEBLESS_REGISTRY_PASSWORD"
            }
            RegistryError::Write { .. } | RegistryError::BadDocument { .. } => {
                "push an OCI layout written by `debless build --output DIR`"
            }
            _ => "check that the registry is reachable and accepts pushes",
        };
        Diagnostic::new(format!("cannot push `{}` to `{reference}`: {err}", dir.display()), hint)
    })?;
    status(
        globals,
        format_args!(
            "Pushed {reference}@{} ({} blobs uploaded, {} mounted, {} already there)",
            report.digest, report.uploaded, report.mounted, report.present
        ),
    );
    Ok(report.digest)
}
