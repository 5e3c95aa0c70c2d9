//! Certificates for the HTTPS tests, made with the `openssl` command (`cargo xtask test`
//! installs it): a test CA, a server certificate for 127.0.0.1 it signed, and a second CA that
//! signed nothing (a CA store that does not vouch for the server), plus the environment that
//! makes a debless run trust exactly what a test says.

use std::path::{Path, PathBuf};
use std::process::Command;

/// Runs `openssl ARGS` in `dir`, asserting success.
fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .current_dir(dir)
        .args(args)
        .output()
        .expect("openssl runs (cargo xtask test installs it)");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A self-signed P-256 CA `NAME.pem` + `NAME.key` in `dir`.
fn make_ca(dir: &Path, name: &str, subject: &str) {
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            &format!("{name}.key"),
            "-out",
            &format!("{name}.pem"),
            "-days",
            "2",
            "-subj",
            subject,
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign",
        ],
    );
}

/// The certificates of one test, in a temporary directory.
pub struct TestCerts {
    dir: tempfile::TempDir,
    /// An empty directory, for `SSL_CERT_DIR`, so the host's store does not leak in.
    empty: tempfile::TempDir,
}

impl TestCerts {
    /// `ca.pem`, `server.pem` + `server.key` (127.0.0.1, signed by `ca.pem`) and `other-ca.pem`.
    pub fn new() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path();
        make_ca(path, "ca", "/CN=debless test CA");
        make_ca(path, "other-ca", "/CN=debless unrelated CA");
        openssl(
            path,
            &[
                "req",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:P-256",
                "-nodes",
                "-keyout",
                "server.key",
                "-out",
                "server.csr",
                "-subj",
                "/CN=127.0.0.1",
            ],
        );
        std::fs::write(
            path.join("server.ext"),
            "basicConstraints=CA:FALSE\nsubjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n",
        )
        .expect("write");
        openssl(
            path,
            &[
                "x509",
                "-req",
                "-in",
                "server.csr",
                "-CA",
                "ca.pem",
                "-CAkey",
                "ca.key",
                "-CAcreateserial",
                "-days",
                "2",
                "-extfile",
                "server.ext",
                "-out",
                "server.pem",
            ],
        );
        TestCerts {
            dir,
            empty: tempfile::tempdir().expect("temp dir"),
        }
    }

    /// The directory holding the files.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// The CA that signed the server's certificate.
    pub fn ca(&self) -> PathBuf {
        self.path().join("ca.pem")
    }

    /// A CA that signed nothing the tests serve.
    pub fn other_ca(&self) -> PathBuf {
        self.path().join("other-ca.pem")
    }

    /// The server's certificate and key.
    pub fn server(&self) -> (PathBuf, PathBuf) {
        (
            self.path().join("server.pem"),
            self.path().join("server.key"),
        )
    }

    /// `SSL_CERT_FILE=bundle` and `SSL_CERT_DIR=<empty dir>`: debless trusts `bundle` and its
    /// built-in roots, whatever the host's store holds.
    pub fn store_env(&self, bundle: &Path) -> Vec<(String, String)> {
        vec![
            ("SSL_CERT_FILE".into(), bundle.display().to_string()),
            (
                "SSL_CERT_DIR".into(),
                self.empty.path().display().to_string(),
            ),
        ]
    }

    /// Output filters naming the certificate paths.
    pub fn filters(&self) -> Vec<(String, String)> {
        vec![
            (self.path().display().to_string(), "[CERTS]".into()),
            (self.empty.path().display().to_string(), "[EMPTY]".into()),
        ]
    }
}
