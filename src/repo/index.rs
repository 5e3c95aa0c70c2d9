//! `Packages` indices: choosing the file to fetch from the verified `Release` (fetched, checked
//! and cached by `listed` in the [`IndexCache`]), and reading its stanzas. The first read of an
//! index also stores its pre-parsed form ([`super::packed`]), which later runs read instead
//! and which lookups read in place.

use std::io::Read;

use super::RepoError;
pub use super::cache::{IndexCache, packed_dir, sha256_hex};
use super::listed::ListedFiles;
use super::packed::PackedIndex;
use super::release::{IndexFile, component_name};
use crate::debian::compression::Compression;
use crate::debian::deb822::Stanzas;
use crate::debian::{Arch, BinaryPackage};

/// Index formats in preference order: gzip decompresses fastest, xz is smallest.
const FORMATS: [&str; 3] = ["Packages.gz", "Packages.xz", "Packages"];

/// Decompressed bytes handed from the decoder thread to the parser at a time.
const BLOCK: usize = 1 << 20;

/// Which index a suite's packages came from, for the lock and for messages.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IndexRef {
    pub component: String,
    pub arch: Arch,
    /// Relative to `dists/<suite>/` (`main/binary-amd64/Packages.gz`).
    pub path: String,
    /// sha256 of the file at `path`, as signed in the Release.
    pub sha256: String,
}

/// What is needed to fetch the indices of one verified suite.
pub(super) struct IndexSource<'a>(pub ListedFiles<'a>);

impl IndexSource<'_> {
    /// The listed index files for a component and arch, in preference order. Security suites
    /// list `main/…` paths for the `updates/main` component; both spellings are tried.
    fn candidates(&self, component: &str, arch: &Arch) -> Vec<&IndexFile> {
        let short = component_name(component);
        let prefixes: Vec<&str> = self
            .0
            .release
            .components
            .iter()
            .map(String::as_str)
            .filter(|listed| component_name(listed) == short)
            .chain([short])
            .collect();
        let mut found = Vec::new();
        for format in FORMATS {
            for prefix in &prefixes {
                let path = format!("{prefix}/binary-{arch}/{format}");
                match self.0.release.file(&path) {
                    Some(file) if !found.contains(&file) => found.push(file),
                    _ => {}
                }
            }
        }
        found
    }

    /// Fetches (or reads from the cache) the index of one component and arch: its packed
    /// form, read from the cache when present, else parsed from the verified index and stored.
    pub fn load(&self, component: &str, arch: &Arch) -> Result<(IndexRef, Loaded), RepoError> {
        let candidates = self.candidates(component, arch);
        if candidates.is_empty() {
            return Err(RepoError::NoIndex {
                suite: self.0.suite.to_owned(),
                component: component.to_owned(),
                arch: arch.clone(),
            });
        }
        // A packed file of any listed candidate means no decompression and no deb822 parse.
        let packed = candidates.iter().find_map(|file| {
            self.0.cache.packed(&file.sha256).map(|found| {
                let loaded = Loaded {
                    packed: found,
                    parsed: None,
                };
                (*file, loaded)
            })
        });
        let (file, loaded) = match packed {
            Some(hit) => hit,
            None => {
                let (file, compressed) = self.0.fetch(&candidates)?;
                let packages = parse_index(self.0.suite, file, &compressed)?;
                let bytes = super::packed::encode(&packages, &file.sha256);
                self.0.cache.put_packed(&file.sha256, &bytes)?;
                let packed =
                    PackedIndex::open(bytes, &file.sha256).map_err(|err| RepoError::BadIndex {
                        suite: self.0.suite.to_owned(),
                        path: file.path.clone(),
                        reason: format!("its packed form does not read back: {err}"),
                    })?;
                let loaded = Loaded {
                    packed,
                    parsed: Some(packages),
                };
                (file, loaded)
            }
        };
        let index = IndexRef {
            component: component.to_owned(),
            arch: arch.clone(),
            path: file.path.clone(),
            sha256: file.sha256.clone(),
        };
        Ok((index, loaded))
    }
}

/// One index as [`IndexSource::load`] found it.
pub(super) struct Loaded {
    /// Its packed form (read in place by lookups).
    pub packed: PackedIndex,
    /// Its stanzas, when it had to be parsed (a cache miss): callers that want every package
    /// take these instead of decoding the packed form again.
    pub parsed: Option<Vec<BinaryPackage>>,
}

