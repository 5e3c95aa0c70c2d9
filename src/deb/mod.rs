//! Stage `deb`: reading `.deb` archives (deb(5)).
//!
//! A `.deb` is an ar archive of `debian-binary` (`2.x`), `control.tar[.gz|.xz|.zst]` and
//! `data.tar[.gz|.xz|.zst|.bz2|.lzma]`; members starting with `_` are ignored, as are members
//! after data.tar. [`Deb::open`] checks that structure and reads the control files eagerly
//! (they are small); [`Deb::visit_data`] streams data.tar entries from the file, so neither
//! the compressed nor the decompressed data.tar is ever held in memory, and large files' bytes
//! go to a scratch file ([`content`]). Paths are returned as written: checking them is
//! the rootfs's job, which knows the other packages.

pub mod ar;
pub mod content;
pub mod control;
pub mod tar;

use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

pub use self::content::{Content, SpillFile};
pub use self::control::ControlFiles;
pub use self::tar::{DataEntry, EntryKind, MemberCompression};

/// Why a `.deb` could not be read; every variant names the file and, where known, the member.
#[derive(Debug, thiserror::Error)]
pub enum DebError {
    /// The file could not be opened or read.
    #[error("cannot read `{}`: {source}", deb.display())]
    Io {
        deb: PathBuf,
        source: std::io::Error,
    },
    /// The ar container is malformed or truncated.
    #[error("`{}` is not a valid .deb: {source}", deb.display())]
    Ar { deb: PathBuf, source: ar::ArError },
    /// `debian-binary` is missing, misplaced or names an unsupported format.
    #[error("`{}`: unsupported `debian-binary` {found:?} (expected 2.x as the first member)", deb.display())]
    FormatVersion { deb: PathBuf, found: String },
    /// A required member is missing or has an unknown compression.
    #[error("`{}`: {what}", deb.display())]
    Members { deb: PathBuf, what: String },
    /// The `control` file names another package, version or architecture than the lock:
    /// the file is not the package the lock pins, whatever its sha256.
    #[error(
        "`{}`: the control file says {field} `{found}`, the lock says `{expected}`",
        deb.display()
    )]
    Identity {
        deb: PathBuf,
        field: &'static str,
        expected: String,
        found: String,
    },
    /// A member's contents could not be decompressed or parsed.
    #[error("`{}` member `{member}`: {reason}", deb.display())]
    Member {
        deb: PathBuf,
        member: String,
        reason: String,
    },
}

/// An opened `.deb`: its control files and where its data.tar lies.
#[derive(Clone, Debug)]
pub struct Deb {
    path: PathBuf,
    control: ControlFiles,
    data_member: ar::ArMember,
    data_compression: MemberCompression,
    /// Whether the whole file was checked against a trusted sha256 (see [`Deb::mark_verified`]).
    verified: bool,
}

impl Deb {
    /// Opens a `.deb`, checking the ar layout and `debian-binary`, and reads its control files.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, DebError> {
        let path = path.as_ref().to_path_buf();
        let io_err = |source| DebError::Io {
            deb: path.clone(),
            source,
        };
        let mut file = std::fs::File::open(&path).map_err(io_err)?;
        let members = ar::read_members(&mut file).map_err(|source| DebError::Ar {
            deb: path.clone(),
            source,
        })?;
        let mut members = members.into_iter().filter(|m| !m.name.starts_with('_'));

        let first = members.next();
        let version = match &first {
            Some(m) if m.name == "debian-binary" => {
                let bytes = read_member(&mut file, m, 64).map_err(io_err)?;
                String::from_utf8_lossy(&bytes).into_owned()
            }
            Some(m) => format!("(first member is `{}`)", m.name),
            None => "(empty archive)".to_owned(),
        };
        if !is_supported_format(&version) {
            return Err(DebError::FormatVersion {
                deb: path,
                found: version,
            });
        }

        let missing = |what: &str| DebError::Members {
            deb: path.clone(),
            what: what.to_owned(),
        };
        let control_member = members
            .next()
            .ok_or_else(|| missing("no control.tar member"))?;
        let control_compression =
            MemberCompression::from_member_name(&control_member.name, "control.tar", false)
                .ok_or_else(|| {
                    missing(&format!(
                        "expected control.tar, found `{}`",
                        control_member.name
                    ))
                })?;
        let data_member = members
            .next()
            .ok_or_else(|| missing("no data.tar member"))?;
        let data_compression =
            MemberCompression::from_member_name(&data_member.name, "data.tar", true).ok_or_else(
                || missing(&format!("expected data.tar, found `{}`", data_member.name)),
            )?;

