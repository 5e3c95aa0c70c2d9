//! Stage `repo`: from a mirror root and a suite name to verified `Packages` records.
//!
//! Trust flows in one direction (issue "debless lock", Trust section):
//! 1. `dists/<suite>/InRelease` is fetched and its OpenPGP signatures checked against the
//!    keyring ([`signature`]); only when InRelease is 404 is the pair `Release` +
//!    `Release.gpg` used instead (debian-notes §1.5).
//! 2. The verified text, never the raw file, is parsed ([`release`]) and checked for
//!    freshness (`Valid-Until`, `Date` in the future).
//! 3. Each index is fetched by the sha256 the Release lists (by-hash URL first), and kept in
//!    an [`IndexCache`] so a warm run fetches only InRelease ([`index`]; `listed` fetches any
//!    Release-listed file). A `Packages` index is decompressed and parsed while it downloads,
//!    but what was parsed is used only once the whole file matched its signed size and
//!    sha256; else the mismatch is the error and nothing is cached.
//!
//! Files: [`mirror`] (where the roots are), [`http`] (the client, reused by `fetch`, built
//! from the [`crate::net`] configuration every fetcher shares),
//! [`signature`], [`release`], [`index`]; [`query`] answers `show` and `search` from verified
//! suites.

mod cache;
pub mod contents;
pub mod http;
pub mod index;
mod listed;
pub mod mirror;
mod packages;
pub mod packed;
mod parse;
pub mod provides;
pub mod query;
pub mod release;
pub mod signature;
pub mod suites;

use std::time::{SystemTime, UNIX_EPOCH};

use crate::debian::{Arch, BinaryPackage};

pub use http::{Http, HttpError};
pub use index::{IndexCache, IndexRef};
pub use mirror::{MirrorError, Mirrors};
pub use release::{IndexFile, Release, ReleaseError};
pub use signature::{Keyring, SignatureError, VerifiedText};

/// One suite to load: where, which components and architectures, trusted by which keys.
#[derive(Clone, Copy, Debug)]
pub struct SuiteRequest<'a> {
    /// Archive root, no trailing slash (`Mirrors::root_for`).
    pub root: &'a str,
    pub suite: &'a str,
    pub components: &'a [String],
    /// Real architectures only: `binary-<arch>` already holds `Architecture: all`.
    pub architectures: &'a [Arch],
    pub keyring: &'a Keyring,
}

/// A suite whose Release was verified and whose indices matched it.
#[derive(Clone, Debug)]
pub struct VerifiedSuite {
    /// The verified Release the indices were checked against.
    pub verified: VerifiedRelease,
    /// One per component and architecture, in request order.
    pub indices: Vec<IndexRef>,
    /// Every stanza of every index, in index order.
    pub packages: Vec<BinaryPackage>,
}

/// A suite whose Release was verified and whose indices matched it, kept in their packed
/// form ([`packed::PackedIndex`]): what `lock` resolves over.
#[derive(Clone, Debug)]
pub struct PackedSuite {
    /// The verified Release the indices were checked against.
    pub verified: VerifiedRelease,
    /// One per component and architecture, in request order.
    pub indices: Vec<IndexRef>,
    /// The packed form of each of `indices`, in the same order.
    pub packed: Vec<std::sync::Arc<packed::PackedIndex>>,
}

/// Why a suite could not be loaded; each variant names the suite and the culprit.
#[derive(Debug, thiserror::Error)]
pub enum RepoError {
    #[error(transparent)]
    Http(#[from] HttpError),
    #[error("suite `{suite}` does not exist at `{root}` (no InRelease, no Release)")]
    UnknownSuite { suite: String, root: String },
    #[error("suite `{suite}`: `{url}`: {source}")]
    Signature {
        suite: String,
        url: String,
        #[source]
        source: SignatureError,
    },
    #[error("suite `{suite}`: {source}")]
    Release {
        suite: String,
        #[source]
        source: ReleaseError,
    },
    #[error("suite `{suite}` has no component `{component}` (it has: {})", available.join(", "))]
    MissingComponent {
        suite: String,
        component: String,
        available: Vec<String>,
    },
    #[error("suite `{suite}` has no architecture `{arch}` (it has: {})", available.join(", "))]
    MissingArchitecture {
        suite: String,
        arch: Arch,
        available: Vec<String>,
    },
    #[error("suite `{suite}`: the Release lists no Packages index for `{component}` on `{arch}`")]
    NoIndex {
        suite: String,
        component: String,
        arch: Arch,
    },
    #[error(
        "suite `{suite}`: `{url}` does not match the signed Release: expected {expected_size} bytes with sha256 {expected_sha256}, got {actual_size} bytes with sha256 {actual_sha256}"
    )]
    IndexMismatch {
        suite: String,
        url: String,
        expected_size: u64,
        actual_size: u64,
        expected_sha256: String,
        actual_sha256: String,
    },
    #[error("suite `{suite}`: index `{path}`: {reason}")]
    BadIndex {
        suite: String,
        path: String,
        reason: String,
    },
    #[error("index cache `{path}`: {source}")]
    Cache {
        path: String,
        #[source]
        source: std::io::Error,
    },
}

