//! The pre-parsed form of a verified `Packages` index: what a warm `debless lock` reads instead
//! of decompressing and re-parsing tens of megabytes of deb822 text.
//!
//! # Format (version [`FORMAT_VERSION`], all integers little-endian)
//!
//! ```text
//! header   64 bytes: magic "DEBLSPKD", u32 format version, u32 record count,
//!          u64 payload length, u64 xxh3-64 of the file (this field left out), 32 raw bytes: the sha256 of the
//!          compressed index (as the signed Release lists it) this was made from
//! payload  record count × RECORD_LEN bytes of fixed-size records, then the string blob
//! record   12 string references (u32 offset, u32 length into the blob; length u32::MAX =
//!          field absent) for Package, Version, Architecture, Source, the source version,
//!          Provides, Filename, Section, Depends, Pre-Depends, Breaks, Conflicts; the raw
//!          32-byte SHA256; u64 Size; u64 Installed-Size; u32 flags (Multi-Arch, Essential,
//!          Important/Protected, Priority, whether Installed-Size is present); u32 zero
//! ```
//!
//! Strings are interned: an architecture, a section or a source name is stored once for the
//! whole index. Records and strings are read in place from the file's bytes; only what
//! [`decode`] hands back as [`BinaryPackage`] is allocated.
//!
//! # Trust
//!
//! A file is only ever written from an index whose size and sha256 matched the signed Release
//! and whose every stanza parsed. On reading, everything is checked before use: magic,
//! version, the length, the checksum over the whole payload, that the file was made from the
//! sha256 asked for, every string reference inside the blob and valid UTF-8, every field
//! valid again (versions, provides, hex). Any failure is a [`PackedError`], and the caller
//! rebuilds the file from the verified index: a torn write, a truncated copy or a flipped bit
//! is never used. The checksum detects corruption, not a forger who can write the cache
//! directory (see the README's cache section).
//!
//! Bump [`FORMAT_VERSION`] whenever the layout or the meaning of a field changes: files of
//! another version are refused (and live in another directory, `packed-v<N>`).

use std::collections::HashMap;

use crate::debian::package::Priority;
use crate::debian::relation;
use crate::debian::{BinaryPackage, MultiArch, Version};

/// The layout version written into every file and into its directory name.
pub const FORMAT_VERSION: u32 = 1;

const MAGIC: &[u8; 8] = b"DEBLSPKD";
const HEADER_LEN: usize = 64;
const FIELDS: usize = 12;
/// Bytes of one record.
pub const RECORD_LEN: usize = FIELDS * 8 + 32 + 8 + 8 + 4 + 4;
const ABSENT: u32 = u32::MAX;

/// Why a packed file cannot be used (it is then rebuilt from the verified index).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PackedError {
    #[error("not a packed index (bad magic or shorter than its header)")]
    NotPacked,
    #[error("format version {found}, this debless reads {FORMAT_VERSION}")]
    Version { found: u32 },
    #[error("made from index sha256 {found}, expected {expected}")]
    OtherIndex { found: String, expected: String },
    #[error("truncated or padded: payload of {actual} bytes, header says {expected}")]
    Length { expected: u64, actual: u64 },
    #[error("checksum mismatch: the file is corrupt")]
    Checksum,
    #[error("record {record}: {reason}")]
    Record { record: usize, reason: String },
}

/// Encodes `packages` (parsed from the index whose sha256 is `index_sha256`, lower-case hex)
/// into the packed form.
pub fn encode(packages: &[BinaryPackage], index_sha256: &str) -> Vec<u8> {
    let mut encoder = Encoder::default();
    encoder.push(packages);
    encoder.finish(index_sha256)
}

/// [`encode`] in steps: the packages of an index handed over in index order, a few at a time,
/// so that a cold lock encodes while it is still parsing. The bytes are [`encode`]'s.
#[derive(Default)]
pub struct Encoder {
    records: Vec<u8>,
    strings: Strings,
    count: usize,
}

impl Encoder {
    /// Appends the records of `packages`, the next ones of the index.
    pub fn push(&mut self, packages: &[BinaryPackage]) {
        self.records.reserve(packages.len() * RECORD_LEN);
        self.count += packages.len();
        push_records(&mut self.records, &mut self.strings, packages);
    }

    /// The packed file of the packages pushed so far.
    pub fn finish(self, index_sha256: &str) -> Vec<u8> {
        finish(self.records, &self.strings, self.count, index_sha256)
    }
}

