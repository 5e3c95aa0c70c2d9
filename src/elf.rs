//! What the dynamic loader reads from an ELF file, and nothing else: class, byte order,
//! machine and type from the header, `PT_INTERP` and `PT_DYNAMIC` from the program headers, and
//! from the dynamic section the `DT_NEEDED`, `DT_RPATH`, `DT_RUNPATH` and `DT_SONAME` strings.
//!
//! A small reader of our own instead of a general ELF crate (issue #8): these five facts need
//! ~200 lines, and the check reads only files that start with the ELF magic. Like ld.so it uses
//! the program headers, not the section headers (which `strip` may remove); the string table
//! address `DT_STRTAB` is a virtual address, mapped to a file offset through the `PT_LOAD`
//! segment that contains it. Reference: the System V gABI, "Object Files" and "Program Loading".

/// The four bytes every ELF file starts with.
pub const MAGIC: &[u8; 4] = b"\x7fELF";

/// `e_type` of a shared object (libraries and position-independent executables).
pub const ET_DYN: u16 = 3;

const PT_LOAD: u32 = 1;
const PT_DYNAMIC: u32 = 2;
const PT_INTERP: u32 = 3;

const DT_NULL: u64 = 0;
const DT_NEEDED: u64 = 1;
const DT_STRTAB: u64 = 5;
const DT_STRSZ: u64 = 10;
const DT_SONAME: u64 = 14;
const DT_RPATH: u64 = 15;
const DT_RUNPATH: u64 = 29;

/// 32- or 64-bit objects: a library of one class never satisfies an object of the other.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Class {
    Elf32,
    Elf64,
}

/// What the loader needs to know about one ELF file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ElfInfo {
    pub class: Class,
    /// `e_machine` (62 x86-64, 183 AArch64, 3 i386, …).
    pub machine: u16,
    /// `e_type` (2 executable, 3 shared object).
    pub kind: u16,
    /// The dynamic loader named by `PT_INTERP` (`/lib64/ld-linux-x86-64.so.2`).
    pub interpreter: Option<String>,
    /// The dynamic section; `None` for static executables, object files and the like.
    pub dynamic: Option<Dynamic>,
}

/// The strings of the dynamic section the library search uses.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Dynamic {
    /// `DT_NEEDED`, in order.
    pub needed: Vec<String>,
    /// `DT_RPATH`, as written (colon-separated, may hold `$ORIGIN`).
    pub rpath: Option<String>,
    /// `DT_RUNPATH`, as written.
    pub runpath: Option<String>,
    /// `DT_SONAME`.
    pub soname: Option<String>,
}

/// Why an ELF file could not be read; the check reports it with the file's path.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ElfError {
    #[error("not an ELF file")]
    NotElf,
    #[error("unknown ELF class {0}")]
    BadClass(u8),
    #[error("unknown ELF byte order {0}")]
    BadByteOrder(u8),
    #[error("truncated {0}")]
    Truncated(&'static str),
    #[error("dynamic string table address {0:#x} is in no loaded segment")]
    UnmappedStrtab(u64),
}

/// Whether `bytes` start with the ELF magic (cheap; the check parses only these).
pub fn is_elf(bytes: &[u8]) -> bool {
    bytes.starts_with(MAGIC)
}

