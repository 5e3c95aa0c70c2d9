//! Whole stanzas of a `Packages` index, as text, into [`BinaryPackage`] records: the inner loop
//! of a cold `debless lock`, which reads some 63,000 stanzas (50 MB) per suite.
//!
//! Two readers give the same answer. The general one is [`deb822::Stanzas`] (every field kept in
//! a list) then [`BinaryPackage::from_stanza`] (each field looked up by name in that list): about
//! twenty case-insensitive comparisons per lookup, over a million lines. The fast one reads each
//! line once, files the value of each field [`BinaryPackage`] reads into a slot chosen by its
//! name, and builds the record from the slots ([`BinaryPackage::from_fields`], the same code).
//!
//! The fast reader only handles the shape Debian's indices have: `\n` line ends, no comment
//! lines, ASCII field names, no field twice in a stanza, and stanzas that make valid records.
//! On anything else (a `\r`, a `#` line, a malformed line, a duplicate, a missing or invalid
//! field) it gives up on the whole piece, and the general reader reads it again: so the records,
//! or the error and its line number, are exactly the general reader's, whatever the input.

use crate::debian::BinaryPackage;
use std::sync::LazyLock;

use crate::debian::deb822::Stanzas;
use crate::debian::package::{Field, Fields};

/// Fields the records never read, slotted only so that a duplicate is caught without a list
/// search: the ones every Debian stanza has besides the [`Field`]s.
const UNREAD: [&str; 11] = [
    "Description",
    "Description-md5",
    "Maintainer",
    "Homepage",
    "Tag",
    "MD5sum",
    "Recommends",
    "Suggests",
    "Replaces",
    "Built-Using",
    "Enhances",
];

const SLOTS: usize = Field::ALL.len() + UNREAD.len();

/// Reads the whole stanzas of an index piece with the fast reader, appending them to
/// `packages`; returns the number of lines of the piece, or `None` (and `packages` as it was)
/// when the piece needs [`read_general`].
pub(super) fn read_fast(piece: &[u8], packages: &mut Vec<BinaryPackage>) -> Option<usize> {
    let start = packages.len();
    let lines = std::str::from_utf8(piece)
        .ok()
        .and_then(|text| scan(text, packages));
    if lines.is_none() {
        packages.truncate(start);
    }
    lines
}

/// Reads the whole stanzas of an index piece that starts after `lines_before` lines with the
/// general reader, appending them to `packages`; an error names the line, counted from the
/// start of the index.
pub(super) fn read_general(
    piece: &[u8],
    lines_before: usize,
    packages: &mut Vec<BinaryPackage>,
) -> Result<(), String> {
    let text = std::str::from_utf8(piece).map_err(|err| {
        let line = count_lines(&piece[..err.valid_up_to()]);
        format!("line {}: not UTF-8", lines_before + line + 1)
    })?;
    for stanza in Stanzas::new(text) {
        let mut stanza = stanza.map_err(|err| format!("{err} (after line {lines_before})"))?;
        stanza.line += lines_before;
        packages.push(BinaryPackage::from_stanza(&stanza).map_err(|err| err.to_string())?);
    }
    Ok(())
}

/// The number of `\n` in `text`.
pub(super) fn count_lines(text: &[u8]) -> usize {
    // Byte counters over runs of at most 255 blocks of 32 bytes: compiled to wide compares
    // and adds, unlike a plain filter-count.
    const WIDTH: usize = 32;
    let mut total = 0;
    for run in text.chunks(WIDTH * 255) {
        let mut counts = [0u8; WIDTH];
        let mut blocks = run.chunks_exact(WIDTH);
        for block in &mut blocks {
            for (count, byte) in counts.iter_mut().zip(block) {
                *count += u8::from(*byte == b'\n');
            }
        }
        total += counts.iter().map(|&c| usize::from(c)).sum::<usize>();
        total += blocks.remainder().iter().filter(|&&b| b == b'\n').count();
    }
    total
}

/// One stanza's values by slot: [`Field`]s first, then [`UNREAD`].
struct Slots<'a> {
    values: [Option<&'a str>; SLOTS],
    /// Which slots this stanza has named (a value may still be open).
    named: u32,
    /// Names of this stanza's fields that have no slot.
    others: Vec<&'a str>,
}

impl<'a> Fields<'a> for Slots<'a> {
    fn get(&self, field: Field) -> Option<&'a str> {
        self.values[field as usize]
    }

    /// Unused: a stanza the records refuse is read again by the general reader, which
    /// reports the line.
    fn line(&self) -> usize {
        0
    }
}

impl<'a> Slots<'a> {
    fn clear(&mut self) {
        self.values = [None; SLOTS];
        self.named = 0;
        self.others.clear();
    }