/// Fetches, verifies and parses one suite (see the module doc for the order of checks).
pub fn load_suite(
    http: &Http,
    cache: &IndexCache,
    req: &SuiteRequest<'_>,
    now: SystemTime,
) -> Result<VerifiedSuite, RepoError> {
    let release = verify_suite(http, req, now)?;
    load_indices(http, cache, req, release)
}

/// A suite whose signed Release was verified and found fresh, before any index is read: enough
/// to tell whether anything changed since the last lock.
#[derive(Clone, Debug)]
pub struct VerifiedRelease {
    /// The name asked for (`bookworm`, `bookworm-security`).
    pub suite: String,
    /// The Release's `Codename` (the suite name when absent).
    pub codename: String,
    pub root: String,
    /// Release `Date`, unix seconds.
    pub date: i64,
    pub valid_until: Option<i64>,
    /// sha256 of the signed file fetched (InRelease, or Release in the fallback).
    pub inrelease_sha256: String,
    /// Primary fingerprints of the good signatures.
    pub signers: Vec<String>,
    pub release: Release,
}

/// Fetches and verifies a suite's InRelease (or Release + Release.gpg), checks freshness and
/// that the requested components and architectures exist.
pub fn verify_suite(
    http: &Http,
    req: &SuiteRequest<'_>,
    now: SystemTime,
) -> Result<VerifiedRelease, RepoError> {
    let suite = req.suite;
    let (signed_sha256, verified) = fetch_verified_release(http, req, now)?;
    let release_error = |source| RepoError::Release {
        suite: suite.to_owned(),
        source,
    };
    let release = Release::parse(&verified.text).map_err(release_error)?;
    release
        .check_fresh(suite, unix_seconds(now))
        .map_err(release_error)?;
    for component in req.components {
        if !release.has_component(component) {
            return Err(RepoError::MissingComponent {
                suite: suite.to_owned(),
                component: component.clone(),
                available: release.components.clone(),
            });
        }
    }
    for arch in req.architectures {
        if !release.has_architecture(arch.as_str()) {
            return Err(RepoError::MissingArchitecture {
                suite: suite.to_owned(),
                arch: arch.clone(),
                available: release.architectures.clone(),
            });
        }
    }
    Ok(VerifiedRelease {
        suite: suite.to_owned(),
        codename: release.codename.clone().unwrap_or_else(|| suite.to_owned()),
        root: req.root.to_owned(),
        date: release.date,
        valid_until: release.valid_until,
        inrelease_sha256: signed_sha256,
        signers: verified.signers,
        release,
    })
}

/// Loads the indices a verified Release lists for the request's components and architectures,
/// each checked against its signed size and sha256 before its packages are used, and decodes
/// them all.
pub fn load_indices(
    http: &Http,
    cache: &IndexCache,
    req: &SuiteRequest<'_>,
    verified: VerifiedRelease,
) -> Result<VerifiedSuite, RepoError> {
    let loaded = load_each(http, cache, req, &verified)?;
    let mut indices = Vec::with_capacity(loaded.len());
    let mut packages = Vec::new();
    for (index, loaded) in loaded {
        let mut index_packages = match loaded.parsed {
            Some(parsed) => parsed,
            None => loaded
                .packed
                .packages()
                .map_err(|err| RepoError::BadIndex {
                    suite: req.suite.to_owned(),
                    path: index.path.clone(),
                    reason: format!("its packed form: {err}"),
                })?,
        };
        indices.push(index);
        packages.append(&mut index_packages);
    }
    Ok(VerifiedSuite {
        verified,
        indices,
        packages,
    })
}

