//! `[[source]]` tables: which suites of which archives the packages come from.
//!
//! A suite without `url` is a Debian suite of the discovered mirror, so its name must be one
//! Debian has ([`crate::debian::release`]); near misses get a "did you mean".

use std::path::{Path, PathBuf};

use super::wire::SourceWire;
use crate::debian::release::{self, POCKETS};
use crate::debian::suggest::edit_distance;

/// One `[[source]]`: a suite of a Debian-shaped archive.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Source {
    pub suite: String,
    pub components: Vec<String>,
    /// Archive root given in the manifest; `None` means the discovered mirror.
    pub url: Option<String>,
    /// Keyring file (resolved against the manifest's directory); `None` means Debian's
    /// archive keys.
    pub keyring: Option<PathBuf>,
    /// The keyring path as written, which is what the lock digest covers: moving a project to
    /// another directory must not make its lock stale.
    pub keyring_as_written: Option<String>,
    /// Higher wins before version, like an apt pin (default 500).
    pub priority: i32,
    /// Snapshot service base (`https://snapshot.debian.org` style) that `build` falls back
    /// to when the mirror no longer serves a locked `.deb`; not a lock input.
    pub snapshot: Option<String>,
    /// `ca`: a PEM CA file (resolved against the manifest's directory) trusted for the
    /// servers of `url` and `snapshot` only; not a lock input (it decides whom debless
    /// talks to, not what resolves).
    pub ca: Option<PathBuf>,
}

impl Source {
    pub(super) fn validate(wire: SourceWire, base_dir: &Path) -> Result<Self, String> {
        let suite = wire.suite.trim().to_owned();
        if wire.url.is_none() {
            check_known_suite(&suite)?;
        } else if suite.is_empty() || suite.contains(char::is_whitespace) {
            return Err(format!("invalid suite `{suite}`"));
        }
        let components = wire.components.unwrap_or_else(|| vec!["main".to_owned()]);
        if components.is_empty() {
            return Err(format!("suite `{suite}`: `components` is empty"));
        }
        if let Some(url) = &wire.url
            && !(url.starts_with("http://") || url.starts_with("https://"))
        {
            return Err(format!(
                "suite `{suite}`: url `{url}` must start with http:// or https://"
            ));
        }
        if let Some(url) = &wire.snapshot
            && !(url.starts_with("http://") || url.starts_with("https://"))
        {
            return Err(format!(
                "suite `{suite}`: snapshot `{url}` must start with http:// or https://"
            ));
        }
        if wire.ca.as_deref().is_some_and(|ca| ca.trim().is_empty()) {
            return Err(format!("suite `{suite}`: `ca` is empty"));
        }
        if wire.ca.is_some() && wire.url.is_none() {
            return Err(format!(
                "suite `{suite}`: `ca` needs `url` (a discovered mirror's CA belongs in the system store or SSL_CERT_FILE)"
            ));
        }
        Ok(Self {
            ca: wire.ca.map(|ca| base_dir.join(ca)),
            snapshot: wire.snapshot.map(|u| u.trim_end_matches('/').to_owned()),
            suite,
            components,
            url: wire.url.map(|u| u.trim_end_matches('/').to_owned()),
            keyring: wire.keyring.as_ref().map(|k| base_dir.join(k)),
            keyring_as_written: wire.keyring,
            priority: wire.priority.unwrap_or(500),
        })
    }
}

/// Refuses suite names Debian does not have, suggesting the nearest one.
pub(super) fn check_known_suite(suite: &str) -> Result<(), String> {
    let codename = POCKETS
        .iter()
        .find_map(|pocket| suite.strip_suffix(pocket))
        .unwrap_or(suite);
    if release::is_known(codename) {
        return Ok(());
    }
    let mut known: Vec<String> = release::RELEASES
        .iter()
        .map(|(c, _)| *c)
        .chain(release::ALIASES.iter().copied())
        .map(str::to_owned)
        .collect();
    for c in ["bookworm", "trixie", "bullseye"] {
        known.extend(POCKETS.iter().map(|p| format!("{c}{p}")));
    }
    let hint = known
        .iter()
        .map(|k| (edit_distance(k, suite), k))
        .filter(|(d, _)| *d <= 2)
        .min()
        .map(|(_, k)| format!(" (did you mean `{k}`?)"))
        .unwrap_or_default();
    Err(format!(
        "unknown suite `{suite}`{hint}; Debian suites are bookworm, trixie, sid, … with optional -updates, -security, -backports (set `url` for other archives)"
    ))
}
