//! A minimal reader for the `ar` container of a `.deb` (deb(5)): global magic, then 60-byte
//! member headers, each member padded to an even length.
//!
//! It only lists members and their byte ranges; the caller decides what to read. Written here
//! instead of depending on the `ar` crate because a .deb needs none of the GNU/BSD name tables.

use std::io::{Read, Seek, SeekFrom};

/// The global header every ar archive starts with.
const MAGIC: &[u8; 8] = b"!<arch>\n";
/// Size of one member header.
const HEADER_LEN: usize = 60;

/// One archive member: its name and where its bytes lie in the file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ArMember {
    /// The member name without padding or the optional trailing `/`.
    pub name: String,
    /// Offset of the first data byte.
    pub offset: u64,
    /// Length of the data, without padding.
    pub size: u64,
}

/// Why the ar container could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ArError {
    /// The file does not start with `!<arch>\n`.
    #[error("not an ar archive (bad magic)")]
    BadMagic,
    /// A member header is malformed or cut off.
    #[error("malformed ar member header at offset {offset}: {reason}")]
    BadHeader { offset: u64, reason: &'static str },
    /// A member's data runs past the end of the file.
    #[error(
        "ar member `{name}` is truncated: needs {needed} bytes at offset {offset}, file has {file_len}"
    )]
    Truncated {
        name: String,
        offset: u64,
        needed: u64,
        file_len: u64,
    },
    /// Reading failed.
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

/// Lists every member of an ar archive, checking that each lies within the file.
pub fn read_members<R: Read + Seek>(reader: &mut R) -> Result<Vec<ArMember>, ArError> {
    let file_len = reader.seek(SeekFrom::End(0))?;
    reader.seek(SeekFrom::Start(0))?;
    let mut magic = [0u8; 8];
    if file_len < MAGIC.len() as u64 {
        return Err(ArError::BadMagic);
    }
    reader.read_exact(&mut magic)?;
    if &magic != MAGIC {
        return Err(ArError::BadMagic);
    }
    let mut members = Vec::new();
    let mut offset = MAGIC.len() as u64;
    while offset < file_len {
        if file_len - offset < HEADER_LEN as u64 {
            return Err(ArError::BadHeader {
                offset,
                reason: "header cut off",
            });
        }
        reader.seek(SeekFrom::Start(offset))?;
        let mut header = [0u8; HEADER_LEN];
        reader.read_exact(&mut header)?;
        let member = parse_header(&header, offset)?;
        let data_start = offset + HEADER_LEN as u64;
        let end = data_start.checked_add(member.1).ok_or(ArError::BadHeader {
            offset,
            reason: "size overflows",
        })?;
        if end > file_len {
            return Err(ArError::Truncated {
                name: member.0,
                offset: data_start,
                needed: member.1,
                file_len,
            });
        }
        members.push(ArMember {
            name: member.0,
            offset: data_start,
            size: member.1,
        });
        // Members are padded to an even length; the final pad byte may be missing.
        offset = end + (end % 2);
    }
    Ok(members)
}

/// Parses a 60-byte header into (name, size).
fn parse_header(header: &[u8; HEADER_LEN], offset: u64) -> Result<(String, u64), ArError> {
    if &header[58..60] != b"`\n" {
        return Err(ArError::BadHeader {
            offset,
            reason: "missing header terminator",
        });
    }
    let name = std::str::from_utf8(&header[0..16])
        .map_err(|_| ArError::BadHeader {
            offset,
            reason: "name is not UTF-8",
        })?
        .trim_end_matches(' ');
    let name = name.strip_suffix('/').unwrap_or(name).to_owned();
    if name.is_empty() {
        return Err(ArError::BadHeader {
            offset,
            reason: "empty member name",
        });
    }
    let size = std::str::from_utf8(&header[48..58])
        .ok()
        .map(str::trim_end)
        .and_then(|s| s.parse::<u64>().ok())
        .ok_or(ArError::BadHeader {
            offset,
            reason: "size is not a decimal number",
        })?;
    Ok((name, size))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    fn member(name: &str, data: &[u8]) -> Vec<u8> {
        let mut out = format!(
            "{name:<16}{:<12}{:<6}{:<6}{:<8}{:<10}`\n",
            0,
            0,
            0,
            "100644",
            data.len()
        )
        .into_bytes();
        out.extend_from_slice(data);
        if data.len() % 2 == 1 {
            out.push(b'\n');
        }
        out
    }

    #[test]
    fn lists_members_with_padding() {
        let mut bytes = MAGIC.to_vec();
        bytes.extend(member("debian-binary", b"2.0\n"));
        bytes.extend(member("odd/", b"abc"));
        bytes.extend(member("last", b"xy"));
        let members = read_members(&mut Cursor::new(&bytes)).expect("valid archive");
        let names: Vec<_> = members.iter().map(|m| (m.name.as_str(), m.size)).collect();
        assert_eq!(names, [("debian-binary", 4), ("odd", 3), ("last", 2)]);
        let odd = &members[1];
        assert_eq!(
            &bytes[odd.offset as usize..(odd.offset + odd.size) as usize],
            b"abc"
        );
    }

    #[test]
    fn rejects_truncated_and_bad_magic() {
        let mut bytes = MAGIC.to_vec();
        bytes.extend(member("data.tar", b"0123456789"));
        bytes.truncate(bytes.len() - 3);
        assert!(matches!(
            read_members(&mut Cursor::new(&bytes)),
            Err(ArError::Truncated { ref name, .. }) if name == "data.tar"
        ));
        assert!(matches!(
            read_members(&mut Cursor::new(b"!<arch>")),
            Err(ArError::BadMagic)
        ));
        assert!(matches!(
            read_members(&mut Cursor::new(b"PK\x03\x04....")),
            Err(ArError::BadMagic)
        ));
    }
}
