//! The one content digest of debless's OCI side: `sha256:<64 lower-case hex>`, validated
//! when parsed (from a manifest, an index, a config's `diff_ids`, a reference or a lock) and
//! checked against bytes in one place.
//!
//! Only sha256 is accepted: it is what every registry and tool writes, and a digest debless
//! cannot recompute could never be verified. Since the hex part names a blob file
//! (`blobs/sha256/<hex>`), refusing anything else also keeps `..` and `/` out of blob paths.

use std::fmt;

use sha2::{Digest as _, Sha256};

/// A `sha256:<hex>` content digest (always valid: built by hashing or by [`Digest::parse`]).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Digest(String);

/// Why a text is not a digest, or bytes do not match one.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DigestError {
    /// Not `sha256:` followed by 64 lower-case hex digits.
    #[error("`{0}` is not a sha256 digest (`sha256:` and 64 lower-case hex digits)")]
    Invalid(String),
    /// Bytes that hash to something else.
    #[error("content is {actual}, expected {expected}")]
    Mismatch { expected: Digest, actual: Digest },
}

impl Digest {
    /// Parses `sha256:<64 lower-case hex>`, the form the OCI spec fixes for sha256.
    pub fn parse(text: &str) -> Result<Self, DigestError> {
        let valid = text.strip_prefix("sha256:").is_some_and(|hex| {
            hex.len() == 64
                && hex
                    .bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        });
        if valid {
            Ok(Self(text.to_owned()))
        } else {
            Err(DigestError::Invalid(text.to_owned()))
        }
    }

    /// The digest of a finished SHA-256 hash.
    pub fn from_sha256(hasher: Sha256) -> Self {
        Self(format!("sha256:{}", hex::encode(hasher.finalize())))
    }

    /// The digest of some bytes.
    pub fn of(bytes: &[u8]) -> Self {
        Self::from_sha256(Sha256::new_with_prefix(bytes))
    }

    /// Whether `bytes` hash to this digest.
    pub fn verify(&self, bytes: &[u8]) -> Result<(), DigestError> {
        self.check(&Self::of(bytes))
    }

    /// Whether a digest computed elsewhere (while streaming) is this one.
    pub fn check(&self, actual: &Digest) -> Result<(), DigestError> {
        if actual == self {
            Ok(())
        } else {
            Err(DigestError::Mismatch {
                expected: self.clone(),
                actual: actual.clone(),
            })
        }
    }

    /// The hex part, which names the blob file.
    pub fn hex(&self) -> &str {
        self.0
            .strip_prefix("sha256:")
            .expect("digests are built with the sha256: prefix")
    }

    /// `sha256:<hex>`.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::str::FromStr for Digest {
    type Err = DigestError;

    fn from_str(text: &str) -> Result<Self, DigestError> {
        Self::parse(text)
    }
}

impl PartialEq<str> for Digest {
    fn eq(&self, other: &str) -> bool {
        self.0 == other
    }
}

impl serde::Serialize for Digest {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

/// Reading a document validates every digest in it, so a bad one fails where it is parsed.
impl<'de> serde::Deserialize<'de> for Digest {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Self::parse(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_only_sha256_hex() {
        let good = Digest::of(b"x").to_string();
        assert_eq!(
            Digest::parse(&good).map(|d| d.to_string()),
            Ok(good.clone())
        );
        for bad in [
            "sha256:abc",
            "sha512:00",
            &good.to_uppercase(),
            &format!("{good}0"),
            "sha256:../../../../etc/passwd000000000000000000000000000000000000000",
            "",
        ] {
            assert!(Digest::parse(bad).is_err(), "{bad}");
        }
        let json = format!("\"{good}\"");
        assert!(serde_json::from_str::<Digest>(&json).is_ok());
        assert!(serde_json::from_str::<Digest>("\"sha256:zz\"").is_err());
    }

    #[test]
    fn verifies_bytes() {
        let digest = Digest::of(b"hello");
        assert_eq!(digest.verify(b"hello"), Ok(()));
        assert_eq!(
            digest.verify(b"other").map_err(|e| e.to_string()),
            Err(format!(
                "content is {}, expected {digest}",
                Digest::of(b"other")
            ))
        );
    }
}
