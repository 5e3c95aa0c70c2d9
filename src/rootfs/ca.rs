//! `[image] extra-ca-certs`: corporate or private CA certificates added to the image's trust
//! stores (the `/etc/ssl/certs/ca-certificates.crt` bundle, and the Java one when generated).
//!
//! Each file may hold several PEM `CERTIFICATE` blocks (text between blocks is ignored, as
//! OpenSSL does). Every block must decode as an X.509 certificate whose basicConstraints say
//! `CA:TRUE`: a server certificate, a private key or a truncated block is an error naming the
//! file, the block's number and its line, before anything is built. The certificates are
//! re-encoded as canonical PEM (64-column base64, LF), in the manifest's file order and each
//! file's block order, a repeated certificate kept once, so the bundle's bytes depend only on
//! the certificates.

use std::path::{Path, PathBuf};

use x509_cert::Certificate;
use x509_cert::der::pem::{self, LineEnding};
use x509_cert::der::{Decode, Encode};
use x509_cert::ext::pkix::BasicConstraints;

/// One CA certificate from an `extra-ca-certs` file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExtraCa {
    /// The certificate's DER bytes (the Java trust store stores these).
    pub der: Vec<u8>,
    /// Canonical PEM text, newline-terminated.
    pub pem: String,
    /// Subject distinguished name (`CN=Corp Root CA,O=Corp`), for messages.
    pub subject: String,
    /// The file it came from, as the manifest resolved it: the Java trust store names the
    /// certificate after it.
    pub file: PathBuf,
    /// Its PEM block's number in that file, from 1 (a Java alias suffix after the first).
    pub block: usize,
}

/// Why an `extra-ca-certs` file is refused; each names the file (and the block).
#[derive(Debug, thiserror::Error)]
pub enum CaError {
    /// The file could not be read.
    #[error("`extra-ca-certs`: cannot read `{}`: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    /// No `-----BEGIN CERTIFICATE-----` block at all.
    #[error("`extra-ca-certs`: `{}` holds no PEM certificate (`-----BEGIN CERTIFICATE-----`)", path.display())]
    Empty { path: PathBuf },
    /// A block that is not a valid CA certificate.
    #[error("`extra-ca-certs`: `{}`, PEM block {block} (line {line}): {reason}", path.display())]
    Invalid {
        path: PathBuf,
        block: usize,
        line: usize,
        reason: String,
    },
}

/// Reads and validates every file of `paths` (already resolved against the manifest's
/// directory), in order; repeated certificates are kept once.
pub fn load(paths: &[PathBuf]) -> Result<Vec<ExtraCa>, CaError> {
    let mut all: Vec<ExtraCa> = Vec::new();
    for path in paths {
        let text = fs_err::read(path).map_err(|source| CaError::Read {
            path: path.clone(),
            source,
        })?;
        for ca in parse(path, &text)? {
            if !all.iter().any(|seen| seen.der == ca.der) {
                all.push(ca);
            }
        }
    }
    Ok(all)
}

/// The CA certificates of one file's bytes (`path` only names it in errors).
pub fn parse(path: &Path, bytes: &[u8]) -> Result<Vec<ExtraCa>, CaError> {
    let text = String::from_utf8_lossy(bytes);
    let mut found = Vec::new();
    let mut lines = text.lines().enumerate();
    let mut block = 0;
    while let Some((index, line)) = lines.next() {
        let Some(label) = line
            .trim()
            .strip_prefix("-----BEGIN ")
            .and_then(|rest| rest.strip_suffix("-----"))
        else {
            continue;
        };
        block += 1;
        let invalid = |reason: String| CaError::Invalid {
            path: path.to_owned(),
            block,
            line: index + 1,
            reason,
        };
        let end = format!("-----END {label}-----");
        let mut pem_text = format!("{}\n", line.trim());
        let mut closed = false;
        for (_, line) in lines.by_ref() {
            pem_text.push_str(line.trim());
            pem_text.push('\n');
            if line.trim() == end {
                closed = true;
                break;
            }
        }
        if !closed {
            return Err(invalid(format!("`-----BEGIN {label}-----` has no `{end}`")));
        }
        if label != "CERTIFICATE" {
            return Err(invalid(format!(
                "a `{label}`, not a `CERTIFICATE` (only CA certificates belong here)"
            )));
        }
        let (_, der) = pem::decode_vec(pem_text.as_bytes())
            .map_err(|err| invalid(format!("not valid PEM: {err}")))?;
        found.push(certificate(&der, path, block).map_err(invalid)?);
    }
    if found.is_empty() {
        return Err(CaError::Empty {
            path: path.to_owned(),
        });
    }
    Ok(found)
}

