//! A corporate CA made in the test with the `openssl` CLI, a certificate for 127.0.0.1 that it
//! signed, an `openssl s_server -www` presenting that certificate on 127.0.0.1, and the host
//! JDK's view of a Java trust store (`keytool -list -rfc`): what the tests of `extra-ca-certs`
//! and of the generated `/etc/ssl/certs/java/cacerts` talk to and check against.

use std::collections::BTreeMap;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A CA (`ca.pem`, `ca.key`) and a server certificate for 127.0.0.1 (`server.pem`,
/// `server.key`) in a temporary directory.
pub struct CorpCa {
    dir: tempfile::TempDir,
}

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

impl CorpCa {
    /// A new CA named `CN=<name>` (P-256, valid two days) and its server certificate.
    pub fn new(name: &str) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path();
        let subject = format!("/CN={name}");
        openssl(
            path,
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
                &subject,
                "-addext",
                "basicConstraints=critical,CA:TRUE",
                "-addext",
                "keyUsage=critical,keyCertSign",
            ],
        );
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
        Self { dir }
    }

    /// The CA certificate, PEM.
    pub fn ca_pem(&self) -> PathBuf {
        self.dir.path().join("ca.pem")
    }

    /// The server certificate and its key, PEM.
    pub fn server_files(&self) -> (PathBuf, PathBuf) {
        (
            self.dir.path().join("server.pem"),
            self.dir.path().join("server.key"),
        )
    }

    /// An HTTPS server on 127.0.0.1 presenting the server certificate; it answers every GET
    /// with 200 and a status page (`s_server -www`).
    pub fn serve(&self) -> HttpsServer {
        self.start_server("-www", self.dir.path())
    }

    /// Like [`CorpCa::serve`], serving the files under `root` (`s_server -WWW`): an archive
    /// behind a corporate CA.
    pub fn serve_files(&self, root: &Path) -> HttpsServer {
        self.start_server("-WWW", root)
    }

    fn start_server(&self, mode: &str, root: &Path) -> HttpsServer {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let child = Command::new("openssl")
            .current_dir(root)
            .args(["s_server", "-quiet", mode, "-accept"])
            .arg(format!("127.0.0.1:{port}"))
            .arg("-cert")
            .arg(self.dir.path().join("server.pem"))
            .arg("-key")
            .arg(self.dir.path().join("server.key"))
            .stdin(Stdio::null())
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

/// A running `openssl s_server`; killed on drop.
pub struct HttpsServer {
    child: Child,
    port: u16,
}

impl HttpsServer {
    /// `https://127.0.0.1:PORT/`.
    pub fn url(&self) -> String {
        format!("https://127.0.0.1:{}/", self.port)
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.port
    }
}

impl Drop for HttpsServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The DER bytes of every certificate in a PEM text, in order.
pub fn pem_ders(text: &str) -> Vec<Vec<u8>> {
    let (certs, skipped) = debless::rootfs::java_keystore::pem_certificates(text.as_bytes());
    assert!(skipped.is_empty(), "unreadable PEM blocks: {skipped:?}");
    certs
}

/// A Java trust store as the host JDK reads it with the Debian password (which checks the
/// store's integrity digest): alias → certificate DER, and the store type keytool reports.
pub fn keystore_entries(store: &Path) -> (String, BTreeMap<String, Vec<u8>>) {
    let out = Command::new("keytool")
        .args(["-list", "-rfc", "-storepass", "changeit", "-keystore"])
        .arg(store)
        .output()
        .expect("keytool runs");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "keytool -list {}: {text}{}",
        store.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    let store_type = text
        .lines()
        .find_map(|l| l.strip_prefix("Keystore type: "))
        .unwrap_or_default()
        .to_owned();
    let mut entries = BTreeMap::new();
    for section in text.split("Alias name: ").skip(1) {
        let alias = section.lines().next().unwrap_or_default().to_owned();
        assert!(
            section.contains("Entry type: trustedCertEntry"),
            "{alias}: {section}"
        );
        let ders = pem_ders(section);
        assert_eq!(ders.len(), 1, "one certificate for {alias}");
        entries.insert(alias, ders.into_iter().next().expect("one"));
    }
    (store_type, entries)
}

/// Mounts `proc` at `<root>/proc` (the JVM reads /proc/self/exe, as under a container
/// runtime); unmounted on drop. `None` when mount fails (no privileges), with the reason printed.
pub struct ProcMount(PathBuf);

impl ProcMount {
    pub fn new(root: &Path) -> Option<Self> {
        let dir = root.join("proc");
        std::fs::create_dir_all(&dir).expect("mkdir proc");
        let mounted = Command::new("mount")
            .args(["-t", "proc", "proc"])
            .arg(&dir)
            .status()
            .is_ok_and(|s| s.success());
        if !mounted {
            eprintln!("skipping the run in the image: cannot mount /proc");
            return None;
        }
        Some(Self(dir))
    }
}

impl Drop for ProcMount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}
