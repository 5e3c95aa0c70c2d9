//! Parallel, verified downloads of locked `.deb` files into the [`DebCache`].
//!
//! A cached entry is hashed in full before it is used ([`DebCache::verified`]); one that no
//! longer matches its name is evicted and downloaded again (with `--offline`, an error naming
//! the file and the package). Each package is tried against the archive roots in order (the
//! manifest's mirror, the `--mirror` fallbacks, then the snapshot archive at the lock's
//! Release date, see [`super::snapshot`]); every byte is hashed while it is written, and only
//! a file whose size and sha256 match the lock is renamed into the cache. A package that came
//! from any root but the first is reported ([`Progress::FromFallback`]).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use super::cache::{DebCache, Lookup, Mismatch};

/// What one transport failure looked like; `NotFound` moves on to the next mirror quietly.
#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    #[error("{url}: not found (404)")]
    NotFound { url: String },
    #[error("{url}: the body is longer than the lock says")]
    TooLarge { url: String },
    #[error("{url}: {message}")]
    Failed { url: String, message: String },
    /// The HTTP client's error, which names its URL itself.
    #[error("{0}")]
    Http(crate::repo::HttpError),
}

/// Something that can stream a URL into a writer (the HTTP client; a fake in tests).
pub trait Transport: Sync {
    /// Streams `url` into `sink`, refusing bodies longer than `max_bytes`.
    fn download(
        &self,
        url: &str,
        sink: &mut dyn Write,
        max_bytes: u64,
    ) -> Result<u64, TransportError>;
}

impl Transport for crate::repo::Http {
    fn download(
        &self,
        url: &str,
        mut sink: &mut dyn Write,
        max_bytes: u64,
    ) -> Result<u64, TransportError> {
        use crate::repo::HttpError;
        self.get_to(url, &mut sink, Some(max_bytes))
            .map_err(|err| match err {
                HttpError::NotFound { url } => TransportError::NotFound { url },
                HttpError::TooLarge { url, .. } => TransportError::TooLarge { url },
                other => TransportError::Http(other),
            })
    }
}

/// One locked `.deb` to make available.
#[derive(Clone, Debug)]
pub struct DebRequest {
    /// `name version arch`, for messages.
    pub label: String,
    /// Pool path relative to the archive root.
    pub path: String,
    pub size: u64,
    pub sha256: String,
    /// Archive roots to try, in order.
    pub roots: Vec<String>,
}

/// How to fetch.
#[derive(Clone, Copy, Debug)]
pub struct FetchOptions {
    /// Use the cache only; fail listing what is missing.
    pub offline: bool,
    /// Downloads at once.
    pub jobs: usize,
}

/// Progress events, for a progress bar or `--verbose` lines.
#[derive(Clone, Copy, Debug)]
pub enum Progress<'a> {
    /// A package was found in the cache.
    Cached { label: &'a str, bytes: u64 },
    /// A package was downloaded and verified.
    Downloaded { label: &'a str, bytes: u64 },
    /// A cache entry did not match its sha256 and was removed, to be fetched again.
    Evicted {
        label: &'a str,
        path: &'a std::path::Path,
    },
    /// A package came from a root other than the first one (a fallback or snapshot archive).
    FromFallback { label: &'a str, url: &'a str },
}

impl std::fmt::Display for Progress<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Progress::Cached { label, bytes } => write!(f, "cached {label} ({bytes} bytes)"),
            Progress::Downloaded { label, bytes } => {
                write!(f, "downloaded {label} ({bytes} bytes)")
            }
            Progress::Evicted { label, path } => write!(
                f,
                "warning: the cached `{}` of `{label}` did not match its sha256; fetching it again",
                path.display()
            ),
            Progress::FromFallback { label, url } => {
                let from = if super::snapshot::is_snapshot_root(url) {
                    "the snapshot archive"
                } else {
                    "a fallback mirror"
                };
                write!(f, "Fetched {label} from {from}: {url}")
            }
        }
    }
}

