//! Round trips, lookups and refusals of the packed format.

use super::*;
use crate::debian::deb822;

const INDEX: &str = "Package: python3-gmpy2\nSource: python-gmpy2 (2.2.1-2)\nVersion: 1:2.2.1-2+b2\nInstalled-Size: 1234\nArchitecture: amd64\nMulti-Arch: same\nProvides: python3.13-gmpy2, foo:any (= 1.0)\nDepends: python3 (<< 3.14),\n python3 (>= 3.13~) | python3-any, libc6 (>= 2.14)\nPre-Depends: dpkg (>= 1.17)\nBreaks: old (<< 1)\nConflicts: older\nPriority: optional\nSection: python\nFilename: pool/main/p/python-gmpy2/python3-gmpy2_2.2.1-2+b2_amd64.deb\nSize: 180000\nSHA256: ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef0123456789\n\nPackage: base-files\nVersion: 12.4\nArchitecture: all\nEssential: yes\nProtected: yes\nPriority: required\nFilename: pool/main/b/base-files/base-files_12.4_all.deb\nSize: 70000\nSHA256: 0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\n";
const SHA: &str = "5555555555555555555555555555555555555555555555555555555555555555";

fn parse(text: &str) -> Vec<BinaryPackage> {
    deb822::parse(text)
        .expect("deb822")
        .iter()
        .map(|stanza| BinaryPackage::from_stanza(stanza).expect("package"))
        .collect()
}

fn packages() -> Vec<BinaryPackage> {
    parse(INDEX)
}

/// A stanza with the mandatory fields; `extra` adds lines.
fn stanza(name: &str, version: &str, arch: &str, extra: &str) -> String {
    format!(
        "Package: {name}\nVersion: {version}\nArchitecture: {arch}\n{extra}Filename: pool/{name}_{version}_{arch}.deb\nSize: 1\nSHA256: {}\n",
        "0".repeat(64)
    )
}

fn open(packages: &[BinaryPackage]) -> PackedIndex {
    PackedIndex::open(encode(packages, SHA), SHA).expect("valid packed index")
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
    let index = open(&packages);
    assert_eq!(index.len(), 2);
    assert_eq!(index.index_sha256(), SHA);
    assert_eq!(
        format!("{:?}", index.package(1).expect("record 1")),
        format!("{:?}", packages[1])
    );
    assert_eq!(index.name_of(0), Ok("python3-gmpy2"));
    assert_eq!(index.architecture_of(1), Ok("all"));
    assert!(index.package(2).is_err(), "past the last record");
}

#[test]
fn strings_are_stored_once() {
    let one = packages();
    let many: Vec<BinaryPackage> = (0..50).flat_map(|_| one.clone()).collect();
    let (small, big) = (encode(&one, SHA), encode(&many, SHA));
    // Each copy adds its records, its (never interned) file names and its entries in the
    // name lists (one per name it carries or provides: 2 + 2 provides = 4 words) only.
    let unique: usize = one.iter().map(|p| p.filename.len()).sum();
    let list_words = 4 * 4;
    assert_eq!(
        big.len() - small.len(),
        49 * (2 * RECORD_LEN + unique + list_words)
    );
}

/// The same name in several records (versions, architectures) is one name entry listing
/// every record in index order; provides list each provider once, however often it provides.
#[test]
fn lookups_find_every_record_of_a_name_and_every_provider() {
    let text = [
        stanza("awk-a", "1", "amd64", "Provides: awk, awk (= 1), x-awk\n"),
        stanza("awk-b", "1", "i386", "Provides: awk\n"),
        stanza("awk-a", "2", "i386", ""),
        stanza("awk", "3", "all", "Depends: libc6\n"),
        stanza("awk-a", "3", "amd64", ""),
    ]
    .join("\n");
    let index = open(&parse(&text));
    let id = |name: &str| index.lookup(name).expect("lookup").expect(name);
    assert_eq!(index.records_named(id("awk-a")), Ok(vec![0, 2, 4]));
    assert_eq!(index.records_providing(id("awk")), Ok(vec![0, 1]));
    assert_eq!(index.records_named(id("awk")), Ok(vec![3]));
    assert_eq!(index.records_providing(id("x-awk")), Ok(vec![0]));
    // A name only ever depended on has an entry with no records.
    assert_eq!(index.records_named(id("libc6")), Ok(vec![]));
    assert_eq!(index.records_providing(id("libc6")), Ok(vec![]));
    assert_eq!(index.lookup("gawk"), Ok(None));
    let mut names: Vec<&str> = index
        .name_ids()
        .map(|id| index.name_text(id).expect("name"))
        .collect();
    names.sort_unstable();
    assert_eq!(names, ["awk", "awk-a", "awk-b", "libc6", "x-awk"]);
}

