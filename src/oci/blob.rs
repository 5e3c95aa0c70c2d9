//! Content-addressed blobs: a writer that hashes while it writes, and a store that keeps
//! finished blobs as `sha256/<hex>` files until a layout or archive copies them out.
//!
//! Blobs go to a temporary file first and are renamed to their digest only when complete, so
//! a store never holds a half-written blob under a digest name (ocidir-rs `BlobWriter`).

use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use sha2::{Digest as _, Sha256};

pub use super::digest::Digest;

/// Passes bytes through to `inner` while hashing and counting them.
pub struct HashingWriter<W> {
    inner: W,
    hasher: Sha256,
    len: u64,
}

impl<W: Write> HashingWriter<W> {
    /// Starts hashing in front of `inner`.
    pub fn new(inner: W) -> Self {
        Self {
            inner,
            hasher: Sha256::new(),
            len: 0,
        }
    }

    /// The inner writer, the digest of everything written, and its length.
    pub fn finish(self) -> (W, Digest, u64) {
        (self.inner, Digest::from_sha256(self.hasher), self.len)
    }
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let written = self.inner.write(buf)?;
        self.hasher.update(&buf[..written]);
        self.len += written as u64;
        Ok(written)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// A directory of finished blobs, removed when dropped.
#[derive(Debug)]
pub struct BlobStore {
    dir: tempfile::TempDir,
}

impl BlobStore {
    /// A store in the system temporary directory.
    pub fn new() -> io::Result<Self> {
        Ok(Self {
            dir: crate::cleanup::temp_dir("debless-blobs-")?,
        })
    }

    /// A store under `parent` (keep it on the output's filesystem for cheap copies).
    pub fn new_in(parent: &Path) -> io::Result<Self> {
        Ok(Self {
            dir: crate::cleanup::temp_dir_in(parent, ".debless-blobs-")?,
        })
    }

    /// Where a finished blob lives.
    pub fn path(&self, digest: &Digest) -> PathBuf {
        self.dir.path().join(digest.hex())
    }

    /// Starts a new blob.
    pub fn writer(&self) -> io::Result<BlobWriter<'_>> {
        let file = crate::cleanup::temp_file_in(self.dir.path(), ".tmp-")?;
        Ok(BlobWriter {
            store: self,
            inner: HashingWriter::new(BufWriter::new(file)),
        })
    }

    /// Stores a small blob (config, manifest) and returns its digest and size.
    pub fn put(&self, bytes: &[u8]) -> io::Result<(Digest, u64)> {
        let mut writer = self.writer()?;
        writer.write_all(bytes)?;
        writer.commit()
    }
}

/// A blob being written; [`BlobWriter::commit`] names it by its digest.
pub struct BlobWriter<'a> {
    store: &'a BlobStore,
    inner: HashingWriter<BufWriter<tempfile::NamedTempFile>>,
}

impl BlobWriter<'_> {
    /// Flushes, renames the file to its digest and returns digest and size.
    pub fn commit(self) -> io::Result<(Digest, u64)> {
        let (buffered, digest, size) = self.inner.finish();
        let file = buffered
            .into_inner()
            .map_err(io::IntoInnerError::into_error)?;
        file.persist(self.store.path(&digest))
            .map_err(|e| e.error)?;
        Ok((digest, size))
    }
}

impl Write for BlobWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.inner.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blobs_are_named_by_digest() {
        let store = BlobStore::new().expect("temp dir");
        let (digest, size) = store.put(b"hello").expect("writable");
        assert_eq!(
            digest.as_str(),
            "sha256:2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"
        );
        assert_eq!(size, 5);
        assert_eq!(
            std::fs::read(store.path(&digest)).expect("stored"),
            b"hello"
        );
        assert_eq!(Digest::of(b"hello"), digest);
    }
}
