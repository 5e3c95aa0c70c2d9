//! Mirror discovery as apt does it (sources.list(5), debian-notes §1.1a): `DEBLESS_MIRROR`
//! (+ `DEBLESS_SECURITY_MIRROR`) when set, else the host's apt sources under
//! `$DEBLESS_APT_ETC` (default `/etc/apt`): deb822 `sources.list.d/*.sources` files, then
//! one-line `sources.list` entries.
//!
//! The archive root is the first URI serving a suite that is not `*-security`; the security
//! root is the URI of an entry whose suites end in `-security`. No mirror name is built in.

use std::path::{Path, PathBuf};

use crate::debian::deb822;
use crate::env;

/// The archive roots suites are fetched from (no trailing slash).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mirrors {
    /// `http://host/debian`.
    pub debian: String,
    /// `http://host/debian-security`, when known.
    pub security: Option<String>,
}

/// Why no mirror could be found or used.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum MirrorError {
    #[error(
        "no Debian mirror: set `{}` or add a `deb` source under `{apt_etc}`",
        env::DEBLESS_MIRROR
    )]
    NotFound { apt_etc: String },
    #[error("cannot read `{path}`: {reason}")]
    Read { path: String, reason: String },
    #[error("`{path}`: {reason}")]
    Syntax { path: String, reason: String },
    #[error(
        "no security mirror for suite `{suite}`: set `{}` or add a `*-security` source",
        env::DEBLESS_SECURITY_MIRROR
    )]
    NoSecurity { suite: String },
}

impl MirrorError {
    /// How a person fixes it.
    pub fn hint(&self) -> &'static str {
        match self {
            MirrorError::NoSecurity { .. } => {
                "set DEBLESS_SECURITY_MIRROR=http://<host>/debian-security or give the [[source]] a `url`"
            }
            _ => {
                "set DEBLESS_MIRROR=http://<host>/debian, give each [[source]] a `url`, or pass --mirror URL"
            }
        }
    }
}

/// One `deb` source: its URIs and suites.
#[derive(Debug, PartialEq, Eq)]
struct Source {
    uris: Vec<String>,
    suites: Vec<String>,
}

impl Mirrors {
    /// Finds the mirrors: `mirror` (and `security`) when given (the CLI reads them from
    /// `DEBLESS_MIRROR` and `DEBLESS_SECURITY_MIRROR`), else the apt sources under `apt_etc`.
    pub fn discover(
        mirror: Option<String>,
        security: Option<String>,
        apt_etc: &Path,
    ) -> Result<Mirrors, MirrorError> {
        let trim = |uri: String| uri.trim_end_matches('/').to_owned();
        // With DEBLESS_MIRROR set, apt sources only help find a security root: unreadable
        // ones are not an error then.
        let sources = match (&mirror, read_apt_sources(apt_etc)) {
            (_, Ok(sources)) => sources,
            (Some(_), Err(_)) => Vec::new(),
            (None, Err(err)) => return Err(err),
        };
        let from_apt_security = || {
            sources
                .iter()
                .find(|s| s.suites.iter().any(|suite| is_security(suite)))
                .and_then(|s| s.uris.first().cloned())
                .map(trim)
        };
        if let Some(mirror) = mirror {
            let debian = trim(mirror);
            let security = security
                .map(trim)
                .or_else(from_apt_security)
                .or_else(|| sibling_security(&debian));
            return Ok(Mirrors { debian, security });
        }
        let debian = sources
            .iter()
            .find(|s| s.suites.iter().any(|suite| !is_security(suite)))
            .and_then(|s| s.uris.first().cloned())
            .map(trim)
            .ok_or_else(|| MirrorError::NotFound {
                apt_etc: apt_etc.display().to_string(),
            })?;
        let security = security.map(trim).or_else(from_apt_security);
        Ok(Mirrors { debian, security })
    }

