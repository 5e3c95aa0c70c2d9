//! One `Packages` index, from its (compressed) bytes as they arrive to its packages and their
//! packed form ([`super::packed`]), with the work spread over threads so that a 12 MB
//! `Packages.gz` (50 MB of text) costs about its decompression, overlapped with its download.
//!
//! - The decoder thread decompresses blocks of about [`BLOCK`] bytes and cuts each at its last
//!   stanza boundary (an empty line), carrying the rest over to the next block, and deals the
//!   numbered pieces to the parsers. It does nothing else: it is the pipeline's bottleneck.
//! - [`parsers`] threads read pieces with the fast reader ([`super::packages`]) as they come,
//!   in any order, and count their lines.
//! - This thread takes the pieces back in file order, appends them and feeds them to the
//!   packed form's [`Encoder`] as they come, so most of the encoding is done when parsing is.
//!   A piece the fast reader left alone is read here by the general reader, which needs the piece's first line number
//!   for its messages: the sum of the line counts before it.
//!
//! The first problem in file order wins (a piece's parse error, else a decompression error
//! after the pieces before it), so the result and any message are the same whatever the
//! thread count and timing.

use std::collections::BTreeMap;
use std::io::Read;
use std::sync::mpsc;

use super::RepoError;
use super::packed::Encoder;
use super::release::IndexFile;
use crate::debian::BinaryPackage;
use crate::debian::compression::Compression;

/// Decompressed bytes cut into one piece at a time.
const BLOCK: usize = 1 << 20;

/// How many times its signed size an index may decompress to (Debian's are 4 to 6 times
/// smaller compressed), and at least [`MIN_TEXT_LIMIT`]: the text is parsed before the
/// download is verified, and a mirror must not make debless hold gigabytes of it.
const TEXT_RATIO: u64 = 20;
/// The text limit of small indices, whose compression ratio varies most.
const MIN_TEXT_LIMIT: u64 = 16 << 20;

/// An index's packages and its packed form, but for [`Encoder::finish`].
pub(super) struct Parsed {
    pub packages: Vec<BinaryPackage>,
    pub encoder: Encoder,
}

/// What became of one piece (or the end of the index), `order`-th in the file.
enum Outcome {
    /// Read by the fast reader; the piece had `lines` lines.
    Parsed {
        packages: Vec<BinaryPackage>,
        lines: usize,
    },
    /// Left to the general reader.
    Unusual(Vec<u8>),
    Undecodable(std::io::Error),
    End,
}

/// Parses the index `file` (of `suite`, for messages) from `reader`, which yields the file as
/// served (compressed as its name says), into its packages and packed form (see the module
/// doc).
pub(super) fn parse_stream(
    suite: &str,
    file: &IndexFile,
    reader: impl Read + Send,
) -> Result<Parsed, RepoError> {
    let invalid = |reason: String| RepoError::BadIndex {
        suite: suite.to_owned(),
        path: file.path.clone(),
        reason,
    };
    let workers = parsers();
    std::thread::scope(|scope| {
        let (outcomes, results) = mpsc::channel::<(usize, Outcome)>();
        let mut queues = Vec::with_capacity(workers);
        let mut handles = Vec::with_capacity(workers + 1);
        for _ in 0..workers {
            let (queue, pieces) = mpsc::sync_channel::<Piece>(2);
            queues.push(queue);
            let outcomes = outcomes.clone();
            handles.push(scope.spawn(move || {
                for piece in pieces {
                    let mut packages = Vec::new();
                    let outcome = match super::packages::read_fast(&piece.text, &mut packages) {
                        Some(lines) => Outcome::Parsed { packages, lines },
                        None => Outcome::Unusual(piece.text),
                    };
                    if outcomes.send((piece.order, outcome)).is_err() {
                        return; // the collector gave up
                    }
                }
            }));
        }
        let text = Capped {
            inner: decoder(&file.path, reader),
            left: file.size.saturating_mul(TEXT_RATIO).max(MIN_TEXT_LIMIT),
        };
        handles.push(scope.spawn(move || cut(text, &queues, &outcomes)));
        let collected = collect(&results);
        // Stop the pipeline early when the collector gave up, then wait for it.
        drop(results);
        for handle in handles {
            if handle.join().is_err() {
                return Err(invalid("an index parser thread panicked".into()));
            }
        }
        collected.map_err(|reason| match reason {
            Stop::Invalid(reason) => invalid(reason),
            Stop::Undecodable(err) => invalid(err.to_string()),
            Stop::Broken => invalid("an index parser thread panicked".into()),
        })
    })
}

