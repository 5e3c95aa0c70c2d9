//! `/etc/ssl/certs/java/cacerts`, the trust store of Debian's JREs, written without a JVM.
//!
//! Debian's `openjdk-*-jre-headless` ships `lib/security/cacerts` as a link to
//! `/etc/ssl/certs/java/cacerts`, which no package ships: ca-certificates-java's postinst
//! builds it by running its own Java program (`org.debian.security.UpdateCertificates` in
//! `/usr/share/ca-certificates-java/ca-certificates-java.jar`) over the `/etc/ssl/certs/*.pem`
//! links that `update-ca-certificates` made. What that program writes, read from its
//! bytecode (identical in bookworm's 20230710~deb12u1 and trixie's 20240118):
//!
//! - a **JKS** store (`KeyStore.getInstance("JKS")`, not PKCS12), password `changeit`
//!   (the postinst's `storepass`, which `/etc/default/cacerts` leaves unset);
//! - one trusted-certificate entry per `.pem` link, alias `debian:` + the link's file name,
//!   which JKS stores lower-cased: `mozilla/ACCVRAIZ1.crt` → `ACCVRAIZ1.pem` →
//!   `debian:accvraiz1.pem` (update-ca-certificates turns ` ` and `,` into `_` and `(`, `)`
//!   into `=`); the entry holds the file's first certificate, no attributes, and the time of
//!   the import.
//!
//! debless writes the same store from the image's `/etc/ssl/certs/ca-certificates.crt`: every
//! certificate of the bundle, in the bundle's order, so Java trusts exactly what OpenSSL,
//! GnuTLS and curl in the image trust (`[image] extra-ca-certs` included). A certificate is
//! named after the packaged file it came from as above; an `extra-ca-certs` certificate after
//! its manifest file (`certs/corp.pem` → `debian:corp.pem`, its second block
//! `debian:corp-2.pem`), as if it had been put in `/usr/local/share/ca-certificates`; one of
//! unknown origin (a base image's bundle) `debless:` + the first 16 hex digits of its sha256.
//! Every entry's date is the image epoch, so the bytes depend only on the certificates.
//!
//! The JKS format (OpenJDK `sun.security.provider.JavaKeyStore.engineStore`), big-endian:
//! magic `0xFEEDFEED`, version 2, the entry count, then per trusted certificate the tag 2,
//! the alias (Java's modified UTF-8 with a 16-bit length, `DataOutputStream.writeUTF`), the
//! date in milliseconds (64-bit), the certificate type `X.509` (writeUTF), the DER length
//! (32-bit) and the DER bytes; last, SHA-1 over the password as UTF-16BE, the bytes
//! `Mighty Aphrodite` and everything before. It is small enough to write here: the Rust JKS
//! crates carry private-key support, random salts and many more dependencies than a trust
//! store needs.

use std::collections::{BTreeSet, HashMap, VecDeque};

use sha1::{Digest as _, Sha1};
use sha2::Sha256;
use x509_cert::Certificate;
use x509_cert::der::Decode;
use x509_cert::der::pem;

use super::ca::ExtraCa;
use super::essentials::{CA_BUNDLE, EssentialsError};
use super::{NodeKind, Rootfs, Tree};

/// Where Debian's JREs find their trust store (their `lib/security/cacerts` links here).
pub const CACERTS: &str = "etc/ssl/certs/java/cacerts";
/// The store's password: ca-certificates-java's default `storepass`.
pub const STORE_PASSWORD: &str = "changeit";
/// Where update-ca-certificates reads certificates, packaged then local.
const CA_DIRS: [&str; 2] = [
    "usr/share/ca-certificates/",
    "usr/local/share/ca-certificates/",
];
/// Where JREs live.
const JVM_DIR: &str = "usr/lib/jvm/";

const JKS_MAGIC: u32 = 0xFEED_FEED;
const JKS_VERSION: u32 = 2;
const TRUSTED_CERT_TAG: u32 = 2;
/// The constant JavaKeyStore mixes into its integrity digest.
const INTEGRITY_WHITENER: &[u8] = b"Mighty Aphrodite";

