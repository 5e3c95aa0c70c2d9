//! Writing a packed index (format in the parent module): records and interned strings, then
//! the name tables a lookup reads: which records carry or provide each name, where each
//! architecture class first mentioned it, and the hash slots that find it.

use std::collections::HashMap;

use rustc_hash::FxBuildHasher;

use super::record::{fields, flags_of};
use super::{ABSENT, FORMAT_VERSION, HEADER_LEN, MAGIC, RECORD_LEN, checksum, hash};
use crate::debian::BinaryPackage;

/// Encodes `packages` (parsed from the index whose sha256 is `index_sha256`, lower-case hex)
/// into the packed form.
pub fn encode(packages: &[BinaryPackage], index_sha256: &str) -> Vec<u8> {
    let mut records = Vec::with_capacity(packages.len() * RECORD_LEN);
    let mut strings = Strings::default();
    let mut names = Names::new(packages);
    for (record, package) in packages.iter().enumerate() {
        let provides = (!package.provides.is_empty()).then(|| {
            package
                .provides
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        });
        let version = package.version.to_string();
        for (i, field) in fields(package, &version, provides.as_deref())
            .into_iter()
            .enumerate()
        {
            // Filename is (nearly) unique: hashing it would buy nothing.
            let (offset, len) = match field {
                None => (0, ABSENT),
                Some(text) if i == 6 => strings.push(text),
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
        names.add(record, package);
    }
    let tables = names.tables(&mut strings);
    let mut payload = records;
    payload.extend_from_slice(&tables.names);
    payload.extend_from_slice(&tables.slots);
    payload.extend_from_slice(&tables.lists);
    payload.extend_from_slice(&tables.classes);
    payload.extend_from_slice(&tables.mentions);
    payload.extend_from_slice(&strings.blob);

    let mut out = Vec::with_capacity(HEADER_LEN + payload.len());
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
    out.extend_from_slice(&count(packages.len()).to_le_bytes());
    out.extend_from_slice(&(payload.len() as u64).to_le_bytes());
    out.extend_from_slice(&[0; 8]); // the checksum, below
    let mut source = [0u8; 32];
    let _ = hex::decode_to_slice(index_sha256, &mut source);
    out.extend_from_slice(&source);
    for n in [tables.name_count, tables.slot_count, tables.list_words] {
        out.extend_from_slice(&count(n).to_le_bytes());
    }
    out.extend_from_slice(&count(tables.class_count).to_le_bytes());
    out.extend_from_slice(&[0; 16]);
    debug_assert_eq!(out.len(), HEADER_LEN);
    out.extend_from_slice(&payload);
    let sum = checksum(&out);
    out[24..32].copy_from_slice(&sum.to_le_bytes());
    out
}

fn count(n: usize) -> u32 {
    u32::try_from(n).expect("an index has fewer than 2^32 stanzas, names and list entries")
}

/// The names an index mentions, with their records and first mentions, under construction.
struct Names<'a> {
    ids: HashMap<&'a str, usize, FxBuildHasher>,
    entries: Vec<NameEntry<'a>>,
    /// Architecture of each class; class 0 is `all`.
    classes: Vec<&'a str>,
}

struct NameEntry<'a> {
    text: &'a str,
    named: Vec<u32>,
    providing: Vec<u32>,
    /// One per class.
    mentions: Vec<Option<(u32, u32)>>,
}

/// The encoded tables, section by section.
struct Tables {
    name_count: usize,
    slot_count: usize,
    list_words: usize,
    class_count: usize,
    names: Vec<u8>,
    slots: Vec<u8>,
    lists: Vec<u8>,
    classes: Vec<u8>,
    mentions: Vec<u8>,
}

impl<'a> Names<'a> {
    fn new(packages: &'a [BinaryPackage]) -> Self {
        let mut classes = vec!["all"];
        for package in packages {
            if !classes.contains(&package.architecture.as_str()) {
                classes.push(&package.architecture);
            }
        }
        Self {
            ids: HashMap::with_capacity_and_hasher(packages.len(), FxBuildHasher),
            entries: Vec::with_capacity(packages.len()),
            classes,
        }
    }

