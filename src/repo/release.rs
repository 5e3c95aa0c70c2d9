//! The `Release` record of a suite (the verified text of `InRelease`): identity, dates,
//! architectures, components and the SHA256 list of index files; plus apt's freshness rules
//! (debian-notes §1.2, §1.3).
//!
//! Dates are parsed here because Debian writes `UTC` as the zone, which chrono's and
//! httpdate's RFC 2822 parsers refuse.

use crate::debian::deb822;

/// apt's `Acquire::Max-FutureTime` default: a `Date` further ahead than this is not valid yet.
pub const MAX_FUTURE_SECONDS: i64 = 10;

/// One line of the `SHA256` list: a file under `dists/<suite>/`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IndexFile {
    /// Relative to `dists/<suite>/` (`main/binary-amd64/Packages.xz`).
    pub path: String,
    pub size: u64,
    /// Lower-case hex.
    pub sha256: String,
}

/// A parsed `Release`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Release {
    pub origin: Option<String>,
    pub label: Option<String>,
    /// `stable`, `oldstable-security`, … (moves over time).
    pub suite: Option<String>,
    /// `bookworm`, … (does not move: locks key on it).
    pub codename: Option<String>,
    pub version: Option<String>,
    /// `Date`, unix seconds.
    pub date: i64,
    /// `Valid-Until`, unix seconds; absent on stable and oldstable.
    pub valid_until: Option<i64>,
    pub architectures: Vec<String>,
    /// As written (`main`, or `updates/main` on security suites).
    pub components: Vec<String>,
    pub acquire_by_hash: bool,
    /// `No-Support-for-Architecture-all: Packages`: binary-<arch> already holds `all`.
    pub no_support_for_architecture_all: bool,
    pub files: Vec<IndexFile>,
}

/// Why a `Release` is unusable.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ReleaseError {
    #[error("Release: {0}")]
    Syntax(#[from] deb822::Deb822Error),
    #[error("Release has no stanza")]
    Empty,
    #[error("Release has no `{0}` field")]
    Missing(&'static str),
    #[error("Release field `{field}`: invalid date `{value}`")]
    BadDate { field: &'static str, value: String },
    #[error("Release SHA256 line `{line}` is not `<sha256> <size> <path>`")]
    BadHashLine { line: String },
    #[error(
        "Release file for suite `{suite}` is expired (Valid-Until {}): the mirror is stale",
        format_unix(*valid_until)
    )]
    Expired { suite: String, valid_until: i64 },
    #[error(
        "Release file for suite `{suite}` is not valid yet (Date {}): check the system clock",
        format_unix(*date)
    )]
    NotYetValid { suite: String, date: i64 },
}

impl Release {
    /// Parses the verified text of an `InRelease` (or a `Release`).
    pub fn parse(text: &str) -> Result<Release, ReleaseError> {
        let mut stanzas = deb822::Stanzas::new(text);
        let stanza = stanzas.next().ok_or(ReleaseError::Empty)??;
        let owned = |name: &str| stanza.get(name).map(|v| v.trim().to_owned());
        let words = |name: &str| {
            stanza
                .get(name)
                .map(|v| v.split_whitespace().map(str::to_owned).collect())
                .unwrap_or_default()
        };
        let yes = |name: &str| stanza.get(name).is_some_and(|v| v.trim() == "yes");
        let date_field = |field: &'static str| -> Result<Option<i64>, ReleaseError> {
            stanza
                .get(field)
                .map(|value| {
                    parse_date(value).ok_or_else(|| ReleaseError::BadDate {
                        field,
                        value: value.to_owned(),
                    })
                })
                .transpose()
        };
        let date = date_field("Date")?.ok_or(ReleaseError::Missing("Date"))?;
        let valid_until = date_field("Valid-Until")?;
        let files = stanza
            .get("SHA256")
            .map(parse_hash_list)
            .transpose()?
            .unwrap_or_default();
        Ok(Release {
            origin: owned("Origin"),
            label: owned("Label"),
            suite: owned("Suite"),
            codename: owned("Codename"),
            version: owned("Version"),
            date,
            valid_until,
            architectures: words("Architectures"),
            components: words("Components"),
            acquire_by_hash: yes("Acquire-By-Hash"),
            no_support_for_architecture_all: stanza
                .get("No-Support-for-Architecture-all")
                .is_some_and(|v| v.trim() == "Packages"),
            files,
        })
    }

    /// apt's freshness rules: refuse a Release past `Valid-Until` or dated in the future.
    pub fn check_fresh(&self, suite: &str, now: i64) -> Result<(), ReleaseError> {
        if let Some(valid_until) = self.valid_until.filter(|until| now > *until) {
            return Err(ReleaseError::Expired {
                suite: suite.to_owned(),
                valid_until,
            });
        }
        if self.date > now + MAX_FUTURE_SECONDS {
            return Err(ReleaseError::NotYetValid {
                suite: suite.to_owned(),
                date: self.date,
            });
        }
        Ok(())
    }

    /// Whether the Release offers `component`, comparing the part after the last `/`
    /// (security suites list `updates/main` but serve `main/`).
    pub fn has_component(&self, component: &str) -> bool {
        let wanted = component_name(component);
        self.components.iter().any(|c| component_name(c) == wanted)
    }

    /// Whether the Release lists the architecture.
    pub fn has_architecture(&self, arch: &str) -> bool {
        self.architectures.iter().any(|a| a == arch)
    }

    /// The SHA256 entry for a path under `dists/<suite>/`.
    pub fn file(&self, path: &str) -> Option<&IndexFile> {
        self.files.iter().find(|f| f.path == path)
    }
}