/// Decompresses on one thread, cuts the text at stanza boundaries on this one and parses the
/// pieces on [`parsers`] threads, so a 56 MB index costs about the slowest stage instead of
/// their sum. Pieces are merged in file order and the first error in file order wins, so the
/// result (and any message) is the same whatever the thread count.
pub fn parse_index(
    suite: &str,
    file: &IndexFile,
    compressed: &[u8],
) -> Result<Vec<BinaryPackage>, RepoError> {
    let invalid = |reason: String| RepoError::BadIndex {
        suite: suite.to_owned(),
        path: file.path.clone(),
        reason,
    };
    let workers = parsers();
    std::thread::scope(|scope| {
        let (sender, blocks) = std::sync::mpsc::sync_channel::<std::io::Result<Vec<u8>>>(8);
        scope.spawn(move || {
            let mut reader = decoder(&file.path, compressed);
            loop {
                // Fill whole blocks: decoders return a few KiB per call.
                let mut block = Vec::with_capacity(BLOCK);
                match reader.by_ref().take(BLOCK as u64).read_to_end(&mut block) {
                    Ok(0) => return,
                    Ok(_) => {}
                    Err(err) => {
                        let _ = sender.send(Err(err));
                        return;
                    }
                }
                if sender.send(Ok(block)).is_err() {
                    return; // the cutter gave up
                }
            }
        });
        let mut queues = Vec::with_capacity(workers);
        let mut handles = Vec::with_capacity(workers);
        for _ in 0..workers {
            let (queue, pieces) = std::sync::mpsc::sync_channel::<Piece>(2);
            queues.push(queue);
            handles.push(scope.spawn(move || {
                pieces
                    .into_iter()
                    .map(|piece| {
                        let mut packages = Vec::new();
                        let parsed = parse_stanzas(&piece.text, piece.lines_before, &mut packages);
                        (piece.order, parsed.map(|()| packages))
                    })
                    .collect::<Vec<_>>()
            }));
        }
        let mut order = 0;
        let mut dispatch = move |text: Vec<u8>, lines_before: usize| {
            let piece = Piece {
                order,
                text,
                lines_before,
            };
            // A worker only stops early by panicking, which the join below reports.
            let _ = queues[order % workers].send(piece);
            order += 1;
        };
        let mut pending: Vec<u8> = Vec::new();
        let mut lines_before = 0;
        let mut decode_error = None;
        for block in blocks {
            let block = match block {
                Ok(block) => block,
                Err(err) => {
                    decode_error = Some(err);
                    break;
                }
            };
            pending.extend_from_slice(&block);
            // Stanzas end at an empty line; hand on everything up to the last one.
            if let Some(end) = pending.windows(2).rposition(|w| w == b"\n\n") {
                let rest = pending.split_off(end + 2);
                let complete = std::mem::replace(&mut pending, rest);
                let lines = complete.iter().filter(|&&b| b == b'\n').count();
                dispatch(complete, lines_before);
                lines_before += lines;
            }
        }
        if decode_error.is_none() {
            dispatch(pending, lines_before);
        }
        drop(dispatch);
        let mut parsed: Vec<(usize, Result<Vec<BinaryPackage>, String>)> = Vec::new();
        for handle in handles {
            match handle.join() {
                Ok(mut part) => parsed.append(&mut part),
                Err(_) => return Err(invalid("an index parser thread panicked".into())),
            }
        }
        parsed.sort_unstable_by_key(|(order, _)| *order);
        let mut packages = Vec::new();
        for (_, part) in parsed {
            packages.append(&mut part.map_err(&invalid)?);
        }
        // Pieces before a decoding error are reported first, as a sequential parse would.
        match decode_error {
            Some(err) => Err(invalid(err.to_string())),
            None => Ok(packages),
        }
    })
}

/// Whole stanzas cut from an index, `order`-th in the file, after `lines_before` lines.
struct Piece {
    order: usize,
    text: Vec<u8>,
    lines_before: usize,
}

/// How many threads parse one index: the machine's cores, capped (beyond four the cutter and
/// the decoder are the bottleneck).
fn parsers() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get().clamp(1, 4))
}

/// Parses whole stanzas of an index part that starts after `lines_before` lines.
fn parse_stanzas(
    part: &[u8],
    lines_before: usize,
    packages: &mut Vec<BinaryPackage>,
) -> Result<(), String> {
    let text = std::str::from_utf8(part).map_err(|err| {
        let line = part[..err.valid_up_to()]
            .iter()
            .filter(|&&b| b == b'\n')
            .count();
        format!("line {}: not UTF-8", lines_before + line + 1)
    })?;
    for stanza in Stanzas::new(text) {
        let mut stanza = stanza.map_err(|err| format!("{err} (after line {lines_before})"))?;
        stanza.line += lines_before;
        packages.push(BinaryPackage::from_stanza(&stanza).map_err(|err| err.to_string())?);
    }
    Ok(())
}

/// A decompressing reader chosen by the file name's extension (`Packages`, `Contents`).
pub(super) fn decoder<'a>(path: &str, compressed: &'a [u8]) -> Box<dyn Read + Send + 'a> {
    match Compression::from_file_name(path).decoder(compressed) {
        Ok(reader) => reader,
        // Only zstd can fail up front (allocating its context), and the archive serves no
        // `.zst` indices; hand on the bytes, which the parser then reports as not an index.
        Err(_) => Box::new(compressed),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file_of(bytes: &[u8]) -> IndexFile {
        IndexFile {
            path: "main/binary-amd64/Packages".into(),
            size: bytes.len() as u64,
            sha256: sha256_hex(bytes),
        }
    }

    #[test]
    fn cache_round_trips_and_rejects_altered_files() {
        let root = tempfile::tempdir().expect("tempdir");
        let cache = IndexCache::new(root.path());
        let bytes = b"Package: a\nVersion: 1\n".to_vec();
        let file = file_of(&bytes);
        assert_eq!(cache.get(&file), None);
        cache.put(&file.sha256, &bytes).expect("stored");
        assert_eq!(cache.get(&file), Some(bytes.clone()));
        let stored = root.path().join("indices-v1/sha256").join(&file.sha256);
        std::fs::write(&stored, b"Package: b\nVersion: 1\n").expect("overwrite");
        assert_eq!(
            cache.get(&file),
            None,
            "an altered cache file is not trusted"
        );
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
        let err = parse_index("stable", &file, &gz).expect_err("the last stanza has no Version");
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
        let packages = parse_index("stable", &file, good).expect("valid index");
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
        let err = parse_index("stable", &file, &gz).expect_err("two stanzas lack a Version");
        assert!(
            err.to_string().contains("line 1 "),
            "the first stanza is named: {err}"
        );
        let packages = parse_index("stable", &file, &gz_of(&stanza.repeat(count))).expect("valid");
        assert_eq!(packages.len(), count, "every piece is merged exactly once");
    }

    fn gz_of(text: &str) -> Vec<u8> {
        use std::io::Write;
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(text.as_bytes()).expect("gzip");
        gz.finish().expect("gzip")
    }
}
