//! Temporary files that never outlive the run that made them, and modes the umask decides.
//!
//! Every temporary debless makes (a `.deb` or index being downloaded into the cache, a base
//! blob being pulled, the blob store of a build, a staged OCI layout or archive, a lock being
//! written) is created through this module, which:
//!
//! - names it `<prefix><pid>-<random>`, so a later run can tell whose it was;
//! - creates files with mode `0666` and lets the umask narrow it (`0644` under umask 022), as
//!   every tool that writes OCI layouts does: the result is renamed into place and must be
//!   readable by whoever the umask says (`tempfile` alone would leave `0600`);
//! - records its path in a process-wide list before the file exists.
//!
//! [`install`] starts a thread that waits for SIGINT or SIGTERM, removes every recorded path
//! that still exists (a persisted file has been renamed away, so removing its temporary name
//! is a no-op), and exits with 130 or 143 like a shell would. Nothing is ever unregistered:
//! a run makes at most a few hundred temporaries, and a stale entry costs one failed unlink.
//!
//! SIGKILL cannot be caught, so [`sweep`] removes what a killed run left: entries whose name
//! carries the pid of a process that no longer exists on this host and that have not changed
//! for [`DEAD_OWNER_GRACE`], and any entry untouched for [`ABANDONED_AFTER`] (names without a
//! pid, or a cache shared between hosts where pids mean nothing). A concurrent run's
//! temporaries carry a live pid and a fresh mtime, so they are never touched.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

/// Temporaries of a dead process younger than this are left alone (clock skew, pid reuse).
pub const DEAD_OWNER_GRACE: Duration = Duration::from_secs(120);
/// Temporaries untouched for this long are removed whoever made them.
pub const ABANDONED_AFTER: Duration = Duration::from_secs(24 * 3600);

/// Paths of the temporaries this process made, for the signal handler.
static LIVE: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());

fn register(path: &Path) {
    LIVE.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .push(path.to_owned());
}

fn pid_prefix(prefix: &str) -> String {
    format!("{prefix}{}-", std::process::id())
}

/// A temporary file in `dir`, mode `0666 & !umask`, removed on drop or on SIGINT/SIGTERM.
pub fn temp_file_in(dir: &Path, prefix: &str) -> io::Result<tempfile::NamedTempFile> {
    let prefix = pid_prefix(prefix);
    tempfile::Builder::new()
        .prefix(&prefix)
        .make_in(dir, |path| {
            register(path);
            let mut options = std::fs::OpenOptions::new();
            options.read(true).write(true).create_new(true);
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o666);
            options.open(path)
        })
}

/// A temporary directory in `dir`, mode `0777 & !umask`, removed on drop or on a signal.
pub fn temp_dir_in(dir: &Path, prefix: &str) -> io::Result<tempfile::TempDir> {
    let made = tempfile::Builder::new()
        .prefix(&pid_prefix(prefix))
        .tempdir_in(dir)?;
    register(made.path());
    Ok(made)
}

/// A temporary directory in the system temporary directory (`$TMPDIR`).
pub fn temp_dir(prefix: &str) -> io::Result<tempfile::TempDir> {
    temp_dir_in(&std::env::temp_dir(), prefix)
}

/// A scratch file in `dir` that never has a name (`O_TMPFILE` where the filesystem supports
/// it, else created and unlinked at once): the kernel frees it when the last handle closes,
/// so it needs no registration and survives no exit, not even SIGKILL.
pub fn anonymous_file_in(dir: &Path) -> io::Result<std::fs::File> {
    tempfile::tempfile_in(dir)
}

/// Removes every temporary this process registered; returns how many were still there.
pub fn remove_live() -> usize {
    let live = LIVE
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    remove_all(&live)
}

fn remove_all(paths: &[PathBuf]) -> usize {
    let mut removed = 0;
    // Newest first: a file inside a registered directory goes before the directory.
    for path in paths.iter().rev() {
        if remove_any(path) {
            removed += 1;
        }
    }
    removed
}

/// Removes a file or a directory tree; whether something was there.
fn remove_any(path: &Path) -> bool {
    match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.is_dir() => {
            // Another thread may still be adding files; a few tries settle it.
            for _ in 0..5 {
                if std::fs::remove_dir_all(path).is_ok() {
                    break;
                }
            }
            true
        }
        Ok(_) => std::fs::remove_file(path).is_ok(),
        Err(_) => false,
    }
}

/// Starts the SIGINT/SIGTERM handler: remove this run's temporaries, then exit 130 or 143.
/// Call once, early in `main`.
pub fn install() -> io::Result<()> {
    use signal_hook::consts::{SIGINT, SIGTERM};
    let mut signals = signal_hook::iterator::Signals::new([SIGINT, SIGTERM])?;
    std::thread::Builder::new()
        .name("debless-signals".into())
        .spawn(move || {
            if let Some(signal) = signals.forever().next() {
                remove_live();
                // Hold the list so no thread registers (and creates) another temporary.
                let _held = LIVE.lock();
                std::process::exit(128 + signal);
            }
        })?;
    Ok(())
}