/// Why a `.deb` could not be made available; each names the package.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error(
        "sha256 mismatch for `{label}` from {url}: the lock says {expected}, the download is {actual}"
    )]
    Sha256Mismatch {
        label: String,
        url: String,
        expected: String,
        actual: String,
    },
    #[error(
        "size mismatch for `{label}` from {url}: the lock says {expected} bytes, the download has {actual} (truncated or replaced)"
    )]
    SizeMismatch {
        label: String,
        url: String,
        expected: u64,
        actual: u64,
    },
    #[error("cannot download `{label}`: {}", attempts.join("; "))]
    Unavailable {
        label: String,
        attempts: Vec<String>,
        /// Whether a root refused because its certificate is not trusted (then the hint says
        /// how to trust its CA).
        untrusted: bool,
    },
    #[error("--offline: {} package(s) are not in the cache: {}", missing.len(), missing.join(", "))]
    NotCached { missing: Vec<String> },
    #[error(
        "--offline: the cached `{}` of `{label}` is damaged ({actual}) and cannot be fetched again",
        path.display()
    )]
    DamagedOffline {
        label: String,
        path: PathBuf,
        actual: String,
    },
    #[error("cache I/O for `{label}`: {source}")]
    Cache {
        label: String,
        #[source]
        source: std::io::Error,
    },
}

/// Joins an archive root and a pool path into a URL, escaping what HTTP servers dislike.
pub fn pool_url(root: &str, path: &str) -> String {
    let mut url = String::with_capacity(root.len() + path.len() + 1);
    url.push_str(root.trim_end_matches('/'));
    url.push('/');
    for c in path.chars() {
        match c {
            ' ' => url.push_str("%20"),
            '#' => url.push_str("%23"),
            '?' => url.push_str("%3F"),
            c => url.push(c),
        }
    }
    url
}

/// Makes every requested `.deb` available in the cache and returns their paths, in request
/// order. Downloads run `options.jobs` at a time; the first error is returned after the
/// in-flight downloads finish (nothing half-written stays in the cache).
pub fn fetch_all(
    requests: &[DebRequest],
    cache: &DebCache,
    transport: &dyn Transport,
    options: FetchOptions,
    progress: &(dyn Fn(Progress) + Sync),
) -> Result<Vec<PathBuf>, FetchError> {
    fetch_all_then(requests, cache, transport, options, progress, &|_, _| {})
}

/// [`fetch_all`], calling `ready(index, path)` as soon as each request's `.deb` is verified in
/// the cache (from the thread that verified it, in no particular order), so the caller can
/// start reading it while later downloads continue.
pub fn fetch_all_then(
    requests: &[DebRequest],
    cache: &DebCache,
    transport: &dyn Transport,
    options: FetchOptions,
    progress: &(dyn Fn(Progress) + Sync),
    ready: &(dyn Fn(usize, &Path) + Sync),
) -> Result<Vec<PathBuf>, FetchError> {
    let mut paths: Vec<Option<PathBuf>> = Vec::with_capacity(requests.len());
    for (index, request) in requests.iter().enumerate() {
        let found = cache
            .verified(&request.sha256, request.size)
            .map_err(|source| FetchError::Cache {
                label: request.label.clone(),
                source,
            })?;
        paths.push(match found {
            Lookup::Verified(path) => {
                progress(Progress::Cached {
                    label: &request.label,
                    bytes: request.size,
                });
                ready(index, &path);
                Some(path)
            }
            Lookup::Missing => None,
            Lookup::Damaged { path, actual } => {
                if options.offline {
                    return Err(FetchError::DamagedOffline {
                        label: request.label.clone(),
                        path,
                        actual,
                    });
                }
                cache.evict(&path).map_err(|source| FetchError::Cache {
                    label: request.label.clone(),
                    source,
                })?;
                progress(Progress::Evicted {
                    label: &request.label,
                    path: &path,
                });
                None
            }
        });
    }
    let todo: Vec<usize> = (0..requests.len())
        .filter(|&i| paths[i].is_none())
        .collect();
    if options.offline && !todo.is_empty() {
        return Err(FetchError::NotCached {
            missing: todo.iter().map(|&i| requests[i].label.clone()).collect(),
        });
    }
    let next = AtomicUsize::new(0);
    let results = Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for _ in 0..options.jobs.clamp(1, 32).min(todo.len().max(1)) {
            scope.spawn(|| {
                loop {
                    let slot = next.fetch_add(1, Ordering::Relaxed);
                    let Some(&index) = todo.get(slot) else { break };
                    let outcome = fetch_one(&requests[index], cache, transport);
                    if let Ok((path, from)) = &outcome {
                        ready(index, path);
                        if let Some(url) = from {
                            progress(Progress::FromFallback {
                                label: &requests[index].label,
                                url,
                            });
                        }
                        progress(Progress::Downloaded {
                            label: &requests[index].label,
                            bytes: requests[index].size,
                        });
                    }
                    results
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner)
                        .push((index, outcome));
                }
            });
        }
    });
    let mut results = results
        .into_inner()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    results.sort_by_key(|(index, _)| *index);
    for (index, outcome) in results {
        paths[index] = Some(outcome?.0);
    }
    Ok(paths
        .into_iter()
        .map(|p| p.expect("every request was cached or downloaded"))
        .collect())
}

