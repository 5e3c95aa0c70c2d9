//! The cache of verified indices (`Packages`, `Contents`), shared by `index`, `contents` and
//! `listed` (which fills it).
//!
//! Layout: `<cache root>/indices-v1/sha256/<hex>` holds the compressed index exactly as
//! listed in a verified `Release`. Files are written to a temporary name in the same
//! directory, then renamed, and are re-hashed when read, so a torn or altered file is fetched
//! again instead of trusted. Bump `v1` when the layout changes.

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use super::RepoError;
use super::release::IndexFile;

/// Verified compressed indices, addressed by sha256 (see the module doc).
#[derive(Clone, Debug)]
pub struct IndexCache {
    dir: PathBuf,
}

impl IndexCache {
    /// A cache under `cache_root` (the directory is created on first write).
    pub fn new(cache_root: impl AsRef<Path>) -> IndexCache {
        IndexCache {
            dir: cache_root.as_ref().join("indices-v1").join("sha256"),
        }
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
        let cache_error = |source: std::io::Error| RepoError::Cache {
            path: self.dir.display().to_string(),
            source,
        };
        fs_err::create_dir_all(&self.dir).map_err(cache_error)?;
        let mut temp = crate::cleanup::temp_file_in(&self.dir, ".tmp-").map_err(cache_error)?;
        std::io::Write::write_all(&mut temp, bytes).map_err(cache_error)?;
        temp.persist(self.path_of(sha256))
            .map_err(|err| cache_error(err.error))?;
        Ok(())
    }
}

/// Lower-case hex sha256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}
