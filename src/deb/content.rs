//! A regular file's bytes, held in memory when small and spilled to a scratch file on disk
//! when not, so a root filesystem's metadata stays in memory while its contents do not.
//!
//! Extraction writes every file over [`INLINE_MAX`] bytes into the build's [`SpillFile`], an
//! anonymous temporary file (`O_TMPFILE`: it has no name, so it disappears when the last
//! [`Content`] pointing into it is dropped, whether the run succeeds, fails or is killed).
//! Readers ask for the bytes when they need them ([`Content::read`] for a whole small file,
//! [`Content::reader`] to stream a large one into a layer); the kernel's page cache, not the
//! process, keeps recently written contents at hand.
//!
//! Two contents are equal when their bytes are: two spilled contents compare the sha256 each
//! took while it was written; otherwise the bytes are read and compared (only conflicting
//! paths of two packages and base-image overlays compare contents).

use std::borrow::Cow;
use std::fmt;
use std::fs::File;
use std::io::{self, Read};
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::Arc;

use sha2::{Digest as _, Sha256};

/// Files up to this size stay in memory: the /etc files the essentials rewrite, copyright
/// files, scripts and symlink-sized blobs cost less inline than a read each.
pub const INLINE_MAX: u64 = 4096;

/// A regular file's bytes.
#[derive(Clone)]
pub struct Content(Repr);

#[derive(Clone)]
enum Repr {
    Inline(Vec<u8>),
    Spilled {
        file: Arc<SpillFile>,
        offset: u64,
        len: u64,
        /// sha256 of the bytes, taken while they were written: the layer cache keys layers by
        /// their files' digests without reading the contents back.
        digest: [u8; 32],
    },
}

/// A build's scratch file: contents appended while the data.tars stream by (from several
/// threads), read back at their offsets.
pub struct SpillFile {
    file: File,
    /// Bytes written so far; the next content starts here.
    end: std::sync::Mutex<u64>,
}

impl fmt::Debug for SpillFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SpillFile").finish_non_exhaustive()
    }
}

impl SpillFile {
    /// An anonymous scratch file in `dir` (which should be on a disk, not a tmpfs: the point
    /// is to keep contents out of memory).
    pub fn new_in(dir: &Path) -> io::Result<Arc<Self>> {
        Ok(Arc::new(Self {
            file: crate::cleanup::anonymous_file_in(dir)?,
            end: std::sync::Mutex::new(0),
        }))
    }

    /// Appends `len` bytes from `reader` and returns them as a [`Content`]; fails if the reader
    /// ends early.
    pub fn append(self: &Arc<Self>, mut reader: impl Read, len: u64) -> io::Result<Content> {
        // Reserve the range first, so packages extracted in parallel share one file without
        // holding the lock while they write.
        let offset = {
            let mut end = self
                .end
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            let offset = *end;
            *end = offset
                .checked_add(len)
                .ok_or_else(|| io::Error::other("scratch file offset overflows"))?;
            offset
        };
        let mut buffer = vec![0u8; usize::try_from(len.min(1 << 16)).unwrap_or(1 << 16)];
        let mut hasher = Sha256::new();
        let mut written = 0u64;
        while written < len {
            let want = usize::try_from((len - written).min(buffer.len() as u64))
                .expect("bounded by the buffer length");
            let read = reader.read(&mut buffer[..want])?;
            if read == 0 {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    format!("file ends after {written} of {len} bytes"),
                ));
            }
            self.file.write_all_at(&buffer[..read], offset + written)?;
            hasher.update(&buffer[..read]);
            written += read as u64;
        }
        Ok(Content(Repr::Spilled {
            file: Arc::clone(self),
            offset,
            len,
            digest: hasher.finalize().into(),
        }))
    }
}