/// First mentions are kept per architecture class, at (record, position in the record):
/// the name, then Depends targets, then provides.
#[test]
fn first_mentions_are_per_architecture_class() {
    let text = [
        stanza("aa", "1", "i386", "Depends: bb, cc:any | dd\n"),
        stanza("ee", "1", "all", "Depends: cc\nProvides: aa\n"),
        stanza("bb", "1", "amd64", "Provides: vv\n"),
    ]
    .join("\n");
    let index = open(&parse(&text));
    assert_eq!(index.classes(), Ok(vec!["all", "i386", "amd64"]));
    let first = |name: &str, class| {
        let id = index.lookup(name).expect("lookup").expect(name);
        index.first_mention(id, class).expect("mention")
    };
    assert_eq!(first("aa", 1), Some((0, 0)));
    assert_eq!(first("dd", 1), Some((0, 3)));
    assert_eq!(first("cc", 1), Some((0, 2)));
    assert_eq!(first("aa", 0), Some((1, 2)), "provided by the `all` record");
    assert_eq!(first("cc", 0), Some((1, 1)));
    assert_eq!(first("bb", 0), None);
    assert_eq!(first("bb", 2), Some((2, 0)));
    assert_eq!(first("vv", 2), Some((2, 1)));
    assert_eq!(first("vv", 1), None);
}

#[test]
fn an_empty_index_has_no_names() {
    let index = open(&[]);
    assert!(index.is_empty());
    assert_eq!(index.lookup("anything"), Ok(None));
    assert_eq!(index.classes(), Ok(vec!["all"]));
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
    reseal(&mut packed);
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
    reseal(&mut packed);
    let err = decode(&packed, SHA).expect_err("out of bounds");
    assert!(err.to_string().contains("outside the blob"), "{err}");
}

/// Every byte of the tables, changed under a valid checksum, gives an error or a valid
/// answer from each accessor, never a panic.
#[test]
fn damaged_tables_under_a_valid_checksum_never_panic() {
    let packed = encode(&packages(), SHA);
    let tables_start = HEADER_LEN + 2 * RECORD_LEN;
    for at in (64..HEADER_LEN).chain(tables_start..packed.len()) {
        for xor in [0x01, 0x80, 0xff] {
            let mut bytes = packed.clone();
            bytes[at] ^= xor;
            reseal(&mut bytes);
            let Ok(index) = PackedIndex::open(bytes, SHA) else {
                continue;
            };
            for name in ["python3-gmpy2", "python3", "foo", "base-files", "nothing"] {
                if let Ok(Some(id)) = index.lookup(name) {
                    let _ = index.records_named(id);
                    let _ = index.records_providing(id);
                    let _ = index.name_text(id);
                    for class in 0..3 {
                        let _ = index.first_mention(id, class);
                    }
                }
            }
            let _ = index.classes();
            let _ = index.packages();
        }
    }
}

/// A file of several checksum chunks, read from disk in parallel: the same index as opened
/// from memory, and damage in any chunk (or a short file) is refused.
#[test]
fn read_from_disk_checks_every_chunk() {
    let text: Vec<String> = (0..9000)
        .map(|i| stanza(&format!("pkg{i}"), "1.0-1", "amd64", "Depends: libc6\n"))
        .collect();
    let packed = encode(&parse(&text.join("\n")), SHA);
    assert!(packed.len() > 2 * CHUNK, "{} bytes", packed.len());
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("packed");
    let read = |bytes: &[u8]| {
        std::fs::write(&path, bytes).expect("write");
        PackedIndex::read(&path, SHA).expect("readable")
    };
    let index = read(&packed).expect("valid");
    assert_eq!(index.len(), 9000);
    assert_eq!(
        index.records_named(index.lookup("pkg8999").expect("lookup").expect("found")),
        Ok(vec![8999])
    );
    for at in [40, CHUNK - 1, CHUNK, 2 * CHUNK + 5, packed.len() - 1] {
        let mut flipped = packed.clone();
        flipped[at] ^= 0x01;
        assert_eq!(
            read(&flipped).map(|_| ()),
            Err(PackedError::Checksum),
            "at {at}"
        );
    }
    assert!(read(&packed[..packed.len() - 1]).is_err());
    assert!(read(&packed[..CHUNK]).is_err());
    assert!(PackedIndex::read(&dir.path().join("absent"), SHA).is_err());
}

#[test]
fn an_encoder_fed_in_pieces_writes_what_encode_writes() {
    // An architecture class that first appears after names it mentions were made, and names
    // mentioned again in later pieces.
    let text = [
        stanza("aa", "1", "all", "Depends: bb, cc | dd\n"),
        stanza("bb", "1", "amd64", "Provides: dd\n"),
        stanza("cc", "2", "arm64", "Depends: aa, bb (>= 1)\n"),
        stanza("bb", "2", "arm64", "Depends: aa\nProvides: dd (= 2)\n"),
        stanza("ee", "1", "i386", "Depends: aa\n"),
    ]
    .join("\n");
    let mut all = packages();
    all.extend(parse(&text));
    let whole = encode(&all, SHA);
    for cut in [vec![], vec![1], vec![2, 3], vec![1, 2, 3, 4, 5, 6]] {
        let mut encoder = Encoder::default();
        let mut from = 0;
        for &to in cut.iter().chain([&all.len()]) {
            encoder.push(&all[from..to]);
            from = to;
        }
        assert_eq!(encoder.finish(SHA), whole, "cut at {cut:?}");
    }
}
