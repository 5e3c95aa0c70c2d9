//! `/etc/ld.so.cache` as `ldconfig` (libc-bin's postinst and the `ldconfig` trigger) would
//! write it, for images whose packages add library directories through
//! `/etc/ld.so.conf.d/*.conf` (debian-notes §7.3).
//!
//! Without a cache glibc's loader still searches `/lib/<triplet>`, `/usr/lib/<triplet>`,
//! `/lib` and `/usr/lib`, so a cache is only needed (and only written) when a conf file
//! names another directory that holds libraries in the tree; every other image stays
//! byte-identical. When written, the cache lists the libraries of the conf directories
//! (conf files in name order) and then of the default ones, like `ldconfig` does.
//!
//! Format: glibc's new-only format ("glibc-ld.so.cache" "1.1", glibc elf/cache.c
//! `save_cache`, sysdeps/generic/dl-cache.h): a 48-byte header (magic, version, `nlibs`,
//! `len_strings`, endianness flags, `extension_offset`), `nlibs` 24-byte entries (flags,
//! key and value string offsets counted from the start of the file, osversion, hwcap), the
//! string table, then at a 4-aligned offset an extension directory holding one
//! "generator" section. Entries are sorted the way ld.so's binary search expects:
//! descending by `_dl_cache_libcmp` of the key (digit runs compare as numbers), ties kept
//! in directory order (the loader takes the first). Keys are the DT_SONAME (else the file
//! name), values `DIR/SONAME` when that link exists in the tree, else the file's path.
//! Only 64-bit little-endian x86-64 and AArch64 libraries are entered (their flags are
//! `FLAG_ELF_LIBC6 | FLAG_X8664_LIB64` = 0x0303 and `| FLAG_AARCH64_LIB64` = 0x0a03); for
//! other architectures no cache is written and the loader keeps its default search.

use std::cmp::Ordering;

use super::Rootfs;
use super::tree::Tree;

/// Where the cache goes (a tree path).
pub const LD_SO_CACHE: &str = "etc/ld.so.cache";
/// The drop-in directory of library paths.
const CONF_DIR: &str = "etc/ld.so.conf.d";
/// `cache_extension_magic` (glibc dl-cache.h).
const EXTENSION_MAGIC: u32 = 0xeaa4_2174;
/// `cache_file_new_flags_endian_little`.
const ENDIAN_LITTLE: u8 = 2;
/// The generator string ldconfig -p prints.
const GENERATOR: &str = "debless";

/// One cache entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CacheEntry {
    /// The name a program asks for (`libfoo.so.1`).
    pub key: String,
    /// The absolute path the loader opens.
    pub value: String,
    /// glibc's library flags (0x0303 for x86-64).
    pub flags: i32,
}

