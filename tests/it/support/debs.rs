//! A synthetic `.deb` builder for tests: real ar container, control.tar (control + md5sums)
//! and data.tar, with a choice of compression and room for hostile entries.
//!
//! Well-formed entries are written like dpkg-deb does (`./` first, `./`-prefixed names,
//! directories ending in `/`, missing parent directories added); [`DebBuilder::raw_entry`]
//! writes a name byte for byte, so tests can ship `../etc/passwd` or device nodes.

use std::io::Write;
use std::path::Path;

use debless::rootfs::PackageDeb;
use md5::Digest as _;

/// Compression of both tar members.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Comp {
    None,
    Gz,
    Xz,
    Zst,
}

/// What an entry creates.
#[derive(Clone, Debug)]
pub enum Kind {
    Dir,
    File(Vec<u8>),
    Symlink(String),
    Hardlink(String),
    /// Any other tar type (device node `b'3'`, fifo `b'6'`).
    Other(u8),
}

#[derive(Clone, Debug)]
struct Entry {
    name: String,
    kind: Kind,
    mode: u32,
    uid: u64,
    gid: u64,
}

/// Builds one `.deb`.
#[derive(Clone, Debug)]
pub struct DebBuilder {
    name: String,
    version: String,
    arch: String,
    entries: Vec<Entry>,
    compression: Comp,
    debian_binary: String,
    mtime: u64,
    extra_control: String,
    /// Extra control.tar members (maintainer scripts), `(name, bytes)`.
    control_members: Vec<(String, Vec<u8>)>,
}

impl DebBuilder {
    pub fn new(name: &str, version: &str, arch: &str) -> Self {
        Self {
            name: name.to_owned(),
            version: version.to_owned(),
            arch: arch.to_owned(),
            entries: Vec::new(),
            compression: Comp::Xz,
            debian_binary: "2.0\n".to_owned(),
            mtime: 1_700_000_000,
            extra_control: String::new(),
            control_members: Vec::new(),
        }
    }

    /// A regular file (`usr/bin/x` or `/usr/bin/x`), parents added as needed.
    pub fn file(self, path: &str, bytes: &[u8], mode: u32) -> Self {
        self.add(path, Kind::File(bytes.to_vec()), mode)
    }

    /// A directory.
    pub fn dir(self, path: &str, mode: u32) -> Self {
        self.add(path, Kind::Dir, mode)
    }

    /// A symlink with the target as given.
    pub fn symlink(self, path: &str, target: &str) -> Self {
        self.add(path, Kind::Symlink(target.to_owned()), 0o777)
    }

    /// A hard link to an earlier path of this package (`usr/bin/perl`), written `./`-prefixed.
    pub fn hardlink(self, path: &str, target: &str) -> Self {
        let target = format!("./{}", target.trim_start_matches('/'));
        self.add(path, Kind::Hardlink(target), 0o755)
    }

    /// An entry whose name (and link target) is written exactly as given.
    pub fn raw_entry(mut self, name: &str, kind: Kind, mode: u32) -> Self {
        self.entries.push(Entry {
            name: name.to_owned(),
            kind,
            mode,
            uid: 0,
            gid: 0,
        });
        self
    }

    /// Owner of the last entry.
    pub fn owned_by(mut self, uid: u64, gid: u64) -> Self {
        if let Some(last) = self.entries.last_mut() {
            last.uid = uid;
            last.gid = gid;
        }
        self
    }

    pub fn compression(mut self, compression: Comp) -> Self {
        self.compression = compression;
        self
    }

    /// Replaces the `debian-binary` member.
    pub fn debian_binary(mut self, text: &str) -> Self {
        self.debian_binary = text.to_owned();
        self
    }

    /// A control.tar member besides control and md5sums (`postinst`), mode 0755.
    pub fn control_member(mut self, name: &str, bytes: &[u8]) -> Self {
        self.control_members.push((name.to_owned(), bytes.to_vec()));
        self
    }

