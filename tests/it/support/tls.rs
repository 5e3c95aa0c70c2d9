//! What the tests of debless's own HTTPS trust: the CA that signed the servers' certificate
//! ([`CorpCa`]), a second CA that signed nothing (a store that does not vouch for the
//! servers), and the environment that makes a debless run trust exactly what a test says,
//! whatever the host's store holds.

use std::path::{Path, PathBuf};

use super::corp_ca::{CorpCa, HttpsServer};

/// The certificates of one test.
pub struct TestCerts {
    ca: CorpCa,
    other: CorpCa,
    /// An empty directory, for `SSL_CERT_DIR`.
    empty: tempfile::TempDir,
}

impl TestCerts {
    /// A test CA with a certificate for 127.0.0.1, and an unrelated CA.
    pub fn new() -> Self {
        TestCerts {
            ca: CorpCa::new("debless test CA"),
            other: CorpCa::new("debless unrelated CA"),
            empty: tempfile::tempdir().expect("temp dir"),
        }
    }

    /// The CA that signed the server's certificate.
    pub fn ca(&self) -> PathBuf {
        self.ca.ca_pem()
    }

    /// A CA that signed nothing the tests serve.
    pub fn other_ca(&self) -> PathBuf {
        self.other.ca_pem()
    }

    /// The server's certificate and key.
    pub fn server(&self) -> (PathBuf, PathBuf) {
        self.ca.server_files()
    }

    /// `openssl s_server` serving the files under `root` with the server's certificate.
    pub fn serve_files(&self, root: &Path) -> HttpsServer {
        self.ca.serve_files(root)
    }

    /// `SSL_CERT_FILE=bundle` and `SSL_CERT_DIR=<empty dir>`: debless trusts `bundle` and its
    /// built-in roots only.
    pub fn store_env(&self, bundle: &Path) -> Vec<(String, String)> {
        vec![
            ("SSL_CERT_FILE".into(), bundle.display().to_string()),
            (
                "SSL_CERT_DIR".into(),
                self.empty.path().display().to_string(),
            ),
        ]
    }

    /// Output filters: `[CA]/ca.pem`, `[OTHER]/ca.pem`, `[EMPTY]`.
    pub fn filters(&self) -> Vec<(String, String)> {
        let dir = |path: PathBuf| {
            path.parent()
                .expect("a file in a directory")
                .display()
                .to_string()
        };
        vec![
            (dir(self.ca()), "[CA]".into()),
            (dir(self.other_ca()), "[OTHER]".into()),
            (self.empty.path().display().to_string(), "[EMPTY]".into()),
        ]
    }
}