/// The pid a temporary's name carries after `prefix`, if any.
fn owner_of(name: &str, prefix: &str) -> Option<u32> {
    let rest = name.strip_prefix(prefix)?;
    let (pid, _) = rest.split_once('-')?;
    pid.parse().ok()
}

/// Whether a process with this pid exists on this host; `None` when it cannot be told.
fn is_alive(pid: u32) -> Option<bool> {
    let proc = Path::new("/proc");
    if !proc.join("self").exists() {
        return None;
    }
    Some(proc.join(pid.to_string()).exists())
}

/// Removes the stale temporaries named `<prefix>…` directly in `dir` (see the module doc for
/// what stale means); returns how many were removed. A missing `dir` is not an error.
pub fn sweep(dir: &Path, prefix: &str, now: SystemTime) -> usize {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    let mut removed = 0;
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if !name.starts_with(prefix) {
            continue;
        }
        let Ok(meta) = entry.path().symlink_metadata() else {
            continue;
        };
        let age = meta
            .modified()
            .ok()
            .and_then(|m| now.duration_since(m).ok())
            .unwrap_or_default();
        let owner_dead = owner_of(name, prefix)
            .filter(|&pid| pid != std::process::id())
            .and_then(is_alive)
            .is_some_and(|alive| !alive);
        let stale = age >= ABANDONED_AFTER || (owner_dead && age >= DEAD_OWNER_GRACE);
        if stale && remove_any(&entry.path()) {
            removed += 1;
        }
    }
    removed
}

/// Where debless puts temporaries, as (directory, name prefix) pairs for [`sweep`]: the
/// cache's download directories and the system temporary directory.
pub fn temporary_places(cache_root: &Path) -> Vec<(PathBuf, &'static str)> {
    let tmp = std::env::temp_dir();
    vec![
        (cache_root.join("debs").join("sha256"), ".tmp-"),
        (cache_root.join("indices-v1").join("sha256"), ".tmp-"),
        (cache_root.join("oci-blobs-v1").join("sha256"), ".tmp-"),
        (cache_root.join("layers-v1").join("sha256"), ".tmp-"),
        (cache_root.join("layers-v1").join("refs"), ".tmp-"),
        (tmp.clone(), "debless-blobs-"),
        (tmp.clone(), "debless-base-"),
        (tmp.clone(), "debless-check-"),
        (tmp, "debless-push-"),
    ]
}

/// Start-up housekeeping: the signal handler, then a sweep of what killed runs left under
/// `cache_root` and in `$TMPDIR`. Failures only cost disk space, so they are ignored.
pub fn on_start(cache_root: &Path) {
    let _ = install();
    let now = SystemTime::now();
    for (dir, prefix) in temporary_places(cache_root) {
        sweep(&dir, prefix, now);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn temporaries_follow_the_umask_and_carry_the_pid() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = temp_file_in(dir.path(), ".tmp-").expect("file");
        let name = file
            .path()
            .file_name()
            .and_then(|n| n.to_str())
            .expect("utf-8");
        assert_eq!(owner_of(name, ".tmp-"), Some(std::process::id()));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = file
                .as_file()
                .metadata()
                .expect("meta")
                .permissions()
                .mode()
                & 0o777;
            // Whatever the umask, group/other read follow it rather than tempfile's 0600.
            let umask = 0o666 & !mode;
            assert_eq!(mode, 0o666 & !umask);
        }
    }

    #[test]
    fn sweeps_only_stale_temporaries() {
        let dir = tempfile::tempdir().expect("tempdir");
        let live = temp_file_in(dir.path(), ".tmp-").expect("live");
        // A pid that cannot exist (above pid_max) stands for a killed run.
        let dead = dir.path().join(".tmp-4294967-abc");
        std::fs::write(&dead, b"x").expect("write");
        let unrelated = dir.path().join("0123abcd");
        std::fs::write(&unrelated, b"x").expect("write");
        let now = SystemTime::now();
        assert_eq!(sweep(dir.path(), ".tmp-", now), 0, "too fresh to judge");
        let later = now + DEAD_OWNER_GRACE + Duration::from_secs(1);
        assert_eq!(sweep(dir.path(), ".tmp-", later), 1);
        assert!(!dead.exists());
        assert!(live.path().exists(), "this process is alive");
        assert!(unrelated.exists(), "not a temporary");
        let much_later = now + ABANDONED_AFTER + Duration::from_secs(1);
        assert_eq!(sweep(dir.path(), ".tmp-", much_later), 1, "abandoned");
        assert!(unrelated.exists());
    }

    #[test]
    fn registered_paths_are_removed_files_and_trees_alike() {
        let dir = tempfile::tempdir().expect("tempdir");
        let kept = temp_dir_in(dir.path(), "debless-blobs-")
            .expect("dir")
            .keep();
        std::fs::write(kept.join("blob"), b"x").expect("write");
        let file = temp_file_in(dir.path(), ".tmp-").expect("file");
        let (_, file) = file.keep().expect("keep");
        let registered = LIVE
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone();
        assert!(registered.contains(&kept) && registered.contains(&file));
        let gone = dir.path().join("persisted-and-renamed");
        assert_eq!(remove_all(&[kept.clone(), file.clone(), gone]), 2);
        assert!(!kept.exists() && !file.exists());
    }
}
