//! OpenPGP verification of `InRelease` (cleartext-signed) and `Release` + `Release.gpg`
//! (detached), with apt's acceptance rules (apt methods/gpgv.cc, apt-pkg/contrib/gpgv.cc).
//!
//! The rules, from debian-notes §2:
//! - at least one good signature from a key of the keyring (a subkey signature counts for its
//!   primary, whose fingerprint is reported);
//! - any bad signature from a key we hold fails the whole file, even beside a good one;
//! - signatures by keys we do not hold are ignored when another one is good;
//! - signatures by expired or revoked keys (at `now`) and weak digests (MD5, SHA-1,
//!   RIPEMD-160) are worthless: they neither count nor fail;
//! - the cleartext framework is checked as strictly as apt does: the file starts with the
//!   signed-message header, only `Hash:` armor headers, no undashed line starting with `-`,
//!   nothing but blank lines after the signature block.
//!
//! sequoia parses the framework and checks the cryptography; this file also splits the
//! framework itself and requires that sequoia's signed text equals its own, so the text handed
//! to the Release parser is exactly the text the signature covers. Callers parse
//! [`VerifiedText::text`], never the raw file.

use std::io::Read;
use std::path::Path;
use std::time::SystemTime;

use sequoia_openpgp as openpgp;

use openpgp::cert::amalgamation::ValidAmalgamation;
use openpgp::cert::{Cert, CertParser};
use openpgp::parse::Parse;
use openpgp::parse::stream::{
    DetachedVerifierBuilder, MessageLayer, MessageStructure, VerificationError, VerificationHelper,
    VerifierBuilder,
};
use openpgp::policy::StandardPolicy;
use openpgp::types::{HashAlgorithm, RevocationStatus};
use openpgp::{KeyHandle, packet::Signature};

/// The Debian archive keyring shipped inside the binary, so `debless lock` needs no host
/// keyring (debian-archive-keyring package, as of the repository's snapshot).
const DEBIAN_KEYRING: &[u8] = include_bytes!("../../keys/debian-archive-keyring.gpg");

/// The certificates whose signatures a suite may carry.
#[derive(Clone, Debug)]
pub struct Keyring {
    /// Shared: parsing the embedded keyring checks its self-signatures (RSA in pure Rust), a
    /// cost paid once per process however many suites use it.
    certs: std::sync::Arc<[Cert]>,
    /// One per certificate: held while its self-signatures are checked, so suites verified in
    /// parallel wait for the one check instead of each repeating it (see `check_bindings`).
    binding_checks: std::sync::Arc<[std::sync::Mutex<()>]>,
}

/// Text whose signature checked out, and who signed it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifiedText {
    /// Exactly what the signature covers, as the `Release` file would contain it (lines joined
    /// with `\n`, one final `\n`).
    pub text: String,
    /// Primary key fingerprints of the good signatures, upper-case hex, in signature order.
    pub signers: Vec<String>,
}

/// Why a signed file is not trusted.
#[derive(Debug, thiserror::Error)]
pub enum SignatureError {
    #[error("the file is not signed")]
    Unsigned,
    #[error("no good signature from a trusted key (signed by unknown key(s) {})", issuers.join(", "))]
    UnknownKey { issuers: Vec<String> },
    #[error(
        "BAD signature from key `{fingerprint}`: the signed text was altered or the signature is corrupt"
    )]
    BadSignature { fingerprint: String },
    #[error("no usable signature: {}", reasons.join("; "))]
    NoValidSignature { reasons: Vec<String> },
    #[error("malformed signed file: {0}")]
    Malformed(String),
    #[error("keyring `{path}`: {reason}")]
    Keyring { path: String, reason: String },
}

impl Keyring {
    /// The embedded Debian archive keyring (archive, security and release keys).
    pub fn debian() -> Keyring {
        static DEBIAN: std::sync::OnceLock<Keyring> = std::sync::OnceLock::new();
        DEBIAN
            .get_or_init(|| {
                Keyring::from_bytes(DEBIAN_KEYRING).expect("the embedded Debian keyring parses")
            })
            .clone()
    }