/// Like [`load_indices`], but leaves the indices in their packed form, for a resolution that
/// decodes only the records it visits.
pub fn load_packed_indices(
    http: &Http,
    cache: &IndexCache,
    req: &SuiteRequest<'_>,
    verified: VerifiedRelease,
) -> Result<PackedSuite, RepoError> {
    let loaded = load_each(http, cache, req, &verified)?;
    let mut indices = Vec::with_capacity(loaded.len());
    let mut packed = Vec::with_capacity(loaded.len());
    let mut parsed = Vec::new();
    for (index, loaded) in loaded {
        indices.push(index);
        packed.push(std::sync::Arc::new(loaded.packed));
        parsed.extend(loaded.parsed);
    }
    // A cold load parsed every stanza to write the packed form; freeing 60,000 packages takes
    // a while and nothing waits for it.
    if !parsed.is_empty() {
        std::thread::spawn(move || drop(parsed));
    }
    Ok(PackedSuite {
        verified,
        indices,
        packed,
    })
}

/// Every index of the request, loaded in parallel, in request order.
fn load_each(
    http: &Http,
    cache: &IndexCache,
    req: &SuiteRequest<'_>,
    verified: &VerifiedRelease,
) -> Result<Vec<(IndexRef, index::Loaded)>, RepoError> {
    let source = index::IndexSource(listed::ListedFiles {
        http,
        cache,
        root: req.root,
        suite: req.suite,
        release: &verified.release,
    });
    let wanted: Vec<(&String, &Arch)> = req
        .components
        .iter()
        .flat_map(|component| req.architectures.iter().map(move |arch| (component, arch)))
        .collect();
    std::thread::scope(|scope| {
        let workers: Vec<_> = wanted
            .iter()
            .map(|(component, arch)| scope.spawn(|| source.load(component, arch)))
            .collect();
        workers
            .into_iter()
            .map(|worker| worker.join().expect("an index worker does not panic"))
            .collect()
    })
}

/// InRelease, or Release + Release.gpg when InRelease is 404; returns the sha256 of the signed
/// file and its verified text.
fn fetch_verified_release(
    http: &Http,
    req: &SuiteRequest<'_>,
    now: SystemTime,
) -> Result<(String, VerifiedText), RepoError> {
    let dists = format!("{}/dists/{}", req.root, req.suite);
    let signature_error = |url: &str, source| RepoError::Signature {
        suite: req.suite.to_owned(),
        url: url.to_owned(),
        source,
    };
    let inrelease_url = format!("{dists}/InRelease");
    match http.get(&inrelease_url) {
        Ok(bytes) => {
            let verified = signature::verify_inrelease(&bytes, req.keyring, now)
                .map_err(|err| signature_error(&inrelease_url, err))?;
            return Ok((index::sha256_hex(&bytes), verified));
        }
        Err(HttpError::NotFound { .. }) => {}
        Err(err) => return Err(err.into()),
    }
    let release_url = format!("{dists}/Release");
    let release = match http.get(&release_url) {
        Ok(bytes) => bytes,
        Err(HttpError::NotFound { .. }) => {
            return Err(RepoError::UnknownSuite {
                suite: req.suite.to_owned(),
                root: req.root.to_owned(),
            });
        }
        Err(err) => return Err(err.into()),
    };
    let signature_url = format!("{dists}/Release.gpg");
    let signature = match http.get(&signature_url) {
        Ok(bytes) => bytes,
        Err(HttpError::NotFound { .. }) => Vec::new(),
        Err(err) => return Err(err.into()),
    };
    let verified = signature::verify_detached(&release, &signature, req.keyring, now)
        .map_err(|err| signature_error(&signature_url, err))?;
    Ok((index::sha256_hex(&release), verified))
}

fn unix_seconds(time: SystemTime) -> i64 {
    match time.duration_since(UNIX_EPOCH) {
        Ok(after) => i64::try_from(after.as_secs()).unwrap_or(i64::MAX),
        Err(before) => -i64::try_from(before.duration().as_secs()).unwrap_or(i64::MAX),
    }
}
