//! The snapshot archive as the last place a locked `.deb` can come from.
//!
//! Debian removes superseded `.deb`s from its mirrors (every security update, every point
//! release), so a lock from last month stops building from a mirror. A snapshot service keeps
//! every state of the archive under `<base>/archive/<archive>/<YYYYMMDDTHHMMSSZ>/`, the same
//! layout as a mirror's root, so the lock's pool path is valid there too. The timestamp is the
//! `Date` of the Release the lock was resolved from; the service answers for the newest import
//! at or before it. An import usually lands some hours after the Release is signed, so a
//! second root one day later is tried as well: a pinned `.deb` is almost always still in the
//! archive then. Whatever the root, the bytes are verified against the lock's sha256 like a
//! mirror's, so a snapshot can only make a build possible, never change what it produces.

use crate::env::Settings;
use crate::lock::Lock;
use crate::manifest::Manifest;
use crate::timestamp::civil_from_days;

/// Debian's public snapshot service, used when neither the manifest nor the environment
/// names another.
pub const DEFAULT_BASE: &str = "https://snapshot.debian.org";

/// How far after the Release date the second root looks (one day).
const LATER: i64 = 86_400;

/// The archive name a suite lives under: `debian-security` for `*-security`, else `debian`.
pub fn archive_of(suite: &str) -> &'static str {
    if suite.ends_with("-security") || suite.ends_with("/updates") {
        "debian-security"
    } else {
        "debian"
    }
}

/// `YYYYMMDDTHHMMSSZ`, the timestamp spelling snapshot URLs use.
pub fn timestamp(secs: i64) -> String {
    let (y, m, d) = civil_from_days(secs.div_euclid(86_400));
    let rem = secs.rem_euclid(86_400);
    format!(
        "{y:04}{m:02}{d:02}T{:02}{:02}{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// The archive roots to try, in order, for a package of `suite` locked from a Release dated
/// `release_date` (unix seconds), under the snapshot service `base`.
pub fn roots(base: &str, suite: &str, release_date: i64) -> Vec<String> {
    let base = base.trim_end_matches('/');
    let archive = archive_of(suite);
    [release_date, release_date + LATER]
        .iter()
        .map(|&at| format!("{base}/archive/{archive}/{}", timestamp(at)))
        .collect()
}

/// The snapshot roots for a locked package of `suite`: under the source's `snapshot` key,
/// else `$DEBLESS_SNAPSHOT` (`settings.snapshot`), else [`DEFAULT_BASE`]; none when the lock
/// has no such suite.
pub fn roots_for(
    manifest: &Manifest,
    lock: &Lock,
    suite: &str,
    settings: &Settings,
) -> Vec<String> {
    let Some(locked) = lock.source(suite) else {
        return Vec::new();
    };
    let base = manifest
        .sources
        .iter()
        .find(|s| s.suite == suite)
        .and_then(|s| s.snapshot.clone())
        .or_else(|| settings.snapshot.clone())
        .unwrap_or_else(|| DEFAULT_BASE.to_owned());
    roots(&base, suite, locked.date)
}

/// Whether `root` is one of the snapshot roots [`roots`] makes (for "fetched from" lines).
pub fn is_snapshot_root(root: &str) -> bool {
    root.contains("/archive/debian/") || root.contains("/archive/debian-security/")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roots_follow_the_release_date_and_the_archive() {
        // Sat, 21 Nov 2026 09:15:44 UTC
        assert_eq!(
            roots("https://snap.example/", "bookworm", 1_795_252_544),
            [
                "https://snap.example/archive/debian/20261121T091544Z",
                "https://snap.example/archive/debian/20261122T091544Z",
            ]
        );
        assert_eq!(
            roots("http://s", "bookworm-security", 0)[0],
            "http://s/archive/debian-security/19700101T000000Z"
        );
        assert!(is_snapshot_root(&roots("http://s", "trixie", 0)[0]));
        assert!(!is_snapshot_root("http://mirror/debian"));
    }
}