/// Why collecting stopped.
enum Stop {
    Invalid(String),
    Undecodable(std::io::Error),
    /// The pipeline ended without saying so: a thread panicked.
    Broken,
}

/// Takes outcomes back in file order, appending packages and encoding them as they come.
fn collect(results: &mpsc::Receiver<(usize, Outcome)>) -> Result<Parsed, Stop> {
    let mut packages = Vec::new();
    let mut encoder = Encoder::default();
    let mut early: BTreeMap<usize, Outcome> = BTreeMap::new();
    let mut next = 0;
    let mut lines_before = 0;
    loop {
        let outcome = match early.remove(&next) {
            Some(outcome) => outcome,
            None => match results.recv() {
                Ok((order, outcome)) if order == next => outcome,
                Ok((order, outcome)) => {
                    early.insert(order, outcome);
                    continue;
                }
                Err(mpsc::RecvError) => return Err(Stop::Broken),
            },
        };
        let mut piece = match outcome {
            Outcome::Parsed { packages, lines } => {
                lines_before += lines;
                packages
            }
            Outcome::Unusual(text) => {
                let mut piece = Vec::new();
                super::packages::read_general(&text, lines_before, &mut piece)
                    .map_err(Stop::Invalid)?;
                lines_before += super::packages::count_lines(&text);
                piece
            }
            Outcome::Undecodable(err) => return Err(Stop::Undecodable(err)),
            Outcome::End => return Ok(Parsed { packages, encoder }),
        };
        encoder.push(&piece);
        packages.append(&mut piece);
        next += 1;
    }
}

/// Whole stanzas cut from an index, `order`-th in the file.
struct Piece {
    order: usize,
    text: Vec<u8>,
}

/// The decoder thread: decompresses `reader`, cuts the text at stanza boundaries and deals the
/// pieces to the parsers in turn; ends with [`Outcome::End`], or [`Outcome::Undecodable`] in
/// its place (the text since the last boundary is then not parsed).
fn cut(
    mut reader: impl Read,
    queues: &[mpsc::SyncSender<Piece>],
    outcomes: &mpsc::Sender<(usize, Outcome)>,
) {
    let mut order = 0;
    let mut dispatch = |text: Vec<u8>| {
        // A parser only stops early when the collector gave up, which also ends this thread.
        let sent = queues[order % queues.len()]
            .send(Piece { order, text })
            .is_ok();
        order += 1;
        sent
    };
    let mut text: Vec<u8> = Vec::new();
    loop {
        // Fill whole blocks: decoders return a few KiB per call.
        text.reserve(BLOCK);
        let end = match reader.by_ref().take(BLOCK as u64).read_to_end(&mut text) {
            Ok(0) => break,
            Ok(_) => match memchr::memmem::rfind(&text, b"\n\n") {
                Some(at) => at + 2,
                None => continue, // one stanza longer than a block: read on
            },
            Err(err) => {
                let _ = outcomes.send((order, Outcome::Undecodable(err)));
                return;
            }
        };
        let rest = text[end..].to_vec();
        text.truncate(end);
        if !dispatch(std::mem::replace(&mut text, rest)) {
            return;
        }
    }
    if !text.is_empty() && !dispatch(text) {
        return;
    }
    let _ = outcomes.send((order, Outcome::End));
}

/// How many threads parse one index: the machine's cores, capped (beyond four the decoder is
/// the bottleneck).
fn parsers() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get().clamp(1, 4))
}

/// A decompressing reader chosen by the file name's extension (`Packages`, `Contents`).
pub(super) fn decoder<'a>(
    path: &str,
    compressed: impl Read + Send + 'a,
) -> Box<dyn Read + Send + 'a> {
    match Compression::from_file_name(path).decoder(compressed) {
        Ok(reader) => reader,
        // Only zstd can fail up front (allocating its context), and the archive serves no
        // `.zst` indices: the parse then reports the index as unreadable.
        Err(err) => Box::new(FailingReader(Some(err))),
    }
}

/// Decompressed text, failing once more than `left` bytes came out.
struct Capped<R> {
    inner: R,
    left: u64,
}

impl<R: Read> Read for Capped<R> {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        let read = self.inner.read(out)?;
        self.left = self.left.checked_sub(read as u64).ok_or_else(|| {
            std::io::Error::other(format!(
                "decompresses to more than {TEXT_RATIO} times its size"
            ))
        })?;
        Ok(read)
    }
}

/// A reader whose first read fails with the error it holds.
struct FailingReader(Option<std::io::Error>);

