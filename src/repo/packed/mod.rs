//! The pre-parsed form of a verified `Packages` index: what a warm `debless lock` reads instead
//! of decompressing and re-parsing tens of megabytes of deb822 text, and what the resolver's
//! universe looks names up in without decoding the 60,000 stanzas a resolution never visits.
//!
//! # Format (version [`FORMAT_VERSION`], all integers little-endian)
//!
//! ```text
//! header    96 bytes: magic "DEBLSPKD", u32 format version, u32 record count,
//!           u64 payload length, u64 checksum of the file (see below), 32 raw bytes:
//!           the sha256 of the compressed index (as the signed Release lists it) this was made
//!           from, u32 name count, u32 hash slot count (a power of two above the name count),
//!           u32 list word count, u32 architecture class count, 16 zero bytes
//! payload   records   record count × RECORD_LEN
//!           names     name count × NAME_LEN
//!           slots     slot count × u32
//!           lists     list word count × u32 (record numbers)
//!           classes   class count × string reference
//!           mentions  name count × class count × (u32 record, u32 position)
//!           strings   the rest: the string blob
//! record    12 string references (u32 offset, u32 length into the blob; length u32::MAX =
//!           field absent) for Package, Version, Architecture, Source, the source version,
//!           Provides, Filename, Section, Depends, Pre-Depends, Breaks, Conflicts; the raw
//!           32-byte SHA256; u64 Size; u64 Installed-Size; u32 flags (Multi-Arch, Essential,
//!           Important/Protected, Priority, whether Installed-Size is present); u32 zero
//! name      string reference; (u32 start, u32 count) into lists: the records of that
//!           Package name, in index order; (u32 start, u32 count): the records providing it,
//!           in index order, each once
//! slot      0 (empty) or 1 + a name number: an open-addressing table (linear probing) keyed
//!           by the name's xxh3-64
//! ```
//!
//! The checksum is the xxh3-64 of the little-endian xxh3-64s of the file's [`CHUNK`]-byte
//! chunks, the checksum field read as zeros: chunks are read and hashed in parallel, so
//! checking the 30 MB of a main index costs about half its read on two cores.
//!
//! Every name the index mentions (as a Package, a `Depends` target or a provided name) has a
//! name entry, even a name no stanza is called. Its mentions say where the index first
//! mentioned it among the records of each architecture class (class 0 is `all`, then one per
//! other `Architecture` value in the index): the record and the position among that record's
//! mentions (its own name, then its `Depends` targets, then its provided names). The resolver
//! needs "which name did the indices mention first" as a stand-in for apt's package IDs
//! (`resolve::provides`), over the records of the configured architectures only: the first
//! mention over several classes is the earliest of theirs, so one table per class answers it
//! for any set of architectures.
//!
//! Strings are interned: an architecture, a section or a package name is stored once for the
//! whole index. Nothing is decoded up front: a record becomes a [`BinaryPackage`] only when
//! asked for ([`PackedIndex::package`]).
//!
//! # Trust
//!
//! A file is only ever written from an index whose size and sha256 matched the signed Release
//! and whose every stanza parsed. On opening, the magic, version, lengths, that the file was
//! made from the sha256 asked for and the checksum over the whole file are checked: a torn
//! write, a truncated copy or a flipped bit is refused ([`PackedError`]) and the caller rebuilds
//! the file from the verified index. Every later read is bounds-checked and every decoded field
//! validated again (UTF-8, versions, provides, hex), so a file that is consistent with its
//! checksum but not with itself (a debless bug, or someone who can write the cache directory)
//! gives an error, never a panic. The checksum detects corruption, not a forger who can write
//! the cache directory (see the README's cache section).
//!
//! Bump [`FORMAT_VERSION`] whenever the layout or the meaning of a field changes: files of
//! another version are refused (and live in another directory, `packed-v<N>`).
//!
//! History: v1 held the records and strings only, and was decoded whole on every read; v2
//! added the name, list, class and mention tables so a resolution decodes what it visits.

mod encode;
mod record;
#[cfg(test)]
mod tests;

pub use encode::{Encoder, encode};

use std::path::Path;

use crate::debian::BinaryPackage;

/// The layout version written into every file and into its directory name.
pub const FORMAT_VERSION: u32 = 2;

const MAGIC: &[u8; 8] = b"DEBLSPKD";
/// Bytes of the header, before the payload.
pub const HEADER_LEN: usize = 96;
const FIELDS: usize = 12;
/// Bytes of one record.
pub const RECORD_LEN: usize = FIELDS * 8 + 32 + 8 + 8 + 4 + 4;
/// Bytes of one name entry.
const NAME_LEN: usize = 24;
const ABSENT: u32 = u32::MAX;

