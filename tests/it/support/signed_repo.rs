//! A hermetic, signed, Debian-shaped repository served on `http://127.0.0.1:<port>`, and the
//! lying variants trust tests need (bad signature, unknown key, unsigned, expired, dated in the
//! future, index not matching its signed hash, truncated index).
//!
//! Usage:
//! ```ignore
//! let repo = TestRepo::new();
//! repo.add_package("stable", PackageSpec::new("hello", "1.0-1").depends("libc6 (>= 2.36)"));
//! repo.add_package("stable", PackageSpec::new("libc6", "2.36-9"));
//! repo.publish("stable", PublishOptions::default());
//! // repo.url() is the archive root; repo.keyring() (or repo.keyring_path()) trusts it.
//! ```
//!
//! Layout written under a temp dir (removed on drop), as Debian does it (debian-notes §1):
//! `dists/<suite>/{InRelease,Release,Release.gpg}`,
//! `dists/<suite>/<comp>/binary-<arch>/{Packages,Packages.gz,Packages.xz}` plus
//! `by-hash/SHA256/<hex>` copies, and `pool/<comp>/<initial>/<name>/<name>_<ver>_<arch>.deb`.
//! `binary-<arch>` includes the `Architecture: all` packages and the Release says
//! `No-Support-for-Architecture-all: Packages`. The repository is signed by an ed25519 cert with
//! a signing subkey, generated per `TestRepo`; [`TestRepo::other_keyring_path`] exports a
//! second, unrelated cert.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{SystemTime, UNIX_EPOCH};

use debless::repo::release::format_unix;
use debless::repo::{Keyring, index::sha256_hex};
use sequoia_openpgp as openpgp;

use openpgp::Cert;
use openpgp::cert::CertBuilder;
use openpgp::policy::StandardPolicy;
use openpgp::serialize::SerializeInto;
use openpgp::serialize::stream::{Armorer, Message, Signer};

/// One binary package to put in a suite. Fields left `None` are not written.
#[derive(Clone, Debug)]
pub struct PackageSpec {
    pub name: String,
    pub version: String,
    /// `amd64` by default; `all` packages go into every `binary-<arch>` index.
    pub arch: String,
    pub component: String,
    pub depends: Option<String>,
    pub pre_depends: Option<String>,
    pub provides: Option<String>,
    pub breaks: Option<String>,
    pub conflicts: Option<String>,
    pub multi_arch: Option<String>,
    pub essential: bool,
    pub priority: Option<String>,
    /// More fields, written as given after the others.
    pub extra: Vec<(String, String)>,
    /// The pool file; a small fake payload naming the package when `None`.
    pub deb_bytes: Option<Vec<u8>>,
}

impl PackageSpec {
    /// An `amd64` package in `main` with no relationships.
    pub fn new(name: &str, version: &str) -> PackageSpec {
        PackageSpec {
            name: name.to_owned(),
            version: version.to_owned(),
            arch: "amd64".to_owned(),
            component: "main".to_owned(),
            depends: None,
            pre_depends: None,
            provides: None,
            breaks: None,
            conflicts: None,
            multi_arch: None,
            essential: false,
            priority: None,
            extra: Vec::new(),
            deb_bytes: None,
        }
    }

    pub fn arch(mut self, arch: &str) -> Self {
        self.arch = arch.to_owned();
        self
    }
    pub fn component(mut self, component: &str) -> Self {
        self.component = component.to_owned();
        self
    }
    pub fn depends(mut self, value: &str) -> Self {
        self.depends = Some(value.to_owned());
        self
    }
    pub fn pre_depends(mut self, value: &str) -> Self {
        self.pre_depends = Some(value.to_owned());
        self
    }
    pub fn provides(mut self, value: &str) -> Self {
        self.provides = Some(value.to_owned());
        self
    }
    pub fn breaks(mut self, value: &str) -> Self {
        self.breaks = Some(value.to_owned());
        self
    }
    pub fn conflicts(mut self, value: &str) -> Self {
        self.conflicts = Some(value.to_owned());
        self
    }
    pub fn multi_arch(mut self, value: &str) -> Self {
        self.multi_arch = Some(value.to_owned());
        self
    }
    pub fn essential(mut self) -> Self {
        self.essential = true;
        self
    }
    pub fn priority(mut self, value: &str) -> Self {
        self.priority = Some(value.to_owned());
        self
    }
    pub fn field(mut self, name: &str, value: &str) -> Self {
        self.extra.push((name.to_owned(), value.to_owned()));
        self
    }
    pub fn deb_bytes(mut self, bytes: Vec<u8>) -> Self {
        self.deb_bytes = Some(bytes);
        self
    }