/// Fetches one request; the URL is returned too when it came from a root other than the first
/// (a fallback mirror or the snapshot archive), so the build can say where it came from.
fn fetch_one(
    request: &DebRequest,
    cache: &DebCache,
    transport: &dyn Transport,
) -> Result<(PathBuf, Option<String>), FetchError> {
    let io_error = |source| FetchError::Cache {
        label: request.label.clone(),
        source,
    };
    let mut attempts = Vec::new();
    let mut untrusted = false;
    for (tried, root) in request.roots.iter().enumerate() {
        let url = pool_url(root, &request.path);
        let mut pending = cache.begin().map_err(io_error)?;
        match transport.download(&url, &mut pending, request.size) {
            Ok(_) => {}
            // Longer than the lock says: a replaced file, as wrong as a bad sha256.
            Err(TransportError::TooLarge { .. }) => {
                return Err(FetchError::SizeMismatch {
                    label: request.label.clone(),
                    url,
                    expected: request.size,
                    actual: pending.written(),
                });
            }
            Err(err) => {
                untrusted |= matches!(
                    err,
                    TransportError::Http(crate::repo::HttpError::Untrusted(_))
                );
                attempts.push(err.to_string());
                continue;
            }
        }
        return match pending
            .commit(&request.sha256, request.size)
            .map_err(io_error)?
        {
            Ok(path) => Ok((path, (tried > 0).then_some(url))),
            Err(Mismatch::Size { expected, actual }) => Err(FetchError::SizeMismatch {
                label: request.label.clone(),
                url,
                expected,
                actual,
            }),
            Err(Mismatch::Sha256 { expected, actual }) => Err(FetchError::Sha256Mismatch {
                label: request.label.clone(),
                url,
                expected,
                actual,
            }),
        };
    }
    Err(FetchError::Unavailable {
        label: request.label.clone(),
        attempts,
        untrusted,
    })
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use sha2::{Digest, Sha256};

    use super::*;

    /// Serves fixed bodies by URL.
    struct Fake(BTreeMap<String, Vec<u8>>);

    impl Transport for Fake {
        fn download(
            &self,
            url: &str,
            sink: &mut dyn Write,
            max_bytes: u64,
        ) -> Result<u64, TransportError> {
            let body = self.0.get(url).ok_or_else(|| TransportError::NotFound {
                url: url.to_owned(),
            })?;
            if body.len() as u64 > max_bytes {
                return Err(TransportError::TooLarge {
                    url: url.to_owned(),
                });
            }
            sink.write_all(body).map_err(|e| TransportError::Failed {
                url: url.to_owned(),
                message: e.to_string(),
            })?;
            Ok(body.len() as u64)
        }
    }

    fn request(label: &str, body: &[u8], roots: &[&str]) -> DebRequest {
        DebRequest {
            label: label.into(),
            path: format!("pool/main/{label}.deb"),
            size: body.len() as u64,
            sha256: hex::encode(Sha256::digest(body)),
            roots: roots.iter().map(|r| (*r).to_owned()).collect(),
        }
    }

    const OPTS: FetchOptions = FetchOptions {
        offline: false,
        jobs: 4,
    };

    #[test]
    fn downloads_verifies_and_falls_back() {
        let root = tempfile::tempdir().expect("tempdir");
        let cache = DebCache::new(root.path());
        let fake = Fake(BTreeMap::from([
            ("http://a/pool/main/one.deb".into(), b"one".to_vec()),
            ("http://b/pool/main/two.deb".into(), b"two!".to_vec()),
        ]));
        let requests = [
            request("one", b"one", &["http://a"]),
            request("two", b"two!", &["http://a", "http://b"]),
        ];
        let paths = fetch_all(&requests, &cache, &fake, OPTS, &|_| {}).expect("fetched");
        assert_eq!(std::fs::read(&paths[1]).expect("read"), b"two!");
        // Warm and offline: served from the cache without the transport.
        let empty = Fake(BTreeMap::new());
        let offline = FetchOptions {
            offline: true,
            ..OPTS
        };
        let again = fetch_all(&requests, &cache, &empty, offline, &|_| {}).expect("cached");
        assert_eq!(again, paths);
    }

    /// Each verified `.deb` is announced once with its index and final path, whether it was
    /// downloaded or found in the cache; a failed one never is.
    #[test]
    fn ready_announces_every_verified_deb_once() {
        let root = tempfile::tempdir().expect("tempdir");
        let cache = DebCache::new(root.path());
        let fake = Fake(BTreeMap::from([
            ("http://a/pool/main/one.deb".into(), b"one".to_vec()),
            ("http://a/pool/main/two.deb".into(), b"two!".to_vec()),
        ]));
        let mut requests = vec![
            request("one", b"one", &["http://a"]),
            request("two", b"two!", &["http://a"]),
        ];
        let fetch = |requests: &[DebRequest]| {
            let seen = std::sync::Mutex::new(Vec::new());
            let result = fetch_all_then(requests, &cache, &fake, OPTS, &|_| {}, &|index, path| {
                seen.lock()
                    .expect("not poisoned")
                    .push((index, path.to_owned()));
            });
            let mut seen = seen.into_inner().expect("not poisoned");
            seen.sort();
            (result, seen)
        };
        let (paths, seen) = fetch(&requests);
        let paths = paths.expect("fetched");
        assert_eq!(seen, vec![(0, paths[0].clone()), (1, paths[1].clone())]);
        // From the cache this time, plus one that fails.
        requests.push(request("three", b"3", &["http://a"]));
        let (result, seen) = fetch(&requests);
        assert!(result.is_err());
        assert_eq!(seen, vec![(0, paths[0].clone()), (1, paths[1].clone())]);
    }

    #[test]
    fn names_the_culprit() {
        let root = tempfile::tempdir().expect("tempdir");
        let cache = DebCache::new(root.path());
        let fake = Fake(BTreeMap::from([
            ("http://a/pool/main/evil.deb".into(), b"EVIL".to_vec()),
            ("http://a/pool/main/cut.deb".into(), b"cu".to_vec()),
        ]));
        let evil = request("evil", b"good", &["http://a"]);
        let err = fetch_all(&[evil], &cache, &fake, OPTS, &|_| {}).expect_err("sha mismatch");
        assert!(
            matches!(&err, FetchError::Sha256Mismatch { label, .. } if label == "evil"),
            "{err}"
        );
        let cut = request("cut", b"cut", &["http://a"]);
        let err = fetch_all(&[cut], &cache, &fake, OPTS, &|_| {}).expect_err("truncated");
        assert!(
            matches!(err, FetchError::SizeMismatch { actual: 2, .. }),
            "{err}"
        );
        let long = request("evil", b"EVI", &["http://a"]);
        let err = fetch_all(&[long], &cache, &fake, OPTS, &|_| {}).expect_err("too long");
        assert!(
            matches!(err, FetchError::SizeMismatch { expected: 3, .. }),
            "{err}"
        );
        let gone = request("gone", b"x", &["http://a"]);
        let err =
            fetch_all(std::slice::from_ref(&gone), &cache, &fake, OPTS, &|_| {}).expect_err("404");
        assert!(err.to_string().contains("gone"), "{err}");
        let offline = FetchOptions {
            offline: true,
            ..OPTS
        };
        let err = fetch_all(&[gone], &cache, &fake, offline, &|_| {}).expect_err("offline");
        assert!(matches!(err, FetchError::NotCached { .. }));
        assert_eq!(
            std::fs::read_dir(root.path().join("debs/sha256"))
                .expect("list")
                .count(),
            0,
            "nothing unverified entered the cache"
        );
    }

    #[test]
    fn escapes_pool_paths() {
        assert_eq!(
            pool_url("http://m/debian/", "pool/main/a b+c.deb"),
            "http://m/debian/pool/main/a%20b+c.deb"
        );
    }
}