    /// Reads a keyring file, binary or ASCII-armored, holding one or more certificates.
    pub fn from_file(path: &Path) -> Result<Keyring, SignatureError> {
        let bytes = fs_err::read(path).map_err(|err| SignatureError::Keyring {
            path: path.display().to_string(),
            reason: err.to_string(),
        })?;
        Keyring::from_bytes(&bytes).map_err(|err| match err {
            SignatureError::Keyring { reason, .. } => SignatureError::Keyring {
                path: path.display().to_string(),
                reason,
            },
            other => other,
        })
    }

    /// Parses keyring bytes (binary or armored, several certificates allowed).
    pub fn from_bytes(bytes: &[u8]) -> Result<Keyring, SignatureError> {
        let invalid = |reason: String| SignatureError::Keyring {
            path: "<bytes>".to_owned(),
            reason,
        };
        let parser = CertParser::from_bytes(bytes).map_err(|err| invalid(err.to_string()))?;
        let certs = parser
            .collect::<openpgp::Result<Vec<Cert>>>()
            .map_err(|err| invalid(err.to_string()))?;
        if certs.is_empty() {
            return Err(invalid("no OpenPGP certificate found".to_owned()));
        }
        Ok(Keyring::of(certs))
    }

    fn of(certs: Vec<Cert>) -> Keyring {
        Keyring {
            binding_checks: certs.iter().map(|_| std::sync::Mutex::new(())).collect(),
            certs: certs.into(),
        }
    }

    /// Primary fingerprints of the certificates, upper-case hex.
    pub fn fingerprints(&self) -> Vec<String> {
        self.certs
            .iter()
            .map(|c| c.fingerprint().to_hex())
            .collect()
    }
}

/// Verifies a clearsigned `InRelease` and returns the text its signatures cover.
pub fn verify_inrelease(
    bytes: &[u8],
    keyring: &Keyring,
    now: SystemTime,
) -> Result<VerifiedText, SignatureError> {
    let expected_text = split_cleartext(bytes)?;
    let policy = StandardPolicy::new();
    let helper = Helper::new(keyring, &policy, now);
    let mut verifier = VerifierBuilder::from_bytes(bytes)
        .and_then(|builder| builder.with_policy(&policy, Some(now), helper))
        .map_err(|err| SignatureError::Malformed(err.to_string()))?;
    let mut signed = Vec::new();
    let read = verifier.read_to_end(&mut signed);
    let signers = verifier.into_helper().verdict_after(read)?;
    // sequoia yields the signed lines joined with `\n`, without the last line ending.
    let mut text =
        String::from_utf8(signed).map_err(|_| SignatureError::Malformed("not UTF-8".into()))?;
    text.push('\n');
    if text != expected_text {
        return Err(SignatureError::Malformed(
            "the OpenPGP parser and the cleartext framework disagree on the signed text".into(),
        ));
    }
    Ok(VerifiedText { text, signers })
}

/// Verifies `Release` against its detached `Release.gpg` (armored or binary).
pub fn verify_detached(
    release: &[u8],
    signature: &[u8],
    keyring: &Keyring,
    now: SystemTime,
) -> Result<VerifiedText, SignatureError> {
    if signature.iter().all(u8::is_ascii_whitespace) {
        return Err(SignatureError::Unsigned);
    }
    let text = String::from_utf8(release.to_vec())
        .map_err(|_| SignatureError::Malformed("Release is not UTF-8".into()))?;
    let policy = StandardPolicy::new();
    let helper = Helper::new(keyring, &policy, now);
    let mut verifier = DetachedVerifierBuilder::from_bytes(signature)
        .and_then(|builder| builder.with_policy(&policy, Some(now), helper))
        .map_err(|err| SignatureError::Malformed(err.to_string()))?;
    let verified = verifier.verify_bytes(release);
    let signers = verifier.into_helper().verdict_after(verified)?;
    Ok(VerifiedText { text, signers })
}

const SIGNED_HEADER: &str = "-----BEGIN PGP SIGNED MESSAGE-----";
const SIGNATURE_BEGIN: &str = "-----BEGIN PGP SIGNATURE-----";
const SIGNATURE_END: &str = "-----END PGP SIGNATURE-----";

