//! Fetching a file a verified `Release` lists (`Packages`, `Contents`): the one place that
//! decides where the bytes come from and whether they can be trusted.
//!
//! Candidates are tried in the caller's preference order: any already in the [`IndexCache`]
//! wins (a warm run downloads nothing), else the first one the mirror serves, by-hash when
//! the suite offers it (falling back to the plain path on a 404), its size and sha256
//! checked against the signed Release before a byte is decompressed, then cached under that
//! sha256. Listed files are sometimes 404 (security's `Packages.gz`, debian-notes §1.2), so a
//! 404 moves on to the next candidate; any other failure stops.

use super::RepoError;
use super::cache::{IndexCache, sha256_hex};
use super::http::{Http, HttpError};
use super::release::{IndexFile, Release};

/// Where one verified suite's listed files come from.
#[derive(Clone, Copy)]
pub(super) struct ListedFiles<'a> {
    pub http: &'a Http,
    pub cache: &'a IndexCache,
    /// Archive root, no trailing slash.
    pub root: &'a str,
    pub suite: &'a str,
    pub release: &'a Release,
}

impl ListedFiles<'_> {
    /// The bytes of the first usable candidate (see the module doc) and which one it was.
    /// `candidates` must not be empty.
    pub fn fetch<'f>(
        &self,
        candidates: &[&'f IndexFile],
    ) -> Result<(&'f IndexFile, Vec<u8>), RepoError> {
        if let Some(hit) = candidates
            .iter()
            .find_map(|file| self.cache.get(file).map(|bytes| (*file, bytes)))
        {
            return Ok(hit);
        }
        let mut last_missing = None;
        for file in candidates {
            match self.download(file) {
                Ok(bytes) => {
                    self.cache.put(&file.sha256, &bytes)?;
                    return Ok((file, bytes));
                }
                Err(RepoError::Http(HttpError::NotFound { url })) => {
                    last_missing = Some(HttpError::NotFound { url });
                }
                Err(err) => return Err(err),
            }
        }
        Err(RepoError::Http(
            last_missing.expect("candidates is not empty and every one was 404"),
        ))
    }

    /// Downloads one listed file, by-hash when the suite offers it, and checks it.
    fn download(&self, file: &IndexFile) -> Result<Vec<u8>, RepoError> {
        let dists = format!("{}/dists/{}", self.root, self.suite);
        let plain_url = format!("{dists}/{}", file.path);
        // Leave room to measure a wrong size exactly, but not to fill memory.
        let limit = Some(file.size.saturating_mul(2).saturating_add(1 << 20));
        let mut bytes = Vec::with_capacity(usize::try_from(file.size).unwrap_or(0));
        let mut url = plain_url.clone();
        if self.release.acquire_by_hash {
            let dir = file.path.rsplit_once('/').map_or("", |(dir, _)| dir);
            url = format!("{dists}/{dir}/by-hash/SHA256/{}", file.sha256);
            match self.http.get_to(&url, &mut bytes, limit) {
                Ok(_) => return self.check(file, &url, bytes),
                Err(HttpError::NotFound { .. }) => {
                    bytes.clear();
                    url = plain_url;
                }
                Err(err) => return Err(err.into()),
            }
        }
        self.http.get_to(&url, &mut bytes, limit)?;
        self.check(file, &url, bytes)
    }

    /// The bytes, if their size and sha256 are the ones the Release signed.
    fn check(&self, file: &IndexFile, url: &str, bytes: Vec<u8>) -> Result<Vec<u8>, RepoError> {
        let actual_sha256 = sha256_hex(&bytes);
        if bytes.len() as u64 != file.size || actual_sha256 != file.sha256 {
            return Err(RepoError::IndexMismatch {
                suite: self.suite.to_owned(),
                url: url.to_owned(),
                expected_size: file.size,
                actual_size: bytes.len() as u64,
                expected_sha256: file.sha256.clone(),
                actual_sha256,
            });
        }
        Ok(bytes)
    }
}