    /// Extra control fields (`Multi-Arch: same\n`).
    pub fn control_fields(mut self, fields: &str) -> Self {
        self.extra_control.push_str(fields);
        self
    }

    fn add(mut self, path: &str, kind: Kind, mode: u32) -> Self {
        let clean = path.trim_start_matches('/').trim_end_matches('/');
        let mut prefix = String::new();
        for part in clean
            .split('/')
            .take(clean.split('/').count().saturating_sub(1))
        {
            prefix.push_str(part);
            prefix.push('/');
            let name = format!("./{prefix}");
            if !self.entries.iter().any(|e| e.name == name) {
                self.entries.push(Entry {
                    name,
                    kind: Kind::Dir,
                    mode: 0o755,
                    uid: 0,
                    gid: 0,
                });
            }
        }
        let name = if matches!(kind, Kind::Dir) {
            format!("./{clean}/")
        } else {
            format!("./{clean}")
        };
        self.entries.push(Entry {
            name,
            kind,
            mode,
            uid: 0,
            gid: 0,
        });
        self
    }

    /// The control file this package gets.
    pub fn control_text(&self) -> String {
        format!(
            "Package: {}\nVersion: {}\nArchitecture: {}\nMaintainer: Test <test@example.org>\n{}Description: synthetic test package\n a package built by the debless tests\n",
            self.name, self.version, self.arch, self.extra_control
        )
    }

    /// The md5sums file: regular files only, two spaces, no leading `./`.
    pub fn md5sums_text(&self) -> String {
        let mut out = String::new();
        for entry in &self.entries {
            if let Kind::File(data) = &entry.kind {
                let digest = md5::Md5::digest(data);
                out.push_str(&format!(
                    "{}  {}\n",
                    hex::encode(digest),
                    entry.name.trim_start_matches("./")
                ));
            }
        }
        out
    }

    /// The `.deb` bytes.
    pub fn build(&self) -> Vec<u8> {
        let mut control_entries = vec![
            Entry {
                name: "./".into(),
                kind: Kind::Dir,
                mode: 0o755,
                uid: 0,
                gid: 0,
            },
            Entry {
                name: "./control".into(),
                kind: Kind::File(self.control_text().into_bytes()),
                mode: 0o644,
                uid: 0,
                gid: 0,
            },
            Entry {
                name: "./md5sums".into(),
                kind: Kind::File(self.md5sums_text().into_bytes()),
                mode: 0o644,
                uid: 0,
                gid: 0,
            },
        ];
        control_entries.extend(self.control_members.iter().map(|(name, bytes)| Entry {
            name: format!("./{name}"),
            kind: Kind::File(bytes.clone()),
            mode: 0o755,
            uid: 0,
            gid: 0,
        }));
        let mut data_entries = vec![Entry {
            name: "./".into(),
            kind: Kind::Dir,
            mode: 0o755,
            uid: 0,
            gid: 0,
        }];
        data_entries.extend(self.entries.iter().cloned());
        let control_tar = compress(&tar_bytes(&control_entries, self.mtime), self.compression);
        let data_tar = compress(&tar_bytes(&data_entries, self.mtime), self.compression);
        let suffix = match self.compression {
            Comp::None => "",
            Comp::Gz => ".gz",
            Comp::Xz => ".xz",
            Comp::Zst => ".zst",
        };
        let mut out = b"!<arch>\n".to_vec();
        ar_member(&mut out, "debian-binary", self.debian_binary.as_bytes());
        ar_member(&mut out, &format!("control.tar{suffix}"), &control_tar);
        ar_member(&mut out, &format!("data.tar{suffix}"), &data_tar);
        out
    }

    /// Writes the `.deb` into `dir` and describes it as the fetch stage would.
    pub fn write(&self, dir: &Path) -> PackageDeb {
        let path = dir.join(format!("{}_{}_{}.deb", self.name, self.version, self.arch));
        std::fs::write(&path, self.build()).expect("write test .deb");
        PackageDeb {
            name: self.name.clone(),
            version: self.version.clone(),
            arch: self.arch.clone(),
            path,
        }
    }
}