    fn is_empty(&self) -> bool {
        self.named == 0 && self.others.is_empty()
    }

    /// Records that the stanza names `name`, whose slot is `slot`; `None` when it already did
    /// (any ASCII case).
    fn name(&mut self, name: &'a str, slot: Option<usize>) -> Option<Option<usize>> {
        match slot {
            Some(slot) => {
                let bit = 1u32 << slot;
                if self.named & bit != 0 {
                    return None;
                }
                self.named |= bit;
                Some(Some(slot))
            }
            None => {
                if self.others.iter().any(|o| o.eq_ignore_ascii_case(name)) {
                    return None;
                }
                self.others.push(name);
                Some(None)
            }
        }
    }
}

/// The name of each slot.
fn slot_name(slot: usize) -> &'static str {
    match Field::ALL.get(slot) {
        Some(field) => field.name(),
        None => UNREAD[slot - Field::ALL.len()],
    }
}

/// Slots by the length of their name: a name is compared with the few of its length.
static BY_LENGTH: LazyLock<Vec<Vec<(&'static str, usize)>>> = LazyLock::new(|| {
    let mut by_length: Vec<Vec<(&'static str, usize)>> = Vec::new();
    for slot in 0..SLOTS {
        let name = slot_name(slot);
        if by_length.len() <= name.len() {
            by_length.resize(name.len() + 1, Vec::new());
        }
        by_length[name.len()].push((name, slot));
    }
    by_length
});

/// The slot of a field name, compared as [`crate::debian::deb822::Stanza::get`] compares.
fn slot_of(name: &str) -> Option<usize> {
    let candidates = BY_LENGTH.get(name.len())?;
    let initial = name.as_bytes().first()?;
    // Debian's own spelling first (most names differ in their first byte from the others of
    // their length): a plain comparison, then without regard to case.
    let found = candidates
        .iter()
        .find(|(known, _)| known.as_bytes()[0] == *initial && *known == name);
    found
        .or_else(|| {
            candidates
                .iter()
                .find(|(known, _)| known.eq_ignore_ascii_case(name))
        })
        .map(|&(_, slot)| slot)
}

/// A field whose value is still being read: its slot (if any), value start and end.
type Open = (Option<usize>, usize, usize);

/// The fast reader (see the module doc): the number of lines, or `None` when the piece needs
/// the general one.
fn scan(text: &str, packages: &mut Vec<BinaryPackage>) -> Option<usize> {
    const _: () = assert!(SLOTS <= 32, "slots are a u32 bit set");
    let bytes = text.as_bytes();
    let mut slots = Slots {
        values: [None; SLOTS],
        named: 0,
        others: Vec::new(),
    };
    let mut open: Option<Open> = None;
    let mut newlines = memchr::memchr_iter(b'\n', bytes);
    let mut line_start = 0;
    let mut lines = 0;
    loop {
        let (line_end, last) = match newlines.next() {
            Some(at) => (at, false),
            None => (bytes.len(), true),
        };
        let line = &bytes[line_start..line_end];
        let blank = match line.first() {
            None => true,
            Some(b'#') => return None,
            Some(first) if first.is_ascii_alphanumeric() => false,
            // `trim` as the general reader does: white space, Unicode's included.
            Some(_) => text.get(line_start..line_end)?.trim().is_empty(),
        };
        if line.last() == Some(&b'\r') {
            return None;
        }
        if blank {
            finish(text, &mut slots, open.take(), packages)?;
        } else if matches!(line[0], b' ' | b'\t') {
            open.as_mut()?.2 = line_end;
        } else {
            open = field_line(text, line_start, line_end, &mut slots, open)?;
        }
        if last {
            finish(text, &mut slots, open, packages)?;
            return Some(lines);
        }
        line_start = line_end + 1;
        lines += 1;
    }
}

/// Starts the field of the line `line_start..line_end` (closing the one still open); `None`
/// when the line is not a plain `Name: value` or names a field twice.
fn field_line<'a>(
    text: &'a str,
    line_start: usize,
    line_end: usize,
    slots: &mut Slots<'a>,
    open: Option<Open>,
) -> Option<Option<Open>> {
    let line = &text.as_bytes()[line_start..line_end];
    let colon = line.iter().position(|&b| b == b':')?;
    let name = text.get(line_start..line_start + colon)?;
    let slot = slot_of(name);
    // A slot's name is plain ASCII; any other name must be too (no white space in it).
    if slot.is_none() && (name.is_empty() || !name.bytes().all(|b| b.is_ascii_graphic())) {
        return None;
    }
    if let Some(field) = open {
        close(text, slots, field)?;
    }
    let slot = slots.name(name, slot)?;
    Some(Some((slot, line_start + colon + 1, line_end)))
}