/// One trusted-certificate entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TrustedCert {
    /// The alias, lower-case as JKS keeps it.
    pub alias: String,
    /// The certificate's DER bytes.
    pub der: Vec<u8>,
}

/// Why a store cannot be encoded (lengths JKS cannot record).
#[derive(Debug, thiserror::Error)]
pub enum KeystoreError {
    /// An alias longer than writeUTF's 65,535 bytes.
    #[error("Java trust store alias `{alias}` is too long for the JKS format")]
    AliasTooLong { alias: String },
    /// More entries than JKS's 32-bit count.
    #[error("too many certificates for the JKS format")]
    TooManyEntries,
    /// A certificate larger than JKS's 32-bit length.
    #[error("certificate `{alias}` is too large for the JKS format")]
    CertificateTooLarge { alias: String },
}

/// Why the trust store cannot be added.
#[derive(Debug, thiserror::Error)]
pub enum TrustStoreError {
    /// The certificates do not fit the format.
    #[error(transparent)]
    Encode(#[from] KeystoreError),
    /// The file cannot be placed in the tree.
    #[error(transparent)]
    Place(#[from] EssentialsError),
}

/// The JKS bytes of `entries`, each dated `created_ms` (milliseconds since 1970).
pub fn jks(
    entries: &[TrustedCert],
    password: &str,
    created_ms: i64,
) -> Result<Vec<u8>, KeystoreError> {
    let mut out = Vec::new();
    out.extend_from_slice(&JKS_MAGIC.to_be_bytes());
    out.extend_from_slice(&JKS_VERSION.to_be_bytes());
    let count = u32::try_from(entries.len()).map_err(|_| KeystoreError::TooManyEntries)?;
    out.extend_from_slice(&count.to_be_bytes());
    for entry in entries {
        out.extend_from_slice(&TRUSTED_CERT_TAG.to_be_bytes());
        write_utf(&mut out, &entry.alias).ok_or_else(|| KeystoreError::AliasTooLong {
            alias: entry.alias.clone(),
        })?;
        out.extend_from_slice(&created_ms.to_be_bytes());
        write_utf(&mut out, "X.509").expect("a short constant");
        let length =
            i32::try_from(entry.der.len()).map_err(|_| KeystoreError::CertificateTooLarge {
                alias: entry.alias.clone(),
            })?;
        out.extend_from_slice(&length.to_be_bytes());
        out.extend_from_slice(&entry.der);
    }
    let mut digest = Sha1::new();
    for unit in password.encode_utf16() {
        digest.update(unit.to_be_bytes());
    }
    digest.update(INTEGRITY_WHITENER);
    digest.update(&out);
    out.extend_from_slice(&digest.finalize());
    Ok(out)
}

/// `DataOutputStream.writeUTF`: a 16-bit byte length, then modified UTF-8 (UTF-16 code units
/// encoded one by one, U+0000 as two bytes); `None` past 65,535 bytes.
fn write_utf(out: &mut Vec<u8>, text: &str) -> Option<()> {
    let mut bytes = Vec::with_capacity(text.len());
    for unit in text.encode_utf16() {
        match unit {
            0x0001..=0x007F => bytes.push(unit as u8),
            0x0000 | 0x0080..=0x07FF => {
                bytes.extend_from_slice(&[0xC0 | (unit >> 6) as u8, 0x80 | (unit & 0x3F) as u8]);
            }
            _ => bytes.extend_from_slice(&[
                0xE0 | (unit >> 12) as u8,
                0x80 | ((unit >> 6) & 0x3F) as u8,
                0x80 | (unit & 0x3F) as u8,
            ]),
        }
    }
    out.extend_from_slice(&u16::try_from(bytes.len()).ok()?.to_be_bytes());
    out.extend_from_slice(&bytes);
    Some(())
}

/// The alias ca-certificates-java gives a certificate file named `stem.crt`: the name of the
/// `/etc/ssl/certs/*.pem` link update-ca-certificates makes for it, with `debian:` before it,
/// lower-cased as JKS stores it.
pub fn debian_alias(stem: &str) -> String {
    let link: String = stem
        .chars()
        .map(|c| match c {
            ' ' | ',' => '_',
            '(' | ')' => '=',
            c => c,
        })
        .collect();
    format!("debian:{link}.pem").to_lowercase()
}

/// The X.509 certificates of a PEM text, in order (other blocks, and blocks that do not
/// decode as a certificate, are left out and described in the second list).
pub fn pem_certificates(text: &[u8]) -> (Vec<Vec<u8>>, Vec<String>) {
    let text = String::from_utf8_lossy(text);
    let (mut certs, mut skipped) = (Vec::new(), Vec::new());
    let mut lines = text.lines().enumerate();
    while let Some((index, line)) = lines.next() {
        if line.trim() != "-----BEGIN CERTIFICATE-----" {
            continue;
        }
        let mut block = String::from("-----BEGIN CERTIFICATE-----\n");
        for (_, line) in lines.by_ref() {
            block.push_str(line.trim());
            block.push('\n');
            if line.trim() == "-----END CERTIFICATE-----" {
                break;
            }
        }
        match pem::decode_vec(block.as_bytes()) {
            Ok((_, der)) if Certificate::from_der(&der).is_ok() => certs.push(der),
            Ok(_) => skipped.push(format!("line {}: not an X.509 certificate", index + 1)),
            Err(err) => skipped.push(format!("line {}: not valid PEM: {err}", index + 1)),
        }
    }
    (certs, skipped)
}

/// Whether a JRE in `tree` reads `/etc/ssl/certs/java/cacerts` (Debian's JREs link their
/// `lib/security/cacerts` there).
pub fn jre_reads_system_store(tree: &Tree) -> bool {
    tree.iter().any(|(path, node)| {
        path.starts_with(JVM_DIR)
            && path.ends_with("/security/cacerts")
            && matches!(&node.kind, NodeKind::Symlink(target) if target.trim_start_matches('/') == CACERTS)
    })
}

/// The certificate files of update-ca-certificates' directories in `tree`, each certificate
/// with the alias it would get (`debian:<file>.pem`, `-N` before `.pem` for the Nth of a file).
fn packaged_names(tree: &Tree, names: &mut HashMap<Vec<u8>, VecDeque<String>>) {
    for (path, _) in tree
        .iter()
        .filter(|(p, _)| CA_DIRS.iter().any(|dir| p.starts_with(dir)) && p.ends_with(".crt"))
    {
        let Some(bytes) = tree.file_bytes(path) else {
            continue;
        };
        let stem = path.rsplit('/').next().unwrap_or(path);
        let stem = stem.strip_suffix(".crt").unwrap_or(stem);
        for (index, der) in pem_certificates(&bytes).0.into_iter().enumerate() {
            names
                .entry(der)
                .or_default()
                .push_back(numbered_alias(stem, index + 1));
        }
    }
}

/// [`debian_alias`] of `stem`, with `-N` before `.pem` for a file's Nth certificate (N > 1).
fn numbered_alias(stem: &str, ordinal: usize) -> String {
    if ordinal > 1 {
        debian_alias(&format!("{stem}-{ordinal}"))
    } else {
        debian_alias(stem)
    }
}

/// The trust store's entries for `bundle`: every certificate, named after where it came from
/// (see the module doc), aliases made unique; and what was left out, with why.
pub fn bundle_entries(
    bundle: &[u8],
    trees: &[&Tree],
    extra: &[ExtraCa],
) -> (Vec<TrustedCert>, Vec<String>) {
    let mut names: HashMap<Vec<u8>, VecDeque<String>> = HashMap::new();
    for tree in trees {
        packaged_names(tree, &mut names);
    }
    for ca in extra {
        let stem = ca.file.file_stem().map_or_else(
            || "extra-ca".to_owned(),
            |s| s.to_string_lossy().into_owned(),
        );
        names
            .entry(ca.der.clone())
            .or_default()
            .push_back(numbered_alias(&stem, ca.block));
    }
    let (certs, skipped) = pem_certificates(bundle);
    let mut taken = BTreeSet::new();
    let entries = certs
        .into_iter()
        .map(|der| {
            let alias = names
                .get_mut(&der)
                .and_then(VecDeque::pop_front)
                .unwrap_or_else(|| format!("debless:{}", &hex::encode(Sha256::digest(&der))[..16]));
            let alias = unique(alias, &mut taken);
            TrustedCert { alias, der }
        })
        .collect();
    (entries, skipped)
}

/// `alias`, or `alias` with `-2`, `-3`, … before its `.pem` when already taken.
fn unique(alias: String, taken: &mut BTreeSet<String>) -> String {
    let mut candidate = alias.clone();
    let mut n = 2;
    while taken.contains(&candidate) {
        candidate = match alias.strip_suffix(".pem") {
            Some(stem) => format!("{stem}-{n}.pem"),
            None => format!("{alias}-{n}"),
        };
        n += 1;
    }
    taken.insert(candidate.clone());
    candidate
}

impl Rootfs {
    /// Writes `/etc/ssl/certs/java/cacerts` from the CA bundle when a JRE in the image reads
    /// it: one in this tree, or one in `base` (the base image's files) when `extra` changes
    /// the base's bundle. Returns notices (certificates left out, a JRE without a bundle).
    pub fn add_java_trust_store(
        &mut self,
        base: Option<&Tree>,
        extra: &[ExtraCa],
        mtime: i64,
    ) -> Result<Vec<String>, TrustStoreError> {
        let jre_here = jre_reads_system_store(&self.tree);
        let jre_in_base = base.is_some_and(jre_reads_system_store);
        if !(jre_here || (jre_in_base && !extra.is_empty())) {
            return Ok(Vec::new());
        }
        let Some(bundle) = self
            .tree
            .file_bytes(CA_BUNDLE)
            .or_else(|| base.and_then(|b| b.file_bytes(CA_BUNDLE)))
        else {
            return Ok(vec![format!(
                "a JRE reads /{CACERTS} but the image has no /{CA_BUNDLE}: no Java trust store written (lock `ca-certificates` or set `[image] extra-ca-certs`)"
            )]);
        };
        let trees: Vec<&Tree> = base.into_iter().chain([&self.tree]).collect();
        let (entries, skipped) = bundle_entries(&bundle, &trees, extra);
        let mut notices: Vec<String> = skipped
            .into_iter()
            .map(|why| format!("/{CA_BUNDLE}, {why}: left out of the Java trust store"))
            .collect();
        if entries.is_empty() {
            notices.push(format!(
                "/{CA_BUNDLE} holds no certificate: the Java trust store /{CACERTS} is empty"
            ));
        }
        let bytes = jks(&entries, STORE_PASSWORD, mtime.saturating_mul(1000))?;
        self.add_generated_file(CACERTS, bytes, mtime)?;
        Ok(notices)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rootfs::Node;
    use crate::rootfs::ca::tests::TEST_CA;

    fn der_of(pem_text: &str) -> Vec<u8> {
        pem::decode_vec(pem_text.as_bytes()).expect("pem").1
    }

    #[test]
    fn aliases_follow_update_ca_certificates_link_names() {
        assert_eq!(debian_alias("ACCVRAIZ1"), "debian:accvraiz1.pem");
        assert_eq!(
            debian_alias("NetLock_Arany_(Class_Gold)_Főtanúsítvány"),
            "debian:netlock_arany_=class_gold=_főtanúsítvány.pem"
        );
        assert_eq!(
            debian_alias("Corp Root, 2024"),
            "debian:corp_root__2024.pem"
        );
    }

    #[test]
    fn jks_layout_and_integrity_digest() {
        let der = der_of(TEST_CA);
        let entries = [TrustedCert {
            alias: "debian:ä.pem".into(),
            der: der.clone(),
        }];
        let bytes = jks(&entries, "changeit", 1_700_000_000_000).expect("encodes");
        let mut expected = vec![0xFE, 0xED, 0xFE, 0xED, 0, 0, 0, 2, 0, 0, 0, 1, 0, 0, 0, 2];
        // "debian:ä.pem": `ä` is two bytes in (modified) UTF-8, so 13 bytes.
        expected.extend_from_slice(&[0, 13]);
        expected.extend_from_slice("debian:ä.pem".as_bytes());
        expected.extend_from_slice(&1_700_000_000_000_i64.to_be_bytes());
        expected.extend_from_slice(b"\0\x05X.509");
        expected.extend_from_slice(&u32::try_from(der.len()).expect("small").to_be_bytes());
        expected.extend_from_slice(&der);
        let mut salted: Vec<u8> = "changeit".bytes().flat_map(|b| [0, b]).collect();
        salted.extend_from_slice(b"Mighty Aphrodite");
        salted.extend_from_slice(&expected);
        expected.extend_from_slice(&Sha1::digest(&salted));
        assert_eq!(bytes, expected);
    }

    #[test]
    fn modified_utf8_encodes_nul_and_supplementary_characters_as_java_does() {
        let mut out = Vec::new();
        write_utf(&mut out, "\0😀").expect("short");
        assert_eq!(
            out,
            [0, 8, 0xC0, 0x80, 0xED, 0xA0, 0xBD, 0xED, 0xB8, 0x80],
            "U+0000 as C0 80, U+1F600 as its two surrogates, three bytes each"
        );
        assert!(write_utf(&mut Vec::new(), &"a".repeat(65_536)).is_none());
    }

    #[test]
    fn bundle_certificates_are_named_after_their_files_in_bundle_order() {
        let mut tree = Tree::default();
        tree.ensure_dirs("usr/share/ca-certificates/mozilla", None, 0)
            .expect("dirs");
        tree.insert(
            "usr/share/ca-certificates/mozilla/Test (Root).crt".into(),
            Node::test_file(TEST_CA.as_bytes()),
        );
        let extra = ExtraCa {
            der: der_of(TEST_CA),
            pem: TEST_CA.to_owned(),
            subject: "CN=debless test CA".into(),
            file: "certs/Corp.pem".into(),
            block: 2,
        };
        // The same certificate three times (packaged, extra, and of unknown origin), and a
        // block that is no certificate.
        let bundle = format!(
            "{TEST_CA}{TEST_CA}-----BEGIN CERTIFICATE-----\nTUlJ\n-----END CERTIFICATE-----\n{TEST_CA}"
        );
        let (entries, skipped) = bundle_entries(bundle.as_bytes(), &[&tree], &[extra]);
        let aliases: Vec<&str> = entries.iter().map(|e| e.alias.as_str()).collect();
        let unknown = format!(
            "debless:{}",
            &hex::encode(Sha256::digest(der_of(TEST_CA)))[..16]
        );
        assert_eq!(
            aliases,
            [
                "debian:test_=root=.pem",
                "debian:corp-2.pem",
                unknown.as_str()
            ]
        );
        assert_eq!(skipped, ["line 23: not an X.509 certificate"]);
    }

    #[test]
    fn a_taken_alias_gets_a_number_before_its_extension() {
        let mut taken = BTreeSet::new();
        let aliases: Vec<String> = [
            "debian:corp.pem",
            "debian:corp.pem",
            "debian:corp.pem",
            "debless:ab",
            "debless:ab",
        ]
        .into_iter()
        .map(|a| unique(a.to_owned(), &mut taken))
        .collect();
        assert_eq!(
            aliases,
            [
                "debian:corp.pem",
                "debian:corp-2.pem",
                "debian:corp-3.pem",
                "debless:ab",
                "debless:ab-2"
            ]
        );
    }

    #[test]
    fn a_jre_is_one_whose_cacerts_links_to_the_system_store() {
        let mut tree = Tree::default();
        tree.ensure_dirs("usr/lib/jvm/java-17-openjdk-amd64/lib/security", None, 0)
            .expect("dirs");
        assert!(!jre_reads_system_store(&tree));
        let mut link = Node::test_file(b"");
        link.kind = NodeKind::Symlink("/etc/ssl/certs/java/cacerts".into());
        tree.insert(
            "usr/lib/jvm/java-17-openjdk-amd64/lib/security/cacerts".into(),
            link,
        );
        assert!(jre_reads_system_store(&tree));
    }
}