/// Reads the header, program headers and dynamic section of an ELF file held in memory.
pub fn parse(bytes: &[u8]) -> Result<ElfInfo, ElfError> {
    if !is_elf(bytes) {
        return Err(ElfError::NotElf);
    }
    let ident = bytes.get(..16).ok_or(ElfError::Truncated("ELF header"))?;
    let class = match ident[4] {
        1 => Class::Elf32,
        2 => Class::Elf64,
        other => return Err(ElfError::BadClass(other)),
    };
    let little = match ident[5] {
        1 => true,
        2 => false,
        other => return Err(ElfError::BadByteOrder(other)),
    };
    let r = Reader {
        bytes,
        little,
        class,
    };
    let kind = r.u16(16, "ELF header")?;
    let machine = r.u16(18, "ELF header")?;
    let (phoff, phentsize, phnum) = match class {
        Class::Elf64 => (
            r.u64(32, "ELF header")?,
            r.u16(54, "ELF header")?,
            r.u16(56, "ELF header")?,
        ),
        Class::Elf32 => (
            u64::from(r.u32(28, "ELF header")?),
            r.u16(42, "ELF header")?,
            r.u16(44, "ELF header")?,
        ),
    };
    let mut segments = Vec::with_capacity(usize::from(phnum));
    for index in 0..u64::from(phnum) {
        let at = phoff
            .checked_add(index * u64::from(phentsize))
            .ok_or(ElfError::Truncated("program headers"))?;
        segments.push(r.segment(at)?);
    }
    let interpreter = match segments.iter().find(|s| s.kind == PT_INTERP) {
        Some(interp) => {
            let raw = r.slice(interp.offset, interp.filesz, "PT_INTERP")?;
            let end = raw.iter().position(|&b| b == 0).unwrap_or(raw.len());
            Some(String::from_utf8_lossy(&raw[..end]).into_owned())
        }
        None => None,
    };
    let dynamic = match segments.iter().find(|s| s.kind == PT_DYNAMIC) {
        Some(segment) => Some(r.dynamic(segment, &segments)?),
        None => None,
    };
    Ok(ElfInfo {
        class,
        machine,
        kind,
        interpreter,
        dynamic,
    })
}

/// Bytes read first by [`sparse_copy`]: the ELF header and, in practice, the program headers.
const SPARSE_HEAD: u64 = 64 * 1024;
/// `PT_GNU_RELRO` overlaps a `PT_LOAD` and is never read by [`parse`].
const PT_GNU_RELRO: u32 = 0x6474_e552;

/// A copy of an ELF file of `len` bytes holding only what [`parse`] (and the `ld.so.cache`
/// reader) look at: the first 64 KiB (header, program headers), every segment other than
/// `PT_LOAD` (interpreter, dynamic section, notes) and the dynamic string table. The rest is
/// zero and, being a fresh zeroed allocation never written, costs no memory: a 100 MB library
/// is parsed with a few pages resident. `read_at(offset, buf)` fills `buf` from the file.
pub fn sparse_copy(
    len: u64,
    read_at: &mut dyn FnMut(u64, &mut [u8]) -> std::io::Result<()>,
) -> std::io::Result<Vec<u8>> {
    let size = usize::try_from(len).map_err(std::io::Error::other)?;
    let mut out = vec![0u8; size];
    let mut fill = |out: &mut Vec<u8>, offset: u64, n: u64| -> std::io::Result<()> {
        let (start, end) = (offset.min(len), offset.saturating_add(n).min(len));
        if start < end {
            // Both bounds are at most `len`, which fits in usize.
            let range = usize::try_from(start).map_err(std::io::Error::other)?
                ..usize::try_from(end).map_err(std::io::Error::other)?;
            read_at(start, &mut out[range])?;
        }
        Ok(())
    };
    fill(&mut out, 0, SPARSE_HEAD)?;
    if !is_elf(&out) {
        return Ok(out);
    }
    let (wide, little) = (out[4] == 2, out[5] == 1);
    let word = |bytes: &[u8], at: u64, n: u64| -> Option<u64> {
        let start = usize::try_from(at).ok()?;
        let raw = bytes.get(start..start.checked_add(usize::try_from(n).ok()?)?)?;
        Some(if little {
            raw.iter().rev().fold(0, |v, &b| v << 8 | u64::from(b))
        } else {
            raw.iter().fold(0, |v, &b| v << 8 | u64::from(b))
        })
    };
    let header = if wide {
        (word(&out, 32, 8), word(&out, 54, 2), word(&out, 56, 2))
    } else {
        (word(&out, 28, 4), word(&out, 42, 2), word(&out, 44, 2))
    };
    let (Some(phoff), Some(phentsize), Some(phnum)) = header else {
        return Ok(out);
    };
    fill(&mut out, phoff, phentsize.saturating_mul(phnum))?;
    let mut loads = Vec::new();
    let mut dynamic = None;
    for index in 0..phnum {
        let at = phoff.saturating_add(index * phentsize);
        let fields = if wide {
            (
                word(&out, at, 4),
                word(&out, at + 8, 8),
                word(&out, at + 16, 8),
                word(&out, at + 32, 8),
            )
        } else {
            (
                word(&out, at, 4),
                word(&out, at + 4, 4),
                word(&out, at + 8, 4),
                word(&out, at + 16, 4),
            )
        };
        let (Some(kind), Some(offset), Some(vaddr), Some(filesz)) = fields else {
            continue;
        };
        match u32::try_from(kind).unwrap_or(0) {
            PT_LOAD => loads.push((offset, vaddr, filesz)),
            PT_GNU_RELRO => {}
            other => {
                fill(&mut out, offset, filesz)?;
                if other == PT_DYNAMIC {
                    dynamic = Some((offset, filesz));
                }
            }
        }
    }
    if let Some((offset, size)) = dynamic {
        let entry = if wide { 16 } else { 8 };
        let (mut strtab, mut strsz) = (None, None);
        let mut at = offset;
        while at < offset.saturating_add(size) {
            match (
                word(&out, at, entry / 2),
                word(&out, at + entry / 2, entry / 2),
            ) {
                (Some(DT_NULL) | None, _) => break,
                (Some(DT_STRTAB), value) => strtab = value,
                (Some(DT_STRSZ), value) => strsz = value,
                _ => {}
            }
            at += entry;
        }
        if let (Some(address), Some(size)) = (strtab, strsz) {
            let file_offset = loads.iter().find_map(|&(offset, vaddr, filesz)| {
                (address >= vaddr && address - vaddr < filesz).then(|| address - vaddr + offset)
            });
            if let Some(file_offset) = file_offset {
                fill(&mut out, file_offset, size)?;
            }
        }
    }
    Ok(out)
}