        file.seek(SeekFrom::Start(control_member.offset))
            .map_err(io_err)?;
        let limited = (&mut file).take(control_member.size);
        let control = control_compression
            .decoder(limited)
            .map_err(|e| e.to_string())
            .and_then(|reader| control::read_control_tar(reader).map_err(|e| e.to_string()))
            .map_err(|reason| DebError::Member {
                deb: path.clone(),
                member: control_member.name.clone(),
                reason,
            })?;
        Ok(Self {
            path,
            control,
            data_member,
            data_compression,
            verified: false,
        })
    }

    /// Marks the file as checked in full against a trusted sha256 (the lock's): the
    /// compressor's own integrity check inside it then proves nothing more, so the data.tar
    /// is decoded without it (xz's CRC64 is a tenth of the decoding time).
    pub fn mark_verified(mut self) -> Self {
        self.verified = true;
        self
    }

    /// The file this was read from, for error messages.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The `control` file verbatim.
    pub fn control(&self) -> &[u8] {
        &self.control.control
    }

    /// Checks that the control file is the package the lock pins (Package, Version and
    /// Architecture equal), so a lock entry edited by hand cannot relabel a `.deb` in the
    /// image's dpkg database or SBOM.
    pub fn expect_identity(
        &self,
        name: &str,
        version: &str,
        architecture: &str,
    ) -> Result<(), DebError> {
        let mismatch = |field, expected: &str, found: String| DebError::Identity {
            deb: self.path.clone(),
            field,
            expected: expected.to_owned(),
            found,
        };
        let Some(found) = control::identity(&self.control.control) else {
            return Err(mismatch(
                "Package",
                name,
                "(no Package/Version/Architecture stanza)".to_owned(),
            ));
        };
        match control::first_difference(&found, name, version, architecture) {
            None => Ok(()),
            Some((field, expected, found)) => Err(mismatch(field, &expected, found)),
        }
    }

    /// The `md5sums` file verbatim, if the package has one.
    pub fn md5sums(&self) -> Option<&[u8]> {
        self.control.md5sums.as_deref()
    }

    /// The conffile paths the package declares (absolute).
    pub fn conffiles(&self) -> Vec<String> {
        self.control
            .conffiles
            .as_deref()
            .map(control::parse_conffiles)
            .unwrap_or_default()
    }

    /// The control files, once the data has been read.
    pub fn into_control_files(self) -> ControlFiles {
        self.control
    }

    /// The name of the data member (`data.tar.xz`), for error messages.
    pub fn data_member_name(&self) -> &str {
        &self.data_member.name
    }

    /// The decompressed data.tar as a byte stream (what `dpkg-deb --fsys-tarfile` prints):
    /// the raw material of a layer, and what `cargo xtask bench` measures as the floor.
    pub fn data_tar_reader(&self) -> Result<Box<dyn std::io::Read + Send + '_>, DebError> {
        let io_err = |source| DebError::Io {
            deb: self.path.clone(),
            source,
        };
        let mut file = std::fs::File::open(&self.path).map_err(io_err)?;
        file.seek(SeekFrom::Start(self.data_member.offset))
            .map_err(io_err)?;
        let member = std::io::BufReader::new(file.take(self.data_member.size));
        let decoder = if self.verified {
            self.data_compression.decoder_without_check(member)
        } else {
            self.data_compression.decoder(member)
        };
        decoder.map_err(|e| DebError::Member {
            deb: self.path.clone(),
            member: self.data_member.name.clone(),
            reason: e.to_string(),
        })
    }

    /// Streams every data.tar entry, in archive order, to `visit`; files over
    /// [`content::INLINE_MAX`] bytes go to `spill` when one is given. Decoding errors are
    /// reported as [`DebError::Member`]; errors from `visit` are passed through.
    pub fn visit_data<E: From<DebError>>(
        &self,
        spill: Option<&std::sync::Arc<SpillFile>>,
        mut visit: impl FnMut(DataEntry) -> Result<(), E>,
    ) -> Result<(), E> {
        let member_err = |reason: String| DebError::Member {
            deb: self.path.clone(),
            member: self.data_member.name.clone(),
            reason,
        };
        let reader = self.data_tar_reader()?;
        match tar::visit_entries(reader, spill, |entry| visit(entry).map_err(Stop::Visitor)) {
            Ok(()) => Ok(()),
            Err(Stop::Tar(e)) => Err(member_err(e.to_string()).into()),
            Err(Stop::Visitor(e)) => Err(e),
        }
    }

    /// Collects every data.tar entry, contents in memory; convenient for tests and small
    /// packages.
    pub fn data_entries(&self) -> Result<Vec<DataEntry>, DebError> {
        self.data_entries_spilled(None)
    }

    /// Collects every data.tar entry, the contents of large files in `spill`: what the rootfs
    /// keeps of a package, metadata only.
    pub fn data_entries_spilled(
        &self,
        spill: Option<&std::sync::Arc<SpillFile>>,
    ) -> Result<Vec<DataEntry>, DebError> {
        let mut entries = Vec::new();
        self.visit_data::<DebError>(spill, |entry| {
            entries.push(entry);
            Ok(())
        })?;
        Ok(entries)
    }
}

/// Why a data.tar walk stopped: the archive itself, or the visitor's own error.
enum Stop<E> {
    Tar(tar::TarError),
    Visitor(E),
}

impl<E> From<tar::TarError> for Stop<E> {
    fn from(e: tar::TarError) -> Self {
        Self::Tar(e)
    }
}

/// Reads a whole small member (at most `limit` bytes).
fn read_member(
    file: &mut std::fs::File,
    member: &ar::ArMember,
    limit: u64,
) -> std::io::Result<Vec<u8>> {
    file.seek(SeekFrom::Start(member.offset))?;
    let mut bytes = Vec::new();
    file.take(member.size.min(limit)).read_to_end(&mut bytes)?;
    Ok(bytes)
}

/// `2.0\n`, or a higher minor version; a new major version means a format we cannot read.
fn is_supported_format(text: &str) -> bool {
    let line = text.lines().next().unwrap_or("");
    line.split_once('.').is_some_and(|(major, minor)| {
        major == "2" && !minor.is_empty() && minor.bytes().all(|b| b.is_ascii_digit())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn format_versions() {
        assert!(is_supported_format("2.0\n"));
        assert!(is_supported_format("2.1\n"));
        assert!(!is_supported_format("3.0\n"));
        assert!(!is_supported_format("2\n"));
        assert!(!is_supported_format("(first member is `control.tar.xz`)"));
    }
}
