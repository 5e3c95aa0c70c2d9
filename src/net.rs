//! debless's own HTTPS: which certificate authorities it trusts, the one `reqwest` client
//! configuration every fetcher is built from (mirrors and the snapshot archive in `repo` and
//! `fetch`, base-image pulls and pushes in `registry`), and how a certificate failure is
//! reported. It sits beside the vocabulary modules so that `repo` and `registry` share it
//! without knowing each other.
//!
//! # What is trusted
//!
//! debless trusts what the host trusts, the way curl and OpenSSL do: the CA bundle file
//! (`SSL_CERT_FILE`, else `/etc/ssl/certs/ca-certificates.crt`, which
//! `update-ca-certificates` writes, corporate CAs from `/usr/local/share/ca-certificates`
//! included) and every PEM file of the CA directory (`SSL_CERT_DIR`, colon-separated, else
//! `/etc/ssl/certs`), on top of the Mozilla roots built into debless (`webpki-roots`), so a
//! host without ca-certificates still reaches public mirrors. The environment is read by
//! `env::Settings`; this module only gets the paths.
//!
//! On top of that store, a CA file can be trusted for one server only ([`HttpConfig`]):
//! - `[[source]] ca` in `debless.toml`, for the hosts of that source's `url` and `snapshot`;
//! - `[registry."HOST[:PORT]"] ca`, for that registry (its token service included);
//! - docker's and podman's per-registry directories, `/etc/docker/certs.d/HOST[:PORT]/*.crt`
//!   and `/etc/containers/certs.d/HOST[:PORT]/*.crt` ([`CERTS_D`]); their client
//!   certificates (`*.cert` + `*.key`) are not used.
//!
//! A CA file named on purpose (`SSL_CERT_FILE`, a manifest `ca`) must be readable and hold at
//! least one certificate, every `CERTIFICATE` block of it valid X.509: else the error names
//! the file. The default store may be absent, and files found by searching directories are
//! skipped when unreadable, as OpenSSL skips them.
//!
//! None of this is a lock input: which CA vouches for a server decides whether debless may
//! talk to it, not what resolves (indices and `.deb` files are checked against the signed
//! Release, base images against their digests, whoever serves them).
//!
//! # Errors
//!
//! A certificate failure is not retried and is reported once, as [`UntrustedCertificate`]:
//! the URL, the host, the TLS library's reason and the CA store in effect for that host.

use std::collections::BTreeMap;
use std::error::Error as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use reqwest::blocking::Client;
use x509_cert::Certificate;
use x509_cert::der::{Decode as _, pem};

/// The default CA bundle file, as Debian's ca-certificates writes it.
pub const SYSTEM_CA_FILE: &str = "/etc/ssl/certs/ca-certificates.crt";
/// The default CA directory.
pub const SYSTEM_CA_DIR: &str = "/etc/ssl/certs";
/// docker's and podman's per-registry certificate directories (`<dir>/<registry>/*.crt`).
pub const CERTS_D: [&str; 2] = ["/etc/docker/certs.d", "/etc/containers/certs.d"];

/// Where the host's trusted CA certificates come from (see the module doc).
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
    /// A named CA file could not be read or holds no usable certificate.
    #[error("CA file `{}`: {reason}", path.display())]
    CaFile { path: PathBuf, reason: String },
    /// reqwest refused the configuration.
    #[error("the TLS library refused the configuration: {0}")]
    Client(String),
}

/// How an [`UntrustedCertificate`] is fixed.
pub const UNTRUSTED_HINT: &str = "trust the server's CA: add it to the system store (update-ca-certificates) or SSL_CERT_FILE, or name it with `ca` in its `[[source]]` or `[registry.\"HOST:PORT\"]` table of debless.toml";

/// How a [`TlsError`] is fixed.
pub const CA_FILE_HINT: &str = "a CA file holds PEM `CERTIFICATE` blocks; fix the path or the file (SSL_CERT_FILE, a `ca` in debless.toml, certs.d)";

