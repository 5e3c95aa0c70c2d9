//! Which certificate authorities debless's own HTTPS trusts, and the one `reqwest` client
//! configuration every fetcher (mirrors, snapshot archive, registries) is built from.
//!
//! debless trusts what the host trusts, the way curl and OpenSSL do: the CA bundle file
//! (`SSL_CERT_FILE`, else `/etc/ssl/certs/ca-certificates.crt`, which
//! `update-ca-certificates` writes, corporate CAs from `/usr/local/share/ca-certificates`
//! included) and every PEM file of the CA directory (`SSL_CERT_DIR`, colon-separated, else
//! `/etc/ssl/certs`), on top of the Mozilla roots built into debless (`webpki-roots`), so a
//! host without ca-certificates still reaches public mirrors. The environment is read by
//! `env::Settings`; this module only gets the paths.

use std::path::{Path, PathBuf};
use std::time::Duration;

use reqwest::blocking::ClientBuilder;

/// The default CA bundle file, as Debian's ca-certificates writes it.
pub const SYSTEM_CA_FILE: &str = "/etc/ssl/certs/ca-certificates.crt";
/// The default CA directory.
pub const SYSTEM_CA_DIR: &str = "/etc/ssl/certs";

/// Where the trusted CA certificates come from (see the module doc).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Trust {
    /// `SSL_CERT_FILE`: replaces [`SYSTEM_CA_FILE`].
    pub cert_file: Option<PathBuf>,
    /// `SSL_CERT_DIR` entries: replace [`SYSTEM_CA_DIR`].
    pub cert_dirs: Vec<PathBuf>,
}

/// Why the trusted certificates could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A named CA file could not be read or holds no certificate.
    #[error("CA file `{}`: {reason}", path.display())]
    CaFile { path: PathBuf, reason: String },
}

impl Trust {
    /// The bundle file and directories in effect.
    fn sources(&self) -> (PathBuf, Vec<PathBuf>) {
        let file = self
            .cert_file
            .clone()
            .unwrap_or_else(|| PathBuf::from(SYSTEM_CA_FILE));
        let dirs = if self.cert_dirs.is_empty() {
            vec![PathBuf::from(SYSTEM_CA_DIR)]
        } else {
            self.cert_dirs.clone()
        };
        (file, dirs)
    }

    /// The CA store for error messages: `SSL_CERT_FILE=/x`, `/etc/ssl/certs`, built-in roots.
    pub fn describe(&self) -> String {
        let (file, dirs) = self.sources();
        let mut parts = vec![match &self.cert_file {
            Some(path) => format!("SSL_CERT_FILE={}", path.display()),
            None => file.display().to_string(),
        }];
        for dir in dirs {
            if self.cert_dirs.is_empty() {
                parts.push(format!("{}/*.pem", dir.display()));
            } else {
                parts.push(format!("SSL_CERT_DIR {}", dir.display()));
            }
        }
        parts.push("debless's built-in Mozilla roots".into());
        parts.join(", ")
    }

    /// Every trusted certificate as PEM bundles: the bundle file (an error when
    /// `SSL_CERT_FILE` names one that cannot be read; the default may be absent), then each
    /// directory's `*.pem`/`*.crt` files in name order (unreadable ones skipped, as OpenSSL
    /// does while searching).
    fn bundles(&self) -> Result<Vec<(PathBuf, Vec<u8>)>, TlsError> {
        let (file, dirs) = self.sources();
        let mut bundles = Vec::new();
        match std::fs::read(&file) {
            Ok(bytes) => bundles.push((file, bytes)),
            Err(err) if self.cert_file.is_some() => {
                return Err(TlsError::CaFile {
                    path: file,
                    reason: err.to_string(),
                });
            }
            Err(_) => {}
        }
        for dir in dirs {
            let Ok(entries) = std::fs::read_dir(&dir) else {
                continue;
            };
            let mut files: Vec<PathBuf> = entries
                .filter_map(Result::ok)
                .map(|entry| entry.path())
                .filter(|path| {
                    path.extension()
                        .is_some_and(|ext| ext == "pem" || ext == "crt")
                })
                .collect();
            files.sort();
            for path in files {
                if let Ok(bytes) = std::fs::read(&path) {
                    bundles.push((path, bytes));
                }
            }
        }
        Ok(bundles)
    }
}

/// The client configuration every debless fetcher starts from: user agent, timeouts, and the
/// roots of `trust` plus `extra_ca` (a source's or registry's own CA file).
pub fn client_builder(
    trust: &Trust,
    extra_ca: Option<&Path>,
    connect: Duration,
    read: Duration,
) -> Result<ClientBuilder, TlsError> {
    let mut builder = reqwest::blocking::Client::builder()
        .user_agent(concat!("debless/", env!("CARGO_PKG_VERSION")))
        .connect_timeout(connect)
        .timeout(read)
        .tls_built_in_root_certs(true);
    let mut bundles = trust.bundles()?;
    if let Some(path) = extra_ca {
        let bytes = std::fs::read(path).map_err(|err| TlsError::CaFile {
            path: path.to_owned(),
            reason: err.to_string(),
        })?;
        bundles.push((path.to_owned(), bytes));
    }
    for (path, bytes) in bundles {
        // A file of other PEM objects (keys, CRLs) is not a CA file: skipped, as OpenSSL
        // skips what it cannot use.
        let Ok(certificates) = reqwest::Certificate::from_pem_bundle(&bytes) else {
            if Some(path.as_path()) == extra_ca {
                return Err(TlsError::CaFile {
                    path,
                    reason: "not a PEM certificate bundle".into(),
                });
            }
            continue;
        };
        for certificate in certificates {
            builder = builder.add_root_certificate(certificate);
        }
    }
    Ok(builder)
}

/// Whether an error chain is a certificate failure, so the message names the CA store.
pub fn is_certificate_error(chain: &str) -> bool {
    let chain = chain.to_ascii_lowercase();
    chain.contains("certificate") || chain.contains("unknownissuer")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ssl_cert_file_must_be_readable_and_the_default_may_be_absent() {
        let missing = Trust {
            cert_file: Some(PathBuf::from("/nonexistent/ca.pem")),
            cert_dirs: vec![PathBuf::from("/nonexistent")],
        };
        let err = client_builder(
            &missing,
            None,
            Duration::from_secs(1),
            Duration::from_secs(1),
        )
        .expect_err("unreadable SSL_CERT_FILE");
        assert!(err.to_string().starts_with("CA file `/nonexistent/ca.pem`"));
        assert_eq!(
            missing.describe(),
            "SSL_CERT_FILE=/nonexistent/ca.pem, SSL_CERT_DIR /nonexistent, debless's built-in Mozilla roots"
        );
        assert_eq!(
            Trust::default().describe(),
            "/etc/ssl/certs/ca-certificates.crt, /etc/ssl/certs/*.pem, debless's built-in Mozilla roots"
        );
        let dir = tempfile::tempdir().expect("temp dir");
        let ca = dir.path().join("ca.pem");
        std::fs::write(&ca, include_str!("../rootfs/testdata/ca.pem")).expect("write");
        let trust = Trust {
            cert_file: Some(ca.clone()),
            cert_dirs: vec![dir.path().to_owned()],
        };
        assert_eq!(trust.bundles().expect("readable").len(), 2);
        client_builder(
            &trust,
            Some(&ca),
            Duration::from_secs(1),
            Duration::from_secs(1),
        )
        .expect("valid")
        .build()
        .expect("a client");
    }
}
