//! Pushing an OCI layout (as `build --output` writes it) to a registry: missing blobs, then
//! manifests, then the tag.

use std::path::Path;

use super::Error;
use crate::env::Settings;
use crate::manifest::Manifest;
use crate::registry::{PushReport, Reference, RegistryError, push_layout};

/// What was pushed where.
#[derive(Clone, Debug)]
pub struct Pushed {
    /// The reference pushed to.
    pub reference: Reference,
    /// The digest and blob counts.
    pub report: PushReport,
}

/// Pushes the layout at `dir` to `target`, mounting blobs from `mount_from` when it is on the
/// same registry, with the credentials `settings` name and the CA store `settings` and
/// `manifest` (its `[registry.*]` tables, when there is a project) trust.
pub fn push(
    settings: &Settings,
    manifest: Option<&Manifest>,
    dir: &Path,
    target: &str,
    mount_from: Option<&Reference>,
) -> Result<Pushed, Error> {
    let reference = Reference::parse(target).map_err(|err| {
        Error::input(
            format!("cannot push: {err}"),
            "write `HOST[:PORT]/REPO[:TAG]`, e.g. `127.0.0.1:5000/app:v1`",
        )
    })?;
    let http = super::http_config(settings, manifest);
    let report = push_layout(dir, &reference, mount_from, &settings.registry_auth, &http).map_err(
        |err| {
            let hint = match &err {
                RegistryError::Write { .. } | RegistryError::BadDocument { .. } => {
                    "push an OCI layout written by `debless build --output DIR`"
                }
                RegistryError::Unauthorized { .. }
                | RegistryError::Untrusted(_)
                | RegistryError::Tls(_) => super::error::registry_hint(&err),
                _ => "check that the registry is reachable and accepts pushes",
            };
            Error::input(
                format!("cannot push `{}` to `{reference}`: {err}", dir.display()),
                hint,
            )
        },
    )?;
    Ok(Pushed { reference, report })
}
