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
