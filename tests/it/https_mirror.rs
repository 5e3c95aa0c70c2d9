//! debless's own HTTPS trusts what the host trusts: the signed test archive served over TLS
//! by `openssl s_server` with a certificate from a test CA locks and builds when the CA is
//! given by `SSL_CERT_FILE`, and is refused (naming the host and the CA store) without it.

use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::hermetic::{SUITE, standard_repo};
use crate::support::context::TestContext;

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

/// A test CA and a certificate for 127.0.0.1 it signed, in `dir`.
fn make_certificates(dir: &Path) {
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
            "ca.key",
            "-out",
            "ca.pem",
            "-days",
            "2",
            "-subj",
            "/CN=debless test CA",
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign",
        ],
    );
    openssl(
        dir,
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
        dir.join("server.ext"),
        "basicConstraints=CA:FALSE\nsubjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n",
    )
    .expect("write");
    openssl(
        dir,
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
}

/// `openssl s_server -WWW` serving `root` on 127.0.0.1; killed on drop.
struct HttpsServer {
    child: Child,
    port: u16,
}

impl HttpsServer {
    fn start(root: &Path, certs: &Path) -> Self {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let child = Command::new("openssl")
            .current_dir(root)
            .args(["s_server", "-quiet", "-WWW", "-accept"])
            .arg(format!("127.0.0.1:{port}"))
            .arg("-cert")
            .arg(certs.join("server.pem"))
            .arg("-key")
            .arg(certs.join("server.key"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("openssl s_server starts");
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "openssl s_server did not listen");
            std::thread::sleep(Duration::from_millis(50));
        }
        HttpsServer { child, port }
    }
}

impl Drop for HttpsServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn lock_and_build_over_https_trust_ssl_cert_file_and_refuse_without_it() {
    let repo = standard_repo();
    let certs = tempfile::tempdir().expect("temp dir");
    make_certificates(certs.path());
    let server = HttpsServer::start(repo.root(), certs.path());
    let url = format!("https://127.0.0.1:{}", server.port);
    let manifest = format!(
        "architectures = [\"amd64\"]\npackages = [\"libc6\"]\n\n[[source]]\nsuite = \"{SUITE}\"\nurl = \"{url}\"\nkeyring = \"{}\"\n",
        repo.keyring_path().display()
    );

    // Without the CA: refused, naming the host and the CA store, the URL once.
    let mut untrusted = TestContext::new();
    untrusted.manifest(&manifest);
    untrusted.env.push((
        "SSL_CERT_FILE".into(),
        "/etc/ssl/certs/ca-certificates.crt".into(),
    ));
    let out = untrusted.run(&["lock"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("TLS: the certificate of `127.0.0.1` is not trusted")
            && stderr
                .contains("trusted CA store: SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt"),
        "{stderr}"
    );
    assert_eq!(
        stderr.matches(&format!("{url}/dists")).count(),
        1,
        "{stderr}"
    );

    // With it: lock and build.
    let mut trusted = TestContext::new();
    trusted.manifest(&manifest);
    trusted.env.push((
        "SSL_CERT_FILE".into(),
        certs.path().join("ca.pem").display().to_string(),
    ));
    let lock = trusted.run(&["lock"]);
    assert!(lock.status.success(), "{}", trusted.render(&lock));
    let build = trusted.run(&["build", "--rootfs", "rootfs"]);
    assert!(build.status.success(), "{}", trusted.render(&build));
    assert!(
        trusted
            .path()
            .join("rootfs/lib/x86_64-linux-gnu/libc.so.6")
            .exists()
    );
}
