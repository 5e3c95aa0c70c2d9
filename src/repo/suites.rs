//! The manifest's suites as `lock` and `show` load them: where each `[[source]]` is fetched
//! from (the manifest's `url` or the discovered mirror), which keys it trusts, its Release
//! verified and its indices read through the sha256 cache, every suite in parallel.

use std::time::SystemTime;

use std::path::Path;

use crate::manifest::Manifest;
use crate::repo::{
    self, Http, HttpError, IndexCache, Keyring, MirrorError, Mirrors, PackedSuite, RepoError,
    SignatureError, SuiteRequest, VerifiedRelease, VerifiedSuite,
};

/// Why the manifest's suites could not be found, verified or read.
#[derive(Debug, thiserror::Error)]
pub enum SuitesError {
    #[error(transparent)]
    Mirror(#[from] MirrorError),
    #[error("keyring `{path}`: {source}")]
    Keyring {
        path: String,
        #[source]
        source: SignatureError,
    },
    #[error(transparent)]
    Http(#[from] HttpError),
    #[error(transparent)]
    Repo(#[from] RepoError),
    #[error("a suite loader thread panicked")]
    Panicked,
    #[error("the manifest's suites publish no `Contents-{arch}` index")]
    NoContents { arch: crate::debian::Arch },
}

impl SuitesError {
    /// How a person fixes it, when the error says enough to tell.
    pub fn hint(&self) -> Option<&'static str> {
        match self {
            SuitesError::Mirror(err) => Some(err.hint()),
            SuitesError::NoContents { .. } => Some(
                "`provides` and `add --for` need an archive that publishes Contents indices (Debian's do)",
            ),
            _ => None,
        }
    }
}

type Result<T, E = SuitesError> = std::result::Result<T, E>;

/// Verifies and loads every suite of `manifest`, in manifest order: the whole input of a
/// resolution, for commands that read the archive without locking (`show`, `search`).
/// `mirrors` discovers the archive root when a source has no `url` (it is called only then).
pub fn load_all(
    manifest: &Manifest,
    mirrors: impl FnOnce() -> Result<Mirrors, MirrorError>,
    cache_dir: &Path,
    http: &Http,
) -> Result<Vec<VerifiedSuite>> {
    let sources = SuiteSources::new(manifest, mirrors)?;
    let releases = sources.verify(manifest, http, SystemTime::now())?;
    let cache = IndexCache::new(cache_dir);
    sources.load(manifest, http, &cache, releases)
}

/// Where each `[[source]]` is fetched from and which keys it trusts.
pub struct SuiteSources {
    roots: Vec<String>,
    keyrings: Vec<Keyring>,
}

impl SuiteSources {
    /// Each source's archive root (discovering the mirror only when a source needs it) and keyring.
    pub fn new(
        manifest: &Manifest,
        mirrors: impl FnOnce() -> Result<Mirrors, MirrorError>,
    ) -> Result<Self> {
        let needs_mirror = manifest.sources.iter().any(|s| s.url.is_none());
        let mirrors = if needs_mirror { Some(mirrors()?) } else { None };
        let mut roots = Vec::new();
        let mut keyrings = Vec::new();
        for source in &manifest.sources {
            roots.push(match (&source.url, &mirrors) {
                (Some(url), _) => url.clone(),
                (None, Some(mirrors)) => mirrors.root_for(&source.suite)?.to_owned(),
                (None, None) => unreachable!("mirrors are discovered when a source has no url"),
            });
            keyrings.push(match &source.keyring {
                Some(path) => Keyring::from_file(path).map_err(|source| SuitesError::Keyring {
                    path: path.display().to_string(),
                    source,
                })?,
                None => Keyring::debian(),
            });
        }
        Ok(Self { roots, keyrings })
    }

    fn request<'a>(&'a self, manifest: &'a Manifest, i: usize) -> SuiteRequest<'a> {
        let source = &manifest.sources[i];
        SuiteRequest {
            root: &self.roots[i],
            suite: &source.suite,
            components: &source.components,
            architectures: &manifest.architectures,
            keyring: &self.keyrings[i],
        }
    }

    /// Fetches and verifies every suite's Release, in parallel.
    pub fn verify(
        &self,
        manifest: &Manifest,
        http: &Http,
        now: SystemTime,
    ) -> Result<Vec<VerifiedRelease>> {
        parallel(manifest.sources.len(), |i| {
            repo::verify_suite(http, &self.request(manifest, i), now)
        })
    }

    /// Loads every suite's indices, in parallel.
    pub fn load(
        &self,
        manifest: &Manifest,
        http: &Http,
        cache: &IndexCache,
        releases: Vec<VerifiedRelease>,
    ) -> Result<Vec<VerifiedSuite>> {
        self.load_with(manifest, releases, |req, release| {
            repo::load_indices(http, cache, req, release)
        })
    }

    /// Loads every suite's indices in their packed form, in parallel (what `lock` resolves
    /// over: only the records a resolution visits are ever decoded).
    pub fn load_packed(
        &self,
        manifest: &Manifest,
        http: &Http,
        cache: &IndexCache,
        releases: Vec<VerifiedRelease>,
    ) -> Result<Vec<PackedSuite>> {
        self.load_with(manifest, releases, |req, release| {
            repo::load_packed_indices(http, cache, req, release)
        })
    }

    /// Verifies every suite's Release and loads its packed indices as soon as that Release
    /// is verified, every suite in parallel, so reading the largest index overlaps the slowest
    /// suite's fetch. For a lock that resolves whatever the Releases say; [`Self::verify`]
    /// alone tells whether anything changed without reading an index. A verification error
    /// wins (the first in manifest order, as with `verify`); load errors come back per suite,
    /// for the caller to report after what it checks on the Releases.
    pub fn verify_and_load_packed(
        &self,
        manifest: &Manifest,
        http: &Http,
        cache: &IndexCache,
        now: SystemTime,
    ) -> Result<(Vec<VerifiedRelease>, Vec<Result<PackedSuite>>)> {
        let both = parallel(manifest.sources.len(), |i| {
            let request = self.request(manifest, i);
            let release = repo::verify_suite(http, &request, now)?;
            let loaded = repo::load_packed_indices(http, cache, &request, release.clone())
                .map_err(SuitesError::from);
            Ok::<_, SuitesError>((release, loaded))
        })?;
        Ok(both.into_iter().unzip())
    }

    fn load_with<T: Send>(
        &self,
        manifest: &Manifest,
        releases: Vec<VerifiedRelease>,
        load: impl Fn(&SuiteRequest<'_>, VerifiedRelease) -> Result<T, RepoError> + Sync,
    ) -> Result<Vec<T>> {
        let releases: Vec<std::sync::Mutex<Option<VerifiedRelease>>> = releases
            .into_iter()
            .map(|r| std::sync::Mutex::new(Some(r)))
            .collect();
        parallel(manifest.sources.len(), |i| {
            let release = releases[i]
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .take()
                .expect("each release is loaded once");
            load(&self.request(manifest, i), release)
        })
    }
}

/// Runs `job(0..count)` on scoped threads and collects the results in order.
fn parallel<T: Send, E: Into<SuitesError> + Send>(
    count: usize,
    job: impl Fn(usize) -> Result<T, E> + Sync,
) -> Result<Vec<T>> {
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..count)
            .map(|i| {
                let job = &job;
                scope.spawn(move || job(i))
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .map_err(|_| SuitesError::Panicked)?
                    .map_err(Into::into)
            })
            .collect()
    })
}