    /// The root serving `suite`: the security root for `*-security` suites.
    pub fn root_for(&self, suite: &str) -> Result<&str, MirrorError> {
        if is_security(suite) {
            self.security
                .as_deref()
                .ok_or_else(|| MirrorError::NoSecurity {
                    suite: suite.to_owned(),
                })
        } else {
            Ok(&self.debian)
        }
    }
}

fn is_security(suite: &str) -> bool {
    suite.ends_with("-security")
}

/// `<parent of the archive root>/debian-security`, the layout Debian mirrors use.
fn sibling_security(debian: &str) -> Option<String> {
    let (parent, _) = debian.rsplit_once('/')?;
    parent
        .contains("://")
        .then(|| format!("{parent}/debian-security"))
}

/// Every enabled `deb` source: `.sources` files in name order, then `sources.list`.
fn read_apt_sources(apt_etc: &Path) -> Result<Vec<Source>, MirrorError> {
    let read_error = |path: &Path, err: std::io::Error| MirrorError::Read {
        path: path.display().to_string(),
        reason: err.to_string(),
    };
    let mut sources = Vec::new();
    let dir = apt_etc.join("sources.list.d");
    let mut files: Vec<PathBuf> = match std::fs::read_dir(&dir) {
        Ok(entries) => entries
            .filter_map(Result::ok)
            .map(|entry| entry.path())
            .filter(|path| path.extension().is_some_and(|ext| ext == "sources"))
            .collect(),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(err) => return Err(read_error(&dir, err)),
    };
    files.sort();
    for path in files {
        let text = std::fs::read_to_string(&path).map_err(|err| read_error(&path, err))?;
        sources.extend(
            parse_deb822_sources(&text).map_err(|reason| MirrorError::Syntax {
                path: path.display().to_string(),
                reason,
            })?,
        );
    }
    let list = apt_etc.join("sources.list");
    match std::fs::read_to_string(&list) {
        Ok(text) => sources.extend(parse_one_line_sources(&text)),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
        Err(err) => return Err(read_error(&list, err)),
    }
    Ok(sources)
}

/// The `deb` stanzas of a `.sources` file (`Enabled: no` skipped).
fn parse_deb822_sources(text: &str) -> Result<Vec<Source>, String> {
    let mut sources = Vec::new();
    for stanza in deb822::Stanzas::new(text) {
        let stanza = stanza.map_err(|err| err.to_string())?;
        let words = |name: &str| -> Vec<String> {
            stanza
                .get(name)
                .map(|v| v.split_whitespace().map(str::to_owned).collect())
                .unwrap_or_default()
        };
        let enabled = stanza
            .get("Enabled")
            .is_none_or(|v| !v.trim().eq_ignore_ascii_case("no"));
        if !enabled || !words("Types").iter().any(|t| t == "deb") {
            continue;
        }
        let (uris, suites) = (words("URIs"), words("Suites"));
        if !uris.is_empty() && !suites.is_empty() {
            sources.push(Source { uris, suites });
        }
    }
    Ok(sources)
}

