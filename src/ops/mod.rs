//! Stage `ops`: the operations users run (`lock`, `build`, `check`, `size`, …) as library
//! calls. Each takes a [`Project`] (the manifest and the lock beside it), the
//! [`Settings`](crate::env::Settings) the caller read from its environment, and an options
//! struct with `Default`; it returns a typed outcome and never prints: progress and notes go
//! through [`Progress`], which the CLI draws with indicatif and a library caller may ignore.
//!
//! ```no_run
//! use debless::env::Settings;
//! use debless::ops::{self, NoProgress, Project};
//!
//! let project = Project::new("debless.toml");
//! let settings = Settings::from_env();
//! ops::lock::lock(&project, &settings, &ops::lock::LockOptions::default(), &NoProgress)?;
//! let built = ops::build::build(&project, &settings, &ops::build::BuildOptions::default(), &NoProgress)?;
//! println!("{}", built.images[0].image.manifest.digest);
//! # Ok::<(), debless::ops::Error>(())
//! ```

pub mod add;
pub mod assemble;
pub mod base;
pub mod build;
pub mod cache;
pub mod check;
pub mod error;
pub mod export;
mod image_cache;
pub mod init;
pub mod lock;
pub mod output;
pub mod push;
pub mod query;
pub mod show;
pub mod size;

use std::path::{Path, PathBuf};

pub use error::{Class, Error};

/// The files an operation works on: `debless.toml` and the `debless.lock` beside it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Project {
    /// The manifest.
    pub manifest: PathBuf,
    /// The lock (by default beside the manifest).
    pub lock: PathBuf,
}

impl Project {
    /// The manifest at `manifest` and its lock beside it.
    pub fn new(manifest: impl Into<PathBuf>) -> Self {
        let manifest = manifest.into();
        let lock = manifest
            .parent()
            .unwrap_or(Path::new(""))
            .join(crate::lock::FILE_NAME);
        Project { manifest, lock }
    }

    /// Loads and validates the manifest; a missing file says how to make one.
    pub fn load_manifest(&self) -> Result<crate::manifest::Manifest, Error> {
        if !self.manifest.exists() {
            return Err(Error::input(
                format!("`{}` does not exist", self.manifest.display()),
                "run `debless init` to write one, or pass `--manifest PATH`",
            ));
        }
        Ok(crate::manifest::Manifest::load(&self.manifest)?)
    }
}

/// The HTTP configuration every fetcher of an operation shares (mirrors, snapshot archive,
/// registries): the CA store `settings` read from the environment, docker's and podman's
/// `certs.d`, and the manifest's `ca` files for its sources' servers and its registries.
pub fn http_config(
    settings: &crate::env::Settings,
    manifest: Option<&crate::manifest::Manifest>,
) -> crate::net::HttpConfig {
    let mut config = crate::net::HttpConfig::new(settings.tls.clone(), settings.certs_d.clone());
    if let Some(manifest) = manifest {
        for source in &manifest.sources {
            if let Some(ca) = &source.ca {
                // The manifest checked the URLs' scheme; a URL naming no host has no server
                // to trust the CA for.
                for url in source.url.iter().chain(&source.snapshot) {
                    config.add_host_ca(url, ca);
                }
            }
        }
        for (name, registry) in &manifest.registries {
            config.add_registry_ca(name, &registry.ca);
        }
    }
    config
}

/// Where operations report what they are doing. Every method has a no-op default, so a caller
/// implements only what it shows.
pub trait Progress: Sync {
    /// A step begins (`extracting the amd64 packages`); a spinner's message.
    fn step(&self, _what: &str) {}
    /// The current step ended.
    fn step_done(&self) {}
    /// Downloads begin: `total` bytes of `.deb` files, cached or not.
    fn fetch_started(&self, _total: u64) {}
    /// One `.deb` is ready: from the cache or downloaded.
    fn fetched(&self, _label: &str, _bytes: u64, _downloaded: bool) {}
    /// Every `.deb` is ready.
    fn fetch_done(&self, _packages: usize, _bytes: u64, _cache: &Path) {}
    /// Something a person may want to know that does not stop the operation.
    fn note(&self, _text: &str) {}
    /// A one-line account of a finished step (`Base NAME (amd64): DIGEST, 12 packages`).
    fn status(&self, _text: &str) {}
}

/// Reports nothing: for programs that only want the outcome.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoProgress;

impl Progress for NoProgress {}
