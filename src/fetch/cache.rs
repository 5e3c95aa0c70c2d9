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
//!
//! A name in the cache is not proof: anyone with write access to the cache (a flipped bit on
//! disk, a hand edit, a tampered file of the same size) can change an entry after it was
//! verified. [`DebCache::verified`] therefore hashes an entry every time a build uses it; an
//! entry that no longer matches its name is evicted and fetched again.
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

    /// The directory the `.deb`s live in (exists once one has been cached): a disk-backed place
    /// for a build's anonymous scratch file.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Where the `.deb` with this sha256 lives once cached.
    pub fn path_of(&self, sha256: &str) -> PathBuf {
        self.dir.join(sha256)
    }

    /// The cached file, if present with the expected size and sha256. An entry that exists
    /// but does not match is [`Lookup::Damaged`], so the caller can evict it and say which.
    pub fn verified(&self, sha256: &str, size: u64) -> io::Result<Lookup> {
        let path = self.path_of(sha256);
        let meta = match std::fs::symlink_metadata(&path) {
            Ok(meta) => meta,
            Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(Lookup::Missing),
            Err(err) => return Err(err),
        };
        if !meta.is_file() {
            return Ok(Lookup::Damaged {
                path,
                actual: "not a regular file".to_owned(),
            });
        }
        if meta.len() != size {
            return Ok(Lookup::Damaged {
                path,
                actual: format!("{} bytes instead of {size}", meta.len()),
            });
        }
        let actual = sha256_file(&path)?;
        if actual == sha256 {
            Ok(Lookup::Verified(path))
        } else {
            Ok(Lookup::Damaged {
                path,
                actual: format!("sha256 {actual}"),
            })
        }
    }

    /// Removes a damaged entry so it can be fetched again.
    pub fn evict(&self, path: &Path) -> io::Result<()> {
        match std::fs::remove_file(path) {
            Err(err) if err.kind() != io::ErrorKind::NotFound => Err(err),
            _ => Ok(()),
        }
    }

    /// Starts writing an entry; nothing is visible until [`Pending::commit`] succeeds.
    pub fn begin(&self) -> io::Result<Pending> {
        fs_err::create_dir_all(&self.dir)?;
        let file = crate::cleanup::temp_file_in(&self.dir, ".tmp-")?;
        Ok(Pending {
            file,
            hasher: Sha256::new(),
            written: 0,
            dir: self.dir.clone(),
        })
    }
}

/// What the cache holds under one name.
#[derive(Debug, PartialEq, Eq)]
pub enum Lookup {
    /// Present, and its bytes hash to its name.
    Verified(PathBuf),
    /// Absent.
    Missing,
    /// Present but not what its name promises (`actual` says how).
    Damaged { path: PathBuf, actual: String },
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
        assert_eq!(
            cache.verified(&sha(body), body.len() as u64).expect("io"),
            Lookup::Verified(path.clone())
        );

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

    #[test]
    fn a_same_size_change_is_damage_not_a_hit() {
        let root = tempfile::tempdir().expect("tempdir");
        let cache = DebCache::new(root.path());
        let body = b"a .deb body";
        let mut pending = cache.begin().expect("begin");
        pending.write_all(body).expect("write");
        let path = pending
            .commit(&sha(body), body.len() as u64)
            .expect("io")
            .expect("verified");
        std::fs::write(&path, b"A .deb body").expect("flip one byte");
        let found = cache.verified(&sha(body), body.len() as u64).expect("io");
        assert!(
            matches!(&found, Lookup::Damaged { actual, .. } if actual.starts_with("sha256 ")),
            "{found:?}"
        );
        cache.evict(&path).expect("evict");
        assert_eq!(
            cache.verified(&sha(body), body.len() as u64).expect("io"),
            Lookup::Missing
        );
    }
}