/// The part of a component after its last `/`: `updates/main` is served as `main/`
/// (apt-pkg/deb/debmetaindex.cc, debian-notes §1.1).
pub fn component_name(component: &str) -> &str {
    component.rsplit('/').next().unwrap_or(component)
}

fn parse_hash_list(value: &str) -> Result<Vec<IndexFile>, ReleaseError> {
    value
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty())
        .map(|line| {
            let bad = || ReleaseError::BadHashLine {
                line: line.to_owned(),
            };
            let mut parts = line.split_whitespace();
            let (Some(sha256), Some(size), Some(path), None) =
                (parts.next(), parts.next(), parts.next(), parts.next())
            else {
                return Err(bad());
            };
            if sha256.len() != 64 || !sha256.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(bad());
            }
            Ok(IndexFile {
                path: path.to_owned(),
                size: size.parse().map_err(|_| bad())?,
                sha256: sha256.to_ascii_lowercase(),
            })
        })
        .collect()
}

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// Parses `Sat, 21 Nov 2026 09:15:44 UTC` (also `GMT`, `Z`, `+hhmm`/`-hhmm`; weekday optional)
/// into unix seconds.
pub fn parse_date(value: &str) -> Option<i64> {
    let value = value.trim();
    let value = match value.split_once(',') {
        Some((_weekday, rest)) => rest.trim(),
        None => value,
    };
    let mut parts = value.split_whitespace();
    let day: u32 = parts.next()?.parse().ok()?;
    let month_name = parts.next()?;
    let month = MONTHS
        .iter()
        .position(|m| m.eq_ignore_ascii_case(month_name))? as u32
        + 1;
    let year: i64 = parts.next()?.parse().ok()?;
    let mut hms = parts.next()?.split(':');
    let hour: i64 = hms.next()?.parse().ok()?;
    let minute: i64 = hms.next()?.parse().ok()?;
    let second: i64 = hms.next().map_or(Some(0), |s| s.parse().ok())?;
    let zone = parts.next().unwrap_or("UTC");
    if parts.next().is_some() || hms.next().is_some() {
        return None;
    }
    let offset = match zone {
        "UTC" | "GMT" | "Z" | "UT" => 0,
        _ => {
            let (sign, digits) = match zone.as_bytes().first()? {
                b'+' => (1, &zone[1..]),
                b'-' => (-1, &zone[1..]),
                _ => return None,
            };
            if digits.len() != 4 || !digits.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            let hours: i64 = digits[..2].parse().ok()?;
            let minutes: i64 = digits[2..].parse().ok()?;
            sign * (hours * 3600 + minutes * 60)
        }
    };
    if !(1..=31).contains(&day) || hour > 23 || minute > 59 || second > 60 {
        return None;
    }
    let days = crate::timestamp::days_from_civil(year, i64::from(month), i64::from(day));
    Some(days * 86_400 + hour * 3600 + minute * 60 + second - offset)
}