/// One program header.
#[derive(Clone, Copy, Debug)]
struct Segment {
    kind: u32,
    offset: u64,
    vaddr: u64,
    filesz: u64,
}

/// Bounds-checked reads in the file's byte order and class.
struct Reader<'a> {
    bytes: &'a [u8],
    little: bool,
    class: Class,
}

impl Reader<'_> {
    fn slice(&self, offset: u64, len: u64, what: &'static str) -> Result<&[u8], ElfError> {
        let start = usize::try_from(offset).map_err(|_| ElfError::Truncated(what))?;
        let len = usize::try_from(len).map_err(|_| ElfError::Truncated(what))?;
        let end = start.checked_add(len).ok_or(ElfError::Truncated(what))?;
        self.bytes.get(start..end).ok_or(ElfError::Truncated(what))
    }

    fn array<const N: usize>(&self, offset: u64, what: &'static str) -> Result<[u8; N], ElfError> {
        let slice = self.slice(offset, N as u64, what)?;
        Ok(slice.try_into().expect("slice has the requested length"))
    }

    fn u16(&self, offset: u64, what: &'static str) -> Result<u16, ElfError> {
        let raw = self.array(offset, what)?;
        Ok(if self.little {
            u16::from_le_bytes(raw)
        } else {
            u16::from_be_bytes(raw)
        })
    }

    fn u32(&self, offset: u64, what: &'static str) -> Result<u32, ElfError> {
        let raw = self.array(offset, what)?;
        Ok(if self.little {
            u32::from_le_bytes(raw)
        } else {
            u32::from_be_bytes(raw)
        })
    }

    fn u64(&self, offset: u64, what: &'static str) -> Result<u64, ElfError> {
        let raw = self.array(offset, what)?;
        Ok(if self.little {
            u64::from_le_bytes(raw)
        } else {
            u64::from_be_bytes(raw)
        })
    }

    /// An address-sized field (`Elf32_Addr`/`Elf64_Addr`, also `d_tag` and `d_val`).
    fn word(&self, offset: u64, what: &'static str) -> Result<u64, ElfError> {
        match self.class {
            Class::Elf64 => self.u64(offset, what),
            Class::Elf32 => self.u32(offset, what).map(u64::from),
        }
    }

    fn segment(&self, at: u64) -> Result<Segment, ElfError> {
        const WHAT: &str = "program headers";
        Ok(match self.class {
            Class::Elf64 => Segment {
                kind: self.u32(at, WHAT)?,
                offset: self.u64(at.saturating_add(8), WHAT)?,
                vaddr: self.u64(at.saturating_add(16), WHAT)?,
                filesz: self.u64(at.saturating_add(32), WHAT)?,
            },
            Class::Elf32 => Segment {
                kind: self.u32(at, WHAT)?,
                offset: u64::from(self.u32(at.saturating_add(4), WHAT)?),
                vaddr: u64::from(self.u32(at.saturating_add(8), WHAT)?),
                filesz: u64::from(self.u32(at.saturating_add(16), WHAT)?),
            },
        })
    }

    /// Walks the `PT_DYNAMIC` entries up to `DT_NULL`, then reads their strings.
    fn dynamic(&self, segment: &Segment, segments: &[Segment]) -> Result<Dynamic, ElfError> {
        const WHAT: &str = "dynamic section";
        let entry_size: u64 = match self.class {
            Class::Elf64 => 16,
            Class::Elf32 => 8,
        };
        let half = entry_size / 2;
        let mut strtab = None;
        let mut strsz = None;
        let mut tagged: Vec<(u64, u64)> = Vec::new();
        for index in 0..segment.filesz / entry_size {
            let at = segment.offset.saturating_add(index * entry_size);
            let tag = self.word(at, WHAT)?;
            let value = self.word(at.saturating_add(half), WHAT)?;
            match tag {
                DT_NULL => break,
                DT_STRTAB => strtab = Some(value),
                DT_STRSZ => strsz = Some(value),
                DT_NEEDED | DT_SONAME | DT_RPATH | DT_RUNPATH => tagged.push((tag, value)),
                _ => {}
            }
        }
        let mut dynamic = Dynamic::default();
        if tagged.is_empty() {
            return Ok(dynamic);
        }
        let strtab = strtab.ok_or(ElfError::Truncated("dynamic section (no DT_STRTAB)"))?;
        let table_offset = segments
            .iter()
            .filter(|s| s.kind == PT_LOAD)
            .find(|s| strtab >= s.vaddr && strtab - s.vaddr < s.filesz)
            .map(|s| (strtab - s.vaddr).saturating_add(s.offset))
            .ok_or(ElfError::UnmappedStrtab(strtab))?;
        let table_len =
            strsz.unwrap_or(self.bytes.len() as u64 - table_offset.min(self.bytes.len() as u64));
        let table = self.slice(table_offset, table_len, "dynamic string table")?;
        for (tag, index) in tagged {
            let text = string_at(table, index)?;
            match tag {
                DT_NEEDED => dynamic.needed.push(text),
                DT_SONAME => dynamic.soname = Some(text),
                DT_RPATH => dynamic.rpath = Some(text),
                DT_RUNPATH => dynamic.runpath = Some(text),
                _ => {}
            }
        }
        Ok(dynamic)
    }
}