/// Decodes one DER certificate (block `block` of `file`) and insists on basicConstraints
/// `CA:TRUE`.
fn certificate(der: &[u8], file: &Path, block: usize) -> Result<ExtraCa, String> {
    let cert =
        Certificate::from_der(der).map_err(|err| format!("not an X.509 certificate: {err}"))?;
    let subject = cert.tbs_certificate.subject.to_string();
    let constraints = cert
        .tbs_certificate
        .get::<BasicConstraints>()
        .map_err(|err| format!("`{subject}`: unreadable basicConstraints: {err}"))?;
    if !constraints.is_some_and(|(_, c)| c.ca) {
        return Err(format!(
            "`{subject}` is not a CA certificate (no basicConstraints `CA:TRUE`); add the CA that issued it instead"
        ));
    }
    let canonical = cert
        .to_der()
        .map_err(|err| format!("`{subject}`: cannot re-encode: {err}"))?;
    let pem = pem::encode_string("CERTIFICATE", LineEnding::LF, &canonical)
        .map_err(|err| format!("`{subject}`: cannot encode PEM: {err}"))?;
    Ok(ExtraCa {
        der: canonical,
        pem,
        subject,
        file: file.to_owned(),
        block,
    })
}

/// The bundle with the extra certificates appended (each newline-terminated), as
/// `update-ca-certificates` appends `/usr/local/share/ca-certificates`.
pub fn append_to_bundle(mut bundle: Vec<u8>, extra: &[ExtraCa]) -> Vec<u8> {
    if !bundle.is_empty() && !bundle.ends_with(b"\n") {
        bundle.push(b'\n');
    }
    for ca in extra {
        bundle.extend_from_slice(ca.pem.as_bytes());
    }
    bundle
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A self-signed CA (`CN=debless test CA`, basicConstraints CA:TRUE, P-256) made with
    /// `openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -days 36500
    /// -subj "/CN=debless test CA" -addext basicConstraints=critical,CA:TRUE`.
    pub(crate) const TEST_CA: &str = include_str!("testdata/ca.pem");
    /// A server certificate issued by it (basicConstraints CA:FALSE).
    const TEST_LEAF: &str = include_str!("testdata/leaf.pem");

    #[test]
    fn a_file_of_several_cas_is_read_in_order_once_each() {
        let text = format!("# corporate roots\n{TEST_CA}\nsome comment\n{TEST_CA}");
        let cas = parse(Path::new("certs/corp.pem"), text.as_bytes()).expect("valid");
        assert_eq!(cas.len(), 2, "parse keeps both; load drops the repeat");
        assert_eq!(cas[0].subject, "CN=debless test CA");
        assert!(cas[0].pem.starts_with("-----BEGIN CERTIFICATE-----\n"));
        assert!(cas[0].pem.ends_with("-----END CERTIFICATE-----\n"));
        let origins: Vec<(&Path, usize)> =
            cas.iter().map(|c| (c.file.as_path(), c.block)).collect();
        assert_eq!(
            origins,
            [
                (Path::new("certs/corp.pem"), 1),
                (Path::new("certs/corp.pem"), 2)
            ]
        );
        let dir = tempfile::tempdir().expect("temp dir");
        let file = dir.path().join("corp.pem");
        std::fs::write(&file, &text).expect("write");
        assert_eq!(load(&[file.clone(), file]).expect("valid").len(), 1);
        let bundle = append_to_bundle(b"EXISTING".to_vec(), &cas[..1]);
        assert!(bundle.starts_with(b"EXISTING\n-----BEGIN CERTIFICATE-----\n"));
    }

    #[test]
    fn anything_but_ca_certificates_is_an_error_naming_file_and_block() {
        let path = Path::new("certs/corp.pem");
        let err = |text: &str| {
            parse(path, text.as_bytes())
                .expect_err("refused")
                .to_string()
        };
        assert_eq!(
            err(&format!("{TEST_CA}{TEST_LEAF}")),
            "`extra-ca-certs`: `certs/corp.pem`, PEM block 2 (line 12): `CN=localhost` is not a CA certificate (no basicConstraints `CA:TRUE`); add the CA that issued it instead"
        );
        assert_eq!(
            err(
                "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIA==\n-----END PRIVATE KEY-----\n"
            ),
            "`extra-ca-certs`: `certs/corp.pem`, PEM block 1 (line 1): a `PRIVATE KEY`, not a `CERTIFICATE` (only CA certificates belong here)"
        );
        assert!(
            err("-----BEGIN CERTIFICATE-----\nTUlJ\n-----END CERTIFICATE-----\n")
                .contains("PEM block 1 (line 1): not an X.509 certificate")
        );
        assert!(
            err("-----BEGIN CERTIFICATE-----\nMIIB\n")
                .contains("has no `-----END CERTIFICATE-----`")
        );
        assert_eq!(
            err("not a certificate\n"),
            "`extra-ca-certs`: `certs/corp.pem` holds no PEM certificate (`-----BEGIN CERTIFICATE-----`)"
        );
    }
}