/// Formats unix seconds the way Debian writes dates (`Sat, 21 Nov 2026 09:15:44 UTC`), for
/// messages and for test repositories.
pub fn format_unix(seconds: i64) -> String {
    let days = seconds.div_euclid(86_400);
    let secs = seconds.rem_euclid(86_400);
    let (year, month, day) = crate::timestamp::civil_from_days(days);
    const WEEKDAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    let weekday = WEEKDAYS[days.rem_euclid(7) as usize];
    format!(
        "{weekday}, {day:02} {} {year} {:02}:{:02}:{:02} UTC",
        MONTHS[(month - 1) as usize],
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECURITY: &str = "Origin: Debian\nLabel: Debian-Security\nSuite: oldstable-security\nCodename: bookworm-security\nDate: Sat, 21 Nov 2026 09:15:44 UTC\nValid-Until: Sat, 28 Nov 2026 09:15:44 UTC\nAcquire-By-Hash: yes\nArchitectures: amd64 arm64\nComponents: updates/main updates/contrib\nDescription: Debian 12 - Security Updates\nSHA256:\n 0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef   123 main/binary-amd64/Packages.xz\n 0123456789ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef 45678 main/binary-amd64/Packages.gz\n";

    #[test]
    fn parses_debian_dates_in_every_zone_spelling() {
        // 2026-11-21 09:15:44 UTC, checked with `date -u -d ... +%s`.
        let expected = 1_795_252_544;
        assert_eq!(parse_date("Sat, 21 Nov 2026 09:15:44 UTC"), Some(expected));
        assert_eq!(parse_date("Sat, 21 Nov 2026 09:15:44 GMT"), Some(expected));
        assert_eq!(
            parse_date("Sat, 21 Nov 2026 09:15:44 +0000"),
            Some(expected)
        );
        assert_eq!(
            parse_date("Sat, 21 Nov 2026 10:15:44 +0100"),
            Some(expected)
        );
        assert_eq!(parse_date("21 Nov 2026 09:15:44 UTC"), Some(expected));
        assert_eq!(parse_date("Thu, 01 Jan 1970 00:00:00 UTC"), Some(0));
        assert_eq!(parse_date("Sat, 21 Foo 2026 09:15:44 UTC"), None);
        assert_eq!(parse_date("Sat, 21 Nov 2026 09:15:44 CEST"), None);
        assert_eq!(parse_date("Sat, 21 Nov 2026 09:15:44 UTC extra"), None);
    }

    #[test]
    fn formats_what_it_parses() {
        for t in [0, 951_782_400, 1_795_252_544, 4_102_444_799] {
            assert_eq!(parse_date(&format_unix(t)), Some(t), "{}", format_unix(t));
        }
        assert_eq!(format_unix(1_795_252_544), "Sat, 21 Nov 2026 09:15:44 UTC");
    }

    #[test]
    fn parses_a_security_release() {
        let release = Release::parse(SECURITY).expect("valid Release");
        assert_eq!(release.codename.as_deref(), Some("bookworm-security"));
        assert_eq!(release.label.as_deref(), Some("Debian-Security"));
        assert_eq!(release.date, 1_795_252_544);
        assert_eq!(release.valid_until, Some(1_795_252_544 + 7 * 86_400));
        assert!(release.acquire_by_hash);
        assert!(!release.no_support_for_architecture_all);
        assert!(release.has_component("main"));
        assert!(release.has_component("contrib"));
        assert!(release.has_component("updates/main"));
        assert!(!release.has_component("non-free"));
        assert!(release.has_architecture("arm64"));
        assert_eq!(release.files.len(), 2);
        let gz = release
            .file("main/binary-amd64/Packages.gz")
            .expect("listed");
        assert_eq!(gz.size, 45678);
        assert_eq!(
            gz.sha256,
            "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
        );
    }

    #[test]
    fn freshness_follows_apt() {
        let release = Release::parse(SECURITY).expect("valid Release");
        let date = release.date;
        let until = release.valid_until.expect("set");
        assert_eq!(release.check_fresh("s", date), Ok(()));
        assert_eq!(release.check_fresh("s", until), Ok(()));
        assert_eq!(
            release.check_fresh("s", until + 1),
            Err(ReleaseError::Expired {
                suite: "s".into(),
                valid_until: until
            })
        );
        assert_eq!(release.check_fresh("s", date - MAX_FUTURE_SECONDS), Ok(()));
        assert!(matches!(
            release.check_fresh("s", date - MAX_FUTURE_SECONDS - 1),
            Err(ReleaseError::NotYetValid { .. })
        ));
    }

    #[test]
    fn refuses_broken_fields() {
        assert_eq!(
            Release::parse("Origin: x\n"),
            Err(ReleaseError::Missing("Date"))
        );
        assert!(matches!(
            Release::parse("Date: yesterday\n"),
            Err(ReleaseError::BadDate { field: "Date", .. })
        ));
        assert!(matches!(
            Release::parse(
                "Date: Sat, 21 Nov 2026 09:15:44 UTC\nSHA256:\n abc 12 main/binary-amd64/Packages\n"
            ),
            Err(ReleaseError::BadHashLine { .. })
        ));
    }
}