/// Writes several packages into `dir`, in order.
pub fn write_all(dir: &Path, debs: &[DebBuilder]) -> Vec<PackageDeb> {
    debs.iter().map(|d| d.write(dir)).collect()
}

fn ar_member(out: &mut Vec<u8>, name: &str, data: &[u8]) {
    writeln!(
        out,
        "{name:<16}{:<12}{:<6}{:<6}{:<8}{:<10}`",
        1_700_000_000,
        0,
        0,
        "100644",
        data.len()
    )
    .expect("vec write");
    out.extend_from_slice(data);
    if data.len() % 2 == 1 {
        out.push(b'\n');
    }
}

/// A GNU tar written header by header, names verbatim (GNU `L`/`K` records when long).
fn tar_bytes(entries: &[Entry], mtime: u64) -> Vec<u8> {
    let mut out = Vec::new();
    for entry in entries {
        let (type_byte, data, link): (u8, &[u8], Option<&str>) = match &entry.kind {
            Kind::Dir => (b'5', &[], None),
            Kind::File(data) => (b'0', data, None),
            Kind::Symlink(target) => (b'2', &[], Some(target)),
            Kind::Hardlink(target) => (b'1', &[], Some(target)),
            Kind::Other(byte) => (*byte, &[], None),
        };
        if let Some(target) = link.filter(|t| t.len() > 100) {
            long_record(&mut out, b'K', target.as_bytes());
        }
        if entry.name.len() > 100 {
            long_record(&mut out, b'L', entry.name.as_bytes());
        }
        let mut header = tar::Header::new_gnu();
        {
            let old = header.as_old_mut();
            let n = entry.name.len().min(100);
            old.name[..n].copy_from_slice(&entry.name.as_bytes()[..n]);
            if let Some(target) = link {
                let n = target.len().min(100);
                old.linkname[..n].copy_from_slice(&target.as_bytes()[..n]);
            }
        }
        header.set_mode(entry.mode);
        header.set_uid(entry.uid);
        header.set_gid(entry.gid);
        header.set_mtime(mtime);
        header.set_size(data.len() as u64);
        header.set_entry_type(tar::EntryType::new(type_byte));
        if let Some(gnu) = header.as_gnu_mut() {
            gnu.uname[..4].copy_from_slice(b"root");
            gnu.gname[..4].copy_from_slice(b"root");
        }
        header.set_cksum();
        out.extend_from_slice(header.as_bytes());
        pad_data(&mut out, data);
    }
    out.extend_from_slice(&[0u8; 1024]);
    out
}

fn long_record(out: &mut Vec<u8>, type_byte: u8, value: &[u8]) {
    let mut header = tar::Header::new_gnu();
    header.as_old_mut().name[..13].copy_from_slice(b"././@LongLink");
    header.set_mode(0o644);
    header.set_uid(0);
    header.set_gid(0);
    header.set_mtime(0);
    header.set_size(value.len() as u64 + 1);
    header.set_entry_type(tar::EntryType::new(type_byte));
    header.set_cksum();
    out.extend_from_slice(header.as_bytes());
    let mut data = value.to_vec();
    data.push(0);
    pad_data(out, &data);
}

fn pad_data(out: &mut Vec<u8>, data: &[u8]) {
    out.extend_from_slice(data);
    let rem = data.len() % 512;
    if rem != 0 {
        out.extend(std::iter::repeat_n(0u8, 512 - rem));
    }
}

fn compress(bytes: &[u8], compression: Comp) -> Vec<u8> {
    match compression {
        Comp::None => bytes.to_vec(),
        Comp::Gz => {
            let mut encoder =
                flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
            encoder.write_all(bytes).expect("gzip");
            encoder.finish().expect("gzip")
        }
        Comp::Xz => {
            let mut encoder = liblzma::write::XzEncoder::new(Vec::new(), 6);
            encoder.write_all(bytes).expect("xz");
            encoder.finish().expect("xz")
        }
        Comp::Zst => zstd::encode_all(bytes, 3).expect("zstd"),
    }
}