/// Splits a cleartext-signed file as apt's `SplitClearSignedFile` does and returns the signed
/// text in `Release` form (dash-escapes removed, trailing blanks removed, `\n` after each line).
fn split_cleartext(bytes: &[u8]) -> Result<String, SignatureError> {
    let malformed = |reason: &str| SignatureError::Malformed(reason.to_owned());
    let Ok(raw) = std::str::from_utf8(bytes) else {
        return Err(malformed("not UTF-8"));
    };
    let mut lines = raw.split('\n').map(|l| l.strip_suffix('\r').unwrap_or(l));
    match lines.next() {
        Some(first) if first.trim_end() == SIGNED_HEADER => {}
        _ if raw.contains("-----BEGIN PGP") => {
            return Err(malformed(
                "the file does not start with `-----BEGIN PGP SIGNED MESSAGE-----`",
            ));
        }
        _ => return Err(SignatureError::Unsigned),
    }
    for header in lines.by_ref() {
        if header.trim().is_empty() {
            break;
        }
        if !header.starts_with("Hash: ") {
            return Err(SignatureError::Malformed(format!(
                "unexpected armor header `{header}` (only `Hash:` is allowed)"
            )));
        }
    }
    let mut text = String::with_capacity(bytes.len());
    let mut in_signature = false;
    for line in lines.by_ref() {
        if line.trim_end() == SIGNATURE_BEGIN {
            in_signature = true;
            break;
        }
        let line = if let Some(escaped) = line.strip_prefix("- ") {
            escaped
        } else if line.starts_with('-') {
            return Err(SignatureError::Malformed(format!(
                "line `{line}` starts with `-` but is not dash-escaped"
            )));
        } else {
            line
        };
        text.push_str(line.trim_end_matches([' ', '\t']));
        text.push('\n');
    }
    if !in_signature {
        return Err(SignatureError::Unsigned);
    }
    if !lines.by_ref().any(|line| line.trim_end() == SIGNATURE_END) {
        return Err(malformed("the signature block is not closed"));
    }
    if lines.any(|line| !line.trim().is_empty()) {
        return Err(malformed("text after the signature block"));
    }
    Ok(text)
}

/// Collects sequoia's per-signature results and applies apt's rules in [`Helper::verdict`].
struct Helper<'a> {
    keyring: &'a Keyring,
    policy: &'a StandardPolicy<'a>,
    now: SystemTime,
    good: Vec<String>,
    bad: Option<String>,
    unknown_issuers: Vec<String>,
    worthless: Vec<String>,
    signatures_seen: usize,
}

impl<'a> Helper<'a> {
    fn new(keyring: &'a Keyring, policy: &'a StandardPolicy<'a>, now: SystemTime) -> Self {
        Helper {
            keyring,
            policy,
            now,
            good: Vec::new(),
            bad: None,
            unknown_issuers: Vec::new(),
            worthless: Vec::new(),
            signatures_seen: 0,
        }
    }

    /// The verdict once sequoia has read the message: a read failure before any signature
    /// was checked means the framework itself is broken.
    fn verdict_after<T, E: std::fmt::Display>(
        &self,
        read: Result<T, E>,
    ) -> Result<Vec<String>, SignatureError> {
        match read {
            Err(err) if self.signatures_seen == 0 => {
                Err(SignatureError::Malformed(err.to_string()))
            }
            Err(err) => self
                .verdict()
                .and_then(|_| Err(SignatureError::Malformed(err.to_string()))),
            Ok(_) => self.verdict(),
        }
    }

    fn verdict(&self) -> Result<Vec<String>, SignatureError> {
        if let Some(fingerprint) = &self.bad {
            return Err(SignatureError::BadSignature {
                fingerprint: fingerprint.clone(),
            });
        }
        if !self.good.is_empty() {
            return Ok(self.good.clone());
        }
        if self.signatures_seen == 0 {
            return Err(SignatureError::Unsigned);
        }
        if !self.worthless.is_empty() {
            return Err(SignatureError::NoValidSignature {
                reasons: self.worthless.clone(),
            });
        }
        Err(SignatureError::UnknownKey {
            issuers: self.unknown_issuers.clone(),
        })
    }

    /// Whether a weak digest makes the signature worthless (apt's untrusted digests).
    fn weak_digest(sig: &Signature) -> bool {
        matches!(
            sig.hash_algo(),
            HashAlgorithm::MD5 | HashAlgorithm::SHA1 | HashAlgorithm::RipeMD
        )
    }