/// Field numbers inside a record.
const PACKAGE: usize = 0;
const ARCHITECTURE: usize = 2;

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
    #[error("bad table layout: {0}")]
    Layout(&'static str),
    #[error("record {record}: {reason}")]
    Record { record: usize, reason: String },
    #[error("name table: {0}")]
    Names(String),
}

/// A checked packed file, read in place: lookups by name and single records on demand.
pub struct PackedIndex {
    bytes: Vec<u8>,
    records: usize,
    names: usize,
    slots: usize,
    classes: usize,
    names_at: usize,
    slots_at: usize,
    lists_at: usize,
    list_words: usize,
    classes_at: usize,
    mentions_at: usize,
    strings_at: usize,
}

impl std::fmt::Debug for PackedIndex {
    /// What it was made from and its size, not its bytes.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PackedIndex")
            .field("index_sha256", &self.index_sha256())
            .field("records", &self.records)
            .field("names", &self.names)
            .finish_non_exhaustive()
    }
}

/// A name's number inside one packed index.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NameId(usize);

/// Where an index first mentioned a name: record number, then position inside the record.
pub type Mention = (u32, u32);

impl PackedIndex {
    /// Checks the header, the lengths and the checksum of a packed file made from the index
    /// `index_sha256` (see the module doc for what is checked later, on each read).
    pub fn open(bytes: Vec<u8>, index_sha256: &str) -> Result<Self, PackedError> {
        use rayon::prelude::*;
        let sums: Vec<u64> = bytes
            .par_chunks(CHUNK)
            .enumerate()
            .map(|(i, chunk)| chunk_sum(i, chunk))
            .collect();
        Self::check(bytes, &sums, index_sha256)
    }

    /// Reads and opens the packed file at `path`: its chunks are read and hashed in parallel.
    pub fn read(path: &Path, index_sha256: &str) -> std::io::Result<Result<Self, PackedError>> {
        use rayon::prelude::*;
        use std::os::unix::fs::FileExt as _;
        let file = std::fs::File::open(path)?;
        let len = usize::try_from(file.metadata()?.len())
            .map_err(|_| std::io::Error::other("a packed index larger than memory"))?;
        let mut bytes = vec![0u8; len];
        let sums = bytes
            .par_chunks_mut(CHUNK)
            .enumerate()
            .map(|(i, chunk)| {
                file.read_exact_at(chunk, (i * CHUNK) as u64)?;
                Ok(chunk_sum(i, chunk))
            })
            .collect::<std::io::Result<Vec<u64>>>()?;
        Ok(Self::check(bytes, &sums, index_sha256))
    }

    /// [`Self::open`] with the chunk checksums already computed.
    fn check(bytes: Vec<u8>, sums: &[u64], index_sha256: &str) -> Result<Self, PackedError> {
        if bytes.len() < HEADER_LEN || &bytes[..8] != MAGIC {
            return Err(PackedError::NotPacked);
        }
        let version = read_u32(&bytes, 8);
        if version != FORMAT_VERSION {
            return Err(PackedError::Version { found: version });
        }
        let payload_len = read_u64(&bytes, 16);
        let actual = (bytes.len() - HEADER_LEN) as u64;
        if actual != payload_len {
            return Err(PackedError::Length {
                expected: payload_len,
                actual,
            });
        }
        if combine(sums) != read_u64(&bytes, 24) {
            return Err(PackedError::Checksum);
        }
        let mut expected = [0u8; 32];
        if hex::decode_to_slice(index_sha256, &mut expected).is_err() || bytes[32..64] != expected {
            return Err(PackedError::OtherIndex {
                found: hex::encode(&bytes[32..64]),
                expected: index_sha256.to_owned(),
            });
        }
        let count = |at| read_u32(&bytes, at) as usize;
        let (records, names, slots, list_words, classes) =
            (count(12), count(64), count(68), count(72), count(76));
        if !slots.is_power_of_two() || slots <= names {
            return Err(PackedError::Layout("slot count"));
        }
        if classes == 0 {
            return Err(PackedError::Layout("no architecture class"));
        }
        // Section ends, each checked against overflow and against the file's length.
        let mut at = HEADER_LEN;
        let mut section = |len: Option<usize>| {
            let start = at;
            at = len
                .and_then(|len| at.checked_add(len))
                .filter(|&end| end <= bytes.len())
                .ok_or(PackedError::Layout("sections longer than the file"))?;
            Ok::<usize, PackedError>(start)
        };
        section(records.checked_mul(RECORD_LEN))?;
        let names_at = section(names.checked_mul(NAME_LEN))?;
        let slots_at = section(slots.checked_mul(4))?;
        let lists_at = section(list_words.checked_mul(4))?;
        let classes_at = section(classes.checked_mul(8))?;
        let mentions_at = section(names.checked_mul(classes).and_then(|n| n.checked_mul(8)))?;
        let strings_at = section(Some(0))?;
        Ok(Self {
            bytes,
            records,
            names,
            slots,
            classes,
            names_at,
            slots_at,
            lists_at,
            list_words,
            classes_at,
            mentions_at,
            strings_at,
        })
    }