/// A server's certificate that the CA store in effect does not vouch for.
#[derive(Debug, thiserror::Error)]
#[error("`{url}`: the TLS certificate of `{host}` is not trusted ({reason}); CA store: {store}")]
pub struct UntrustedCertificate {
    /// The request that failed.
    pub url: String,
    /// `host[:port]` as the URL writes it.
    pub host: String,
    /// The TLS library's words (`invalid peer certificate: UnknownIssuer`).
    pub reason: String,
    /// [`Trust::describe`] plus the host's own CA files.
    pub store: String,
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

    /// Every certificate of the store, as DER: the bundle file (an error when `SSL_CERT_FILE`
    /// names one that cannot be used; the default may be absent), then each directory's
    /// `*.pem`/`*.crt` files in name order (unreadable ones skipped, as OpenSSL does while
    /// searching).
    fn certificates(&self) -> Result<Vec<Vec<u8>>, TlsError> {
        let (file, dirs) = self.sources();
        // The directory repeats the bundle, one certificate per file: a block whose text was
        // already decoded is skipped (its DER would be dropped as a duplicate anyway), which
        // halves the decoding every HTTP client's construction pays.
        let mut seen = std::collections::HashSet::new();
        let mut all = if self.cert_file.is_some() {
            named_ca_file_noting(&file, &mut seen)?
        } else {
            std::fs::read(&file)
                .map(|bytes| found_certificates(&bytes, &mut seen))
                .unwrap_or_default()
        };
        for dir in dirs {
            for path in files_with_extension(&dir, &["pem", "crt"]) {
                if let Ok(bytes) = std::fs::read(&path) {
                    all.extend(found_certificates(&bytes, &mut seen));
                }
            }
        }
        Ok(all)
    }
}

/// The one HTTP client configuration every debless fetcher is built from: the host's store
/// and the CA files trusted for one server only (see the module doc).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HttpConfig {
    /// The host's CA store (`SSL_CERT_FILE`, `SSL_CERT_DIR`, the system store).
    pub trust: Trust,
    /// CA files trusted for one mirror or snapshot server, by `host:port` ([`authority`]).
    pub host_cas: BTreeMap<String, Vec<PathBuf>>,
    /// CA files trusted for one registry, by its name as image references write it.
    pub registry_cas: BTreeMap<String, Vec<PathBuf>>,
    /// `certs.d` directories searched for `<registry>/*.crt` ([`CERTS_D`] on a host).
    pub certs_d: Vec<PathBuf>,
}

/// A client built from an [`HttpConfig`], and the CA store it trusts (named in errors).
#[derive(Clone, Debug)]
pub struct ConfiguredClient {
    /// Cheap to clone; shared by threads.
    pub client: Client,
    /// What [`UntrustedCertificate::store`] says for this client.
    pub store: Arc<str>,
}

impl ConfiguredClient {
    /// The failure of a request to `url` as an [`UntrustedCertificate`], when it is one.
    pub fn untrusted(&self, url: &str, err: &reqwest::Error) -> Option<UntrustedCertificate> {
        let chain = error_chain(err);
        if !is_certificate_error(&chain) {
            return None;
        }
        let parsed = reqwest::Url::parse(url).ok();
        let host = parsed.as_ref().map_or_else(String::new, |u| {
            let host = u.host_str().unwrap_or_default();
            match u.port() {
                Some(port) => format!("{host}:{port}"),
                None => host.to_owned(),
            }
        });
        // The innermost cause is the TLS library's verdict; the layers above it only say
        // that a request failed.
        let mut reason = err.to_string();
        let mut source = err.source();
        while let Some(cause) = source {
            reason = cause.to_string();
            source = cause.source();
        }
        Some(UntrustedCertificate {
            url: url.to_owned(),
            host,
            reason,
            store: self.store.to_string(),
        })
    }
}

impl HttpConfig {
    /// A configuration trusting `trust` and docker's and podman's `certs.d` directories.
    pub fn new(trust: Trust, certs_d: Vec<PathBuf>) -> Self {
        HttpConfig {
            trust,
            certs_d,
            ..HttpConfig::default()
        }
    }

