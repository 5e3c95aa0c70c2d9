//! Fetching a file a verified `Release` lists (`Packages`, `Contents`): the one place that
//! decides where the bytes come from and whether they can be trusted.
//!
//! Candidates are tried in the caller's preference order: any already in the [`IndexCache`]
//! wins (a warm run downloads nothing), else the first one the mirror serves, by-hash when
//! the suite offers it (falling back to the plain path on a 404), its size and sha256
//! checked against the signed Release before anything made of it is used, then cached under
//! that sha256. Listed files are sometimes 404 (security's `Packages.gz`, debian-notes §1.2), so a
//! 404 moves on to the next candidate; any other failure stops.
//!
//! [`ListedFiles::stream`] does this while the bytes arrive ([`ListedFiles::fetch`] collects
//! them for readers that need the whole file): they go at once to a reader
//! (decompression and parsing run during the download) and through a sha256 hasher into a
//! temporary cache file. What the reader made of them is handed back only once the whole file
//! matched its signed size and sha256; else it is thrown away with the temporary file, and the
//! mismatch is the error, whatever the reader said.

use std::io::{Read, Write};
use std::sync::mpsc;

use sha2::{Digest, Sha256};

use super::RepoError;
use super::cache::{IndexCache, Pending};
use super::http::{Http, HttpError};
use super::release::{IndexFile, Release};

/// The reader [`ListedFiles::stream`] hands to its consumer.
pub(super) type Stream<'r> = &'r mut (dyn Read + Send);

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
    /// The bytes of the first usable candidate (see the module doc) and which one it was:
    /// [`ListedFiles::stream`] into memory, for readers that need the whole file.
    /// `candidates` must not be empty.
    pub fn fetch<'f>(
        &self,
        candidates: &[&'f IndexFile],
    ) -> Result<(&'f IndexFile, Vec<u8>), RepoError> {
        let (file, read) = self.stream(candidates, |_, reader| {
            let mut bytes = Vec::new();
            reader.read_to_end(&mut bytes).map(|_| bytes)
        })?;
        let bytes = read.map_err(|err| RepoError::BadIndex {
            suite: self.suite.to_owned(),
            path: file.path.clone(),
            reason: err.to_string(),
        })?;
        Ok((file, bytes))
    }

    /// The result of `consume` over the bytes of the first usable candidate (see the module
    /// doc) and which candidate it was. `candidates` must not be empty.
    pub fn stream<'f, T: Send>(
        &self,
        candidates: &[&'f IndexFile],
        consume: impl Fn(&'f IndexFile, Stream<'_>) -> T + Sync,
    ) -> Result<(&'f IndexFile, T), RepoError> {
        if let Some((file, bytes)) = candidates
            .iter()
            .find_map(|file| self.cache.get(file).map(|bytes| (*file, bytes)))
        {
            return Ok((file, consume(file, &mut bytes.as_slice())));
        }
        let mut last_missing = None;
        for file in candidates {
            match self.stream_file(file, &consume) {
                Ok(consumed) => return Ok((file, consumed)),
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

    /// Streams one listed file from the first of its URLs that is not 404.
    fn stream_file<'f, T: Send>(
        &self,
        file: &'f IndexFile,
        consume: &(impl Fn(&'f IndexFile, Stream<'_>) -> T + Sync),
    ) -> Result<T, RepoError> {
        let urls = self.urls(file);
        let (last, earlier) = urls.split_last().expect("the plain path is always listed");
        for url in earlier {
            match self.stream_one(file, url, consume) {
                Err(RepoError::Http(HttpError::NotFound { .. })) => {}
                other => return other,
            }
        }
        self.stream_one(file, last, consume)
    }

    /// Where a listed file is served: by-hash first when the suite offers it, then its path.
    fn urls(&self, file: &IndexFile) -> Vec<String> {
        let dists = format!("{}/dists/{}", self.root, self.suite);
        let mut urls = Vec::with_capacity(2);
        if self.release.acquire_by_hash {
            let dir = file.path.rsplit_once('/').map_or("", |(dir, _)| dir);
            urls.push(format!("{dists}/{dir}/by-hash/SHA256/{}", file.sha256));
        }
        urls.push(format!("{dists}/{}", file.path));
        urls
    }

    /// Streams `url` into `consume` (on its own thread, started with the first byte), the
    /// hasher and a temporary cache file; `consume`'s result once the bytes are verified.
    fn stream_one<'f, T: Send>(
        &self,
        file: &'f IndexFile,
        url: &str,
        consume: &(impl Fn(&'f IndexFile, Stream<'_>) -> T + Sync),
    ) -> Result<T, RepoError> {
        let pending = self.cache.pending()?;
        std::thread::scope(|scope| {
            let mut tee = Tee {
                hasher: Sha256::new(),
                size: 0,
                cache: pending,
                chunks: None,
                start: Some(Box::new(|receiver: mpsc::Receiver<Vec<u8>>| {
                    scope.spawn(move || consume(file, &mut ChunkReader::new(receiver)))
                })),
                consumer: None,
            };
            let downloaded = self.http.get_to(url, &mut tee, limit_for(file));
            let Tee {
                hasher,
                size,
                cache,
                chunks,
                consumer,
                ..
            } = tee;
            // The end of the stream: the consumer sees EOF and finishes.
            drop(chunks);
            let consumed = consumer.map(|handle| handle.join());
            downloaded?;
            let actual_sha256 = hex::encode(hasher.finalize());
            if size != file.size || actual_sha256 != file.sha256 {
                return Err(self.mismatch(file, url, size, actual_sha256));
            }
            let consumed = match consumed {
                Some(Ok(consumed)) => consumed,
                Some(Err(panic)) => std::panic::resume_unwind(panic),
                // An empty file: nothing started the consumer.
                None => consume(file, &mut std::io::empty()),
            };
            cache.persist(&file.sha256)?;
            Ok(consumed)
        })
    }

    fn mismatch(
        &self,
        file: &IndexFile,
        url: &str,
        actual_size: u64,
        actual_sha256: String,
    ) -> RepoError {
        RepoError::IndexMismatch {
            suite: self.suite.to_owned(),
            url: url.to_owned(),
            expected_size: file.size,
            actual_size,
            expected_sha256: file.sha256.clone(),
            actual_sha256,
        }
    }
}