    /// How many records (stanzas) the index holds.
    pub fn len(&self) -> usize {
        self.records
    }

    /// Whether the index holds no stanza.
    pub fn is_empty(&self) -> bool {
        self.records == 0
    }

    /// The sha256 (lower-case hex) of the index this was made from, for messages.
    pub fn index_sha256(&self) -> String {
        hex::encode(&self.bytes[32..64])
    }

    /// Record `record` as a package, every field validated.
    pub fn package(&self, record: usize) -> Result<BinaryPackage, PackedError> {
        self.check_record(record)?;
        record::decode(self, record)
    }

    /// Every record, in index order (for commands that list what suites offer).
    pub fn packages(&self) -> Result<Vec<BinaryPackage>, PackedError> {
        use rayon::prelude::*;
        // Records are independent: decoding the 60,000 packages of a suite splits across cores.
        (0..self.records)
            .into_par_iter()
            .map(|i| record::decode(self, i))
            .collect()
    }

    /// The `Package` field of record `record`.
    pub fn name_of(&self, record: usize) -> Result<&str, PackedError> {
        self.check_record(record)?;
        self.required(record, PACKAGE)
    }

    /// The `Architecture` field of record `record`.
    pub fn architecture_of(&self, record: usize) -> Result<&str, PackedError> {
        self.check_record(record)?;
        self.required(record, ARCHITECTURE)
    }

    /// The name entry of `name`, if the index mentions it.
    pub fn lookup(&self, name: &str) -> Result<Option<NameId>, PackedError> {
        let mask = self.slots - 1;
        let start = hash(name) as usize & mask;
        for step in 0..self.slots {
            let slot = read_u32(&self.bytes, self.slots_at + ((start + step) & mask) * 4) as usize;
            if slot == 0 {
                return Ok(None);
            }
            let id = NameId(slot - 1);
            if self.name_text(id)? == name {
                return Ok(Some(id));
            }
        }
        Ok(None)
    }

    /// How many names the index mentions.
    pub fn name_count(&self) -> usize {
        self.names
    }

    /// The text of name `id`.
    pub fn name_text(&self, id: NameId) -> Result<&str, PackedError> {
        let at = self.name_entry(id)?;
        self.string(read_u32(&self.bytes, at), read_u32(&self.bytes, at + 4))
            .map_err(|reason| PackedError::Names(format!("name {}: {reason}", id.0)))
    }

    /// Every name number, for listings (`0..name_count`).
    pub fn name_ids(&self) -> impl Iterator<Item = NameId> + use<> {
        (0..self.names).map(NameId)
    }

    /// The records whose `Package` is name `id`, in index order.
    pub fn records_named(&self, id: NameId) -> Result<Vec<usize>, PackedError> {
        let at = self.name_entry(id)?;
        self.list(id, at + 8)
    }

    /// The records providing name `id`, in index order, each once.
    pub fn records_providing(&self, id: NameId) -> Result<Vec<usize>, PackedError> {
        let at = self.name_entry(id)?;
        self.list(id, at + 16)
    }

    /// The architecture of each class (class 0 is `all`).
    pub fn classes(&self) -> Result<Vec<&str>, PackedError> {
        (0..self.classes)
            .map(|class| {
                let at = self.classes_at + class * 8;
                self.string(read_u32(&self.bytes, at), read_u32(&self.bytes, at + 4))
                    .map_err(|reason| PackedError::Names(format!("class {class}: {reason}")))
            })
            .collect()
    }

    /// Where the records of class `class` first mentioned name `id`, if they did.
    pub fn first_mention(&self, id: NameId, class: usize) -> Result<Option<Mention>, PackedError> {
        if id.0 >= self.names || class >= self.classes {
            return Err(PackedError::Names(format!(
                "mention of name {} in class {class} out of range",
                id.0
            )));
        }
        let at = self.mentions_at + (id.0 * self.classes + class) * 8;
        let record = read_u32(&self.bytes, at);
        if record == ABSENT {
            return Ok(None);
        }
        if record as usize >= self.records {
            return Err(PackedError::Names(format!(
                "name {} is first mentioned by record {record}, past the last",
                id.0
            )));
        }
        Ok(Some((record, read_u32(&self.bytes, at + 4))))
    }

    fn name_entry(&self, id: NameId) -> Result<usize, PackedError> {
        if id.0 < self.names {
            Ok(self.names_at + id.0 * NAME_LEN)
        } else {
            Err(PackedError::Names(format!("name {} out of range", id.0)))
        }
    }