    /// The bytes served at [`PackageSpec::pool_path`].
    pub fn payload(&self) -> Vec<u8> {
        self.deb_bytes.clone().unwrap_or_else(|| {
            format!("fake deb {} {} {}\n", self.name, self.version, self.arch).into_bytes()
        })
    }

    /// `pool/<component>/<initial>/<name>/<name>_<version without epoch>_<arch>.deb`.
    pub fn pool_path(&self) -> String {
        let initial = if self.name.starts_with("lib") && self.name.len() > 3 {
            &self.name[..4]
        } else {
            &self.name[..1]
        };
        let version = self
            .version
            .split_once(':')
            .map_or(self.version.as_str(), |(_, v)| v);
        format!(
            "pool/{}/{initial}/{}/{}_{version}_{}.deb",
            self.component, self.name, self.name, self.arch
        )
    }

    fn stanza(&self) -> String {
        let payload = self.payload();
        let mut fields: Vec<(&str, String)> = vec![
            ("Package", self.name.clone()),
            ("Version", self.version.clone()),
            ("Architecture", self.arch.clone()),
            ("Maintainer", "Test <test@example.invalid>".to_owned()),
            ("Installed-Size", "1".to_owned()),
        ];
        let optional = [
            ("Pre-Depends", &self.pre_depends),
            ("Depends", &self.depends),
            ("Provides", &self.provides),
            ("Breaks", &self.breaks),
            ("Conflicts", &self.conflicts),
            ("Multi-Arch", &self.multi_arch),
            ("Priority", &self.priority),
        ];
        for (name, value) in optional {
            if let Some(value) = value {
                fields.push((name, value.clone()));
            }
        }
        if self.essential {
            fields.push(("Essential", "yes".to_owned()));
        }
        fields.push(("Section", "misc".to_owned()));
        fields.push(("Filename", self.pool_path()));
        fields.push(("Size", payload.len().to_string()));
        fields.push(("SHA256", sha256_hex(&payload)));
        fields.push(("Description", format!("test package {}", self.name)));
        let mut text = String::new();
        for (name, value) in fields {
            text.push_str(&format!("{name}: {value}\n"));
        }
        for (name, value) in &self.extra {
            text.push_str(&format!("{name}: {value}\n"));
        }
        text
    }
}

/// Who signs a published suite.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Signing {
    /// The repository's own key (trusted by [`TestRepo::keyring`]).
    #[default]
    Good,
    /// An unrelated key (the one [`TestRepo::other_keyring_path`] exports).
    OtherKey,
    /// No signature: InRelease is the plain Release text, no Release.gpg.
    Unsigned,
    /// Signed by the good key, then one byte of the signed text changed.
    BadSignature,
}

/// How to publish a suite, including the lies.
#[derive(Clone, Debug)]
pub struct PublishOptions {
    /// `Date`, unix seconds (default: a minute ago).
    pub date: i64,
    /// `Valid-Until`, unix seconds (default: a week after `date`).
    pub valid_until: Option<i64>,
    pub sign_with: Signing,
    /// Serve index files that differ from the hashes the Release signs.
    pub tamper_index: bool,
    /// Serve index files cut to half their signed size.
    pub truncate_index: bool,
    /// Do not write InRelease (clients must use Release + Release.gpg).
    pub no_inrelease: bool,
    /// `Acquire-By-Hash: yes` and by-hash copies (default true).
    pub by_hash: bool,
    /// Architectures listed in the Release (default: amd64 and arm64).
    pub architectures: Vec<String>,
    /// Write `Components: updates/main` as security suites do (paths stay `main/…`).
    pub security_layout: bool,
    /// `Codename` (default: the suite name).
    pub codename: Option<String>,
}

impl Default for PublishOptions {
    fn default() -> Self {
        let date = unix_now() - 60;
        PublishOptions {
            date,
            valid_until: Some(date + 7 * 86_400),
            sign_with: Signing::Good,
            tamper_index: false,
            truncate_index: false,
            no_inrelease: false,
            by_hash: true,
            architectures: vec!["amd64".to_owned(), "arm64".to_owned()],
            security_layout: false,
            codename: None,
        }
    }
}

