//! gzip on every core, with bytes that depend on the input alone.
//!
//! One deflate stream on one core bounds a large image's build by that core (a 500 MB layer
//! takes ~9 s at zlib level 6 here). The input is cut at fixed offsets into [`CHUNK`]-byte
//! pieces and each piece becomes a gzip member of its own, compressed on the rayon pool by
//! libdeflate; the members are written in order. A gzip file is a series of members (RFC 1952
//! §2.2) and every reader of image layers reads them all: Go's `compress/gzip` (containerd,
//! Docker, podman, skopeo, umoci, syft), zlib, Python, libarchive; eStargz and BGZF layers are
//! built the same way. The cut points and the level are fixed, so the output does not depend on
//! the thread count or on how the writer's input was split into `write` calls, only on the
//! bytes.
//!
//! Why libdeflate and members rather than zlib with a dictionary per piece (as pigz does, one
//! member): on real layers libdeflate at level 4 (the layers' level) writes a smaller layer
//! than zlib level 6 in about half the CPU time (ffmpeg's 510 MB: 199.2 MB in 4.8 s vs
//! 201.8 MB in 9.1 s on one core), but it has no dictionary or sync flush, so its streams can
//! only be joined as members. Without a dictionary each piece loses its first 32 KiB of history,
//! which costs about 0.1% on those layers.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::io::{self, Write};
use std::sync::mpsc;
use std::time::Duration;

/// Input bytes per gzip member; changing it changes every gzip digest.
pub const CHUNK: usize = 1 << 20;
/// Pieces being compressed at once, at most (bounds memory at ~2× this × CHUNK). The writer
/// keeps filling the next pieces while these compress, so the tar stream and its hashing
/// overlap the deflate work instead of waiting for it.
const IN_FLIGHT: usize = 16;

/// A gzip writer whose output is a function of its input bytes and `level` only.
pub struct ParallelGzip<W: Write> {
    inner: W,
    level: libdeflater::CompressionLvl,
    /// Input not yet handed to a compressor: less than one piece.
    pending: Vec<u8>,
    /// Pieces handed to the rayon pool, oldest first: each sends its member once.
    in_flight: VecDeque<mpsc::Receiver<io::Result<Vec<u8>>>>,
    /// Whether a member was written already (an empty input still needs one).
    wrote_a_member: bool,
}

impl<W: Write> ParallelGzip<W> {
    /// A writer compressing at libdeflate's `level` (1 to 12) into `inner`.
    pub fn new(inner: W, level: i32) -> io::Result<Self> {
        let level = libdeflater::CompressionLvl::new(level)
            .map_err(|_| io::Error::other(format!("gzip level {level} is not 1 to 12")))?;
        Ok(Self {
            inner,
            level,
            pending: Vec::with_capacity(CHUNK),
            in_flight: VecDeque::new(),
            wrote_a_member: false,
        })
    }

    /// Hands the full piece in `pending` to the pool and writes out finished members while too
    /// many are in flight.
    fn submit_piece(&mut self) -> io::Result<()> {
        let piece = std::mem::replace(&mut self.pending, Vec::with_capacity(CHUNK));
        let level = self.level;
        let (sender, receiver) = mpsc::sync_channel(1);
        rayon::spawn(move || {
            // The receiver only goes away when the writer is dropped unfinished.
            let _ = sender.send(gzip_member(&piece, level));
        });
        self.in_flight.push_back(receiver);
        while self.in_flight.len() >= IN_FLIGHT {
            self.write_oldest()?;
        }
        Ok(())
    }

    /// Waits for the oldest piece in flight and writes its member.
    fn write_oldest(&mut self) -> io::Result<()> {
        let Some(receiver) = self.in_flight.pop_front() else {
            return Ok(());
        };
        let member = wait_helping_the_pool(&receiver)?;
        self.wrote_a_member = true;
        self.inner.write_all(&member)
    }

    /// Compresses what is left and returns the inner writer.
    pub fn finish(mut self) -> io::Result<W> {
        while !self.in_flight.is_empty() {
            self.write_oldest()?;
        }
        if !self.pending.is_empty() || !self.wrote_a_member {
            let last = gzip_member(&self.pending, self.level)?;
            self.inner.write_all(&last)?;
        }
        Ok(self.inner)
    }
}

impl<W: Write> Write for ParallelGzip<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let take = buf.len().min(CHUNK - self.pending.len());
        self.pending.extend_from_slice(&buf[..take]);
        if self.pending.len() == CHUNK {
            self.submit_piece()?;
        }
        Ok(take)
    }

    /// Flushes the inner writer only: compressing early would move the cut points.
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Receives a piece's output. The writer may itself run on a rayon worker (layers written in
/// parallel), so instead of blocking it runs queued pool work while it waits: every worker
/// waiting on its own pieces could otherwise leave nobody to compress them.
fn wait_helping_the_pool(receiver: &mpsc::Receiver<io::Result<Vec<u8>>>) -> io::Result<Vec<u8>> {
    loop {
        match receiver.try_recv() {
            Ok(piece) => return piece,
            Err(mpsc::TryRecvError::Disconnected) => {
                return Err(io::Error::other("a gzip piece's compressor stopped"));
            }
            Err(mpsc::TryRecvError::Empty) => {}
        }
        if let Some(rayon::Yield::Executed) = rayon::yield_now() {
            continue;
        }
        match receiver.recv_timeout(Duration::from_millis(1)) {
            Ok(piece) => return piece,
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                return Err(io::Error::other("a gzip piece's compressor stopped"));
            }
        }
    }
}