/// Ends the stanza in `slots` (if any): closes its open field and reads it into a record.
fn finish<'a>(
    text: &'a str,
    slots: &mut Slots<'a>,
    open: Option<Open>,
    packages: &mut Vec<BinaryPackage>,
) -> Option<()> {
    if let Some(field) = open {
        close(text, slots, field)?;
    }
    if !slots.is_empty() {
        packages.push(BinaryPackage::from_fields(&*slots).ok()?);
        slots.clear();
    }
    Some(())
}

/// Files a finished value into its slot, trimmed as the general reader trims it.
fn close<'a>(text: &'a str, slots: &mut Slots<'a>, (slot, start, end): Open) -> Option<()> {
    if let Some(slot) = slot {
        slots.values[slot] = Some(trim(text.get(start..end)?));
    }
    Some(())
}

/// [`str::trim`], quicker on the common case: ASCII white space around ASCII text.
fn trim(value: &str) -> &str {
    let is_space = |b: &u8| matches!(b, b'\t' | b'\n' | 0x0b | 0x0c | b'\r' | b' ');
    let bytes = value.as_bytes();
    let start = bytes
        .iter()
        .position(|b| !is_space(b))
        .unwrap_or(bytes.len());
    let end = bytes
        .iter()
        .rposition(|b| !is_space(b))
        .map_or(start, |at| at + 1);
    match value.get(start..end) {
        Some(trimmed)
            if bytes[start..end].first().is_none_or(u8::is_ascii)
                && bytes[start..end].last().is_none_or(u8::is_ascii) =>
        {
            trimmed
        }
        _ => value.trim(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn general(text: &str) -> Result<Vec<BinaryPackage>, String> {
        let mut packages = Vec::new();
        read_general(text.as_bytes(), 0, &mut packages).map(|()| packages)
    }

    fn fast(text: &str) -> Option<Vec<BinaryPackage>> {
        let mut packages = Vec::new();
        let lines = read_fast(text.as_bytes(), &mut packages)?;
        assert_eq!(lines, count_lines(text.as_bytes()));
        Some(packages)
    }

    const STANZA: &str = "Package: python3-gmpy2\nSource: python-gmpy2 (2.2.1-2)\nVersion: 1:2.2.1-2+b2\nInstalled-Size: 1234\nMaintainer: x <x@example.org>\nArchitecture: amd64\nMulti-Arch: same\nProvides: python3.13-gmpy2, foo:any (= 1.0)\nDepends: python3 (<< 3.14),\n python3 (>= 3.13~) | python3-any,\n\tlibc6 (>= 2.14)\nPre-Depends: dpkg (>= 1.17)\nBreaks: old (<< 1)\nConflicts: older\nDescription: a library\nTag: devel::library, implemented-in::c,\n role::shared-lib\nPriority: optional\nSection: python\nFilename: pool/main/p/python-gmpy2/python3-gmpy2_2.2.1-2+b2_amd64.deb\nSize: 180000\nSHA256: ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef0123456789\n\nPackage: base-files\nversion: 12.4\nARCHITECTURE: all\nEssential: yes\nProtected: yes\nPriority: required\nFilename: pool/main/b/base-files/base-files_12.4_all.deb\nSize:   70000  \nSHA256: 0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\nX-Custom: kept out\n";

    #[test]
    fn the_fast_reader_reads_debian_stanzas_as_the_general_one() {
        let fast = fast(STANZA).expect("the fast reader takes Debian's shape");
        let general = general(STANZA).expect("valid");
        assert_eq!(fast.len(), 2);
        assert_eq!(format!("{fast:?}"), format!("{general:?}"));
        assert_eq!(
            fast[0].depends_text(),
            Some("python3 (<< 3.14),\n python3 (>= 3.13~) | python3-any,\n\tlibc6 (>= 2.14)")
        );
    }

    #[test]
    fn unusual_text_is_left_to_the_general_reader() {
        let crlf = STANZA.replace('\n', "\r\n");
        let comment = format!("# generated\n{STANZA}");
        let duplicate = STANZA.replace("Section: python\n", "Section: python\nsection: x\n");
        let other_duplicate = STANZA.replace("X-Custom: kept out\n", "X-Custom: a\nx-custom: b\n");
        let missing = STANZA.replace("Size: 180000\n", "");
        let not_utf8 = [STANZA.as_bytes(), b"Package: \xff\n"].concat();
        for text in [&crlf, &comment, &duplicate, &other_duplicate, &missing] {
            let mut packages = vec![general(STANZA).expect("valid").remove(0)];
            assert_eq!(read_fast(text.as_bytes(), &mut packages), None, "{text:?}");
            assert_eq!(packages.len(), 1, "left as it was");
        }
        assert!(general(&crlf).is_ok() && general(&comment).is_ok());
        assert_eq!(read_fast(&not_utf8, &mut Vec::new()), None);
        let mut packages = Vec::new();
        let err = read_general(missing.as_bytes(), 10, &mut packages).expect_err("no Size");
        assert!(err.contains("line 11") && err.contains("Size"), "{err}");
        let err = read_general(&not_utf8, 10, &mut packages).expect_err("not UTF-8");
        let line = 10 + STANZA.lines().count() + 1;
        assert!(err.starts_with(&format!("line {line}: not UTF-8")), "{err}");
    }

    #[test]
    fn every_field_has_its_own_slot() {
        for (i, field) in Field::ALL.iter().enumerate() {
            assert_eq!(*field as usize, i);
            assert_eq!(slot_of(field.name()), Some(i));
            assert_eq!(slot_of(&field.name().to_ascii_lowercase()), Some(i));
        }
        for (i, name) in UNREAD.iter().enumerate() {
            assert_eq!(slot_of(name), Some(Field::ALL.len() + i));
        }
        assert_eq!(slot_of("X-Custom"), None);
    }

    /// The lines of a valid Debian stanza, each kept with probability 0.97 (the first six are
    /// required).
    fn fields() -> impl Strategy<Value = Vec<String>> {
        let required = [
            "Package: pkg".to_owned(),
            "Version: 1:1.0-1".to_owned(),
            "Architecture: amd64".to_owned(),
            "Filename: pool/p.deb".to_owned(),
            "Size: 12".to_owned(),
            format!("SHA256: {}", "aB".repeat(32)),
            "Depends: aa (>= 1), bb | cc,\n  dd\n\tee".to_owned(),
            "Provides: qq (= 2), rr:any".to_owned(),
            "Source: s (1.0)".to_owned(),
            "Multi-Arch: foreign".to_owned(),
            "Essential: YES".to_owned(),
            "Description: d".to_owned(),
            "Section: \u{a0}net\u{2003}".to_owned(),
            "Installed-Size:\t7 ".to_owned(),
            "Tag: x,\n y".to_owned(),
            "X-Other: \u{a0}v\u{a0}".to_owned(),
        ];
        proptest::collection::vec(proptest::bool::weighted(0.97), required.len()).prop_map(
            move |keep| {
                required
                    .iter()
                    .zip(keep)
                    .filter(|(_, keep)| *keep)
                    .map(|(line, _)| line.clone())
                    .collect()
            },
        )
    }

    /// Lines the general reader has a rule for, rarely drawn.
    fn odd_line() -> impl Strategy<Value = String> {
        prop_oneof![
            Just(" continued, d".to_owned()),
            Just("Provides: ((".to_owned()),
            Just("Multi-Arch: sometimes".to_owned()),
            Just("package: P".to_owned()),
            Just("x-other: w".to_owned()),
            Just(String::new()),
            Just("  ".to_owned()),
            Just("\u{3000}".to_owned()),
            Just("# comment".to_owned()),
            Just("no colon".to_owned()),
            Just("Bad Name: v".to_owned()),
            Just(": empty name".to_owned()),
            Just("Size: 1\r".to_owned()),
            Just("Sizé: 1".to_owned()),
        ]
    }

    /// One stanza: shuffled fields, one time in ten an odd line, then a separator.
    fn stanza() -> impl Strategy<Value = String> {
        (
            fields().prop_shuffle(),
            proptest::option::weighted(0.1, (any::<proptest::sample::Index>(), odd_line())),
            prop_oneof![Just("\n"), Just("\n\n"), Just("\n \t\n"), Just("\n\n\n")],
        )
            .prop_map(|(mut lines, odd, separator)| {
                if let Some((at, line)) = odd {
                    let at = at.index(lines.len() + 1);
                    lines.insert(at, line);
                }
                let mut text = lines.join("\n");
                text.push_str(separator);
                text
            })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]
        #[test]
        fn the_fast_reader_never_disagrees_with_the_general_one(
            stanzas in proptest::collection::vec(stanza(), 0..6),
            cut_end in 0usize..3,
        ) {
            let mut text = stanzas.concat();
            for _ in 0..cut_end {
                text.pop();
            }
            if let Some(fast) = fast(&text) {
                let general = general(&text);
                prop_assert!(general.is_ok(), "fast accepted what the general reader refuses: {text:?}");
                prop_assert_eq!(format!("{fast:?}"), format!("{:?}", general.unwrap_or_default()));
            }
        }
    }
}