    /// Records what `package` (record `record`) mentions, in the order the resolver's
    /// stand-in for apt's package IDs counts: its name, its `Depends` targets, its provides.
    fn add(&mut self, record: usize, package: &'a BinaryPackage) {
        let record = count(record);
        let class = self
            .classes
            .iter()
            .position(|&arch| arch == package.architecture)
            .expect("every architecture has a class");
        let mut position = 0;
        let mut mention = |names: &mut Self, name: &'a str| {
            let id = names.id(name);
            let first = &mut names.entries[id].mentions[class];
            if first.is_none() {
                *first = Some((record, position));
            }
            position += 1;
            id
        };
        let own = mention(self, &package.name);
        self.entries[own].named.push(record);
        for target in package.depends_text().into_iter().flat_map(relation_names) {
            mention(self, target);
        }
        for provided in &package.provides {
            let id = mention(self, &provided.name);
            let list = &mut self.entries[id].providing;
            if list.last() != Some(&record) {
                list.push(record);
            }
        }
    }

    fn id(&mut self, name: &'a str) -> usize {
        if let Some(&id) = self.ids.get(name) {
            return id;
        }
        let id = self.entries.len();
        self.ids.insert(name, id);
        self.entries.push(NameEntry {
            text: name,
            named: Vec::new(),
            providing: Vec::new(),
            mentions: vec![None; self.classes.len()],
        });
        id
    }

    fn tables(self, strings: &mut Strings) -> Tables {
        let name_count = self.entries.len();
        let slot_count = (name_count + 1).next_power_of_two() * 2;
        let mut slots = vec![0u32; slot_count];
        let mut names = Vec::with_capacity(name_count * super::NAME_LEN);
        let mut lists: Vec<u32> = Vec::new();
        let mut mentions = Vec::with_capacity(name_count * self.classes.len() * 8);
        for (id, entry) in self.entries.iter().enumerate() {
            let (offset, len) = strings.intern(entry.text);
            names.extend_from_slice(&offset.to_le_bytes());
            names.extend_from_slice(&len.to_le_bytes());
            for list in [&entry.named, &entry.providing] {
                names.extend_from_slice(&count(lists.len()).to_le_bytes());
                names.extend_from_slice(&count(list.len()).to_le_bytes());
                lists.extend_from_slice(list);
            }
            for first in &entry.mentions {
                let (record, position) = first.unwrap_or((ABSENT, ABSENT));
                mentions.extend_from_slice(&record.to_le_bytes());
                mentions.extend_from_slice(&position.to_le_bytes());
            }
            let mask = slot_count - 1;
            let mut slot = hash(entry.text) as usize & mask;
            while slots[slot] != 0 {
                slot = (slot + 1) & mask;
            }
            slots[slot] = count(id + 1);
        }
        let mut classes = Vec::with_capacity(self.classes.len() * 8);
        for arch in &self.classes {
            let (offset, len) = strings.intern(arch);
            classes.extend_from_slice(&offset.to_le_bytes());
            classes.extend_from_slice(&len.to_le_bytes());
        }
        Tables {
            name_count,
            slot_count,
            list_words: lists.len(),
            class_count: self.classes.len(),
            names,
            slots: slots.iter().flat_map(|s| s.to_le_bytes()).collect(),
            lists: lists.iter().flat_map(|w| w.to_le_bytes()).collect(),
            classes,
            mentions,
        }
    }
}

/// The package names a raw relationship field mentions, without parsing versions.
pub(super) fn relation_names(field: &str) -> impl Iterator<Item = &str> {
    field.split([',', '|']).filter_map(|atom| {
        atom.split([' ', '(', ':', '\n', '\t'])
            .find(|w| !w.is_empty())
    })
}

/// The string blob under construction: each distinct string stored once.
#[derive(Default)]
struct Strings {
    blob: Vec<u8>,
    seen: HashMap<String, (u32, u32), FxBuildHasher>,
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