    /// Trusts `ca` for the server `url` names; `false` when `url` names no host.
    pub fn add_host_ca(&mut self, url: &str, ca: &Path) -> bool {
        let Some(authority) = authority(url) else {
            return false;
        };
        push_unique(self.host_cas.entry(authority).or_default(), ca);
        true
    }

    /// Trusts `ca` for the registry `registry` (`HOST[:PORT]`, as references write it).
    pub fn add_registry_ca(&mut self, registry: &str, ca: &Path) {
        push_unique(
            self.registry_cas.entry(registry.to_owned()).or_default(),
            ca,
        );
    }

    /// The client for servers without CA files of their own.
    pub fn default_client(
        &self,
        connect: Duration,
        read: Duration,
    ) -> Result<ConfiguredClient, TlsError> {
        self.build(&[], None, connect, read)
    }

    /// One client per server with CA files of its own, by `host:port`.
    pub fn host_clients(
        &self,
        connect: Duration,
        read: Duration,
    ) -> Result<BTreeMap<String, ConfiguredClient>, TlsError> {
        self.host_cas
            .iter()
            .map(|(host, cas)| Ok((host.clone(), self.build(cas, Some(host), connect, read)?)))
            .collect()
    }

    /// The client for registry `registry`: the manifest's CA files for it, then the `*.crt`
    /// files of its `certs.d` directories.
    pub fn registry_client(
        &self,
        registry: &str,
        connect: Duration,
        read: Duration,
    ) -> Result<ConfiguredClient, TlsError> {
        let mut cas = self.registry_cas.get(registry).cloned().unwrap_or_default();
        // A registry name is one path component; anything else is no certs.d entry.
        if !registry.is_empty() && !registry.contains(['/', '\\']) && registry != ".." {
            for dir in &self.certs_d {
                for path in files_with_extension(&dir.join(registry), &["crt"]) {
                    push_unique(&mut cas, &path);
                }
            }
        }
        self.build(&cas, Some(registry), connect, read)
    }