impl Read for FailingReader {
    fn read(&mut self, _: &mut [u8]) -> std::io::Result<usize> {
        match self.0.take() {
            Some(err) => Err(err),
            None => Ok(0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::repo::index::sha256_hex;

    fn parse(
        suite: &str,
        file: &IndexFile,
        compressed: &[u8],
    ) -> Result<Vec<BinaryPackage>, RepoError> {
        parse_stream(suite, file, compressed).map(|parsed| parsed.packages)
    }

    #[test]
    fn decompresses_gzip_and_xz() {
        use std::io::Write;
        let text = b"Package: a\n".repeat(100);
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&text).expect("gzip");
        let gz = gz.finish().expect("gzip");
        let mut xz = liblzma::write::XzEncoder::new(Vec::new(), 1);
        xz.write_all(&text).expect("xz");
        let xz = xz.finish().expect("xz");
        let decompress = |path: &str, bytes: &[u8]| {
            let mut out = Vec::new();
            decoder(path, bytes).read_to_end(&mut out).map(|_| out)
        };
        assert_eq!(decompress("x/Packages.gz", &gz).expect("gz"), text);
        assert_eq!(decompress("x/Packages.xz", &xz).expect("xz"), text);
        assert_eq!(decompress("x/Packages", &text).expect("plain"), text);
        assert!(decompress("x/Packages.gz", b"not gzip").is_err());
    }

    #[test]
    fn parses_an_index_across_block_boundaries_with_true_line_numbers() {
        let stanza = "Package: p\nVersion: 1.0-1\nArchitecture: all\nFilename: pool/p.deb\nSize: 1\nSHA256: {}\n\n";
        let stanza = stanza.replace("{}", &"0".repeat(64));
        let count = (3 << 20) / stanza.len(); // several decoder blocks
        let mut text = stanza.repeat(count);
        text.push_str("Package: broken\nArchitecture: all\n");
        let gz = gz_of(&text);
        let file = IndexFile {
            path: "main/binary-amd64/Packages.gz".into(),
            size: gz.len() as u64,
            sha256: sha256_hex(&gz),
        };
        let err = parse("stable", &file, &gz).expect_err("the last stanza has no Version");
        let line = count * 7 + 1;
        assert!(
            err.to_string().contains(&format!("line {line}")),
            "expected line {line}: {err}"
        );
        let good = &gz_of(&stanza.repeat(count));
        let file = IndexFile {
            path: file.path,
            size: 0,
            sha256: String::new(),
        };
        let packages = parse("stable", &file, good).expect("valid index");
        assert_eq!(packages.len(), count);
    }

    #[test]
    fn the_first_error_in_file_order_wins_whatever_piece_finishes_first() {
        let stanza = "Package: p\nVersion: 1\nArchitecture: all\nFilename: pool/p.deb\nSize: 1\nSHA256: {}\n\n";
        let stanza = stanza.replace("{}", &"0".repeat(64));
        let count = (4 << 20) / stanza.len(); // several pieces, spread over the parsers
        let broken = "Package: early\nArchitecture: all\n\n";
        let mut text = String::from(broken);
        text.push_str(&stanza.repeat(count));
        text.push_str("Package: late\nArchitecture: all\n");
        let gz = gz_of(&text);
        let file = IndexFile {
            path: "main/binary-amd64/Packages.gz".into(),
            size: 0,
            sha256: String::new(),
        };
        let err = parse("stable", &file, &gz).expect_err("two stanzas lack a Version");
        assert!(
            err.to_string().contains("line 1 "),
            "the first stanza is named: {err}"
        );
        let packages = parse("stable", &file, &gz_of(&stanza.repeat(count))).expect("valid");
        assert_eq!(packages.len(), count, "every piece is merged exactly once");
    }

    #[test]
    fn text_far_larger_than_the_signed_size_is_refused() {
        let text = "\n".repeat((MIN_TEXT_LIMIT + 1) as usize);
        let gz = gz_of(&text);
        let file = IndexFile {
            path: "main/binary-amd64/Packages.gz".into(),
            size: gz.len() as u64,
            sha256: sha256_hex(&gz),
        };
        let err = parse("stable", &file, &gz).expect_err("a decompression bomb");
        assert!(
            err.to_string()
                .contains("decompresses to more than 20 times its size"),
            "{err}"
        );
        let just_enough = gz_of(&"\n".repeat(MIN_TEXT_LIMIT as usize));
        assert_eq!(
            parse("stable", &file, &just_enough)
                .expect("at the limit")
                .len(),
            0
        );
    }

    fn gz_of(text: &str) -> Vec<u8> {
        use std::io::Write;
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(text.as_bytes()).expect("gzip");
        gz.finish().expect("gzip")
    }
}