/// The most a listed file may weigh: room to measure a wrong size exactly, not to fill memory.
fn limit_for(file: &IndexFile) -> Option<u64> {
    Some(file.size.saturating_mul(2).saturating_add(1 << 20))
}

/// Starts the consumer thread on the receiving end of the chunk channel.
type Start<'s, T> =
    Box<dyn FnOnce(mpsc::Receiver<Vec<u8>>) -> std::thread::ScopedJoinHandle<'s, T> + 's>;

/// Where the downloaded bytes go: the hasher, the temporary cache file and the consumer.
struct Tee<'s, T> {
    hasher: Sha256,
    size: u64,
    cache: Pending,
    /// To the consumer; `None` before the first byte and once the consumer stopped reading.
    chunks: Option<mpsc::Sender<Vec<u8>>>,
    start: Option<Start<'s, T>>,
    consumer: Option<std::thread::ScopedJoinHandle<'s, T>>,
}

impl<T> Write for Tee<'_, T> {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        if bytes.is_empty() {
            return Ok(0);
        }
        self.cache.write_all(bytes)?;
        self.hasher.update(bytes);
        self.size += bytes.len() as u64;
        if let Some(start) = self.start.take() {
            // Unbounded: the download never waits for the decoder, and is bounded by
            // `limit_for`.
            let (sender, receiver) = mpsc::channel();
            self.consumer = Some(start(receiver));
            self.chunks = Some(sender);
        }
        if let Some(chunks) = &self.chunks
            && chunks.send(bytes.to_vec()).is_err()
        {
            // The consumer gave up (it will report why); the bytes are still hashed, so a
            // mismatch is still what is reported when the download was not the signed file.
            self.chunks = None;
        }
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.cache.flush()
    }
}

/// The consumer's end of the chunk channel, as a reader; EOF when the sender is dropped.
struct ChunkReader {
    chunks: mpsc::Receiver<Vec<u8>>,
    current: Vec<u8>,
    at: usize,
}

impl ChunkReader {
    fn new(chunks: mpsc::Receiver<Vec<u8>>) -> Self {
        Self {
            chunks,
            current: Vec::new(),
            at: 0,
        }
    }
}

impl Read for ChunkReader {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        while self.at == self.current.len() {
            match self.chunks.recv() {
                Ok(chunk) => {
                    self.current = chunk;
                    self.at = 0;
                }
                Err(mpsc::RecvError) => return Ok(0),
            }
        }
        let n = out.len().min(self.current.len() - self.at);
        out[..n].copy_from_slice(&self.current[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}