    fn build(
        &self,
        cas: &[PathBuf],
        host: Option<&str>,
        connect: Duration,
        read: Duration,
    ) -> Result<ConfiguredClient, TlsError> {
        let mut builder = Client::builder()
            .user_agent(concat!("debless/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(connect)
            .timeout(read)
            .tls_built_in_root_certs(true);
        let mut certificates = self.trust.certificates()?;
        for path in cas {
            certificates.extend(named_ca_file(path)?);
        }
        // `/etc/ssl/certs` holds the bundle's certificates once more, one per file.
        let mut seen = std::collections::BTreeSet::new();
        for der in certificates {
            if !seen.insert(der.clone()) {
                continue;
            }
            // Parsed already; reqwest only wraps the bytes.
            if let Ok(certificate) = reqwest::Certificate::from_der(&der) {
                builder = builder.add_root_certificate(certificate);
            }
        }
        let client = builder
            .build()
            .map_err(|err| TlsError::Client(error_chain(&err)))?;
        let mut store = self.trust.describe();
        if let (Some(host), false) = (host, cas.is_empty()) {
            let files: Vec<String> = cas.iter().map(|p| format!("`{}`", p.display())).collect();
            store = format!("{store}, and for `{host}` {}", files.join(", "));
        }
        Ok(ConfiguredClient {
            client,
            store: store.into(),
        })
    }
}

/// `host:port` of a URL, the port made explicit (`https://h/x` → `h:443`), so a source's CA
/// applies to exactly the server its URL names.
pub fn authority(url: &str) -> Option<String> {
    let url = reqwest::Url::parse(url).ok()?;
    let host = url.host_str()?;
    let port = url.port_or_known_default()?;
    Some(format!("{host}:{port}"))
}

/// The error and its causes on one line. reqwest's own message repeats the URL (`error
/// sending request for url (…)`), which debless's errors already name: it is dropped.
pub fn error_chain(err: &reqwest::Error) -> String {
    let mut text = match err.url() {
        Some(url) => err.to_string().replace(&format!(" for url ({url})"), ""),
        None => err.to_string(),
    };
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// Whether an error chain is the server's certificate failing verification (rustls: `invalid
/// peer certificate: UnknownIssuer`, `…: NotValidForName`, `…: Expired`), so the message names
/// the CA store. Other handshake failures (a server asking for a client certificate, a
/// protocol mismatch) are not about the store and keep their own words.
fn is_certificate_error(chain: &str) -> bool {
    let chain = chain.to_ascii_lowercase();
    chain.contains("invalid peer certificate") || chain.contains("certificate verify failed")
}

fn push_unique(list: &mut Vec<PathBuf>, path: &Path) {
    if !list.iter().any(|p| p == path) {
        list.push(path.to_owned());
    }
}

/// The files of `dir` ending in one of `extensions`, in name order; none when `dir` cannot
/// be read.
fn files_with_extension(dir: &Path, extensions: &[&str]) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .filter(|path| {
            path.extension()
                .and_then(|ext| ext.to_str())
                .is_some_and(|ext| extensions.contains(&ext))
        })
        .collect();
    files.sort();
    files
}

/// A CA file named on purpose: readable, at least one certificate, every one valid.
fn named_ca_file(path: &Path) -> Result<Vec<Vec<u8>>, TlsError> {
    named_ca_file_noting(path, &mut std::collections::HashSet::new())
}

/// [`named_ca_file`], adding the text of each block to `seen`.
fn named_ca_file_noting(
    path: &Path,
    seen: &mut std::collections::HashSet<String>,
) -> Result<Vec<Vec<u8>>, TlsError> {
    let bad = |reason: String| TlsError::CaFile {
        path: path.to_owned(),
        reason,
    };
    let bytes = std::fs::read(path).map_err(|err| bad(err.to_string()))?;
    let mut certificates = Vec::new();
    for (number, block) in pem_blocks(&bytes).into_iter().enumerate() {
        let certificate = |reason: String| bad(format!("certificate {}: {reason}", number + 1));
        let block = block.map_err(certificate)?;
        certificates.push(decode_certificate(&block).map_err(certificate)?);
        seen.insert(block);
    }
    if certificates.is_empty() {
        return Err(bad(
            "holds no PEM certificate (`-----BEGIN CERTIFICATE-----`)".into(),
        ));
    }
    Ok(certificates)
}

/// The valid certificates of a file found by searching (the others skipped), but for blocks
/// whose text is in `seen` (which gains this file's blocks).
fn found_certificates(bytes: &[u8], seen: &mut std::collections::HashSet<String>) -> Vec<Vec<u8>> {
    pem_blocks(bytes)
        .into_iter()
        .flatten()
        .filter(|block| seen.insert(block.clone()))
        .filter_map(|block| decode_certificate(&block).ok())
        .collect()
}

const BEGIN: &str = "-----BEGIN CERTIFICATE-----";
const END: &str = "-----END CERTIFICATE-----";

/// Each `CERTIFICATE` block of a PEM text, its lines trimmed (text between blocks and blocks
/// of other kinds, such as keys, are ignored, as OpenSSL ignores them in a bundle); an
/// unclosed block ends the list with an error.
fn pem_blocks(bytes: &[u8]) -> Vec<Result<String, String>> {
    let text = String::from_utf8_lossy(bytes);
    let mut found = Vec::new();
    let mut lines = text.lines();
    while let Some(line) = lines.next() {
        if line.trim() != BEGIN {
            continue;
        }
        let mut block = format!("{BEGIN}\n");
        let mut closed = false;
        for line in lines.by_ref() {
            block.push_str(line.trim());
            block.push('\n');
            if line.trim() == END {
                closed = true;
                break;
            }
        }
        if !closed {
            found.push(Err(format!("`{BEGIN}` has no `{END}`")));
            break;
        }
        found.push(Ok(block));
    }
    found
}

/// One PEM block's DER, checked to be an X.509 certificate.
fn decode_certificate(block: &str) -> Result<Vec<u8>, String> {
    pem::decode_vec(block.as_bytes())
        .map_err(|err| format!("not valid PEM: {err}"))
        .and_then(|(_, der)| {
            Certificate::from_der(&der)
                .map(|_| der)
                .map_err(|err| format!("not an X.509 certificate: {err}"))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    const CA: &str = include_str!("rootfs/testdata/ca.pem");
    const SECOND: Duration = Duration::from_secs(1);

    /// The CA directory repeats the bundle: a certificate already read from the bundle is
    /// not decoded again (however its lines are indented), the others are, in order.
    #[test]
    fn the_directory_adds_only_certificates_the_bundle_lacks() {
        const LEAF: &str = include_str!("rootfs/testdata/leaf.pem");
        let der = |pem: &str| pem::decode_vec(pem.as_bytes()).expect("test PEM").1;
        let dir = tempfile::tempdir().expect("temp dir");
        let bundle = dir.path().join("bundle.crt");
        std::fs::write(&bundle, CA).expect("write");
        let certs = dir.path().join("certs");
        std::fs::create_dir(&certs).expect("mkdir");
        let indented: String = CA.lines().map(|line| format!("  {line}\n")).collect();
        std::fs::write(certs.join("a.pem"), indented).expect("write");
        std::fs::write(certs.join("b.pem"), LEAF).expect("write");
        std::fs::write(certs.join("c.crt"), CA).expect("write");
        let trust = Trust {
            cert_file: Some(bundle),
            cert_dirs: vec![certs],
        };
        let found = trust.certificates().expect("readable store");
        assert_eq!(found, vec![der(CA), der(LEAF)]);
    }

    #[test]
    fn ssl_cert_file_must_be_usable_and_the_default_may_be_absent() {
        let missing = HttpConfig::new(
            Trust {
                cert_file: Some(PathBuf::from("/nonexistent/ca.pem")),
                cert_dirs: vec![PathBuf::from("/nonexistent")],
            },
            Vec::new(),
        );
        let err = missing
            .default_client(SECOND, SECOND)
            .expect_err("unreadable SSL_CERT_FILE");
        assert!(
            err.to_string()
                .starts_with("CA file `/nonexistent/ca.pem`: "),
            "{err}"
        );
        assert_eq!(
            missing.trust.describe(),
            "SSL_CERT_FILE=/nonexistent/ca.pem, SSL_CERT_DIR /nonexistent, debless's built-in Mozilla roots"
        );
        assert_eq!(
            Trust::default().describe(),
            "/etc/ssl/certs/ca-certificates.crt, /etc/ssl/certs/*.pem, debless's built-in Mozilla roots"
        );
        let dir = tempfile::tempdir().expect("temp dir");
        let ca = dir.path().join("ca.pem");
        std::fs::write(&ca, CA).expect("write");
        let trust = Trust {
            cert_file: Some(ca.clone()),
            cert_dirs: vec![dir.path().to_owned()],
        };
        // The directory's copy of the bundle's certificate is not read twice.
        assert_eq!(trust.certificates().expect("readable").len(), 1);
        HttpConfig::new(trust, Vec::new())
            .default_client(SECOND, SECOND)
            .expect("a client");
    }

    #[test]
    fn a_named_ca_file_that_holds_no_valid_certificate_is_an_error_naming_it() {
        let dir = tempfile::tempdir().expect("temp dir");
        let write = |name: &str, text: &str| {
            let path = dir.path().join(name);
            std::fs::write(&path, text).expect("write");
            path
        };
        let key = write(
            "key.pem",
            "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
        );
        let garbage = write(
            "garbage.pem",
            &format!("{CA}-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"),
        );
        let cut = write("cut.pem", "-----BEGIN CERTIFICATE-----\nMIIB\n");
        let cases = [
            (
                dir.path().join("absent.pem"),
                "No such file or directory (os error 2)".to_owned(),
            ),
            (
                key.clone(),
                "holds no PEM certificate (`-----BEGIN CERTIFICATE-----`)".to_owned(),
            ),
            (
                garbage.clone(),
                "certificate 2: not an X.509 certificate".to_owned(),
            ),
            (
                cut.clone(),
                "certificate 1: `-----BEGIN CERTIFICATE-----` has no `-----END CERTIFICATE-----`"
                    .to_owned(),
            ),
        ];
        for (path, reason) in cases {
            let mut config = HttpConfig::default();
            assert!(config.add_host_ca("https://mirror.test:8443/debian", &path));
            let err = config
                .host_clients(SECOND, SECOND)
                .expect_err("a bad CA file")
                .to_string();
            let expected = format!("CA file `{}`: {reason}", path.display());
            assert!(
                err.starts_with(&expected),
                "{err:?} should start with {expected:?}"
            );
            assert!(!err.contains('\n'), "one line: {err:?}");
        }
    }

    #[test]
    fn only_verification_failures_name_the_ca_store() {
        for chain in [
            "error sending request: client error (Connect): invalid peer certificate: UnknownIssuer",
            "invalid peer certificate: NotValidForName",
            "error:0A000086:SSL routines::certificate verify failed",
        ] {
            assert!(is_certificate_error(chain), "{chain}");
        }
        for chain in [
            "received fatal alert: CertificateRequired",
            "received corrupt message of type InvalidContentType",
            "tcp connect error: Connection refused (os error 111)",
        ] {
            assert!(!is_certificate_error(chain), "{chain}");
        }
    }

    #[test]
    fn host_and_registry_cas_apply_to_their_server_only() {
        let dir = tempfile::tempdir().expect("temp dir");
        let ca = dir.path().join("mirror-ca.pem");
        std::fs::write(&ca, CA).expect("write");
        let mut config = HttpConfig::default();
        assert!(config.add_host_ca("https://mirror.test/debian", &ca));
        assert!(config.add_host_ca("https://mirror.test:443/snapshot", &ca));
        assert!(!config.add_host_ca("not a url", &ca));
        assert_eq!(
            config.host_cas.keys().collect::<Vec<_>>(),
            ["mirror.test:443"],
            "one server, its CA once"
        );
        assert_eq!(
            config.host_cas["mirror.test:443"],
            std::slice::from_ref(&ca)
        );
        let clients = config.host_clients(SECOND, SECOND).expect("clients");
        assert!(
            clients["mirror.test:443"].store.ends_with(&format!(
                "roots, and for `mirror.test:443` `{}`",
                ca.display()
            )),
            "{}",
            clients["mirror.test:443"].store
        );
        let default = config.default_client(SECOND, SECOND).expect("client");
        assert_eq!(&*default.store, Trust::default().describe());

        // docker's certs.d layout: `<dir>/<registry>/*.crt`, other files ignored.
        let certs_d = dir.path().join("certs.d");
        let registry_dir = certs_d.join("registry.test:5000");
        std::fs::create_dir_all(&registry_dir).expect("mkdir");
        std::fs::write(registry_dir.join("ca.crt"), CA).expect("write");
        std::fs::write(registry_dir.join("client.key"), "not a CA").expect("write");
        let mut config = HttpConfig::new(Trust::default(), vec![certs_d.clone()]);
        config.add_registry_ca("registry.test:5000", &ca);
        let registry = config
            .registry_client("registry.test:5000", SECOND, SECOND)
            .expect("client");
        assert!(
            registry.store.ends_with(&format!(
                "and for `registry.test:5000` `{}`, `{}`",
                ca.display(),
                registry_dir.join("ca.crt").display()
            )),
            "{}",
            registry.store
        );
        let other = config
            .registry_client("other.test", SECOND, SECOND)
            .expect("client");
        assert_eq!(&*other.store, Trust::default().describe());
        assert_eq!(
            authority("http://127.0.0.1:8080/debian").as_deref(),
            Some("127.0.0.1:8080")
        );
    }
}