/// The served repository (see the module doc). Stops serving and deletes its files on drop.
pub struct TestRepo {
    dir: tempfile::TempDir,
    key: Cert,
    other_key: Cert,
    suites: Mutex<BTreeMap<String, Vec<PackageSpec>>>,
    requests: Arc<Mutex<Vec<String>>>,
    server: Arc<tiny_http::Server>,
    port: u16,
    thread: Option<JoinHandle<()>>,
}

impl TestRepo {
    /// An empty repository with fresh keys, already serving.
    pub fn new() -> TestRepo {
        let dir = tempfile::tempdir().expect("temp dir for the test repository");
        let server =
            Arc::new(tiny_http::Server::http("127.0.0.1:0").expect("bind a local test server"));
        let port = server.server_addr().to_ip().expect("an IP listener").port();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let thread = {
            let server = Arc::clone(&server);
            let root = dir.path().to_path_buf();
            let requests = Arc::clone(&requests);
            std::thread::spawn(move || {
                for request in server.incoming_requests() {
                    serve(&root, &requests, request);
                }
            })
        };
        TestRepo {
            dir,
            key: generate_cert("Debless Test Archive <archive@example.invalid>"),
            other_key: generate_cert("Someone Else <other@example.invalid>"),
            suites: Mutex::new(BTreeMap::new()),
            requests,
            server,
            port,
            thread: Some(thread),
        }
    }

    /// The archive root, `http://127.0.0.1:<port>` (no trailing slash).
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Where the served files live (tests may delete or edit them).
    pub fn root(&self) -> &Path {
        self.dir.path()
    }

    /// Adds a package to a suite; takes effect at the next [`TestRepo::publish`].
    pub fn add_package(&self, suite: &str, package: PackageSpec) {
        self.suites
            .lock()
            .expect("suites lock")
            .entry(suite.to_owned())
            .or_default()
            .push(package);
    }

    /// The repository key as a [`Keyring`].
    pub fn keyring(&self) -> Keyring {
        Keyring::from_file(&self.keyring_path()).expect("the test keyring parses")
    }

    /// The repository's public cert, armored, in a file (what a user would pin).
    pub fn keyring_path(&self) -> PathBuf {
        self.export(&self.key, "repo-key.asc")
    }

    /// The unrelated key's public cert, armored, in a file.
    pub fn other_keyring_path(&self) -> PathBuf {
        self.export(&self.other_key, "other-key.asc")
    }

    /// Primary fingerprint of the repository key, upper-case hex.
    pub fn fingerprint(&self) -> String {
        self.key.fingerprint().to_hex()
    }

    /// The URL paths requested so far, in order.
    pub fn requests(&self) -> Vec<String> {
        self.requests.lock().expect("requests lock").clone()
    }

    fn export(&self, cert: &Cert, name: &str) -> PathBuf {
        let path = self.dir.path().join("keys").join(name);
        let armored = cert.armored().to_vec().expect("armor a public cert");
        write(&path, &armored);
        path
    }