fn push_records(records: &mut Vec<u8>, strings: &mut Strings, packages: &[BinaryPackage]) {
    for package in packages {
        let provides = (!package.provides.is_empty()).then(|| {
            package
                .provides
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        });
        let version = package.version.to_string();
        let [depends, pre_depends, breaks, conflicts] = package.raw_relations();
        let fields: [Option<&str>; FIELDS] = [
            Some(&package.name),
            Some(&version),
            Some(&package.architecture),
            Some(&package.source),
            package.source_version.as_deref(),
            provides.as_deref(),
            Some(&package.filename),
            package.section.as_deref(),
            depends,
            pre_depends,
            breaks,
            conflicts,
        ];
        for (i, field) in fields.into_iter().enumerate() {
            // Package and Filename are (nearly) unique: hashing them would buy nothing.
            let (offset, len) = match field {
                None => (0, ABSENT),
                Some(text) if i == 0 || i == 6 => strings.push(text),
                Some(text) => strings.intern(text),
            };
            records.extend_from_slice(&offset.to_le_bytes());
            records.extend_from_slice(&len.to_le_bytes());
        }
        let mut sha256 = [0u8; 32];
        // `from_stanza` checked 64 hex digits; a bad value would only zero the digest, which
        // no download ever matches.
        let _ = hex::decode_to_slice(&package.sha256, &mut sha256);
        records.extend_from_slice(&sha256);
        records.extend_from_slice(&package.size.to_le_bytes());
        records.extend_from_slice(&package.installed_size.unwrap_or(0).to_le_bytes());
        records.extend_from_slice(&flags_of(package).to_le_bytes());
        records.extend_from_slice(&0u32.to_le_bytes());
    }
}

fn finish(records: Vec<u8>, strings: &Strings, count: usize, index_sha256: &str) -> Vec<u8> {
    let mut payload = records;
    payload.extend_from_slice(&strings.blob);
    let mut out = Vec::with_capacity(HEADER_LEN + payload.len());
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
    let count = u32::try_from(count).expect("an index has fewer than 2^32 stanzas");
    out.extend_from_slice(&count.to_le_bytes());
    out.extend_from_slice(&(payload.len() as u64).to_le_bytes());
    out.extend_from_slice(&[0; 8]); // the checksum, below
    let mut source = [0u8; 32];
    let _ = hex::decode_to_slice(index_sha256, &mut source);
    out.extend_from_slice(&source);
    out.extend_from_slice(&payload);
    let sum = checksum(&out);
    out[24..32].copy_from_slice(&sum.to_le_bytes());
    out
}

/// xxh3-64 of the whole file but its checksum field, so header and payload are both covered.
fn checksum(file: &[u8]) -> u64 {
    let mut hasher = xxhash_rust::xxh3::Xxh3::new();
    hasher.update(&file[..24]);
    hasher.update(&file[32..]);
    hasher.digest()
}

/// Checks a packed file made from the index `index_sha256` and returns its packages, in
/// index order (see the module doc for what is checked).
pub fn decode(bytes: &[u8], index_sha256: &str) -> Result<Vec<BinaryPackage>, PackedError> {
    use rayon::prelude::*;
    let view = View::new(bytes, index_sha256)?;
    // Records are independent: building the 60,000 packages of a suite splits across cores.
    (0..view.count)
        .into_par_iter()
        .map(|i| view.package(i))
        .collect()
}

/// A checked packed file.
struct View<'a> {
    records: &'a [u8],
    strings: &'a [u8],
    count: usize,
}

impl<'a> View<'a> {
    fn new(bytes: &'a [u8], index_sha256: &str) -> Result<Self, PackedError> {
        if bytes.len() < HEADER_LEN || &bytes[..8] != MAGIC {
            return Err(PackedError::NotPacked);
        }
        let version = read_u32(bytes, 8);
        if version != FORMAT_VERSION {
            return Err(PackedError::Version { found: version });
        }
        let count = read_u32(bytes, 12) as usize;
        let payload_len = read_u64(bytes, 16);
        let payload = &bytes[HEADER_LEN..];
        if payload.len() as u64 != payload_len {
            return Err(PackedError::Length {
                expected: payload_len,
                actual: payload.len() as u64,
            });
        }
        if checksum(bytes) != read_u64(bytes, 24) {
            return Err(PackedError::Checksum);
        }
        let found = hex::encode(&bytes[32..64]);
        if found != index_sha256 {
            return Err(PackedError::OtherIndex {
                found,
                expected: index_sha256.to_owned(),
            });
        }
        let records_len = count
            .checked_mul(RECORD_LEN)
            .filter(|&len| len <= payload.len())
            .ok_or(PackedError::Length {
                expected: payload_len,
                actual: payload.len() as u64,
            })?;
        let (records, strings) = payload.split_at(records_len);
        Ok(Self {
            records,
            strings,
            count,
        })
    }

