//! gzip on every core, with bytes that depend on the input alone.
//!
//! One deflate stream on one core bounds a large image's build by that core (a 500 MB layer
//! takes ~10 s at level 6). As pigz does, the input is cut at fixed offsets into
//! [`CHUNK`]-byte pieces; each piece is deflated on its own (on the rayon pool), primed with
//! the 32 KiB of input before it as a dictionary, and ended with a sync flush, so the pieces
//! concatenate into one valid deflate stream inside one gzip member. The cut points, the
//! dictionaries and the level are fixed, so the output does not depend on the thread count or
//! on how the writer's input was split into `write` calls, only on the bytes; every gzip
//! reader reads it. (A well-kept crate for this exists for Go, not for Rust: `gzp` 1.0
//! writes the same framing but pulls in a thread pool of its own and an older flate2.)

use std::collections::VecDeque;
use std::io::{self, Write};
use std::sync::mpsc;
use std::time::Duration;

use flate2::{Compress, Compression, FlushCompress, Status};

/// Input bytes per independently compressed piece; changing it changes every gzip digest.
pub const CHUNK: usize = 1 << 20;
/// The deflate window: the most of the previous piece a dictionary can use.
const WINDOW: usize = 32 * 1024;
const _: () = assert!(WINDOW <= CHUNK, "a whole piece holds the next dictionary");
/// Pieces being compressed at once, at most (bounds memory at ~2× this × CHUNK). The writer
/// keeps filling the next pieces while these compress, so the tar stream and its hashing
/// overlap the deflate work instead of waiting for it.
const IN_FLIGHT: usize = 16;

/// A gzip writer whose output is a function of its input bytes and `level` only.
pub struct ParallelGzip<W: Write> {
    inner: W,
    level: u32,
    /// Input not yet handed to a compressor: less than one piece.
    pending: Vec<u8>,
    /// The last [`WINDOW`] bytes before `pending` (the next piece's dictionary).
    window: Vec<u8>,
    /// Pieces handed to the rayon pool, oldest first: each sends its deflate output once.
    in_flight: VecDeque<mpsc::Receiver<io::Result<Vec<u8>>>>,
    crc: crc32fast::Hasher,
    total: u64,
}

impl<W: Write> ParallelGzip<W> {
    /// Writes the gzip header (no name, mtime 0, unknown OS) to `inner`.
    pub fn new(mut inner: W, level: u32) -> io::Result<Self> {
        // ID1 ID2 CM=deflate FLG=0 MTIME=0 XFL=0 OS=255 (unknown).
        inner.write_all(&[0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff])?;
        Ok(Self {
            inner,
            level,
            pending: Vec::with_capacity(CHUNK),
            window: Vec::new(),
            in_flight: VecDeque::new(),
            crc: crc32fast::Hasher::new(),
            total: 0,
        })
    }

    /// Hands the full piece in `pending` to the pool (its dictionary is the window before it)
    /// and writes out finished pieces while too many are in flight.
    fn submit_piece(&mut self) -> io::Result<()> {
        let piece = std::mem::replace(&mut self.pending, Vec::with_capacity(CHUNK));
        // A whole piece is longer than the window: the next dictionary is its own tail.
        let next_window = piece[CHUNK - WINDOW..].to_vec();
        let dictionary = std::mem::replace(&mut self.window, next_window);
        let level = self.level;
        let (sender, receiver) = mpsc::sync_channel(1);
        rayon::spawn(move || {
            // The receiver only goes away when the writer is dropped unfinished.
            let _ = sender.send(deflate_piece(&piece, &dictionary, level, false));
        });
        self.in_flight.push_back(receiver);
        while self.in_flight.len() >= IN_FLIGHT {
            self.write_oldest()?;
        }
        Ok(())
    }

    /// Waits for the oldest piece in flight and writes it.
    fn write_oldest(&mut self) -> io::Result<()> {
        let Some(receiver) = self.in_flight.pop_front() else {
            return Ok(());
        };
        let piece = wait_helping_the_pool(&receiver)?;
        self.inner.write_all(&piece)
    }

    /// Compresses what is left, writes the trailer and returns the inner writer.
    pub fn finish(mut self) -> io::Result<W> {
        while !self.in_flight.is_empty() {
            self.write_oldest()?;
        }
        let last = deflate_piece(&self.pending, &self.window, self.level, true)?;
        self.inner.write_all(&last)?;
        self.inner
            .write_all(&self.crc.clone().finalize().to_le_bytes())?;
        // ISIZE is the input length modulo 2^32 (RFC 1952).
        self.inner
            .write_all(&((self.total & 0xffff_ffff) as u32).to_le_bytes())?;
        Ok(self.inner)
    }
}

impl<W: Write> Write for ParallelGzip<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let take = buf.len().min(CHUNK - self.pending.len());
        self.pending.extend_from_slice(&buf[..take]);
        self.crc.update(&buf[..take]);
        self.total += take as u64;
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

/// One piece as raw deflate: ended by a sync flush (byte-aligned, not final) or, for the
/// last piece, by the final block.
fn deflate_piece(piece: &[u8], dictionary: &[u8], level: u32, last: bool) -> io::Result<Vec<u8>> {
    let mut deflate = Compress::new(Compression::new(level), false);
    if !dictionary.is_empty() {
        deflate
            .set_dictionary(dictionary)
            .map_err(|err| io::Error::other(format!("deflate dictionary: {err}")))?;
    }
    let flush = if last {
        FlushCompress::Finish
    } else {
        FlushCompress::Sync
    };
    let mut out = Vec::with_capacity(piece.len() / 2 + 64);
    loop {
        let consumed = deflate.total_in() as usize;
        if out.capacity() - out.len() < 64 {
            out.reserve(out.capacity().max(4096));
        }
        let status = deflate
            .compress_vec(&piece[consumed..], &mut out, flush)
            .map_err(|err| io::Error::other(format!("deflate: {err}")))?;
        let done_input = deflate.total_in() as usize == piece.len();
        match status {
            Status::StreamEnd => break,
            // A sync flush is complete once all input is in and the output had room to spare.
            _ if !last && done_input && out.len() < out.capacity() => break,
            _ => {}
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use std::io::Read;

    use super::*;

    fn gunzip(bytes: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(bytes)
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
        let mut gz = ParallelGzip::new(Vec::new(), 6).expect("header");
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
            WINDOW - 1,
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
    fn the_dictionary_keeps_the_ratio_close_to_one_stream() {
        let data = sample(CHUNK * 4);
        let ours = compress(&data, 65536).len();
        let mut one = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::new(6));
        one.write_all(&data).expect("write");
        let one = one.finish().expect("finish").len();
        assert!(ours <= one + one / 50 + 64, "{ours} vs {one}");
    }
}