    /// Writes `dists/<suite>/…` and the pool files of the suite's packages, signed as asked.
    pub fn publish(&self, suite: &str, options: PublishOptions) {
        let packages = self
            .suites
            .lock()
            .expect("suites lock")
            .get(suite)
            .cloned()
            .unwrap_or_default();
        let dists = self.dir.path().join("dists").join(suite);
        if dists.exists() {
            std::fs::remove_dir_all(&dists).expect("clear an earlier publication");
        }
        for package in &packages {
            write(
                &self.dir.path().join(package.pool_path()),
                &package.payload(),
            );
        }
        let mut components: Vec<String> = packages.iter().map(|p| p.component.clone()).collect();
        components.push("main".to_owned());
        components.sort();
        components.dedup();

        let mut listed = Vec::new(); // (path, bytes) under dists/<suite>/
        for component in &components {
            for arch in &options.architectures {
                let mut text = String::new();
                for package in packages
                    .iter()
                    .filter(|p| &p.component == component && (&p.arch == arch || p.arch == "all"))
                {
                    if !text.is_empty() {
                        text.push('\n');
                    }
                    text.push_str(&package.stanza());
                }
                let dir = format!("{component}/binary-{arch}");
                listed.push((format!("{dir}/Packages"), text.clone().into_bytes()));
                listed.push((format!("{dir}/Packages.gz"), gzip(text.as_bytes())));
                listed.push((format!("{dir}/Packages.xz"), xz(text.as_bytes())));
            }
        }

        listed.extend(contents_indices(
            self.dir.path(),
            &packages,
            &components,
            &options.architectures,
        ));
        let release = release_text(suite, &options, &components, &listed);
        for (path, bytes) in &listed {
            let served = if options.tamper_index {
                let mut lie = bytes.clone();
                lie.extend_from_slice(b"\n");
                if path.ends_with(".gz") || path.ends_with(".xz") {
                    lie = if path.ends_with(".gz") {
                        gzip(b"Package: evil\nVersion: 6.6.6\nArchitecture: all\n")
                    } else {
                        xz(b"Package: evil\nVersion: 6.6.6\nArchitecture: all\n")
                    };
                }
                lie
            } else if options.truncate_index {
                bytes[..bytes.len() / 2].to_vec()
            } else {
                bytes.clone()
            };
            write(&dists.join(path), &served);
            if options.by_hash {
                let (dir, _) = path.rsplit_once('/').expect("index paths have a directory");
                write(
                    &dists
                        .join(dir)
                        .join("by-hash/SHA256")
                        .join(sha256_hex(bytes)),
                    &served,
                );
            }
        }

        write(&dists.join("Release"), release.as_bytes());
        let (inrelease, detached) = match options.sign_with {
            Signing::Good => (
                self.clearsign(&self.key, &release),
                Some(self.detach(&self.key, &release)),
            ),
            Signing::OtherKey => (
                self.clearsign(&self.other_key, &release),
                Some(self.detach(&self.other_key, &release)),
            ),
            Signing::Unsigned => (release.clone().into_bytes(), None),
            Signing::BadSignature => {
                let signed = String::from_utf8(self.clearsign(&self.key, &release))
                    .expect("armored output is ASCII");
                let lie = signed.replacen("Origin: Debless", "Origin: Deblesz", 1);
                assert_ne!(signed, lie, "the Origin line is in the signed text");
                // Release.gpg still signs the true Release; the served Release is edited.
                write(
                    &dists.join("Release"),
                    release
                        .replacen("Origin: Debless", "Origin: Deblesz", 1)
                        .as_bytes(),
                );
                (lie.into_bytes(), Some(self.detach(&self.key, &release)))
            }
        };
        if !options.no_inrelease {
            write(&dists.join("InRelease"), &inrelease);
        }
        if let Some(detached) = detached {
            write(&dists.join("Release.gpg"), &detached);
        }
    }

    /// A cleartext signature as Debian writes InRelease: the signed text is the Release without
    /// its final line ending.
    fn clearsign(&self, cert: &Cert, release: &str) -> Vec<u8> {
        let mut out = Vec::new();
        let message = Message::new(&mut out);
        let mut signer = Signer::new(message, signing_keypair(cert))
            .expect("signer")
            .cleartext()
            .build()
            .expect("cleartext signer");
        signer
            .write_all(release.strip_suffix('\n').unwrap_or(release).as_bytes())
            .expect("sign");
        signer.finalize().expect("finish the signature");
        out
    }

    /// An armored detached signature over the Release bytes (Release.gpg).
    fn detach(&self, cert: &Cert, release: &str) -> Vec<u8> {
        let mut out = Vec::new();
        let message = Message::new(&mut out);
        let message = Armorer::new(message)
            .kind(openpgp::armor::Kind::Signature)
            .build()
            .expect("armorer");
        let mut signer = Signer::new(message, signing_keypair(cert))
            .expect("signer")
            .detached()
            .build()
            .expect("detached signer");
        signer.write_all(release.as_bytes()).expect("sign");
        signer.finalize().expect("finish the signature");
        out
    }
}

