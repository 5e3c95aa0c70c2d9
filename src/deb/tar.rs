//! Decompression of the tar members of a `.deb` and a visitor over their entries.
//!
//! Entries are handed out one at a time with their bytes read (into memory, or into a scratch
//! file for large ones), so a caller can keep what it needs (the rootfs keeps everything; tests
//! keep listings). Paths are returned as written in
//! the archive (`./usr/bin/x`); normalising and refusing hostile names is the rootfs's job.

use std::io::{self, Read};
use std::sync::Arc;

use super::content::{Content, SpillFile};

/// The compressions a `.deb` member may use (deb(5)), named by
/// [`MemberCompression::from_member_name`]; the type is shared with every other decompressing
/// reader.
pub use crate::debian::compression::Compression as MemberCompression;

/// What kind of filesystem object a tar entry creates.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EntryKind {
    /// A directory.
    Dir,
    /// A regular file with its contents.
    File(Content),
    /// A symbolic link to the target, as written.
    Symlink(String),
    /// A hard link to an earlier entry of the same archive, as written (`./usr/bin/perl`).
    Hardlink(String),
    /// Anything else (device nodes, fifos, sockets): named by its tar type byte.
    Other(u8),
}

/// One entry of a data.tar, with its metadata taken verbatim from the header.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DataEntry {
    /// The path as written (`./usr/bin/x`, directories may end in `/`).
    pub path: String,
    /// What the entry creates.
    pub kind: EntryKind,
    /// Permission bits including setuid, setgid and sticky (`0o7777` mask).
    pub mode: u32,
    /// Numeric owner.
    pub uid: u64,
    /// Numeric group.
    pub gid: u64,
    /// Modification time, seconds since the epoch.
    pub mtime: i64,
}

/// Why an entry could not be read (the caller adds which .deb and member).
#[derive(Debug, thiserror::Error)]
pub enum TarError {
    /// The tar stream is corrupt or the decompressor failed.
    #[error("{0}")]
    Io(#[from] io::Error),
    /// A path or link target is not UTF-8.
    #[error("entry name is not UTF-8: {0:?}")]
    NotUtf8(String),
    /// A link entry has no target.
    #[error("link entry `{0}` has no target")]
    MissingLinkTarget(String),
}

/// Calls `visit` for every entry of an uncompressed tar stream, in archive order.
/// GNU long names and PAX paths are resolved by the `tar` crate.
pub fn visit_entries<R: Read, E: From<TarError>>(
    reader: R,
    spill: Option<&Arc<SpillFile>>,
    mut visit: impl FnMut(DataEntry) -> Result<(), E>,
) -> Result<(), E> {
    let mut archive = tar::Archive::new(reader);
    for entry in archive.entries().map_err(TarError::from)? {
        let mut entry = entry.map_err(TarError::from)?;
        let data_entry = read_entry(&mut entry, spill)?;
        visit(data_entry)?;
    }
    Ok(())
}

/// Converts one tar entry, reading a regular file's bytes.
fn read_entry<R: Read>(
    entry: &mut tar::Entry<'_, R>,
    spill: Option<&Arc<SpillFile>>,
) -> Result<DataEntry, TarError> {
    let path = utf8(entry.path_bytes().into_owned())?;
    let header = entry.header();
    let mode = header.mode()? & 0o7777;
    let uid = header.uid()?;
    let gid = header.gid()?;
    let mtime = i64::try_from(header.mtime()?).unwrap_or(i64::MAX);
    let entry_type = header.entry_type();
    let link_target = || -> Result<String, TarError> {
        let target = entry
            .link_name_bytes()
            .ok_or_else(|| TarError::MissingLinkTarget(path.clone()))?;
        utf8(target.into_owned())
    };
    let kind = match entry_type {
        tar::EntryType::Directory => EntryKind::Dir,
        tar::EntryType::Symlink => EntryKind::Symlink(link_target()?),
        tar::EntryType::Link => EntryKind::Hardlink(link_target()?),
        tar::EntryType::Regular | tar::EntryType::Continuous => {
            let size = entry.size();
            EntryKind::File(Content::from_reader(entry, size, spill)?)
        }
        other => EntryKind::Other(other.as_byte()),
    };
    Ok(DataEntry {
        path,
        kind,
        mode,
        uid,
        gid,
        mtime,
    })
}

fn utf8(bytes: Vec<u8>) -> Result<String, TarError> {
    String::from_utf8(bytes)
        .map_err(|e| TarError::NotUtf8(String::from_utf8_lossy(e.as_bytes()).into_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn visits_long_names_and_keeps_setuid() {
        let long = format!("./usr/share/{}/file", "d".repeat(120));
        let mut builder = tar::Builder::new(Vec::new());
        let mut header = tar::Header::new_gnu();
        header.set_mode(0o4755);
        header.set_uid(0);
        header.set_gid(0);
        header.set_mtime(0);
        header.set_size(3);
        header.set_entry_type(tar::EntryType::Regular);
        builder
            .append_data(&mut header, &long, &b"abc"[..])
            .expect("append");
        let bytes = builder.into_inner().expect("finish");
        let mut seen = Vec::new();
        visit_entries::<_, TarError>(&bytes[..], None, |e| {
            seen.push(e);
            Ok(())
        })
        .expect("readable");
        assert_eq!(seen.len(), 1);
        assert_eq!(seen[0].path, long);
        assert_eq!(seen[0].mode, 0o4755);
        assert_eq!(seen[0].kind, EntryKind::File(b"abc".into()));
    }
}
