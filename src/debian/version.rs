//! Debian version numbers and their ordering (Policy §5.6.12, deb-version(7)).
//!
//! Equality is dpkg's: `1.0`, `1.00`, `0:1.0` and `1.0-0` are one version. The text as written
//! is kept for display and for the lock, so a round trip never rewrites what the archive said.

use std::cmp::Ordering;
use std::fmt;
use std::str::FromStr;

/// A parsed `[epoch:]upstream[-revision]`, compared as dpkg compares.
#[derive(Clone, Debug)]
pub struct Version {
    text: Box<str>,
    epoch: u64,
    /// Byte range of the upstream part inside `text`.
    upstream: (usize, usize),
    /// Byte range of the revision inside `text` (empty means `0`).
    revision: (usize, usize),
}

/// Why a version string is not a Debian version.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("invalid version `{text}`: {reason}")]
pub struct VersionError {
    pub text: String,
    pub reason: &'static str,
}

impl Version {
    /// Parses a version as it appears in `Packages` and control files.
    pub fn parse(text: &str) -> Result<Self, VersionError> {
        let err = |reason| VersionError {
            text: text.to_owned(),
            reason,
        };
        let trimmed = text.trim();
        if trimmed.is_empty() {
            return Err(err("empty"));
        }
        if trimmed.chars().any(char::is_whitespace) {
            return Err(err("contains white space"));
        }
        let (epoch, rest_start) = match trimmed.find(':') {
            Some(colon) => {
                let digits = &trimmed[..colon];
                if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(err("epoch is not a number"));
                }
                let epoch = digits.parse().map_err(|_| err("epoch is too large"))?;
                (epoch, colon + 1)
            }
            None => (0, 0),
        };
        let rest = &trimmed[rest_start..];
        let (upstream, revision) = match rest.rfind('-') {
            Some(dash) if dash + 1 == rest.len() => return Err(err("revision is empty")),
            Some(dash) => (
                (rest_start, rest_start + dash),
                (rest_start + dash + 1, trimmed.len()),
            ),
            None => ((rest_start, trimmed.len()), (trimmed.len(), trimmed.len())),
        };
        let up = &trimmed[upstream.0..upstream.1];
        if up.is_empty() {
            return Err(err("upstream version is empty"));
        }
        if !up.as_bytes()[0].is_ascii_digit() {
            return Err(err("upstream version must start with a digit"));
        }
        let allowed = |b: u8| b.is_ascii_alphanumeric() || b".+~-:".contains(&b);
        if !trimmed[rest_start..].bytes().all(allowed) {
            return Err(err("contains a character Debian versions never use"));
        }
        if revision.0 < revision.1 && trimmed[revision.0..revision.1].contains(':') {
            return Err(err("revision contains a colon"));
        }
        Ok(Self {
            text: trimmed.into(),
            epoch,
            upstream,
            revision,
        })
    }

    /// The version exactly as written (with its epoch, if any).
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The epoch (0 when absent).
    pub fn epoch(&self) -> u64 {
        self.epoch
    }

    /// The upstream part.
    pub fn upstream(&self) -> &str {
        &self.text[self.upstream.0..self.upstream.1]
    }

    /// The Debian revision (`""` when absent, which compares as `0`).
    pub fn revision(&self) -> &str {
        &self.text[self.revision.0..self.revision.1]
    }

    /// The version without its epoch, as pool file names spell it.
    pub fn without_epoch(&self) -> &str {
        &self.text[self.upstream.0..]
    }
}

/// dpkg's `order()`: `~` sorts before everything, then the end of a part, then letters, then
/// the other characters.
fn order(c: Option<u8>) -> i32 {
    match c {
        None => 0,
        Some(b'~') => -1,
        Some(c) if c.is_ascii_digit() => 0,
        Some(c) if c.is_ascii_alphabetic() => i32::from(c),
        Some(c) => i32::from(c) + 256,
    }
}

