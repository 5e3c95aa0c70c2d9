//! The control member of a `.deb`: the files debless keeps (`control`, `md5sums`,
//! `conffiles`) pulled out of `control.tar`, and the few fields it reads from them.
//!
//! Maintainer scripts, triggers and templates are never run; `postinst` is kept only so that
//! `rootfs::alternatives` can read its `update-alternatives` calls.

use std::io::Read;

use super::tar::{EntryKind, TarError, visit_entries};

/// The control files debless uses, verbatim.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ControlFiles {
    /// The `control` file (the package's stanza, with full Description).
    pub control: Vec<u8>,
    /// The `md5sums` file, if the package has one.
    pub md5sums: Option<Vec<u8>>,
    /// The `conffiles` file, if the package has one.
    pub conffiles: Option<Vec<u8>>,
    /// The `postinst` script, read (never run) for its `update-alternatives` calls.
    pub postinst: Option<Vec<u8>>,
}

/// Why a control.tar did not yield a usable control file.
#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    /// The tar stream failed.
    #[error(transparent)]
    Tar(#[from] TarError),
    /// There is no `control` file.
    #[error("no `control` file")]
    MissingControl,
}

/// Reads `control`, `md5sums` and `conffiles` out of an uncompressed control.tar stream.
pub fn read_control_tar<R: Read>(reader: R) -> Result<ControlFiles, ControlError> {
    let mut control = None;
    let mut files = ControlFiles::default();
    visit_entries::<_, ControlError>(reader, None, |entry| {
        let EntryKind::File(data) = entry.kind else {
            return Ok(());
        };
        // No scratch file was given: the bytes are in memory, this is a move.
        let data = data.into_bytes().map_err(TarError::from)?;
        match entry.path.trim_start_matches("./") {
            "control" => control = Some(data),
            "md5sums" => files.md5sums = Some(data),
            "conffiles" => files.conffiles = Some(data),
            "postinst" => files.postinst = Some(data),
            _ => {}
        }
        Ok(())
    })?;
    files.control = control.ok_or(ControlError::MissingControl)?;
    Ok(files)
}

/// The identity a `.deb`'s `control` file claims: `Package`, `Version`, `Architecture`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Identity {
    pub package: String,
    pub version: String,
    pub architecture: String,
}

/// Reads [`Identity`] from a `control` file; `None` when it is not one deb822 stanza with the
/// three fields.
pub fn identity(control: &[u8]) -> Option<Identity> {
    let text = std::str::from_utf8(control).ok()?;
    let stanzas = crate::debian::deb822::parse(text).ok()?;
    let [stanza] = stanzas.as_slice() else {
        return None;
    };
    Some(Identity {
        package: stanza.get("Package")?.to_owned(),
        version: stanza.get("Version")?.to_owned(),
        architecture: stanza.get("Architecture")?.to_owned(),
    })
}

/// The first of `Package`, `Version`, `Architecture` where `found` differs from what the lock
/// says, as (field, expected, found).
pub fn first_difference(
    found: &Identity,
    name: &str,
    version: &str,
    architecture: &str,
) -> Option<(&'static str, String, String)> {
    [
        ("Package", name, &found.package),
        ("Version", version, &found.version),
        ("Architecture", architecture, &found.architecture),
    ]
    .into_iter()
    .find(|(_, expected, found)| expected != found)
    .map(|(field, expected, found)| (field, expected.to_owned(), found.clone()))
}

/// The absolute paths listed in a `conffiles` file (deb-conffiles(5)), without flags such as
/// `remove-on-upgrade`.
pub fn parse_conffiles(text: &[u8]) -> Vec<String> {
    String::from_utf8_lossy(text)
        .lines()
        .filter_map(|line| {
            let line = line.trim();
            if line.is_empty() {
                return None;
            }
            // A flag comes first when present: `remove-on-upgrade /etc/x`.
            line.split_whitespace().last().map(str::to_owned)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identity_is_the_three_fields_of_one_stanza() {
        let control = b"Package: libc6\nVersion: 2.36-9\nArchitecture: amd64\nDescription: x\n y\n";
        let found = identity(control).expect("identity");
        assert_eq!(first_difference(&found, "libc6", "2.36-9", "amd64"), None);
        assert_eq!(
            first_difference(&found, "libc6", "2.36-10", "amd64"),
            Some(("Version", "2.36-10".into(), "2.36-9".into()))
        );
        assert_eq!(identity(b"Package: a\nVersion: 1\n"), None);
        assert_eq!(identity(b"Package: a\n\nPackage: b\n"), None);
        assert_eq!(identity(&[0xff, 0xfe]), None);
    }

    fn control_tar(files: &[(&str, &[u8])]) -> Vec<u8> {
        let mut builder = tar::Builder::new(Vec::new());
        for (name, data) in files {
            let mut header = tar::Header::new_gnu();
            header.set_mode(0o644);
            header.set_uid(0);
            header.set_gid(0);
            header.set_mtime(0);
            header.set_size(data.len() as u64);
            builder
                .append_data(&mut header, name, *data)
                .expect("append");
        }
        builder.into_inner().expect("finish")
    }

    #[test]
    fn keeps_control_md5sums_and_conffiles() {
        let tar = control_tar(&[
            ("./control", b"Package: a\n"),
            ("./postinst", b"#!/bin/sh\n"),
            ("./md5sums", b"d41d8cd98f00b204e9800998ecf8427e  usr/x\n"),
        ]);
        let files = read_control_tar(&tar[..]).expect("valid");
        assert_eq!(files.control, b"Package: a\n");
        assert_eq!(
            files.md5sums.as_deref(),
            Some(&b"d41d8cd98f00b204e9800998ecf8427e  usr/x\n"[..])
        );
        assert_eq!(files.conffiles, None);
    }

    #[test]
    fn missing_control_is_an_error() {
        let tar = control_tar(&[("./md5sums", b"")]);
        assert!(matches!(
            read_control_tar(&tar[..]),
            Err(ControlError::MissingControl)
        ));
    }

    #[test]
    fn conffiles_drop_flags() {
        assert_eq!(
            parse_conffiles(b"/etc/a.conf\nremove-on-upgrade /etc/b.conf\n\n"),
            ["/etc/a.conf", "/etc/b.conf"]
        );
    }
}
