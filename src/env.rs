//! Every environment variable debless reads, in one place, each with why it exists.

use std::path::PathBuf;

/// Archive root to fetch Debian suites from (`http://host/debian`); overrides the host's apt
/// sources. A lock never records it: locks made on one mirror build from any other.
pub const DEBLESS_MIRROR: &str = "DEBLESS_MIRROR";

/// Archive root for `*-security` suites (`http://host/debian-security`), when the host's apt
/// sources do not name one.
pub const DEBLESS_SECURITY_MIRROR: &str = "DEBLESS_SECURITY_MIRROR";

/// Where verified indices and `.deb` files are cached (default: the XDG cache directory).
pub const DEBLESS_CACHE_DIR: &str = "DEBLESS_CACHE_DIR";

/// Directory holding apt's `sources.list` and `sources.list.d/` (default `/etc/apt`), so tests
/// can point mirror discovery at a fake host configuration.
pub const DEBLESS_APT_ETC: &str = "DEBLESS_APT_ETC";

/// The os-release(5) file `debless init` reads the host's Debian codename from (default
/// `/etc/os-release`), so tests can pretend to be another release.
pub const DEBLESS_OS_RELEASE: &str = "DEBLESS_OS_RELEASE";

/// Reproducible-builds timestamp: layer mtimes are clamped to it and the image's `created`
/// is set to it (reproducible-builds.org/specs/source-date-epoch).
pub const SOURCE_DATE_EPOCH: &str = "SOURCE_DATE_EPOCH";

/// Snapshot service base that `build` falls back to when the mirror answers 404 for a locked
/// `.deb` (default: Debian's public snapshot service); a source's `snapshot` key wins.
pub const DEBLESS_SNAPSHOT: &str = "DEBLESS_SNAPSHOT";

/// The snapshot base `$DEBLESS_SNAPSHOT` names, if any.
pub fn snapshot_base() -> Option<String> {
    var(DEBLESS_SNAPSHOT).map(|v| v.trim_end_matches('/').to_owned())
}

/// A non-empty value that is not `0`.
pub fn flag(name: &str) -> bool {
    std::env::var_os(name).is_some_and(|v| !v.is_empty() && v != "0")
}

/// A non-empty value, if set.
pub fn var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

/// The cache root: `$DEBLESS_CACHE_DIR`, else `$XDG_CACHE_HOME/debless`, else
/// `$HOME/.cache/debless`, else a directory under the system temp dir.
pub fn default_cache_dir() -> PathBuf {
    if let Some(dir) = var(DEBLESS_CACHE_DIR) {
        return PathBuf::from(dir);
    }
    if let Some(xdg) = var("XDG_CACHE_HOME") {
        return PathBuf::from(xdg).join("debless");
    }
    if let Some(home) = var("HOME") {
        return PathBuf::from(home).join(".cache").join("debless");
    }
    std::env::temp_dir().join("debless-cache")
}

/// User name for registries (with [`DEBLESS_REGISTRY_PASSWORD`]); otherwise credentials come
/// from `REGISTRY_AUTH_FILE` or `~/.docker/config.json` (see `registry::auth`).
pub const DEBLESS_REGISTRY_USERNAME: &str = "DEBLESS_REGISTRY_USERNAME";

/// Password or token for registries, with [`DEBLESS_REGISTRY_USERNAME`].
pub const DEBLESS_REGISTRY_PASSWORD: &str = "DEBLESS_REGISTRY_PASSWORD";
