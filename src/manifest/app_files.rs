//! `[[image.files]]` and `[image] tars`: the application's own files, validated.
//!
//! Nothing here touches the disk: `src` paths are only joined to the manifest's directory, so
//! `lock` works before the application is built. `build` reads the files (see
//! `rootfs::app`), where a missing `src` is reported.
//!
//! The lock's input digest covers these *settings* (src, dst, mode, owner, tar paths) but not
//! the files' bytes: the bytes change on every application build and must not make the lock
//! stale, while the image digest `build` records in the lock covers them anyway.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use super::wire::FileWire;

/// Owners that may be given by name, as distroless images define them.
pub const NAMED_OWNERS: &[(&str, u64)] = &[("root", 0), ("nobody", 65534), ("nonroot", 65532)];

/// One `[[image.files]]` entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AppFile {
    /// The source resolved against the manifest's directory.
    pub src: PathBuf,
    /// The source as written (what the lock digest covers, so moving the project is harmless).
    pub src_as_written: String,
    /// Absolute destination; ending in `/` means "into this directory under the source's name".
    pub dst: String,
    /// Permission bits for regular files; `None`: 0755 if the source is executable, else 0644.
    pub mode: Option<u32>,
    /// Numeric owner.
    pub uid: u64,
    /// Numeric group.
    pub gid: u64,
}

/// One `[image] tars` entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AppTar {
    /// The archive resolved against the manifest's directory.
    pub path: PathBuf,
    /// The path as written.
    pub as_written: String,
}

/// Validates one `[[image.files]]` table.
pub fn validate_file(wire: FileWire, base_dir: &Path) -> Result<AppFile, String> {
    let at = |why: String| format!("`image.files`: {why}");
    if wire.src.trim().is_empty() {
        return Err(at("`src` is empty".into()));
    }
    check_dst(&wire.dst).map_err(at)?;
    let mode = wire
        .mode
        .as_deref()
        .map(parse_mode)
        .transpose()
        .map_err(at)?;
    let (uid, gid) = wire
        .owner
        .as_deref()
        .map(parse_owner)
        .transpose()
        .map_err(at)?
        .unwrap_or((0, 0));
    Ok(AppFile {
        src: base_dir.join(&wire.src),
        src_as_written: wire.src,
        dst: wire.dst,
        mode,
        uid,
        gid,
    })
}

/// Validates one `[image] tars` entry.
pub fn validate_tar(path: String, base_dir: &Path) -> Result<AppTar, String> {
    if path.trim().is_empty() {
        return Err("`image.tars`: an entry is empty".into());
    }
    Ok(AppTar {
        path: base_dir.join(&path),
        as_written: path,
    })
}

/// `dst` must be absolute, free of `.`/`..` components and NUL, and not the root itself.
fn check_dst(dst: &str) -> Result<(), String> {
    if !dst.starts_with('/') {
        return Err(format!(
            "dst `{dst}` must be an absolute path in the image, such as `/app/{dst}`"
        ));
    }
    if dst.contains('\0') {
        return Err(format!("dst `{dst}` contains a NUL byte"));
    }
    if dst.split('/').any(|c| c == ".." || c == ".") {
        return Err(format!(
            "dst `{dst}` must not contain `.` or `..` components"
        ));
    }
    if dst.split('/').any(|c| c.starts_with(".wh.")) {
        return Err(format!(
            "dst `{dst}`: `.wh.` names are OCI whiteouts and would delete files of the packages"
        ));
    }
    if dst.trim_matches('/').is_empty() {
        return Err(format!(
            "dst `{dst}` is the root directory; name a path below it"
        ));
    }
    Ok(())
}

/// An octal mode string (`"0755"`, `"755"`, `"4755"`), at most `07777`.
pub fn parse_mode(text: &str) -> Result<u32, String> {
    let digits = text.strip_prefix("0o").unwrap_or(text);
    match u32::from_str_radix(digits, 8) {
        Ok(mode) if !digits.is_empty() && mode <= 0o7777 => Ok(mode),
        _ => Err(format!(
            "mode `{text}` is not an octal permission string such as \"0644\" or \"0755\""
        )),
    }
}

