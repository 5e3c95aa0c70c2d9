//! `debless push OCI-DIR REF`: an OCI layout (as `debless build --output` writes it) to a
//! registry: missing blobs, then manifests, then the tag. Prints the pushed digest.

use std::path::PathBuf;

use anyhow::Result;

use super::{Globals, status};

/// Arguments of `debless push`.
#[derive(Debug, clap::Args)]
pub struct PushArgs {
    /// The OCI layout directory to push (one image or one index in its index.json).
    pub layout: PathBuf,
    /// Where to push: `HOST[:PORT]/REPO[:TAG]` (HTTPS; localhost and 127.0.0.1 may be plain HTTP).
    pub reference: String,
}

/// Runs `debless push`. A project's manifest, when there is one, adds its `[registry.*]`
/// CA files.
pub fn run(globals: &Globals, args: &PushArgs) -> Result<()> {
    let manifest = if globals.manifest.exists() {
        Some(crate::ops::Project::new(&globals.manifest).load_manifest()?)
    } else {
        None
    };
    let pushed = crate::ops::push::push(
        &globals.settings,
        manifest.as_ref(),
        &args.layout,
        &args.reference,
        None,
    )?;
    pushed_status(globals, &pushed);
    outln!("{}", pushed.report.digest);
    Ok(())
}

/// The status line after a push (`debless push` and `build --push`).
pub fn pushed_status(globals: &Globals, pushed: &crate::ops::push::Pushed) {
    let report = &pushed.report;
    status(
        globals,
        format_args!(
            "Pushed {}@{} ({} blobs uploaded, {} mounted, {} already there)",
            pushed.reference, report.digest, report.uploaded, report.mounted, report.present
        ),
    );
}
