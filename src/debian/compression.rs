//! The compressions of Debian's files and of image layers, and the one place that tells them
//! apart: by a name's suffix (`Packages.xz`, `data.tar.zst`, deb(5)) or by the first bytes
//! (application tars and pulled layers, whose names and media types may lie).

use std::io::{self, Read};

/// A compression debless can undo.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Compression {
    /// Stored as is.
    None,
    /// gzip (several members are read as one stream, as `gzip -d` does).
    Gzip,
    /// xz (several streams likewise).
    Xz,
    /// Zstandard.
    Zstd,
    /// bzip2 (only old `.deb` data members).
    Bzip2,
    /// raw lzma (only old `.deb` data members).
    Lzma,
}

/// The longest magic [`Compression::sniff`] compares (xz's six bytes).
pub const SNIFF_LEN: usize = 6;

impl Compression {
    /// The compression of data from its first bytes: gzip, xz and zstd by their magic,
    /// anything else as uncompressed. bzip2's `BZh` could be the start of a tar member name,
    /// so it is never guessed.
    pub fn sniff(prefix: &[u8]) -> Self {
        if prefix.starts_with(&[0x1f, 0x8b]) {
            Self::Gzip
        } else if prefix.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0]) {
            Self::Xz
        } else if prefix.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
            Self::Zstd
        } else {
            Self::None
        }
    }

    /// The compression a file name's suffix says (`.gz`, `.xz`, `.zst`); other names are
    /// taken as uncompressed (`Packages`, `Contents-amd64`).
    pub fn from_file_name(name: &str) -> Self {
        if name.ends_with(".gz") {
            Self::Gzip
        } else if name.ends_with(".xz") {
            Self::Xz
        } else if name.ends_with(".zst") {
            Self::Zstd
        } else {
            Self::None
        }
    }

    /// The compression of a `.deb` member from its name, given the stem (`data.tar`):
    /// `data.tar.xz` -> `Xz`. bz2 and lzma are only allowed when `legacy` (the data member).
    pub fn from_member_name(name: &str, stem: &str, legacy: bool) -> Option<Self> {
        let suffix = name.strip_prefix(stem)?;
        match suffix {
            "" => Some(Self::None),
            ".gz" => Some(Self::Gzip),
            ".xz" => Some(Self::Xz),
            ".zst" => Some(Self::Zstd),
            ".bz2" if legacy => Some(Self::Bzip2),
            ".lzma" if legacy => Some(Self::Lzma),
            _ => None,
        }
    }

    /// [`Compression::decoder`] for bytes already checked against a trusted digest: an xz
    /// stream's own check (CRC64 or SHA-256) is skipped; the other formats are unchanged.
    pub fn decoder_without_check<'a, R: Read + Send + 'a>(
        self,
        reader: R,
    ) -> io::Result<Box<dyn Read + Send + 'a>> {
        match self {
            Self::Xz => {
                let flags = liblzma::stream::CONCATENATED | liblzma::stream::IGNORE_CHECK;
                let stream = liblzma::stream::Stream::new_stream_decoder(u64::MAX, flags)
                    .map_err(io::Error::other)?;
                Ok(Box::new(liblzma::read::XzDecoder::new_stream(
                    reader, stream,
                )))
            }
            other => other.decoder(reader),
        }
    }

    /// Wraps a compressed reader into a decompressing one.
    pub fn decoder<'a, R: Read + Send + 'a>(
        self,
        reader: R,
    ) -> io::Result<Box<dyn Read + Send + 'a>> {
        Ok(match self {
            Self::None => Box::new(reader),
            Self::Gzip => Box::new(flate2::read::MultiGzDecoder::new(reader)),
            Self::Xz => Box::new(liblzma::read::XzDecoder::new_multi_decoder(reader)),
            Self::Zstd => Box::new(zstd::stream::read::Decoder::new(reader)?),
            Self::Bzip2 => Box::new(bzip2::read::MultiBzDecoder::new(reader)),
            Self::Lzma => {
                let stream = liblzma::stream::Stream::new_lzma_decoder(u64::MAX)
                    .map_err(io::Error::other)?;
                Box::new(liblzma::read::XzDecoder::new_stream(reader, stream))
            }
        })
    }
}