impl Drop for TestRepo {
    fn drop(&mut self) {
        self.server.unblock();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// `<component>/Contents-<arch>.gz` (and `Contents-all.gz`) as Debian publishes them: one
/// `path  section/package[,…]` line per file shipped by the packages whose pool file is a real
/// .deb (fake payloads list nothing), sorted by path.
fn contents_indices(
    root: &Path,
    packages: &[PackageSpec],
    components: &[String],
    architectures: &[String],
) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let arches = architectures.iter().map(String::as_str).chain(["all"]);
    for component in components {
        for arch in arches.clone() {
            let mut lines: BTreeMap<String, Vec<String>> = BTreeMap::new();
            for package in packages
                .iter()
                .filter(|p| &p.component == component && p.arch == arch)
            {
                let Ok(deb) = debless::deb::Deb::open(root.join(package.pool_path())) else {
                    continue;
                };
                for entry in deb.data_entries().unwrap_or_default() {
                    if matches!(entry.kind, debless::deb::EntryKind::Dir) {
                        continue;
                    }
                    let path = entry.path.trim_start_matches("./").to_owned();
                    lines
                        .entry(path)
                        .or_default()
                        .push(format!("misc/{}", package.name));
                }
            }
            let text: String = lines
                .iter()
                .map(|(path, owners)| format!("{path:<60} {}\n", owners.join(",")))
                .collect();
            out.push((
                format!("{component}/Contents-{arch}.gz"),
                gzip(text.as_bytes()),
            ));
        }
    }
    out
}

fn release_text(
    suite: &str,
    options: &PublishOptions,
    components: &[String],
    listed: &[(String, Vec<u8>)],
) -> String {
    let codename = options.codename.as_deref().unwrap_or(suite);
    let components: Vec<String> = components
        .iter()
        .map(|c| {
            if options.security_layout {
                format!("updates/{c}")
            } else {
                c.clone()
            }
        })
        .collect();
    let mut text = format!(
        "Origin: Debless Test\nLabel: Debless Test\nSuite: {suite}\nCodename: {codename}\n\
         Date: {}\n",
        format_unix(options.date)
    );
    if let Some(valid_until) = options.valid_until {
        text.push_str(&format!("Valid-Until: {}\n", format_unix(valid_until)));
    }
    if options.by_hash {
        text.push_str("Acquire-By-Hash: yes\n");
    }
    if !options.security_layout {
        text.push_str("No-Support-for-Architecture-all: Packages\n");
    }
    text.push_str(&format!(
        "Architectures: {}\nComponents: {}\nDescription: debless test repository\nSHA256:\n",
        options.architectures.join(" "),
        components.join(" ")
    ));
    for (path, bytes) in listed {
        text.push_str(&format!(
            " {} {:>16} {path}\n",
            sha256_hex(bytes),
            bytes.len()
        ));
    }
    text
}

fn serve(root: &Path, requests: &Mutex<Vec<String>>, request: tiny_http::Request) {
    let path = request.url().split('?').next().unwrap_or("").to_owned();
    requests.lock().expect("requests lock").push(path.clone());
    let relative = path.trim_start_matches('/');
    let safe = !relative
        .split('/')
        .any(|part| part == ".." || part.is_empty());
    let response = match std::fs::read(root.join(relative)) {
        Ok(bytes) if safe => tiny_http::Response::from_data(bytes),
        _ => tiny_http::Response::from_data(b"not found".to_vec()).with_status_code(404),
    };
    let _ = request.respond(response);
}

fn generate_cert(user_id: &str) -> Cert {
    CertBuilder::new()
        .add_userid(user_id)
        .add_signing_subkey()
        .generate()
        .expect("generate a test cert")
        .0
}

fn signing_keypair(cert: &Cert) -> openpgp::crypto::KeyPair {
    cert.keys()
        .secret()
        .with_policy(&StandardPolicy::new(), None)
        .for_signing()
        .next()
        .expect("the cert has a signing subkey")
        .key()
        .clone()
        .into_keypair()
        .expect("an unencrypted secret key")
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    encoder.write_all(bytes).expect("gzip in memory");
    encoder.finish().expect("gzip in memory")
}

fn xz(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = liblzma::write::XzEncoder::new(Vec::new(), 1);
    encoder.write_all(bytes).expect("xz in memory");
    encoder.finish().expect("xz in memory")
}

fn write(path: &Path, bytes: &[u8]) {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).expect("create a test repository directory");
    }
    std::fs::write(path, bytes).expect("write a test repository file");
}

/// Seconds since the epoch now.
pub fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("the clock is after 1970")
        .as_secs() as i64
}
