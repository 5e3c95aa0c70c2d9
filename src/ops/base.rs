//! `[image] base` for the lock and build operations: pinning the base to a
//! manifest digest per architecture, reading its package database for the resolver, and
//! loading the pinned base again at build time.

use std::collections::BTreeMap;
use std::path::Path;

use super::error::{Context as _, registry_hint};
use super::{Error, Progress};
use crate::debian::Arch;
use crate::env::Settings;
use crate::lock::{Lock, LockedBase, ProvidedPackage};
use crate::manifest::Manifest;
use crate::oci::base::BaseFilesystem;
use crate::registry::{BlobCache, ImageSource, PulledImage, Puller, RegistryError};
use crate::resolve::Installed;

/// The pinned base of one architecture, pulled and read.
pub struct LoadedBase {
    /// The manifest's reference, as pinned.
    pub name: String,
    pub image: PulledImage,
    pub filesystem: BaseFilesystem,
    /// The source's registry reference, for cross-repository mounts on push.
    pub registry_reference: Option<crate::registry::Reference>,
}

/// Parses the manifest's base reference; a bad one is the user's to fix.
pub fn source(text: &str) -> Result<ImageSource, Error> {
    ImageSource::parse(text).map_err(|err| {
        Error::input(
            format!("`image.base`: {err}"),
            "write `REGISTRY/REPO:TAG`, `oci-layout:DIR[:TAG]` or `oci-archive:FILE`",
        )
    })
}

fn open(settings: &Settings, manifest: &Manifest, text: &str) -> Result<Puller, Error> {
    let dir = manifest.path.parent().unwrap_or(Path::new(""));
    Puller::open(
        &source(text)?,
        dir,
        BlobCache::new(&settings.cache_dir),
        text,
        &settings.registry_auth,
        &super::http_config(settings, Some(manifest)),
    )
    .map_err(|err| registry_failure(text, err))
}

/// A registry error naming the base, with the hint for the likely fix.
pub fn registry_failure(name: &str, err: RegistryError) -> Error {
    Error::input(format!("base image `{name}`: {err}"), registry_hint(&err))
}

/// Pins the manifest's base for every architecture: its manifest digest and packages. Reuses
/// the old lock's pin while the manifest names the same base and `refresh` is false.
pub fn pin(
    settings: &Settings,
    progress: &dyn Progress,
    manifest: &Manifest,
    old: Option<&Lock>,
    refresh: bool,
) -> Result<Option<LockedBase>, Error> {
    let Some(name) = &manifest.image.base else {
        return Ok(None);
    };
    let archs: Vec<&str> = manifest.architectures.iter().map(Arch::as_str).collect();
    if !refresh
        && let Some(locked) = old.and_then(|l| l.base.as_ref())
        && locked.name == *name
        && archs.iter().all(|a| locked.digests.contains_key(*a))
    {
        return Ok(Some(locked.clone()));
    }
    let puller = open(settings, manifest, name)?;
    let (top_digest, top) = puller.top().map_err(|e| registry_failure(name, e))?;
    let mut digests = BTreeMap::new();
    let mut provided = BTreeMap::new();
    for arch in &manifest.architectures {
        let (architecture, _) = arch.oci_platform();
        let digest = puller
            .resolve_platform(&top_digest, &top, architecture)
            .map_err(|e| registry_failure(name, e))?;
        let image = puller
            .pull(&digest)
            .map_err(|e| registry_failure(name, e))?;
        let filesystem = BaseFilesystem::read(&image).map_err(|e| {
            Error::input(
                format!("base image `{name}` ({arch}): {e}"),
                "use another base image",
            )
        })?;
        let mut packages: Vec<ProvidedPackage> = filesystem
            .packages()
            .map_err(|e| {
                Error::input(
                    format!("base image `{name}` ({arch}): {e}"),
                    "use another base image",
                )
            })?
            .into_iter()
            .map(|p| ProvidedPackage {
                name: p.name,
                architecture: p.architecture,
                version: p.version,
            })
            .collect();
        packages.sort();
        progress.status(&format!(
            "Base {name} ({arch}): {digest}, {} packages",
            packages.len()
        ));
        digests.insert(arch.as_str().to_owned(), digest);
        provided.insert(arch.as_str().to_owned(), packages);
    }
    Ok(Some(LockedBase {
        name: name.clone(),
        digests,
        provided,
    }))
}

/// What the resolver must take as installed for `arch`.
pub fn installed(base: Option<&LockedBase>, arch: &Arch) -> Vec<Installed> {
    base.and_then(|b| b.provided.get(arch.as_str()))
        .map(|packages| {
            packages
                .iter()
                .map(|p| Installed {
                    name: p.name.clone(),
                    arch: p.architecture.clone(),
                    version: p.version.clone(),
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Loads the pinned base of `arch` (by digest only: the tag is never looked at again).
pub fn load(
    settings: &Settings,
    manifest: &Manifest,
    lock: &Lock,
    arch: &Arch,
) -> Result<Option<LoadedBase>, Error> {
    let Some(locked) = &lock.base else {
        return Ok(None);
    };
    let digest = locked.digests.get(arch.as_str()).ok_or_else(|| {
        Error::outdated(
            format!("debless.lock pins no base image for {arch}"),
            "run `debless lock` to pin the base for every architecture",
        )
    })?;
    // Cached blobs were verified when stored: a pinned base pulled once builds offline.
    let cached = Puller::cache_only(BlobCache::new(&settings.cache_dir), &locked.name);
    let image = match cached.pull(digest) {
        Ok(image) => image,
        Err(_) => open(settings, manifest, &locked.name)?
            .pull(digest)
            .map_err(|e| registry_failure(&locked.name, e))?,
    };
    let filesystem = BaseFilesystem::read(&image)
        .context_with(|| format!("reading base image `{}` ({arch})", locked.name))?;
    let registry_reference = match source(&locked.name)? {
        ImageSource::Registry(reference) => Some(reference),
        _ => None,
    };
    Ok(Some(LoadedBase {
        name: locked.name.clone(),
        image,
        filesystem,
        registry_reference,
    }))
}

/// A resolution failure that names base packages gets a hint saying they come from the base
/// (the resolver counts them as installed, so its own words can read as if they were asked
/// for).
pub fn explain_resolve_error(
    base: Option<&LockedBase>,
    err: crate::resolve::ResolveError,
) -> Error {
    let Some(base) = base else {
        return err.into();
    };
    let message = err.to_string();
    let mut named: Vec<&str> = base
        .provided
        .values()
        .flatten()
        .map(|p| p.name.as_str())
        .filter(|name| message.contains(&format!("`{name}`")))
        .collect();
    named.sort_unstable();
    named.dedup();
    if named.is_empty() {
        return err.into();
    }
    Error::input(
        message,
        format!(
            "`{}` {} in the base image `{}`: remove the package that conflicts with it, or use another base",
            named.join("`, `"),
            if named.len() == 1 { "is" } else { "are" },
            base.name
        ),
    )
}