/// `uid:gid` with each side a number or a known name, or a single name or number for both.
pub fn parse_owner(text: &str) -> Result<(u64, u64), String> {
    let id = |part: &str| -> Option<u64> {
        NAMED_OWNERS
            .iter()
            .find(|(name, _)| *name == part)
            .map(|(_, id)| *id)
            .or_else(|| part.parse().ok())
    };
    let parsed = match text.split_once(':') {
        Some((user, group)) => id(user).zip(id(group)),
        None => id(text).map(|both| (both, both)),
    };
    parsed.ok_or_else(|| {
        format!(
            "owner `{text}` must be numeric `uid:gid` (such as \"0:0\" or \"65532:65532\") or one of {}",
            NAMED_OWNERS
                .iter()
                .map(|(n, _)| format!("`{n}`"))
                .collect::<Vec<_>>()
                .join(", ")
        )
    })
}

/// The lines these settings add to the lock's input digest; none when there are none, so
/// older locks stay valid.
pub fn digest_lines(files: &[AppFile], tars: &[AppTar], canon: &mut String) {
    for tar in tars {
        let _ = writeln!(canon, "image.tar={}", tar.as_written);
    }
    for file in files {
        let mode = file.mode.map(|m| format!("{m:04o}")).unwrap_or_default();
        let _ = writeln!(
            canon,
            "image.file src={} dst={} mode={mode} owner={}:{}",
            file.src_as_written, file.dst, file.uid, file.gid
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wire(dst: &str, mode: Option<&str>, owner: Option<&str>) -> FileWire {
        FileWire {
            src: "dist/app".into(),
            dst: dst.into(),
            mode: mode.map(str::to_owned),
            owner: owner.map(str::to_owned),
        }
    }

    #[test]
    fn reads_modes_owners_and_resolves_src() {
        let file = validate_file(
            wire("/app/app", Some("0755"), Some("nonroot")),
            Path::new("/p"),
        )
        .expect("valid");
        assert_eq!(file.src, Path::new("/p/dist/app"));
        assert_eq!(file.mode, Some(0o755));
        assert_eq!((file.uid, file.gid), (65532, 65532));
        assert_eq!(parse_owner("1000:nobody"), Ok((1000, 65534)));
        assert_eq!(parse_owner("0:0"), Ok((0, 0)));
        assert_eq!(parse_mode("4755"), Ok(0o4755));
        let plain = validate_file(wire("/a", None, None), Path::new("/p")).expect("valid");
        assert_eq!((plain.mode, plain.uid, plain.gid), (None, 0, 0));
    }

    #[test]
    fn refuses_bad_values_naming_them() {
        let cases = [
            (wire("app/app", None, None), "`app/app` must be an absolute"),
            (wire("/app/../etc/x", None, None), "`..`"),
            (wire("/", None, None), "root directory"),
            (wire("/usr/.wh.bin", None, None), "whiteout"),
            (wire("/a", Some("0999"), None), "mode `0999`"),
            (wire("/a", Some("17777"), None), "mode `17777`"),
            (wire("/a", None, Some("daemon")), "owner `daemon`"),
            (wire("/a", None, Some("1:x")), "owner `1:x`"),
        ];
        for (input, needle) in cases {
            let err = validate_file(input, Path::new("/p")).expect_err(needle);
            assert!(err.contains(needle), "{err:?} should mention {needle:?}");
        }
    }

    #[test]
    fn digest_lines_cover_settings_only_when_present() {
        let mut empty = String::new();
        digest_lines(&[], &[], &mut empty);
        assert!(empty.is_empty());
        let file = validate_file(wire("/a", Some("755"), None), Path::new("/p")).expect("ok");
        let tar = validate_tar("b.tar".into(), Path::new("/p")).expect("ok");
        let mut canon = String::new();
        digest_lines(&[file], &[tar], &mut canon);
        assert_eq!(
            canon,
            "image.tar=b.tar\nimage.file src=dist/app dst=/a mode=0755 owner=0:0\n"
        );
    }
}
