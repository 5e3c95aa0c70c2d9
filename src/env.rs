//! Every environment variable debless reads, in one place, each with why it exists, and the
//! [`Settings`] the binary builds from them once at start-up. Library stages and operations
//! take these values as arguments and never read the environment themselves.

use std::path::PathBuf;

use crate::net::{CERTS_D, Trust};
use crate::registry::auth::RegistryAuth;
use crate::repo::{MirrorError, Mirrors};

/// What the environment says, read once by the binary and passed down to [`crate::ops`].
/// Programs using debless as a library fill it themselves (or start from [`Settings::from_env`]).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Settings {
    /// The cache root (indices, `.deb` files, base-image blobs).
    pub cache_dir: PathBuf,
    /// `DEBLESS_MIRROR`: the archive root for suites whose `[[source]]` has no `url`.
    pub mirror: Option<String>,
    /// `DEBLESS_SECURITY_MIRROR`: the archive root for `*-security` suites.
    pub security_mirror: Option<String>,
    /// apt's configuration directory, read for mirrors when `mirror` is unset.
    pub apt_etc: PathBuf,
    /// The os-release(5) file `init` reads the host's codename from.
    pub os_release: PathBuf,
    /// `SOURCE_DATE_EPOCH` as given (parsed, with an error naming it, by the build).
    pub source_date_epoch: Option<String>,
    /// `DEBLESS_SNAPSHOT`: the snapshot service `build` falls back to for `.deb`s the mirror
    /// no longer serves (a source's `snapshot` key wins; Debian's by default).
    pub snapshot: Option<String>,
    /// `SSL_CERT_FILE` and `SSL_CERT_DIR`: the CA store debless's own HTTPS trusts, as curl
    /// and OpenSSL read them (see [`crate::net`]).
    pub tls: Trust,
    /// docker's and podman's per-registry CA directories (`<dir>/<registry>/*.crt`); not
    /// variables, but host configuration read like them ([`CERTS_D`] from [`Settings::from_env`]).
    pub certs_d: Vec<PathBuf>,
    /// Registry credentials: `DEBLESS_REGISTRY_USERNAME` + `DEBLESS_REGISTRY_PASSWORD`, and
    /// the auth files `REGISTRY_AUTH_FILE`, `DOCKER_CONFIG` and `HOME` point at.
    pub registry_auth: RegistryAuth,
}

impl Settings {
    /// Reads every variable debless knows.
    pub fn from_env() -> Self {
        Settings {
            cache_dir: default_cache_dir(),
            mirror: var(DEBLESS_MIRROR),
            security_mirror: var(DEBLESS_SECURITY_MIRROR),
            apt_etc: PathBuf::from(var(DEBLESS_APT_ETC).unwrap_or_else(|| "/etc/apt".to_owned())),
            os_release: PathBuf::from(
                var(DEBLESS_OS_RELEASE).unwrap_or_else(|| "/etc/os-release".to_owned()),
            ),
            source_date_epoch: var(SOURCE_DATE_EPOCH),
            snapshot: var(DEBLESS_SNAPSHOT).map(|v| v.trim_end_matches('/').to_owned()),
            tls: Trust {
                cert_file: var(SSL_CERT_FILE).map(PathBuf::from),
                cert_dirs: var(SSL_CERT_DIR)
                    .map(|dirs| std::env::split_paths(&dirs).collect())
                    .unwrap_or_default(),
            },
            certs_d: CERTS_D.iter().map(PathBuf::from).collect(),
            registry_auth: RegistryAuth::new(
                var(DEBLESS_REGISTRY_USERNAME),
                var(DEBLESS_REGISTRY_PASSWORD),
                var(REGISTRY_AUTH_FILE).map(PathBuf::from),
                var(DOCKER_CONFIG).map(PathBuf::from),
                var(HOME).map(PathBuf::from),
            ),
        }
    }

    /// The archive roots: the configured mirrors, else the host's apt sources.
    pub fn mirrors(&self) -> Result<Mirrors, MirrorError> {
        Mirrors::discover(
            self.mirror.clone(),
            self.security_mirror.clone(),
            &self.apt_etc,
        )
    }
}

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

/// Hidden, for tests: the layer format version `build` keys its layer cache with instead of
/// the built-in one, so a test can see a version bump invalidate every cached layer and image.
pub const DEBLESS_TEST_LAYER_FORMAT: &str = "DEBLESS_TEST_LAYER_FORMAT";

/// The CA bundle file debless's HTTPS trusts instead of `/etc/ssl/certs/ca-certificates.crt`
/// (OpenSSL's and curl's variable; a corporate proxy's CA goes here or in the system store).
pub const SSL_CERT_FILE: &str = "SSL_CERT_FILE";

/// Colon-separated directories of PEM CA files trusted instead of `/etc/ssl/certs`.
pub const SSL_CERT_DIR: &str = "SSL_CERT_DIR";

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

/// podman's auth file (`auths.<host>.auth`), searched before docker's.
pub const REGISTRY_AUTH_FILE: &str = "REGISTRY_AUTH_FILE";

/// docker's configuration directory (its `config.json` holds `auths`); without it,
/// `$HOME/.docker`.
pub const DOCKER_CONFIG: &str = "DOCKER_CONFIG";

/// The home directory, for `~/.docker/config.json`.
pub const HOME: &str = "HOME";