/// Why the cache could not be placed.
#[derive(Debug, thiserror::Error)]
#[error("cannot write `/{LD_SO_CACHE}`: {0}")]
pub struct LdCacheError(#[from] super::essentials::EssentialsError);

/// The directories the loader searches without a cache, for a multiarch `triplet`.
fn default_dirs(triplet: &str) -> [String; 4] {
    [
        format!("lib/{triplet}"),
        format!("usr/lib/{triplet}"),
        "lib".to_owned(),
        "usr/lib".to_owned(),
    ]
}

/// The directories listed by `/etc/ld.so.conf.d/*.conf` (and plain lines of
/// `/etc/ld.so.conf`), in ldconfig's order, as tree paths.
pub fn conf_dirs(tree: &Tree) -> Vec<String> {
    let mut confs: Vec<&str> = tree
        .iter()
        .map(|(path, _)| path)
        .filter(|p| {
            p.strip_prefix(CONF_DIR)
                .and_then(|rest| rest.strip_prefix('/'))
                .is_some_and(|name| !name.contains('/') && name.ends_with(".conf"))
        })
        .collect();
    confs.sort_unstable();
    confs.insert(0, "etc/ld.so.conf");
    let mut dirs = Vec::new();
    for conf in confs {
        let Some(bytes) = tree.file_bytes(conf) else {
            continue;
        };
        for line in String::from_utf8_lossy(&bytes).lines() {
            let line = line.split('#').next().unwrap_or_default().trim();
            if line.is_empty() || line.starts_with("include") || line.starts_with("hwcap") {
                continue;
            }
            let Some(dir) = line.strip_prefix('/') else {
                continue;
            };
            let dir = dir.trim_end_matches('/').to_owned();
            if !dir.is_empty() && !dirs.contains(&dir) {
                dirs.push(dir);
            }
        }
    }
    dirs
}

/// The cache entries for `triplet`'s image, or `None` when no conf directory outside the
/// defaults holds a library (then the loader needs no cache and none is written).
pub fn cache_entries(tree: &Tree, triplet: &str) -> Option<Vec<CacheEntry>> {
    let defaults = default_dirs(triplet);
    let extra: Vec<String> = conf_dirs(tree)
        .into_iter()
        .filter(|dir| !defaults.contains(dir))
        .collect();
    let extra_libraries: Vec<CacheEntry> = extra
        .iter()
        .flat_map(|dir| libraries_in(tree, dir))
        .collect();
    if extra_libraries.is_empty() {
        return None;
    }
    let mut entries = extra_libraries;
    let mut seen_dirs: Vec<String> = extra
        .iter()
        .filter_map(|d| tree.resolve(d, true).ok())
        .collect();
    for dir in &defaults {
        // `lib` may be a link to `usr/lib` (merged /usr): list each real directory once.
        let Ok(real) = tree.resolve(dir, true) else {
            continue;
        };
        if seen_dirs.contains(&real) {
            continue;
        }
        seen_dirs.push(real);
        entries.extend(libraries_in(tree, dir));
    }
    // Stable: equal keys stay in directory order, the order the loader prefers.
    entries.sort_by(|a, b| libcmp(&b.key, &a.key).then(b.flags.cmp(&a.flags)));
    Some(entries)
}

/// The shared libraries directly in `dir` (`lib*.so*` and `ld-*.so*` ELF files, through
/// symlinks), as ldconfig would enter them.
fn libraries_in(tree: &Tree, dir: &str) -> Vec<CacheEntry> {
    let Ok(real_dir) = tree.resolve(dir, true) else {
        return Vec::new();
    };
    if !tree.get(&real_dir).is_some_and(super::Node::is_dir) {
        return Vec::new();
    }
    let prefix = format!("{real_dir}/");
    let mut found: Vec<CacheEntry> = Vec::new();
    for (path, _) in tree.iter().filter(|(p, _)| p.starts_with(&prefix)) {
        let name = &path[prefix.len()..];
        if name.contains('/')
            || !(name.starts_with("lib") || name.starts_with("ld-"))
            || !name.contains(".so")
        {
            continue;
        }
        // Headers, dynamic section and strings only: libraries can be 100 MB.
        let Some(bytes) = tree.file_content(path).and_then(|c| c.read_elf().ok()) else {
            continue;
        };
        let Some(elf) = ElfLibrary::parse(&bytes) else {
            continue;
        };
        let Some(flags) = elf.cache_flags() else {
            continue;
        };
        let key = elf.soname.unwrap_or_else(|| name.to_owned());
        let soname_path = format!("{prefix}{key}");
        let value = if tree.get(&soname_path).is_some() {
            format!("/{dir}/{key}")
        } else {
            format!("/{dir}/{name}")
        };
        if !found.iter().any(|e| e.key == key) {
            found.push(CacheEntry { key, value, flags });
        }
    }
    found
}

/// glibc's `_dl_cache_libcmp`: byte order, except that runs of digits compare as numbers
/// and a digit sorts after a non-digit.
pub fn libcmp(a: &str, b: &str) -> Ordering {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let (mut i, mut j) = (0, 0);
    while i < a.len() {
        if a[i].is_ascii_digit() {
            if j < b.len() && b[j].is_ascii_digit() {
                let (mut x, mut y) = (0u64, 0u64);
                while i < a.len() && a[i].is_ascii_digit() {
                    x = x.saturating_mul(10).saturating_add(u64::from(a[i] - b'0'));
                    i += 1;
                }
                while j < b.len() && b[j].is_ascii_digit() {
                    y = y.saturating_mul(10).saturating_add(u64::from(b[j] - b'0'));
                    j += 1;
                }
                if x != y {
                    return x.cmp(&y);
                }
            } else {
                return Ordering::Greater;
            }
        } else if j < b.len() && b[j].is_ascii_digit() {
            return Ordering::Less;
        } else if j >= b.len() || a[i] != b[j] {
            return a[i].cmp(b.get(j).unwrap_or(&0));
        } else {
            i += 1;
            j += 1;
        }
    }
    if j < b.len() {
        Ordering::Less
    } else {
        Ordering::Equal
    }
}

/// The cache file's bytes for sorted `entries`.
pub fn render(entries: &[CacheEntry]) -> Vec<u8> {
    const HEADER: usize = 48;
    const ENTRY: usize = 24;
    let strings_start = HEADER + ENTRY * entries.len();
    let mut strings: Vec<u8> = Vec::new();
    let mut offsets: Vec<(u32, u32)> = Vec::new();
    let intern = |text: &str, strings: &mut Vec<u8>| -> u32 {
        let offset = strings_start + strings.len();
        strings.extend_from_slice(text.as_bytes());
        strings.push(0);
        u32::try_from(offset).expect("a cache smaller than 4 GiB")
    };
    for entry in entries {
        let key = intern(&entry.key, &mut strings);
        let value = intern(&entry.value, &mut strings);
        offsets.push((key, value));
    }
    let extension_offset = (strings_start + strings.len()).next_multiple_of(4);
    let u32_of = |n: usize| u32::try_from(n).expect("a cache smaller than 4 GiB");

    let mut out = Vec::with_capacity(extension_offset + 32 + GENERATOR.len());
    out.extend_from_slice(b"glibc-ld.so.cache1.1");
    out.extend_from_slice(&u32_of(entries.len()).to_le_bytes());
    out.extend_from_slice(&u32_of(strings.len()).to_le_bytes());
    out.extend_from_slice(&[ENDIAN_LITTLE, 0, 0, 0]);
    out.extend_from_slice(&u32_of(extension_offset).to_le_bytes());
    out.extend_from_slice(&[0u8; 12]);
    for (entry, (key, value)) in entries.iter().zip(&offsets) {
        out.extend_from_slice(&entry.flags.to_le_bytes());
        out.extend_from_slice(&key.to_le_bytes());
        out.extend_from_slice(&value.to_le_bytes());
        out.extend_from_slice(&0u32.to_le_bytes());
        out.extend_from_slice(&0u64.to_le_bytes());
    }
    out.extend_from_slice(&strings);
    out.resize(extension_offset, 0);
    // The extension directory: magic, count, one section (tag 0 = generator).
    let generator_offset = extension_offset + 8 + 16;
    out.extend_from_slice(&EXTENSION_MAGIC.to_le_bytes());
    out.extend_from_slice(&1u32.to_le_bytes());
    out.extend_from_slice(&0u32.to_le_bytes());
    out.extend_from_slice(&0u32.to_le_bytes());
    out.extend_from_slice(&u32_of(generator_offset).to_le_bytes());
    out.extend_from_slice(&u32_of(GENERATOR.len()).to_le_bytes());
    out.extend_from_slice(GENERATOR.as_bytes());
    out
}

/// What the cache needs from a shared library's ELF header and dynamic section.
#[derive(Debug, PartialEq, Eq)]
struct ElfLibrary {
    machine: u16,
    soname: Option<String>,
}

impl ElfLibrary {
    /// Reads a 64-bit little-endian `ET_DYN` file; `None` for anything else (linker
    /// scripts such as `libc.so`, 32-bit or big-endian objects, truncated files).
    fn parse(bytes: &[u8]) -> Option<Self> {
        let u16_at = |at: usize| Some(u16::from_le_bytes(bytes.get(at..at + 2)?.try_into().ok()?));
        let u32_at = |at: usize| Some(u32::from_le_bytes(bytes.get(at..at + 4)?.try_into().ok()?));
        let u64_at = |at: usize| Some(u64::from_le_bytes(bytes.get(at..at + 8)?.try_into().ok()?));
        let usize_at = |at: usize| usize::try_from(u64_at(at)?).ok();
        if bytes.get(..6)? != b"\x7fELF\x02\x01" || u16_at(16)? != 3 {
            return None;
        }
        let machine = u16_at(18)?;
        let phoff = usize_at(32)?;
        let phentsize = usize::from(u16_at(54)?);
        let phnum = usize::from(u16_at(56)?);
        let headers: Vec<usize> = (0..phnum).map(|i| phoff + i * phentsize).collect();
        // PT_LOAD segments map addresses to file offsets.
        let to_offset = |address: u64| -> Option<usize> {
            headers.iter().find_map(|&h| {
                if u32_at(h)? != 1 {
                    return None;
                }
                let (offset, vaddr, filesz) = (u64_at(h + 8)?, u64_at(h + 16)?, u64_at(h + 32)?);
                (address >= vaddr && address < vaddr + filesz)
                    .then(|| usize::try_from(address - vaddr + offset).ok())
                    .flatten()
            })
        };
        let mut soname = None;
        if let Some(&dynamic) = headers.iter().find(|&&h| u32_at(h) == Some(2)) {
            let (offset, size) = (usize_at(dynamic + 8)?, usize_at(dynamic + 32)?);
            let (mut strtab, mut soname_index) = (None, None);
            for entry in (offset..offset.saturating_add(size)).step_by(16) {
                match u64_at(entry)? {
                    0 => break,
                    5 => strtab = Some(u64_at(entry + 8)?),
                    14 => soname_index = Some(usize_at(entry + 8)?),
                    _ => {}
                }
            }
            if let (Some(strtab), Some(index)) = (strtab, soname_index) {
                let start = to_offset(strtab)?.checked_add(index)?;
                let rest = bytes.get(start..)?;
                let end = rest.iter().position(|&b| b == 0)?;
                soname = Some(String::from_utf8_lossy(&rest[..end]).into_owned());
            }
        }
        Some(Self { machine, soname })
    }

    /// glibc's cache flags for this machine, if debless knows them.
    fn cache_flags(&self) -> Option<i32> {
        match self.machine {
            62 => Some(0x0303),  // EM_X86_64: FLAG_ELF_LIBC6 | FLAG_X8664_LIB64
            183 => Some(0x0a03), // EM_AARCH64: FLAG_ELF_LIBC6 | FLAG_AARCH64_LIB64
            _ => None,
        }
    }
}

impl Rootfs {
    /// Writes `/etc/ld.so.cache` when a conf file adds a library directory (see the module
    /// doc); returns how many libraries it lists (0: none written). A cache shipped by a
    /// package is kept.
    pub fn add_ld_cache(&mut self, triplet: &str, mtime: i64) -> Result<usize, LdCacheError> {
        if self.tree.get(LD_SO_CACHE).is_some() {
            return Ok(0);
        }
        let Some(entries) = cache_entries(&self.tree, triplet) else {
            return Ok(0);
        };
        let count = entries.len();
        self.add_generated_file(LD_SO_CACHE, render(&entries), mtime)?;
        Ok(count)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn libcmp_compares_digit_runs_as_numbers() {
        assert_eq!(libcmp("libfoo.so.10", "libfoo.so.9"), Ordering::Greater);
        assert_eq!(libcmp("libfoo.so.1", "libfoo.so.1"), Ordering::Equal);
        assert_eq!(libcmp("libfoo.so", "libfoo.so.1"), Ordering::Less);
        assert_eq!(libcmp("liba.so.1", "libb.so.1"), Ordering::Less);
        // A digit sorts after any other byte.
        assert_eq!(libcmp("lib2", "libz"), Ordering::Greater);
        assert_eq!(libcmp("libz", "lib2"), Ordering::Less);
    }

    #[test]
    fn render_lays_out_header_entries_strings_and_extension() {
        let entries = [CacheEntry {
            key: "libx.so.1".into(),
            value: "/opt/x/libx.so.1".into(),
            flags: 0x0303,
        }];
        let bytes = render(&entries);
        assert_eq!(&bytes[..20], b"glibc-ld.so.cache1.1");
        let u32_at =
            |at: usize| u32::from_le_bytes(bytes[at..at + 4].try_into().expect("four bytes"));
        assert_eq!(u32_at(20), 1, "nlibs");
        let strings = "libx.so.1\0/opt/x/libx.so.1\0";
        assert_eq!(u32_at(24) as usize, strings.len(), "len_strings");
        assert_eq!(bytes[28], ENDIAN_LITTLE);
        assert_eq!(u32_at(48), 0x0303, "flags");
        assert_eq!(u32_at(52), 72, "key offset from the file start");
        assert_eq!(&bytes[72..72 + strings.len()], strings.as_bytes());
        assert_eq!(u32_at(56), 72 + 10, "value offset");
        let extension = u32_at(32) as usize;
        assert_eq!(extension % 4, 0);
        assert_eq!(u32_at(extension), EXTENSION_MAGIC);
        assert!(bytes.ends_with(GENERATOR.as_bytes()));
    }

    #[test]
    fn non_elf_and_32_bit_files_are_not_libraries() {
        assert_eq!(ElfLibrary::parse(b"/* GNU ld script */"), None);
        assert_eq!(ElfLibrary::parse(b"\x7fELF\x01\x01\x01\0"), None);
        assert_eq!(ElfLibrary::parse(b"\x7fELF\x02\x01"), None, "truncated");
    }
}
