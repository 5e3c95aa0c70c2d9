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
    let mut encoder = Encoder::default();
    encoder.push(packages);
    encoder.finish(index_sha256)
}

/// [`encode`] fed as the packages come, in index order: a cold lock encodes each piece of an
/// index while the next ones are still being parsed, and [`Encoder::finish`] gives the bytes
/// `encode` gives for all of them.
#[derive(Default)]
pub struct Encoder {
    records: Vec<u8>,
    strings: Strings,
    names: Names,
    count: usize,
}

impl Encoder {
    /// Appends the records of `packages`, which follow those pushed before in the index.
    pub fn push(&mut self, packages: &[BinaryPackage]) {
        self.records.reserve(packages.len() * RECORD_LEN);
        for package in packages {
            self.push_one(package);
        }
    }

    fn push_one(&mut self, package: &BinaryPackage) {
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
                Some(text) if i == 6 => self.strings.push(text),
                Some(text) => self.strings.intern(text),
            };
            self.records.extend_from_slice(&offset.to_le_bytes());
            self.records.extend_from_slice(&len.to_le_bytes());
        }
        let mut sha256 = [0u8; 32];
        // `from_stanza` checked 64 hex digits; a bad value would only zero the digest, which
        // no download ever matches.
        let _ = hex::decode_to_slice(&package.sha256, &mut sha256);
        self.records.extend_from_slice(&sha256);
        self.records.extend_from_slice(&package.size.to_le_bytes());
        self.records
            .extend_from_slice(&package.installed_size.unwrap_or(0).to_le_bytes());
        self.records
            .extend_from_slice(&flags_of(package).to_le_bytes());
        self.records.extend_from_slice(&0u32.to_le_bytes());
        self.names.add(self.count, package);
        self.count += 1;
    }

    /// The packed file of everything pushed, for the index `index_sha256` (lower-case hex).
    pub fn finish(self, index_sha256: &str) -> Vec<u8> {
        let Self {
            records,
            mut strings,
            names,
            count: packages,
        } = self;
        let tables = names.tables(&mut strings);
        let sections = [
            &records,
            &tables.names,
            &tables.slots,
            &tables.lists,
            &tables.classes,
            &tables.mentions,
            &strings.blob,
        ];
        let payload_len: usize = sections.iter().map(|section| section.len()).sum();

        let mut out = Vec::with_capacity(HEADER_LEN + payload_len);
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
        out.extend_from_slice(&count(packages).to_le_bytes());
        out.extend_from_slice(&(payload_len as u64).to_le_bytes());
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
        for section in sections {
            out.extend_from_slice(section);
        }
        // Hundreds of thousands of small allocations: freeing them is a sizeable part of the
        // encoding, and nothing waits for it.
        std::thread::spawn(move || drop((records, names, tables, strings)));
        let sum = checksum(&out);
        out[24..32].copy_from_slice(&sum.to_le_bytes());
        out
    }
}

fn count(n: usize) -> u32 {
    u32::try_from(n).expect("an index has fewer than 2^32 stanzas, names and list entries")
}

/// The names an index mentions, with their records and first mentions, under construction.
struct Names {
    ids: HashMap<Box<str>, usize, FxBuildHasher>,
    entries: Vec<NameEntry>,
    /// Architecture of each class, in order of first appearance; class 0 is `all`.
    classes: Vec<String>,
}

impl Default for Names {
    fn default() -> Self {
        Self {
            ids: HashMap::default(),
            entries: Vec::new(),
            classes: vec!["all".to_owned()],
        }
    }
}

struct NameEntry {
    text: Box<str>,
    named: Vec<u32>,
    providing: Vec<u32>,
    /// By class; classes that appear after the entry was made are absent (no mention).
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

impl Names {
    /// Records what `package` (record `record`) mentions, in the order the resolver's
    /// stand-in for apt's package IDs counts: its name, its `Depends` targets, its provides.
    fn add(&mut self, record: usize, package: &BinaryPackage) {
        let record = count(record);
        let class = match self
            .classes
            .iter()
            .position(|arch| *arch == package.architecture)
        {
            Some(class) => class,
            None => {
                self.classes.push(package.architecture.clone());
                self.classes.len() - 1
            }
        };
        let mut position = 0;
        let mut mention = |names: &mut Self, name: &str| {
            let id = names.id(name);
            let mentions = &mut names.entries[id].mentions;
            if mentions.len() <= class {
                mentions.resize(class + 1, None);
            }
            if mentions[class].is_none() {
                mentions[class] = Some((record, position));
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

    fn id(&mut self, name: &str) -> usize {
        if let Some(&id) = self.ids.get(name) {
            return id;
        }
        let id = self.entries.len();
        self.ids.insert(name.into(), id);
        self.entries.push(NameEntry {
            text: name.into(),
            named: Vec::new(),
            providing: Vec::new(),
            mentions: vec![None; self.classes.len()],
        });
        id
    }

    fn tables(&self, strings: &mut Strings) -> Tables {
        let name_count = self.entries.len();
        let slot_count = (name_count + 1).next_power_of_two() * 2;
        let mut slots = vec![0u32; slot_count];
        let mut names = Vec::with_capacity(name_count * super::NAME_LEN);
        let mut lists: Vec<u32> = Vec::new();
        let mut mentions = Vec::with_capacity(name_count * self.classes.len() * 8);
        for (id, entry) in self.entries.iter().enumerate() {
            let (offset, len) = strings.intern(&entry.text);
            names.extend_from_slice(&offset.to_le_bytes());
            names.extend_from_slice(&len.to_le_bytes());
            for list in [&entry.named, &entry.providing] {
                names.extend_from_slice(&count(lists.len()).to_le_bytes());
                names.extend_from_slice(&count(list.len()).to_le_bytes());
                lists.extend_from_slice(list);
            }
            for class in 0..self.classes.len() {
                let first = entry.mentions.get(class).copied().flatten();
                let (record, position) = first.unwrap_or((ABSENT, ABSENT));
                mentions.extend_from_slice(&record.to_le_bytes());
                mentions.extend_from_slice(&position.to_le_bytes());
            }
            let mask = slot_count - 1;
            let mut slot = hash(&entry.text) as usize & mask;
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