/// dpkg's `verrevcmp` over one part (upstream or revision).
fn compare_part(a: &[u8], b: &[u8]) -> Ordering {
    let (mut i, mut j) = (0, 0);
    while i < a.len() || j < b.len() {
        // Non-digit prefix, compared character by character.
        while (i < a.len() && !a[i].is_ascii_digit()) || (j < b.len() && !b[j].is_ascii_digit()) {
            let ac = order(a.get(i).copied().filter(|c| !c.is_ascii_digit()));
            let bc = order(b.get(j).copied().filter(|c| !c.is_ascii_digit()));
            if ac != bc {
                return ac.cmp(&bc);
            }
            if i < a.len() && !a[i].is_ascii_digit() {
                i += 1;
            }
            if j < b.len() && !b[j].is_ascii_digit() {
                j += 1;
            }
        }
        // Digit run, compared numerically without overflow.
        while i < a.len() && a[i] == b'0' {
            i += 1;
        }
        while j < b.len() && b[j] == b'0' {
            j += 1;
        }
        let si = i;
        let sj = j;
        while i < a.len() && a[i].is_ascii_digit() {
            i += 1;
        }
        while j < b.len() && b[j].is_ascii_digit() {
            j += 1;
        }
        let (da, db) = (&a[si..i], &b[sj..j]);
        let by_len = da.len().cmp(&db.len());
        if by_len != Ordering::Equal {
            return by_len;
        }
        let by_digits = da.cmp(db);
        if by_digits != Ordering::Equal {
            return by_digits;
        }
    }
    Ordering::Equal
}

impl Ord for Version {
    fn cmp(&self, other: &Self) -> Ordering {
        self.epoch
            .cmp(&other.epoch)
            .then_with(|| compare_part(self.upstream().as_bytes(), other.upstream().as_bytes()))
            .then_with(|| compare_part(self.revision().as_bytes(), other.revision().as_bytes()))
    }
}

impl PartialOrd for Version {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for Version {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Version {}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl FromStr for Version {
    type Err = VersionError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl serde::Serialize for Version {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.text)
    }
}

impl<'de> serde::Deserialize<'de> for Version {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        Self::parse(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> Version {
        Version::parse(s).expect("test versions are valid")
    }

    #[test]
    fn orders_like_dpkg() {
        // Each pair was checked with `dpkg --compare-versions A lt B`.
        let ascending = [
            ("1.0~rc1", "1.0"),
            ("1.0~~", "1.0~"),
            ("1.0", "1.0a"),
            ("1.0a", "1.0+"),
            ("2.0", "1:0.1"),
            ("1.2.3-1~bpo12+1", "1.2.3-1"),
            ("2.41-12+deb13u5", "2.41-12.1"),
            ("1.0.1", "1.0.a"),
            ("6.3.0+dfsg-3", "2:6.3.0+dfsg-3"),
            ("2.36-9+deb12u10", "2.36-9+deb12u13"),
            ("1.9", "1.10"),
            ("0.9.8", "0.9.10~beta"),
        ];
        for (lo, hi) in ascending {
            assert!(v(lo) < v(hi), "{lo} < {hi}");
            assert!(v(hi) > v(lo), "{hi} > {lo}");
        }
    }

    #[test]
    fn equal_spellings() {
        for (a, b) in [
            ("1.0", "1.00"),
            ("1.0", "0:1.0"),
            ("1.0", "1.0-0"),
            ("1.0-0", "0:1.00"),
        ] {
            assert_eq!(v(a), v(b), "{a} == {b}");
        }
    }

    #[test]
    fn splits_parts() {
        let x = v("2:6.3.0+dfsg-3+b1");
        assert_eq!(x.epoch(), 2);
        assert_eq!(x.upstream(), "6.3.0+dfsg");
        assert_eq!(x.revision(), "3+b1");
        assert_eq!(x.without_epoch(), "6.3.0+dfsg-3+b1");
        let y = v("1.2-3-4");
        assert_eq!(y.upstream(), "1.2-3");
        assert_eq!(y.revision(), "4");
    }

    #[test]
    fn rejects_garbage() {
        for bad in ["", "a1.0", "1.0 beta", "x:1.0", "1.0-", ":1.0", "1.0/2"] {
            assert!(Version::parse(bad).is_err(), "{bad:?} must be rejected");
        }
    }
}