impl Content {
    /// Reads a file's bytes into memory when it is small, else into `spill`.
    pub fn from_reader(
        reader: impl Read,
        len: u64,
        spill: Option<&Arc<SpillFile>>,
    ) -> io::Result<Self> {
        match spill {
            Some(spill) if len > INLINE_MAX => spill.append(reader, len),
            _ => {
                let mut bytes = Vec::with_capacity(usize::try_from(len.min(1 << 26)).unwrap_or(0));
                reader.take(len).read_to_end(&mut bytes)?;
                if bytes.len() as u64 != len {
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        format!("file ends after {} of {len} bytes", bytes.len()),
                    ));
                }
                Ok(Self(Repr::Inline(bytes)))
            }
        }
    }

    /// Size in bytes.
    pub fn len(&self) -> u64 {
        match &self.0 {
            Repr::Inline(bytes) => bytes.len() as u64,
            Repr::Spilled { len, .. } => *len,
        }
    }

    /// Whether the file is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The sha256 of the bytes: remembered for a spilled file, computed for an inline one.
    pub fn sha256(&self) -> [u8; 32] {
        match &self.0 {
            Repr::Inline(bytes) => Sha256::digest(bytes).into(),
            Repr::Spilled { digest, .. } => *digest,
        }
    }

    /// Whether the bytes are held in memory (small or generated files).
    pub fn is_inline(&self) -> bool {
        matches!(self.0, Repr::Inline(_))
    }

    /// The whole file: borrowed when inline, read from the scratch file when spilled.
    pub fn read(&self) -> io::Result<Cow<'_, [u8]>> {
        match &self.0 {
            Repr::Inline(bytes) => Ok(Cow::Borrowed(bytes)),
            Repr::Spilled {
                file, offset, len, ..
            } => {
                let mut bytes = vec![0u8; usize::try_from(*len).map_err(io::Error::other)?];
                file.file.read_exact_at(&mut bytes, *offset)?;
                Ok(Cow::Owned(bytes))
            }
        }
    }

    /// An ELF file as [`crate::elf::parse`] needs it: whole when inline, else a sparse copy
    /// ([`crate::elf::sparse_copy`]) that reads the headers, the non-loaded segments and the
    /// string table only, so parsing a 100 MB library does not bring 100 MB into memory.
    pub fn read_elf(&self) -> io::Result<Cow<'_, [u8]>> {
        match &self.0 {
            Repr::Inline(bytes) => Ok(Cow::Borrowed(bytes)),
            Repr::Spilled {
                file, offset, len, ..
            } => {
                let mut read_at =
                    |at: u64, buf: &mut [u8]| file.file.read_exact_at(buf, offset + at);
                crate::elf::sparse_copy(*len, &mut read_at).map(Cow::Owned)
            }
        }
    }

    /// The whole file as an owned vector (no copy when inline).
    pub fn into_bytes(self) -> io::Result<Vec<u8>> {
        match self.0 {
            Repr::Inline(bytes) => Ok(bytes),
            Repr::Spilled { .. } => self.read().map(Cow::into_owned),
        }
    }

    /// The file as a stream, for copying a large file without holding it.
    pub fn reader(&self) -> Box<dyn Read + Send + '_> {
        match &self.0 {
            Repr::Inline(bytes) => Box::new(bytes.as_slice()),
            Repr::Spilled {
                file, offset, len, ..
            } => Box::new(SpillReader {
                file: &file.file,
                position: *offset,
                end: offset + len,
            }),
        }
    }

    /// Whether the file starts with `prefix` (an ELF magic), reading only that much.
    pub fn starts_with(&self, prefix: &[u8]) -> bool {
        match &self.0 {
            Repr::Inline(bytes) => bytes.starts_with(prefix),
            Repr::Spilled {
                file, offset, len, ..
            } => {
                if (prefix.len() as u64) > *len {
                    return false;
                }
                let mut head = vec![0u8; prefix.len()];
                file.file.read_exact_at(&mut head, *offset).is_ok() && head == prefix
            }
        }
    }
}

/// Reads a spilled content's byte range with positioned reads (the file is shared).
struct SpillReader<'a> {
    file: &'a File,
    position: u64,
    end: u64,
}

impl Read for SpillReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let left = self.end - self.position;
        let want = usize::try_from(left.min(buf.len() as u64)).expect("bounded by buf.len()");
        if want == 0 {
            return Ok(0);
        }
        let read = self.file.read_at(&mut buf[..want], self.position)?;
        if read == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "scratch file is shorter than what was written to it",
            ));
        }
        self.position += read as u64;
        Ok(read)
    }
}

