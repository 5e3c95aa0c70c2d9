//! The content-addressed `.deb` cache.
//!
//! Layout under the cache root (see [`crate::env::default_cache_dir`]):
//!
//! ```text
//! debs/sha256/<64 hex>      a verified .deb, named by its sha256
//! debs/sha256/.tmp-*        downloads in flight (never read; removed on drop)
//! ```
//!
//! An entry is written to a temp file in the same directory, its size and sha256 checked, then
//! renamed into place. Rename is atomic, so a reader sees a whole verified file or nothing, and
//! two builds sharing a cache can race on the same entry harmlessly: both write identical bytes.
//! Content addressing means entries never change format, so the directory carries no version.

use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

/// The `.deb` store of one cache root.
#[derive(Clone, Debug)]
pub struct DebCache {
    dir: PathBuf,
}

impl DebCache {
    /// The cache under `root` (created on first write).
    pub fn new(root: &Path) -> Self {
        Self {
            dir: root.join("debs").join("sha256"),
        }
    }

    /// Where the `.deb` with this sha256 lives once cached.
    pub fn path_of(&self, sha256: &str) -> PathBuf {
        self.dir.join(sha256)
    }

    /// The cached file, if present with the expected size. Entries are verified before they
    /// enter the cache, so a size check catches the only damage a rename cannot prevent
    /// (a disk filling up or someone truncating files by hand).
    pub fn lookup(&self, sha256: &str, size: u64) -> Option<PathBuf> {
        let path = self.path_of(sha256);
        let meta = std::fs::metadata(&path).ok()?;
        (meta.is_file() && meta.len() == size).then_some(path)
    }

    /// Starts writing an entry; nothing is visible until [`Pending::commit`] succeeds.
    pub fn begin(&self) -> io::Result<Pending> {
        fs_err::create_dir_all(&self.dir)?;
        let file = tempfile::Builder::new()
            .prefix(".tmp-")
            .tempfile_in(&self.dir)?;
        Ok(Pending {
            file,
            hasher: Sha256::new(),
            written: 0,
            dir: self.dir.clone(),
        })
    }
}

/// A cache entry being written: hashes as it writes.
pub struct Pending {
    file: tempfile::NamedTempFile,
    hasher: Sha256,
    written: u64,
    dir: PathBuf,
}

/// What a finished download turned out to be, when it is not what the lock says.
#[derive(Debug, PartialEq, Eq)]
pub enum Mismatch {
    Size { expected: u64, actual: u64 },
    Sha256 { expected: String, actual: String },
}

impl Pending {
    /// Bytes written so far.
    pub fn written(&self) -> u64 {
        self.written
    }

    /// Forgets what was written, for a retry from another mirror.
    pub fn reset(&mut self) -> io::Result<()> {
        self.file.as_file_mut().set_len(0)?;
        io::Seek::seek(self.file.as_file_mut(), io::SeekFrom::Start(0))?;
        self.hasher = Sha256::new();
        self.written = 0;
        Ok(())
    }

    /// Verifies size and sha256, then renames into place. On mismatch the temp file is
    /// dropped (deleted) and the cache is unchanged.
    pub fn commit(
        mut self,
        expected_sha256: &str,
        expected_size: u64,
    ) -> io::Result<Result<PathBuf, Mismatch>> {
        if self.written != expected_size {
            return Ok(Err(Mismatch::Size {
                expected: expected_size,
                actual: self.written,
            }));
        }
        let actual = hex::encode(self.hasher.finalize_reset());
        if actual != expected_sha256 {
            return Ok(Err(Mismatch::Sha256 {
                expected: expected_sha256.to_owned(),
                actual,
            }));
        }
        self.file.as_file().sync_all()?;
        let target = self.dir.join(expected_sha256);
        self.file.persist(&target).map_err(|e| e.error)?;
        Ok(Ok(target))
    }

    /// Copies a local file in (used by `--mirror file://…` and tests).
    pub fn copy_from(&mut self, mut reader: impl Read) -> io::Result<u64> {
        io::copy(&mut reader, self)
    }
}

impl Write for Pending {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.file.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.written += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}

/// sha256 of a file, lower-case hex.
pub fn sha256_file(path: &Path) -> io::Result<String> {
    let mut file = fs_err::File::open(path)?;
    let mut hasher = Sha256::new();
    io::copy(&mut file, &mut hasher)?;
    Ok(hex::encode(hasher.finalize()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sha(bytes: &[u8]) -> String {
        hex::encode(Sha256::digest(bytes))
    }

    #[test]
    fn commits_only_verified_bytes() {
        let root = tempfile::tempdir().expect("tempdir");
        let cache = DebCache::new(root.path());
        let body = b"a .deb body";
        let mut pending = cache.begin().expect("begin");
        pending.write_all(body).expect("write");
        let path = pending
            .commit(&sha(body), body.len() as u64)
            .expect("io")
            .expect("verified");
        assert_eq!(std::fs::read(&path).expect("read"), body);
        assert_eq!(cache.lookup(&sha(body), body.len() as u64), Some(path));

        let mut wrong = cache.begin().expect("begin");
        wrong.write_all(b"another body").expect("write");
        let mismatch = wrong.commit(&sha(b"other"), 12).expect("io");
        assert!(matches!(mismatch, Err(Mismatch::Sha256 { .. })));
        let mut short = cache.begin().expect("begin");
        short.write_all(b"abc").expect("write");
        assert_eq!(
            short.commit(&sha(b"abcd"), 4).expect("io"),
            Err(Mismatch::Size {
                expected: 4,
                actual: 3
            })
        );
        let entries: Vec<_> = std::fs::read_dir(root.path().join("debs/sha256"))
            .expect("list")
            .collect();
        assert_eq!(entries.len(), 1, "failed writes leave nothing behind");
    }
}