/// The NUL-terminated string at `index` of a string table.
fn string_at(table: &[u8], index: u64) -> Result<String, ElfError> {
    let start = usize::try_from(index).map_err(|_| ElfError::Truncated("dynamic string"))?;
    let rest = table
        .get(start..)
        .ok_or(ElfError::Truncated("dynamic string"))?;
    let end = rest
        .iter()
        .position(|&b| b == 0)
        .ok_or(ElfError::Truncated("dynamic string"))?;
    Ok(String::from_utf8_lossy(&rest[..end]).into_owned())
}

/// Test support: a minimal but loadable-looking ELF file, so tests (here and in other
/// modules) can build image trees without a compiler. One `PT_LOAD` covering the whole file,
/// an optional `PT_INTERP`, and a `PT_DYNAMIC` with the given strings.
#[cfg(test)]
pub(crate) fn synthesize(
    class: Class,
    machine: u16,
    interpreter: Option<&str>,
    dynamic: &Dynamic,
) -> Vec<u8> {
    let wide = class == Class::Elf64;
    let (ehsize, phentsize, dynsize): (usize, usize, usize) =
        if wide { (64, 56, 16) } else { (52, 32, 8) };
    let put_word = |out: &mut Vec<u8>, value: u64| {
        if wide {
            out.extend_from_slice(&value.to_le_bytes());
        } else {
            out.extend_from_slice(
                &u32::try_from(value)
                    .expect("small test value")
                    .to_le_bytes(),
            );
        }
    };
    // Strings first (index 0 is the empty string), then the dynamic entries referring to them.
    let mut strings = vec![0u8];
    let mut entries: Vec<(u64, u64)> = Vec::new();
    let mut add = |tag: u64, text: &str, strings: &mut Vec<u8>| {
        entries.push((tag, strings.len() as u64));
        strings.extend_from_slice(text.as_bytes());
        strings.push(0);
    };
    for needed in &dynamic.needed {
        add(DT_NEEDED, needed, &mut strings);
    }
    if let Some(soname) = &dynamic.soname {
        add(DT_SONAME, soname, &mut strings);
    }
    if let Some(rpath) = &dynamic.rpath {
        add(DT_RPATH, rpath, &mut strings);
    }
    if let Some(runpath) = &dynamic.runpath {
        add(DT_RUNPATH, runpath, &mut strings);
    }
    let phnum = if interpreter.is_some() { 3 } else { 2 };
    let interp_bytes: Vec<u8> = interpreter
        .map(|i| [i.as_bytes(), &[0]].concat())
        .unwrap_or_default();
    let interp_at = ehsize + phnum * phentsize;
    let strings_at = interp_at + interp_bytes.len();
    let dynamic_at = strings_at + strings.len();
    let dynamic_count = entries.len() + 3; // + DT_STRTAB, DT_STRSZ, DT_NULL
    let total = dynamic_at + dynamic_count * dynsize;
    let vaddr_base: u64 = 0x1000;

    let mut out = Vec::with_capacity(total);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&[if wide { 2 } else { 1 }, 1, 1, 0]);
    out.resize(16, 0);
    out.extend_from_slice(&ET_DYN.to_le_bytes());
    out.extend_from_slice(&machine.to_le_bytes());
    out.extend_from_slice(&1u32.to_le_bytes()); // e_version
    put_word(&mut out, 0); // e_entry
    put_word(&mut out, ehsize as u64); // e_phoff
    put_word(&mut out, 0); // e_shoff
    out.extend_from_slice(&0u32.to_le_bytes()); // e_flags
    out.extend_from_slice(&(ehsize as u16).to_le_bytes());
    out.extend_from_slice(&(phentsize as u16).to_le_bytes());
    out.extend_from_slice(&(phnum as u16).to_le_bytes());
    out.extend_from_slice(&[0; 6]); // e_shentsize, e_shnum, e_shstrndx
    assert_eq!(out.len(), ehsize);
    let phdr = |out: &mut Vec<u8>, kind: u32, offset: usize, size: usize| {
        out.extend_from_slice(&kind.to_le_bytes());
        if wide {
            out.extend_from_slice(&0u32.to_le_bytes()); // p_flags
        }
        put_word(out, offset as u64);
        put_word(out, vaddr_base + offset as u64); // p_vaddr
        put_word(out, vaddr_base + offset as u64); // p_paddr
        put_word(out, size as u64); // p_filesz
        put_word(out, size as u64); // p_memsz
        if !wide {
            out.extend_from_slice(&0u32.to_le_bytes()); // p_flags
        }
        put_word(out, 8); // p_align
    };
    phdr(&mut out, PT_LOAD, 0, total);
    if interpreter.is_some() {
        phdr(&mut out, PT_INTERP, interp_at, interp_bytes.len());
    }
    phdr(&mut out, PT_DYNAMIC, dynamic_at, dynamic_count * dynsize);
    out.extend_from_slice(&interp_bytes);
    out.extend_from_slice(&strings);
    for (tag, value) in entries {
        put_word(&mut out, tag);
        put_word(&mut out, value);
    }
    put_word(&mut out, DT_STRTAB);
    put_word(&mut out, vaddr_base + strings_at as u64);
    put_word(&mut out, DT_STRSZ);
    put_word(&mut out, strings.len() as u64);
    put_word(&mut out, DT_NULL);
    put_word(&mut out, 0);
    assert_eq!(out.len(), total);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Dynamic {
        Dynamic {
            needed: vec!["libgmp.so.10".into(), "libc.so.6".into()],
            rpath: None,
            runpath: Some("$ORIGIN/../lib".into()),
            soname: Some("libx.so.1".into()),
        }
    }

    /// Parsing the sparse copy of a file gives what parsing all of it gives, and what lies
    /// outside the head and the segments is not read.
    #[test]
    fn a_sparse_copy_parses_like_the_whole_file() {
        for class in [Class::Elf64, Class::Elf32] {
            let mut bytes = synthesize(class, 62, Some("/lib/ld.so"), &sample());
            let parsed = parse(&bytes).expect("valid");
            bytes.resize(200_000, 0xAA);
            let mut read_at = |offset: u64, buf: &mut [u8]| {
                let start = usize::try_from(offset).expect("small");
                buf.copy_from_slice(&bytes[start..start + buf.len()]);
                Ok(())
            };
            let sparse = sparse_copy(200_000, &mut read_at).expect("copied");
            assert_eq!(parse(&sparse).expect("valid"), parsed);
            assert_eq!(
                sparse[150_000], 0,
                "past the head, outside any segment: not read"
            );
        }
    }

    #[test]
    fn reads_a_64_bit_object() {
        let bytes = synthesize(
            Class::Elf64,
            62,
            Some("/lib64/ld-linux-x86-64.so.2"),
            &sample(),
        );
        let info = parse(&bytes).expect("valid");
        assert_eq!(info.class, Class::Elf64);
        assert_eq!(info.machine, 62);
        assert_eq!(info.kind, ET_DYN);
        assert_eq!(
            info.interpreter.as_deref(),
            Some("/lib64/ld-linux-x86-64.so.2")
        );
        assert_eq!(info.dynamic, Some(sample()));
    }

    #[test]
    fn reads_a_32_bit_object() {
        let bytes = synthesize(Class::Elf32, 3, None, &sample());
        let info = parse(&bytes).expect("valid");
        assert_eq!((info.class, info.machine), (Class::Elf32, 3));
        assert_eq!(info.interpreter, None);
        assert_eq!(info.dynamic, Some(sample()));
    }

    #[test]
    fn refuses_truncated_and_foreign_bytes() {
        assert_eq!(parse(b"#!/bin/sh\n"), Err(ElfError::NotElf));
        let bytes = synthesize(Class::Elf64, 62, None, &sample());
        assert!(matches!(parse(&bytes[..40]), Err(ElfError::Truncated(_))));
        assert!(matches!(
            parse(&bytes[..bytes.len() - 20]),
            Err(ElfError::Truncated(_))
        ));
        let mut bad = bytes.clone();
        bad[4] = 7;
        assert_eq!(parse(&bad), Err(ElfError::BadClass(7)));
    }

    #[test]
    fn hostile_bytes_give_errors_not_panics() {
        let good = synthesize(Class::Elf64, 62, Some("/lib/ld.so"), &sample());
        for index in 0..good.len() {
            for value in [0x00, 0x7f, 0xff] {
                let mut bad = good.clone();
                bad[index] = value;
                let _ = parse(&bad);
            }
        }
        let narrow = synthesize(Class::Elf32, 3, None, &sample());
        for index in 0..narrow.len() {
            let mut bad = narrow.clone();
            bad[index] = 0xff;
            let _ = parse(&bad);
        }
    }

    #[test]
    fn reads_the_test_binary_itself() {
        // A real linker's output: the running test executable is a dynamic ELF (on Linux).
        let Ok(exe) = std::env::current_exe() else {
            return;
        };
        let bytes = std::fs::read(exe).expect("readable test binary");
        let info = parse(&bytes).expect("a real ELF file parses");
        let needed = info.dynamic.map(|d| d.needed).unwrap_or_default();
        assert!(
            needed.iter().any(|n| n.starts_with("libc.so")),
            "the test binary links libc: {needed:?}"
        );
    }
}