    /// The list whose (start, count) is stored at `at`: record numbers, each checked.
    fn list(&self, id: NameId, at: usize) -> Result<Vec<usize>, PackedError> {
        let start = read_u32(&self.bytes, at) as usize;
        let len = read_u32(&self.bytes, at + 4) as usize;
        let bad = |reason: &str| PackedError::Names(format!("name {}: {reason}", id.0));
        if start
            .checked_add(len)
            .is_none_or(|end| end > self.list_words)
        {
            return Err(bad("list outside the list table"));
        }
        (start..start + len)
            .map(|word| {
                let record = read_u32(&self.bytes, self.lists_at + word * 4) as usize;
                if record < self.records {
                    Ok(record)
                } else {
                    Err(bad("list names a record past the last"))
                }
            })
            .collect()
    }

    fn check_record(&self, record: usize) -> Result<(), PackedError> {
        if record < self.records {
            Ok(())
        } else {
            Err(PackedError::Record {
                record,
                reason: "past the last record".into(),
            })
        }
    }

    /// Field `field` of record `record` (in range): `Ok(None)` when absent.
    fn text(&self, record: usize, field: usize) -> Result<Option<&str>, PackedError> {
        let at = HEADER_LEN + record * RECORD_LEN + field * 8;
        let len = read_u32(&self.bytes, at + 4);
        if len == ABSENT {
            return Ok(None);
        }
        self.string(read_u32(&self.bytes, at), len)
            .map(Some)
            .map_err(|reason| PackedError::Record {
                record,
                reason: format!("field {field}: {reason}"),
            })
    }

    /// Field `field` of record `record`, which every record has.
    fn required(&self, record: usize, field: usize) -> Result<&str, PackedError> {
        self.text(record, field)?
            .ok_or_else(|| PackedError::Record {
                record,
                reason: format!("field {field} is absent"),
            })
    }

    /// The fixed-size part of record `record` (in range) after its string references.
    fn fixed(&self, record: usize) -> &[u8] {
        let at = HEADER_LEN + record * RECORD_LEN + FIELDS * 8;
        &self.bytes[at..at + RECORD_LEN - FIELDS * 8]
    }

    fn string(&self, offset: u32, len: u32) -> Result<&str, &'static str> {
        let blob = &self.bytes[self.strings_at..];
        let slice = (offset as usize)
            .checked_add(len as usize)
            .and_then(|end| blob.get(offset as usize..end))
            .ok_or("string outside the blob")?;
        std::str::from_utf8(slice).map_err(|_| "not UTF-8")
    }
}

/// Checks a packed file made from the index `index_sha256` and decodes all its packages, in
/// index order.
pub fn decode(bytes: &[u8], index_sha256: &str) -> Result<Vec<BinaryPackage>, PackedError> {
    PackedIndex::open(bytes.to_vec(), index_sha256)?.packages()
}

/// The hash that places names in the slot table; fixed by the format.
fn hash(name: &str) -> u64 {
    xxhash_rust::xxh3::xxh3_64(name.as_bytes())
}

/// Bytes per checksummed chunk.
pub const CHUNK: usize = 1 << 20;

/// The xxh3-64 of chunk `i` of a file, its checksum field (in chunk 0) read as zeros.
fn chunk_sum(i: usize, chunk: &[u8]) -> u64 {
    if i > 0 || chunk.len() < 32 {
        return xxhash_rust::xxh3::xxh3_64(chunk);
    }
    let mut hasher = xxhash_rust::xxh3::Xxh3::new();
    hasher.update(&chunk[..24]);
    hasher.update(&[0; 8]);
    hasher.update(&chunk[32..]);
    hasher.digest()
}

/// The file checksum from its chunks' (see the module doc).
fn combine(sums: &[u64]) -> u64 {
    let bytes: Vec<u8> = sums.iter().flat_map(|sum| sum.to_le_bytes()).collect();
    xxhash_rust::xxh3::xxh3_64(&bytes)
}

/// The checksum of a whole file in memory.
fn checksum(file: &[u8]) -> u64 {
    let sums: Vec<u64> = file
        .chunks(CHUNK)
        .enumerate()
        .map(|(i, chunk)| chunk_sum(i, chunk))
        .collect();
    combine(&sums)
}

/// Rewrites the checksum after an edit, as a bug or a forger would: for tests of what the
/// checksum cannot catch.
#[cfg(test)]
pub(crate) fn reseal(packed: &mut [u8]) {
    let sum = checksum(packed);
    packed[24..32].copy_from_slice(&sum.to_le_bytes());
}

/// Callers only pass offsets inside a slice they bounds-checked (the header, a section).
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