/// The `deb [options] URI suite [components]` lines of a `sources.list`.
fn parse_one_line_sources(text: &str) -> Vec<Source> {
    text.lines()
        .filter_map(|line| {
            let line = line.split('#').next().unwrap_or("").trim();
            let rest = line.strip_prefix("deb")?;
            if !rest.starts_with([' ', '\t']) {
                return None; // `deb-src`
            }
            let mut rest = rest.trim_start();
            if let Some(options) = rest.strip_prefix('[') {
                rest = options.split_once(']')?.1.trim_start();
            }
            let mut words = rest.split_whitespace();
            let uri = words.next()?.to_owned();
            let suite = words.next()?.to_owned();
            Some(Source {
                uris: vec![uri],
                suites: vec![suite],
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fake_etc(sources: &[(&str, &str)], list: Option<&str>) -> tempfile::TempDir {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir(dir.path().join("sources.list.d")).expect("mkdir");
        for (name, text) in sources {
            std::fs::write(dir.path().join("sources.list.d").join(name), text).expect("write");
        }
        if let Some(list) = list {
            std::fs::write(dir.path().join("sources.list"), list).expect("write");
        }
        dir
    }

    const DEBIAN_SOURCES: &str = "\
# Types: deb
# URIs: http://snapshot.test/archive/debian/20260101T000000Z
# Suites: bookworm

Types: deb deb-src
URIs: http://mirror.test/debian/ http://second.test/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: http://mirror.test/debian-security
Suites: bookworm-security
Components: main
";

    #[test]
    fn reads_deb822_sources() {
        let etc = fake_etc(&[("debian.sources", DEBIAN_SOURCES)], None);
        let mirrors = Mirrors::discover(None, None, etc.path()).expect("found");
        assert_eq!(
            mirrors,
            Mirrors {
                debian: "http://mirror.test/debian".into(),
                security: Some("http://mirror.test/debian-security".into()),
            }
        );
        assert_eq!(
            mirrors.root_for("bookworm-security"),
            Ok("http://mirror.test/debian-security")
        );
        assert_eq!(mirrors.root_for("trixie"), Ok("http://mirror.test/debian"));
    }

    #[test]
    fn skips_disabled_and_source_only_stanzas() {
        let text = "Types: deb\nURIs: http://off.test/debian\nSuites: trixie\nEnabled: no\n\n\
                    Types: deb-src\nURIs: http://src.test/debian\nSuites: trixie\n\n\
                    Types: deb\nURIs: http://on.test/debian\nSuites: trixie\n";
        let etc = fake_etc(&[("a.sources", text), ("ignored.list.bak", "junk")], None);
        let mirrors = Mirrors::discover(None, None, etc.path()).expect("found");
        assert_eq!(mirrors.debian, "http://on.test/debian");
        assert_eq!(mirrors.security, None);
        assert_eq!(
            mirrors.root_for("trixie-security"),
            Err(MirrorError::NoSecurity {
                suite: "trixie-security".into()
            })
        );
    }

    #[test]
    fn reads_one_line_sources_list() {
        let list = "# deb http://commented.test/debian bookworm main\n\
                    deb-src http://src.test/debian bookworm main\n\
                    deb [arch=amd64 signed-by=/k.gpg] http://mirror.test/debian bookworm main\n\
                    deb http://mirror.test/debian-security bookworm-security main\n";
        let etc = fake_etc(&[], Some(list));
        let mirrors = Mirrors::discover(None, None, etc.path()).expect("found");
        assert_eq!(mirrors.debian, "http://mirror.test/debian");
        assert_eq!(
            mirrors.security.as_deref(),
            Some("http://mirror.test/debian-security")
        );
    }

    #[test]
    fn environment_wins_and_security_falls_back_to_the_sibling() {
        let empty = fake_etc(&[], None);
        let mirrors = Mirrors::discover(Some("http://env.test/debian/".into()), None, empty.path())
            .expect("from env");
        assert_eq!(mirrors.debian, "http://env.test/debian");
        assert_eq!(
            mirrors.security.as_deref(),
            Some("http://env.test/debian-security")
        );
        let explicit = Mirrors::discover(
            Some("http://env.test/debian".into()),
            Some("http://sec.test/ds".into()),
            empty.path(),
        )
        .expect("from env");
        assert_eq!(explicit.security.as_deref(), Some("http://sec.test/ds"));
        let etc = fake_etc(&[("debian.sources", DEBIAN_SOURCES)], None);
        let with_apt = Mirrors::discover(Some("http://env.test/debian".into()), None, etc.path())
            .expect("from env");
        assert_eq!(
            with_apt.security.as_deref(),
            Some("http://mirror.test/debian-security")
        );
    }

    #[test]
    fn nothing_configured_is_a_clear_error() {
        let empty = fake_etc(&[], None);
        let err = Mirrors::discover(None, None, empty.path()).expect_err("no mirror");
        assert!(err.to_string().contains("DEBLESS_MIRROR"), "{err}");
    }
}