/// A decompressing reader over `reader`, the compression sniffed from its first bytes
/// ([`Compression::sniff`]); the bytes read to sniff are handed on, not lost.
pub fn sniffed_decoder<'a, R: Read + Send + 'a>(
    mut reader: R,
) -> io::Result<Box<dyn Read + Send + 'a>> {
    let mut prefix = [0u8; SNIFF_LEN];
    let mut filled = 0;
    while filled < prefix.len() {
        match reader.read(&mut prefix[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    let prefix = prefix[..filled].to_vec();
    Compression::sniff(&prefix).decoder(io::Cursor::new(prefix).chain(reader))
}

#[cfg(test)]
mod tests {
    use std::io::Write as _;

    use super::*;

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        encoder.write_all(data).expect("gzip");
        encoder.finish().expect("gzip")
    }

    fn unpack(blob: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        sniffed_decoder(blob)
            .expect("decoder")
            .read_to_end(&mut out)
            .expect("read");
        out
    }

    #[test]
    fn sniffs_what_names_do_not_say() {
        let data = b"ustar-ish payload".repeat(40);
        let xz = {
            let mut out = Vec::new();
            liblzma::read::XzEncoder::new(data.as_slice(), 1)
                .read_to_end(&mut out)
                .expect("xz");
            out
        };
        let zst = zstd::encode_all(data.as_slice(), 1).expect("zstd");
        assert_eq!(Compression::sniff(&gzip(&data)), Compression::Gzip);
        assert_eq!(Compression::sniff(&xz), Compression::Xz);
        assert_eq!(Compression::sniff(&zst), Compression::Zstd);
        assert_eq!(Compression::sniff(b"BZh91AY"), Compression::None);
        for blob in [gzip(&data), xz, zst, data.clone()] {
            assert_eq!(unpack(&blob), data);
        }
        // Shorter than the longest magic: handed on whole.
        assert_eq!(unpack(b"ab"), b"ab");
        assert_eq!(unpack(b""), b"");
    }

    #[test]
    fn only_the_unchecked_xz_decoder_skips_the_stream_check() {
        let data = b"data.tar bytes ".repeat(100);
        let mut xz = Vec::new();
        liblzma::read::XzEncoder::new(data.as_slice(), 1)
            .read_to_end(&mut xz)
            .expect("xz");
        let read = |decoder: io::Result<Box<dyn Read + Send + '_>>| {
            let mut out = Vec::new();
            decoder
                .and_then(|mut d| d.read_to_end(&mut out))
                .map(|_| out)
        };
        assert_eq!(
            read(Compression::Xz.decoder(xz.as_slice())).expect("valid"),
            data
        );
        assert_eq!(
            read(Compression::Xz.decoder_without_check(xz.as_slice())).expect("valid"),
            data
        );
        // The block's CRC64 sits just before the index, whose size the stream footer gives.
        let footer = xz.len() - 12;
        let backward = u32::from_le_bytes(xz[footer + 4..footer + 8].try_into().expect("4 bytes"));
        let index = footer - (backward as usize + 1) * 4;
        let mut damaged = xz.clone();
        damaged[index - 1] ^= 0xff;
        assert!(read(Compression::Xz.decoder(damaged.as_slice())).is_err());
        assert_eq!(
            read(Compression::Xz.decoder_without_check(damaged.as_slice())).expect("unchecked"),
            data
        );
    }

    #[test]
    fn names_map_to_compressions() {
        use Compression as C;
        assert_eq!(C::from_file_name("main/binary-amd64/Packages.xz"), C::Xz);
        assert_eq!(C::from_file_name("main/Contents-amd64.gz"), C::Gzip);
        assert_eq!(C::from_file_name("main/binary-amd64/Packages"), C::None);
        assert_eq!(
            C::from_member_name("data.tar.xz", "data.tar", true),
            Some(C::Xz)
        );
        assert_eq!(
            C::from_member_name("data.tar", "data.tar", true),
            Some(C::None)
        );
        assert_eq!(
            C::from_member_name("data.tar.bz2", "data.tar", true),
            Some(C::Bzip2)
        );
        assert_eq!(
            C::from_member_name("control.tar.bz2", "control.tar", false),
            None
        );
        assert_eq!(
            C::from_member_name("control.tar.zst", "control.tar", false),
            Some(C::Zstd)
        );
        assert_eq!(C::from_member_name("data.tar.rar", "data.tar", true), None);
    }
}