impl From<Vec<u8>> for Content {
    fn from(bytes: Vec<u8>) -> Self {
        Self(Repr::Inline(bytes))
    }
}

impl From<&[u8]> for Content {
    fn from(bytes: &[u8]) -> Self {
        Self(Repr::Inline(bytes.to_vec()))
    }
}

impl<const N: usize> From<&[u8; N]> for Content {
    fn from(bytes: &[u8; N]) -> Self {
        Self(Repr::Inline(bytes.to_vec()))
    }
}

impl PartialEq for Content {
    fn eq(&self, other: &Self) -> bool {
        if self.len() != other.len() {
            return false;
        }
        if let (Repr::Spilled { digest: a, .. }, Repr::Spilled { digest: b, .. }) =
            (&self.0, &other.0)
        {
            return a == b;
        }
        same_stream(self.reader(), other.reader()).unwrap_or(false)
    }
}

impl Eq for Content {}

impl PartialEq<[u8]> for Content {
    fn eq(&self, other: &[u8]) -> bool {
        self.len() == other.len() as u64 && same_stream(self.reader(), other).unwrap_or(false)
    }
}

/// Whether two readers of equal length yield the same bytes.
fn same_stream(mut a: impl Read, mut b: impl Read) -> io::Result<bool> {
    let (mut x, mut y) = (vec![0u8; 64 * 1024], vec![0u8; 64 * 1024]);
    loop {
        let n = read_full(&mut a, &mut x)?;
        let m = read_full(&mut b, &mut y)?;
        if x[..n] != y[..m] {
            return Ok(false);
        }
        if n == 0 {
            return Ok(true);
        }
    }
}

fn read_full(reader: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match reader.read(&mut buf[filled..])? {
            0 => break,
            n => filled += n,
        }
    }
    Ok(filled)
}

impl fmt::Debug for Content {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            Repr::Inline(bytes) if bytes.len() <= 64 => {
                write!(f, "Content({:?})", String::from_utf8_lossy(bytes))
            }
            Repr::Inline(bytes) => write!(f, "Content({} bytes)", bytes.len()),
            Repr::Spilled { offset, len, .. } => {
                write!(f, "Content({len} bytes spilled at {offset})")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn large_files_spill_and_read_back() {
        let dir = tempfile::tempdir().expect("temp dir");
        let spill = SpillFile::new_in(dir.path()).expect("scratch file");
        let big: Vec<u8> = (0..20_000u32).map(|i| (i % 251) as u8).collect();
        let small = Content::from_reader(&b"tiny"[..], 4, Some(&spill)).expect("small");
        let a = Content::from_reader(big.as_slice(), big.len() as u64, Some(&spill)).expect("a");
        let b = Content::from_reader(big.as_slice(), big.len() as u64, Some(&spill)).expect("b");
        assert!(small.is_inline());
        assert!(!a.is_inline());
        assert_eq!(a.read().expect("readable").as_ref(), big.as_slice());
        let mut streamed = Vec::new();
        b.reader().read_to_end(&mut streamed).expect("streams");
        assert_eq!(streamed, big);
        // Equal bytes at different offsets, and the same bytes held inline, compare equal.
        assert_eq!(a, b);
        assert_eq!(a, Content::from(big.clone()));
        assert!(a.starts_with(&big[..4]));
        // The digest taken while spilling is the bytes' sha256, as an inline copy computes it.
        let expected: [u8; 32] = Sha256::digest(&big).into();
        assert_eq!(a.sha256(), expected);
        assert_eq!(Content::from(big.clone()).sha256(), expected);
        let mut other = big.clone();
        other[19_999] ^= 1;
        assert_ne!(a, Content::from(other));
        // Nothing in the directory: the scratch file has no name.
        assert_eq!(std::fs::read_dir(dir.path()).expect("list").count(), 0);
    }

    #[test]
    fn a_short_reader_is_an_error() {
        let dir = tempfile::tempdir().expect("temp dir");
        let spill = SpillFile::new_in(dir.path()).expect("scratch file");
        assert!(Content::from_reader(&[0u8; 5000][..], 6000, Some(&spill)).is_err());
        assert!(Content::from_reader(&b"ab"[..], 3, None).is_err());
    }
}