    /// Field `field` of record `record`: `Ok(None)` when absent.
    fn text(&self, record: usize, field: usize) -> Result<Option<&'a str>, PackedError> {
        let at = record * RECORD_LEN + field * 8;
        let offset = read_u32(self.records, at) as usize;
        let len = read_u32(self.records, at + 4);
        if len == ABSENT {
            return Ok(None);
        }
        let bad = |reason: &str| PackedError::Record {
            record,
            reason: format!("field {field}: {reason}"),
        };
        let slice = offset
            .checked_add(len as usize)
            .and_then(|end| self.strings.get(offset..end))
            .ok_or_else(|| bad("string outside the blob"))?;
        std::str::from_utf8(slice)
            .map(Some)
            .map_err(|_| bad("not UTF-8"))
    }

    fn package(&self, record: usize) -> Result<BinaryPackage, PackedError> {
        let bad = |reason: String| PackedError::Record { record, reason };
        let text = |field| self.text(record, field);
        let need = |field| text(field)?.ok_or_else(|| bad(format!("field {field} is absent")));
        let base = record * RECORD_LEN + FIELDS * 8;
        let flags = read_u32(self.records, base + 48);
        let name = need(0)?;
        let version = Version::parse(need(1)?).map_err(|err| bad(err.to_string()))?;
        let provides = match text(5)? {
            Some(field) => relation::parse_atoms(field).map_err(|err| bad(err.to_string()))?,
            None => Vec::new(),
        };
        let raw = |field| text(field).map(|value| value.map(Box::from));
        let package = BinaryPackage {
            name: name.to_owned(),
            version,
            architecture: need(2)?.to_owned(),
            multi_arch: match flags & 0b11 {
                0 => MultiArch::No,
                1 => MultiArch::Same,
                2 => MultiArch::Foreign,
                _ => MultiArch::Allowed,
            },
            essential: flags & 1 << 2 != 0,
            important: flags & 1 << 3 != 0,
            priority: match (flags >> 4) & 0b111 {
                0 => Priority::Required,
                1 => Priority::Important,
                2 => Priority::Standard,
                3 => Priority::Optional,
                4 => Priority::Extra,
                other => return Err(bad(format!("priority code {other}"))),
            },
            source: need(3)?.to_owned(),
            source_version: text(4)?.map(str::to_owned),
            provides,
            filename: need(6)?.to_owned(),
            size: read_u64(self.records, base + 32),
            sha256: hex::encode(&self.records[base..base + 32]),
            installed_size: (flags & 1 << 7 != 0).then(|| read_u64(self.records, base + 40)),
            section: text(7)?.map(str::to_owned),
            depends: raw(8)?,
            pre_depends: raw(9)?,
            breaks: raw(10)?,
            conflicts: raw(11)?,
        };
        Ok(package)
    }
}

fn flags_of(package: &BinaryPackage) -> u32 {
    let multi_arch = match package.multi_arch {
        MultiArch::No => 0,
        MultiArch::Same => 1,
        MultiArch::Foreign => 2,
        MultiArch::Allowed => 3,
    };
    let priority = match package.priority {
        Priority::Required => 0,
        Priority::Important => 1,
        Priority::Standard => 2,
        Priority::Optional => 3,
        Priority::Extra => 4,
    };
    multi_arch
        | u32::from(package.essential) << 2
        | u32::from(package.important) << 3
        | priority << 4
        | u32::from(package.installed_size.is_some()) << 7
}

/// The string blob under construction: each distinct string stored once.
#[derive(Default)]
struct Strings {
    blob: Vec<u8>,
    seen: HashMap<String, (u32, u32), rustc_hash::FxBuildHasher>,
}

impl Strings {
    fn intern(&mut self, text: &str) -> (u32, u32) {
        if let Some(&found) = self.seen.get(text) {
            return found;
        }
        let stored = self.push(text);
        self.seen.insert(text.to_owned(), stored);
        stored
    }

    fn push(&mut self, text: &str) -> (u32, u32) {
        let offset = u32::try_from(self.blob.len()).expect("an index's strings fit in 4 GiB");
        let len = u32::try_from(text.len()).expect("a field is shorter than 4 GiB");
        self.blob.extend_from_slice(text.as_bytes());
        (offset, len)
    }
}

