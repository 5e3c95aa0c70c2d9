//! The cache of verified indices (`Packages`, `Contents`), shared by `index`, `contents` and
//! `listed` (which fills it).
//!
//! Layout: `<cache root>/indices-v1/sha256/<hex>` holds the compressed index exactly as
//! listed in a verified `Release`. Files are written to a temporary name in the same
//! directory, then renamed, and are re-hashed when read, so a torn or altered file is fetched
//! again instead of trusted. Bump `v1` when the layout changes.
//!
//! Beside them, `<cache root>/packed-v<N>/sha256/<hex>` holds the pre-parsed form of the
//! `Packages` index `<hex>` ([`super::packed`], format version `N`), written the same way and
//! checked (checksum, bounds, fields) on every read; a file that fails is replaced. A cold
//! lock finishes and writes them on background threads while it resolves
//! ([`IndexCache::put_packed_later`]); [`IndexCache::flush`] waits for them, and the last clone
//! of a cache waits for them when dropped, so no write outlives the run.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;

use sha2::{Digest, Sha256};

use super::RepoError;
use super::packed::Encoder;
use super::release::IndexFile;
use crate::debian::BinaryPackage;

/// Verified compressed indices, addressed by sha256 (see the module doc).
#[derive(Clone, Debug)]
pub struct IndexCache {
    dir: PathBuf,
    packed_dir: PathBuf,
    writes: Arc<Writes>,
}

/// Packed files being written on background threads.
#[derive(Debug, Default)]
struct Writes(Mutex<Vec<JoinHandle<Result<(), RepoError>>>>);

impl Writes {
    /// Waits for every write started so far; the first failure.
    fn join(&self) -> Result<(), RepoError> {
        let handles = std::mem::take(&mut *self.0.lock().unwrap_or_else(PoisonError::into_inner));
        let mut result = Ok(());
        for handle in handles {
            let joined = handle.join().unwrap_or_else(|_| {
                Err(RepoError::Cache {
                    path: "packed index writer".to_owned(),
                    source: std::io::Error::other("the writer thread panicked"),
                })
            });
            result = result.and(joined);
        }
        result
    }
}

impl Drop for Writes {
    fn drop(&mut self) {
        // A failure nobody asked about ([`IndexCache::flush`]) only costs a parse next time.
        let _ = self.join();
    }
}

impl IndexCache {
    /// A cache under `cache_root` (the directory is created on first write).
    pub fn new(cache_root: impl AsRef<Path>) -> IndexCache {
        let root = cache_root.as_ref();
        IndexCache {
            dir: root.join("indices-v1").join("sha256"),
            packed_dir: packed_dir(root),
            writes: Arc::default(),
        }
    }

    /// The packages of the `Packages` index `sha256` from its packed file, if one exists and
    /// passes every check ([`super::packed::decode`]); `None` means "parse the index".
    pub fn packed(&self, sha256: &str) -> Option<Vec<BinaryPackage>> {
        let bytes = std::fs::read(self.packed_dir.join(sha256)).ok()?;
        super::packed::decode(&bytes, sha256).ok()
    }

    /// Stores the packed form of the verified `Packages` index `sha256`, whose records
    /// `encoder` holds, on a background thread (temp file + rename, so a concurrent reader sees
    /// the old file or the whole new one). [`IndexCache::flush`] reports how it went.
    pub(crate) fn put_packed_later(&self, sha256: &str, encoder: Encoder) {
        let (temp_dir, dir, sha256) =
            (self.dir.clone(), self.packed_dir.clone(), sha256.to_owned());
        let write = std::thread::spawn(move || {
            write_atomically(&temp_dir, &dir, &sha256, &encoder.finish(&sha256))
        });
        self.writes
            .0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(write);
    }

    /// Waits for the packed files being written in the background; the first failure.
    pub fn flush(&self) -> Result<(), RepoError> {
        self.writes.join()
    }

    fn path_of(&self, sha256: &str) -> PathBuf {
        self.dir.join(sha256)
    }

    /// The cached bytes of `file`, if present and still matching its size and sha256.
    pub fn get(&self, file: &IndexFile) -> Option<Vec<u8>> {
        let bytes = std::fs::read(self.path_of(&file.sha256)).ok()?;
        if bytes.len() as u64 == file.size && sha256_hex(&bytes) == file.sha256 {
            Some(bytes)
        } else {
            None
        }
    }

    /// Stores verified bytes under their sha256 (temp file + rename). Crate-private: the
    /// name must be a hex digest taken from a parsed Release, never arbitrary text.
    pub(crate) fn put(&self, sha256: &str, bytes: &[u8]) -> Result<(), RepoError> {
        write_atomically(&self.dir, &self.dir, sha256, bytes)
    }

    /// A file to stream a download into before it is verified: it becomes the cache entry only
    /// through [`Pending::persist`], once the bytes matched the signed sha256; dropped, it is
    /// removed.
    pub(crate) fn pending(&self) -> Result<Pending, RepoError> {
        let cache_error = |source| RepoError::Cache {
            path: self.dir.display().to_string(),
            source,
        };
        fs_err::create_dir_all(&self.dir).map_err(cache_error)?;
        let temp = crate::cleanup::temp_file_in(&self.dir, ".tmp-").map_err(cache_error)?;
        Ok(Pending {
            temp: std::io::BufWriter::with_capacity(1 << 16, temp),
            dir: self.dir.clone(),
        })
    }
}

/// A cache entry being written (see [`IndexCache::pending`]).
pub(crate) struct Pending {
    temp: std::io::BufWriter<tempfile::NamedTempFile>,
    dir: PathBuf,
}

impl std::io::Write for Pending {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.temp.write(bytes)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.temp.flush()
    }
}

impl Pending {
    /// Makes the written bytes the cache entry `sha256` (a digest they were checked against).
    pub(crate) fn persist(self, sha256: &str) -> Result<(), RepoError> {
        let cache_error = |source| RepoError::Cache {
            path: self.dir.display().to_string(),
            source,
        };
        let temp = self
            .temp
            .into_inner()
            .map_err(|err| cache_error(err.into_error()))?;
        temp.persist(self.dir.join(sha256))
            .map_err(|err| cache_error(err.error))?;
        Ok(())
    }
}

/// Where the packed indices of format [`super::packed::FORMAT_VERSION`] live under a cache root.
pub fn packed_dir(cache_root: &Path) -> PathBuf {
    cache_root
        .join(format!("packed-v{}", super::packed::FORMAT_VERSION))
        .join("sha256")
}

/// Writes `dir/name` through a temporary in `temp_dir` (the compressed indices' directory,
/// where `cleanup::sweep` looks for what a killed run left) and a rename.
fn write_atomically(
    temp_dir: &Path,
    dir: &Path,
    name: &str,
    bytes: &[u8],
) -> Result<(), RepoError> {
    let cache_error = |source: std::io::Error| RepoError::Cache {
        path: dir.display().to_string(),
        source,
    };
    fs_err::create_dir_all(temp_dir).map_err(cache_error)?;
    fs_err::create_dir_all(dir).map_err(cache_error)?;
    let mut temp = crate::cleanup::temp_file_in(temp_dir, ".tmp-").map_err(cache_error)?;
    std::io::Write::write_all(&mut temp, bytes).map_err(cache_error)?;
    temp.persist(dir.join(name))
        .map_err(|err| cache_error(err.error))?;
    Ok(())
}

/// Lower-case hex sha256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}