    /// Why the key that made a good signature is not usable at `now`, if it is not.
    fn unusable_now(&self, cert: &Cert, key: &openpgp::Fingerprint) -> Option<String> {
        let valid = match cert.with_policy(self.policy, self.now) {
            Ok(valid) => valid,
            Err(err) => return Some(format!("key `{}`: {err}", cert.fingerprint().to_hex())),
        };
        let who = cert.fingerprint().to_hex();
        if let Err(err) = valid.alive() {
            return Some(format!("key `{who}` is expired: {err}"));
        }
        if let RevocationStatus::Revoked(_) = valid.revocation_status() {
            return Some(format!("key `{who}` is revoked"));
        }
        let Some(subkey) = valid.keys().key_handle(key.clone()).next() else {
            return Some(format!(
                "signing key `{}` is not bound to `{who}`",
                key.to_hex()
            ));
        };
        if let Err(err) = subkey.alive() {
            return Some(format!("signing key `{}` is expired: {err}", key.to_hex()));
        }
        if let RevocationStatus::Revoked(_) = subkey.revocation_status() {
            return Some(format!("signing key `{}` is revoked", key.to_hex()));
        }
        None
    }

    /// Checks `cert`'s self-signatures in place, in the keyring every suite shares: sequoia
    /// keeps each check's result inside the certificate (and a clone keeps it), so the suites
    /// of one run signed by the same key pay the pure-Rust RSA of its bindings once, not once
    /// each. Only sequoia's own verdicts are kept; nothing is trusted that it did not check.
    /// Only the keys that made the signatures (`ids`) are checked, as the verification will.
    fn check_bindings(&self, cert: &Cert, ids: &[KeyHandle]) {
        if let Ok(valid) = cert.with_policy(self.policy, self.now) {
            let _ = valid.revocation_status();
            for key in valid.keys().key_handles(ids.iter().cloned()) {
                let _ = key.revocation_status();
            }
        }
    }

    fn issuers_of(sig: &Signature) -> Vec<String> {
        sig.get_issuers().iter().map(KeyHandle::to_hex).collect()
    }
}

