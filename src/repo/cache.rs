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
//! checked (header, length, checksum) when opened and bounds-checked on every read; a file
//! that fails is replaced.

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use super::RepoError;
use super::packed::PackedIndex;
use super::release::IndexFile;

/// Verified compressed indices, addressed by sha256 (see the module doc).
#[derive(Clone, Debug)]
pub struct IndexCache {
    dir: PathBuf,
    packed_dir: PathBuf,
}

impl IndexCache {
    /// A cache under `cache_root` (the directory is created on first write).
    pub fn new(cache_root: impl AsRef<Path>) -> IndexCache {
        let root = cache_root.as_ref();
        IndexCache {
            dir: root.join("indices-v1").join("sha256"),
            packed_dir: packed_dir(root),
        }
    }

    /// The packed form of the `Packages` index `sha256`, if its file exists and passes the
    /// checks of [`PackedIndex::open`]; `None` means "parse the index (and rewrite the file)".
    pub fn packed(&self, sha256: &str) -> Option<PackedIndex> {
        PackedIndex::read(&self.packed_dir.join(sha256), sha256)
            .ok()?
            .ok()
    }

    /// Stores the packed form of the verified `Packages` index `sha256` (temp file + rename,
    /// so a concurrent reader sees the old file or the whole new one).
    pub(crate) fn put_packed(&self, sha256: &str, bytes: &[u8]) -> Result<(), RepoError> {
        write_atomically(&self.dir, &self.packed_dir, sha256, bytes)
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