/// Callers only pass offsets inside a slice they bounds-checked (the header, a record).
fn read_u32(bytes: &[u8], at: usize) -> u32 {
    let mut word = [0u8; 4];
    word.copy_from_slice(&bytes[at..at + 4]);
    u32::from_le_bytes(word)
}

fn read_u64(bytes: &[u8], at: usize) -> u64 {
    let mut word = [0u8; 8];
    word.copy_from_slice(&bytes[at..at + 8]);
    u64::from_le_bytes(word)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::debian::deb822;

    const INDEX: &str = "Package: python3-gmpy2\nSource: python-gmpy2 (2.2.1-2)\nVersion: 1:2.2.1-2+b2\nInstalled-Size: 1234\nArchitecture: amd64\nMulti-Arch: same\nProvides: python3.13-gmpy2, foo:any (= 1.0)\nDepends: python3 (<< 3.14),\n python3 (>= 3.13~) | python3-any, libc6 (>= 2.14)\nPre-Depends: dpkg (>= 1.17)\nBreaks: old (<< 1)\nConflicts: older\nPriority: optional\nSection: python\nFilename: pool/main/p/python-gmpy2/python3-gmpy2_2.2.1-2+b2_amd64.deb\nSize: 180000\nSHA256: ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef0123456789\n\nPackage: base-files\nVersion: 12.4\nArchitecture: all\nEssential: yes\nProtected: yes\nPriority: required\nFilename: pool/main/b/base-files/base-files_12.4_all.deb\nSize: 70000\nSHA256: 0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\n";
    const SHA: &str = "5555555555555555555555555555555555555555555555555555555555555555";

    fn packages() -> Vec<BinaryPackage> {
        deb822::parse(INDEX)
            .expect("deb822")
            .iter()
            .map(|stanza| BinaryPackage::from_stanza(stanza).expect("package"))
            .collect()
    }

    #[test]
    fn round_trips_every_field() {
        let packages = packages();
        let packed = encode(&packages, SHA);
        let decoded = decode(&packed, SHA).expect("valid packed index");
        assert_eq!(format!("{packages:?}"), format!("{decoded:?}"));
        assert_eq!(decoded[0].depends_text(), packages[0].depends_text());
        assert_eq!(decoded[1].installed_size, None);
        assert!(decoded[1].essential && decoded[1].important);
    }

    #[test]
    fn strings_are_stored_once() {
        let one = packages();
        let many: Vec<BinaryPackage> = (0..50).flat_map(|_| one.clone()).collect();
        let (small, big) = (encode(&one, SHA), encode(&many, SHA));
        // Each copy adds its records and its (never interned) names and file names only.
        let unique: usize = one.iter().map(|p| p.name.len() + p.filename.len()).sum();
        assert_eq!(big.len() - small.len(), 49 * (2 * RECORD_LEN + unique));
    }

    #[test]
    fn every_truncation_and_bit_flip_is_refused() {
        let packed = encode(&packages(), SHA);
        for len in 0..packed.len() {
            assert!(decode(&packed[..len], SHA).is_err(), "truncated to {len}");
        }
        for at in (0..packed.len()).step_by(7) {
            let mut flipped = packed.clone();
            flipped[at] ^= 0x10;
            assert!(decode(&flipped, SHA).is_err(), "bit flipped at {at}");
        }
    }

    #[test]
    fn other_versions_and_other_indices_are_refused() {
        let mut packed = encode(&packages(), SHA);
        let other = "6".repeat(64);
        assert!(matches!(
            decode(&packed, &other),
            Err(PackedError::OtherIndex { .. })
        ));
        packed[8..12].copy_from_slice(&(FORMAT_VERSION + 1).to_le_bytes());
        let sum = checksum(&packed);
        packed[24..32].copy_from_slice(&sum.to_le_bytes());
        assert_eq!(
            decode(&packed, SHA).map(|_| ()),
            Err(PackedError::Version {
                found: FORMAT_VERSION + 1
            })
        );
    }

    /// A file whose checksum is right but whose references point outside the blob (a bug or
    /// a crafted file) fails on bounds, never panics.
    #[test]
    fn references_outside_the_blob_are_refused_even_with_a_valid_checksum() {
        let mut packed = encode(&packages(), SHA);
        let at = HEADER_LEN + 6 * 8; // record 0, Filename's offset
        packed[at..at + 4].copy_from_slice(&u32::MAX.to_le_bytes());
        let sum = checksum(&packed);
        packed[24..32].copy_from_slice(&sum.to_le_bytes());
        let err = decode(&packed, SHA).expect_err("out of bounds");
        assert!(err.to_string().contains("outside the blob"), "{err}");
    }
}