impl VerificationHelper for Helper<'_> {
    /// Only the certificates holding an issuer of the file's signatures: sequoia validates
    /// every certificate it is handed (binding signatures, in pure-Rust RSA), and the Debian
    /// keyring holds many more keys than any one Release is signed with. Signatures naming no
    /// issuer get the whole keyring, as before.
    fn get_certs(&mut self, ids: &[KeyHandle]) -> openpgp::Result<Vec<Cert>> {
        if ids.is_empty() {
            return Ok(self.keyring.certs.to_vec());
        }
        Ok(self
            .keyring
            .certs
            .iter()
            .zip(self.keyring.binding_checks.iter())
            .filter(|(cert, _)| {
                cert.keys()
                    .any(|key| ids.iter().any(|id| id.aliases(key.key().key_handle())))
            })
            .map(|(cert, checking)| {
                let _checking = checking
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                self.check_bindings(cert, ids);
                cert.clone()
            })
            .collect())
    }

    fn check(&mut self, structure: MessageStructure) -> openpgp::Result<()> {
        for layer in structure.into_iter() {
            let MessageLayer::SignatureGroup { results } = layer else {
                continue;
            };
            for result in results {
                self.signatures_seen += 1;
                match result {
                    Ok(good) => {
                        let primary = good.ka.cert().fingerprint().to_hex();
                        if Self::weak_digest(good.sig) {
                            self.worthless
                                .push(format!("key `{primary}` signed with a weak digest"));
                        } else if let Some(reason) =
                            self.unusable_now(good.ka.cert(), &good.ka.key().fingerprint())
                        {
                            self.worthless.push(reason);
                        } else if !self.good.contains(&primary) {
                            self.good.push(primary);
                        }
                    }
                    Err(VerificationError::MissingKey { sig }) => {
                        self.unknown_issuers.extend(Self::issuers_of(sig));
                    }
                    Err(VerificationError::BadSignature { sig, ka, error }) => {
                        let primary = ka.cert().fingerprint().to_hex();
                        if Self::weak_digest(sig) {
                            self.worthless
                                .push(format!("key `{primary}` signed with a weak digest"));
                        } else if sig.signature_alive(self.now, None).is_err() {
                            self.worthless
                                .push(format!("signature by `{primary}` is not alive: {error}"));
                        } else {
                            self.bad.get_or_insert(primary);
                        }
                    }
                    Err(VerificationError::BadKey { ka, error, .. }) => {
                        self.worthless.push(format!(
                            "key `{}` is not usable: {error}",
                            ka.cert().fingerprint().to_hex()
                        ));
                    }
                    Err(VerificationError::UnboundKey { cert, error, .. }) => {
                        self.worthless.push(format!(
                            "key `{}` is not usable: {error}",
                            cert.fingerprint().to_hex()
                        ));
                    }
                    Err(other) => self.worthless.push(other.to_string()),
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debian_keyring_holds_the_archive_and_security_keys() {
        let fingerprints = Keyring::debian().fingerprints();
        for wanted in [
            "B8B80B5B623EAB6AD8775C45B7C5D7D6350947F8",
            "04B54C3CDCA79751B16BC6B5225629DF75B188BD",
            "05AB90340C0C5E797F44A8C8254CF3B5AEC0A8F0",
        ] {
            assert!(fingerprints.iter().any(|f| f == wanted), "{wanted} missing");
        }
    }

    #[test]
    fn split_removes_dash_escapes_and_trailing_blanks() {
        let file = "-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA256\n\nOrigin: x  \n- -dash\n-----BEGIN PGP SIGNATURE-----\n\nabc\n-----END PGP SIGNATURE-----\n\n";
        assert_eq!(
            split_cleartext(file.as_bytes()).expect("well formed"),
            "Origin: x\n-dash\n"
        );
    }

    #[test]
    fn split_refuses_other_armor_headers() {
        let file = "-----BEGIN PGP SIGNED MESSAGE-----\nComment: hi\n\nA: b\n-----BEGIN PGP SIGNATURE-----\n-----END PGP SIGNATURE-----\n";
        let err = split_cleartext(file.as_bytes()).expect_err("Comment header");
        assert!(err.to_string().contains("Comment: hi"), "{err}");
    }

    #[test]
    fn split_refuses_text_after_the_signature() {
        let file = "-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA256\n\nA: b\n-----BEGIN PGP SIGNATURE-----\n-----END PGP SIGNATURE-----\nSuite: evil\n";
        let err = split_cleartext(file.as_bytes()).expect_err("trailing text");
        assert!(matches!(err, SignatureError::Malformed(ref r) if r.contains("after")));
    }

    #[test]
    fn split_refuses_undashed_minus_lines_and_unclosed_blocks() {
        let undashed = "-----BEGIN PGP SIGNED MESSAGE-----\n\n-x\n-----BEGIN PGP SIGNATURE-----\n-----END PGP SIGNATURE-----\n";
        assert!(matches!(
            split_cleartext(undashed.as_bytes()),
            Err(SignatureError::Malformed(_))
        ));
        let unclosed =
            "-----BEGIN PGP SIGNED MESSAGE-----\n\nA: b\n-----BEGIN PGP SIGNATURE-----\nabc\n";
        assert!(matches!(
            split_cleartext(unclosed.as_bytes()),
            Err(SignatureError::Malformed(_))
        ));
    }

    #[test]
    fn plain_release_is_unsigned() {
        let err = verify_inrelease(
            b"Origin: Debian\nSuite: stable\n",
            &Keyring::debian(),
            SystemTime::now(),
        )
        .expect_err("no signature");
        assert!(matches!(err, SignatureError::Unsigned), "{err}");
        let err = verify_detached(b"Origin: x\n", b"", &Keyring::debian(), SystemTime::now())
            .expect_err("empty Release.gpg");
        assert!(matches!(err, SignatureError::Unsigned), "{err}");
    }

    /// A fresh ed25519 cert with a signing subkey, and a cleartext signature over `text`.
    fn clearsign(text: &str) -> (Cert, Vec<u8>) {
        let (cert, _) = openpgp::cert::CertBuilder::new()
            .add_signing_subkey()
            .generate()
            .expect("key generation");
        let signed = clearsign_with(&cert, text, SystemTime::now());
        (cert, signed)
    }

    /// A cleartext signature by `cert`'s signing subkey made at `time`.
    fn clearsign_with(cert: &Cert, text: &str, time: SystemTime) -> Vec<u8> {
        use openpgp::serialize::stream::{Message, Signer};
        use std::io::Write;
        let policy = StandardPolicy::new();
        let keypair = cert
            .keys()
            .secret()
            .with_policy(&policy, time)
            .for_signing()
            .next()
            .expect("a signing subkey")
            .key()
            .clone()
            .into_keypair()
            .expect("secret key");
        let mut out = Vec::new();
        let message = Message::new(&mut out);
        let mut signer = Signer::new(message, keypair)
            .expect("signer")
            .creation_time(time)
            .cleartext()
            .build()
            .expect("cleartext signer");
        // Like Debian's InRelease: the signed text has no final line ending (RFC 9580 §7.1).
        let signed_text = text.strip_suffix('\n').unwrap_or(text);
        signer.write_all(signed_text.as_bytes()).expect("sign");
        signer.finalize().expect("finalize");
        out
    }

    #[test]
    fn clearsigned_text_round_trips_exactly() {
        let text = "Origin: Test\nSuite: stable\n-dash: x\nDate: Sat, 21 Nov 2026 09:15:44 UTC\n";
        let (cert, signed) = clearsign(text);
        let signed_str = String::from_utf8(signed.clone()).expect("ascii");
        assert!(
            signed_str.contains("UTC\n-----BEGIN PGP SIGNATURE-----"),
            "{signed_str}"
        );
        assert!(
            signed_str.contains("\n- -dash: x\n"),
            "dash-escaped: {signed_str}"
        );
        let keyring = Keyring::of(vec![cert.clone()]);
        let verified = verify_inrelease(&signed, &keyring, SystemTime::now()).expect("good");
        assert_eq!(verified.text, text);
        assert_eq!(verified.signers, vec![cert.fingerprint().to_hex()]);
    }

    /// Suites verified in parallel share one keyring, whose certificates' self-signatures
    /// are checked once in place (`check_bindings`): every thread still gets its verdict.
    #[test]
    fn parallel_verifications_sharing_a_keyring_all_succeed() {
        let text = "Origin: Test\nSuite: stable\n";
        let (cert, signed) = clearsign(text);
        let keyring = Keyring::of(vec![cert.clone()]);
        std::thread::scope(|scope| {
            let threads: Vec<_> = (0..4)
                .map(|_| scope.spawn(|| verify_inrelease(&signed, &keyring, SystemTime::now())))
                .collect();
            for thread in threads {
                let verified = thread.join().expect("no panic").expect("good signature");
                assert_eq!(verified.signers, vec![cert.fingerprint().to_hex()]);
            }
        });
    }

    #[test]
    fn a_flipped_byte_is_a_bad_signature_and_a_stranger_is_unknown() {
        let text = "Origin: Test\nSuite: stable\n";
        let (cert, signed) = clearsign(text);
        let keyring = Keyring::of(vec![cert.clone()]);
        let tampered = String::from_utf8(signed.clone())
            .expect("ascii")
            .replace("Suite: stable", "Suite: stablE")
            .into_bytes();
        let err = verify_inrelease(&tampered, &keyring, SystemTime::now()).expect_err("bad");
        assert!(
            matches!(err, SignatureError::BadSignature { ref fingerprint } if *fingerprint == cert.fingerprint().to_hex()),
            "{err}"
        );
        let (stranger, _) = clearsign("x\n");
        let strangers = Keyring::of(vec![stranger]);
        let err = verify_inrelease(&signed, &strangers, SystemTime::now()).expect_err("unknown");
        assert!(
            matches!(err, SignatureError::UnknownKey { ref issuers } if !issuers.is_empty()),
            "{err}"
        );
    }

    #[test]
    fn a_key_expired_now_does_not_count() {
        use std::time::Duration;
        let day = Duration::from_secs(86_400);
        let now = SystemTime::now();
        let (cert, _) = openpgp::cert::CertBuilder::new()
            .set_creation_time(now - 10 * day)
            .set_validity_period(2 * day)
            .add_signing_subkey()
            .generate()
            .expect("key generation");
        let signed = clearsign_with(&cert, "Origin: Old\n", now - 9 * day);
        let keyring = Keyring::of(vec![cert.clone()]);
        let then = verify_inrelease(&signed, &keyring, now - 9 * day).expect("valid back then");
        assert_eq!(then.signers, vec![cert.fingerprint().to_hex()]);
        let err = verify_inrelease(&signed, &keyring, now).expect_err("expired key");
        assert!(
            matches!(err, SignatureError::NoValidSignature { ref reasons } if reasons[0].contains("expired")),
            "{err}"
        );
    }

    #[test]
    fn keyrings_accept_several_binary_or_armored_certs() {
        use openpgp::serialize::{Serialize, SerializeInto};
        let (first, _) = clearsign("a\n");
        let (second, _) = clearsign("b\n");
        let mut binary = Vec::new();
        first.serialize(&mut binary).expect("serialize");
        second.serialize(&mut binary).expect("serialize");
        let expected = vec![first.fingerprint().to_hex(), second.fingerprint().to_hex()];
        assert_eq!(
            Keyring::from_bytes(&binary).expect("binary").fingerprints(),
            expected
        );
        let mut armored = first.armored().to_vec().expect("armor");
        armored.extend(second.armored().to_vec().expect("armor"));
        assert_eq!(
            Keyring::from_bytes(&armored)
                .expect("armored")
                .fingerprints(),
            expected
        );
        assert!(Keyring::from_bytes(b"not a key").is_err());
    }

    #[test]
    fn an_unknown_signer_beside_a_good_one_is_ignored() {
        use openpgp::serialize::stream::{Message, Signer};
        use std::io::Write;
        let (known, _) = clearsign("a\n");
        let (stranger, _) = clearsign("b\n");
        let policy = StandardPolicy::new();
        let keypair = |cert: &Cert| {
            cert.keys()
                .secret()
                .with_policy(&policy, None)
                .for_signing()
                .next()
                .expect("a signing subkey")
                .key()
                .clone()
                .into_keypair()
                .expect("secret key")
        };
        let mut out = Vec::new();
        let mut signer = Signer::new(Message::new(&mut out), keypair(&stranger))
            .expect("signer")
            .add_signer(keypair(&known))
            .expect("second signer")
            .cleartext()
            .build()
            .expect("cleartext signer");
        signer.write_all(b"Origin: Two").expect("sign");
        signer.finalize().expect("finalize");
        let keyring = Keyring::of(vec![known.clone()]);
        let verified = verify_inrelease(&out, &keyring, SystemTime::now()).expect("one good");
        assert_eq!(verified.signers, vec![known.fingerprint().to_hex()]);
        assert_eq!(verified.text, "Origin: Two\n");
    }

    /// The armored signature block of a cleartext-signed message, as packet bytes.
    fn signature_packets(signed: &[u8]) -> Vec<u8> {
        let text = std::str::from_utf8(signed).expect("ascii");
        let block = &text[text.find(SIGNATURE_BEGIN).expect("a signature block")..];
        let mut reader = openpgp::armor::Reader::from_bytes(
            block.as_bytes(),
            openpgp::armor::ReaderMode::Tolerant(Some(openpgp::armor::Kind::Signature)),
        );
        let mut packets = Vec::new();
        reader.read_to_end(&mut packets).expect("dearmor");
        packets
    }

    #[test]
    fn a_bad_signature_from_a_known_key_fails_beside_a_good_one() {
        let text = "Origin: One\n";
        let (good_key, good) = clearsign(text);
        let (other_key, _) = clearsign("x\n");
        // A genuine signature by `other_key`, but over a different text.
        let wrong = clearsign_with(&other_key, "Origin: Two\n", SystemTime::now());
        let mut packets = signature_packets(&good);
        packets.extend(signature_packets(&wrong));
        let mut armored = Vec::new();
        {
            let mut writer =
                openpgp::armor::Writer::new(&mut armored, openpgp::armor::Kind::Signature)
                    .expect("armor writer");
            std::io::Write::write_all(&mut writer, &packets).expect("armor");
            writer.finalize().expect("armor");
        }
        let good_text = std::str::from_utf8(&good).expect("ascii");
        let head = &good_text[..good_text.find(SIGNATURE_BEGIN).expect("block")];
        let mut spliced = head.as_bytes().to_vec();
        spliced.extend(armored);

        let only_good = Keyring::of(vec![good_key.clone()]);
        let verified = verify_inrelease(&spliced, &only_good, SystemTime::now())
            .expect("the bad signature is from an unknown key: ignored");
        assert_eq!(verified.signers, vec![good_key.fingerprint().to_hex()]);

        let both = Keyring::of(vec![good_key, other_key.clone()]);
        let err = verify_inrelease(&spliced, &both, SystemTime::now()).expect_err("one BAD");
        assert!(
            matches!(err, SignatureError::BadSignature { ref fingerprint } if *fingerprint == other_key.fingerprint().to_hex()),
            "{err}"
        );
    }
}