thread_local! {
    /// Each worker's compressor, kept between pieces: its match-finder tables are large
    /// enough that allocating them per piece would show.
    static COMPRESSOR: RefCell<Option<(libdeflater::CompressionLvl, libdeflater::Compressor)>> =
        const { RefCell::new(None) };
}

/// One piece as a whole gzip member (libdeflate's header: no name, mtime 0, unknown OS).
fn gzip_member(piece: &[u8], level: libdeflater::CompressionLvl) -> io::Result<Vec<u8>> {
    COMPRESSOR.with_borrow_mut(|slot| {
        let compressor = match slot {
            Some((kept, compressor)) if *kept == level => compressor,
            _ => &mut slot.insert((level, libdeflater::Compressor::new(level))).1,
        };
        let mut member = vec![0; compressor.gzip_compress_bound(piece.len())];
        let written = compressor
            .gzip_compress(piece, &mut member)
            .map_err(|err| io::Error::other(format!("gzip: {err:?}")))?;
        member.truncate(written);
        Ok(member)
    })
}

#[cfg(test)]
mod tests {
    use std::io::Read;

    use super::*;

    fn gunzip(bytes: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        flate2::read::MultiGzDecoder::new(bytes)
            .read_to_end(&mut out)
            .expect("valid gzip");
        out
    }

    /// Compressible but not trivial input of `len` bytes.
    fn sample(len: usize) -> Vec<u8> {
        let mut state = 0x2545_f491_u32;
        (0..len)
            .map(|i| {
                state ^= state << 13;
                state ^= state >> 17;
                state ^= state << 5;
                if i % 7 == 0 {
                    (state % 251) as u8
                } else {
                    b"debless"[i % 7]
                }
            })
            .collect()
    }

    fn compress(data: &[u8], write_size: usize) -> Vec<u8> {
        let mut gz = ParallelGzip::new(Vec::new(), 4).expect("header");
        for part in data.chunks(write_size.max(1)) {
            gz.write_all(part).expect("write");
        }
        gz.finish().expect("finish")
    }

    #[test]
    fn round_trips_across_piece_boundaries_and_the_in_flight_limit() {
        for len in [
            0,
            1,
            32 * 1024,
            CHUNK - 1,
            CHUNK,
            CHUNK + 1,
            CHUNK * IN_FLIGHT,
            CHUNK * IN_FLIGHT + 3,
            CHUNK * (IN_FLIGHT + 2) + 12345,
        ] {
            let data = sample(len);
            assert_eq!(gunzip(&compress(&data, 65536)), data, "length {len}");
        }
    }

    #[test]
    fn bytes_depend_on_the_input_only() {
        let data = sample(CHUNK * 3 + 777);
        let reference = compress(&data, 512);
        assert_eq!(compress(&data, 1 << 22), reference, "write sizes");
        assert_eq!(compress(&data, 1), compress(&data[..], 1), "repeatable");
        let single = rayon::ThreadPoolBuilder::new()
            .num_threads(1)
            .build()
            .expect("pool")
            .install(|| compress(&data, 4096));
        assert_eq!(single, reference, "thread count");
    }

    #[test]
    fn an_empty_input_is_one_empty_member() {
        let empty = compress(&[], 1);
        assert_eq!(&empty[..3], &[0x1f, 0x8b, 8], "a gzip header");
        assert!(gunzip(&empty).is_empty());
    }

    #[test]
    fn each_piece_is_a_member_of_its_own() {
        let data = sample(CHUNK * 2 + 10);
        let ours = compress(&data, 65536);
        // A single-member reader stops after the first piece: the rest are further members.
        let mut first = Vec::new();
        flate2::read::GzDecoder::new(ours.as_slice())
            .read_to_end(&mut first)
            .expect("first member");
        assert_eq!(first, data[..CHUNK]);
        assert_eq!(gunzip(&ours), data);
    }

    #[test]
    fn pieces_cost_little_against_one_stream() {
        let data = sample(CHUNK * 4);
        let ours = compress(&data, 65536).len();
        let mut compressor =
            libdeflater::Compressor::new(libdeflater::CompressionLvl::new(4).expect("level"));
        let mut one = vec![0; compressor.gzip_compress_bound(data.len())];
        let one = compressor.gzip_compress(&data, &mut one).expect("gzip");
        assert!(ours <= one + one / 100 + 64, "{ours} vs {one}");
    }
}
