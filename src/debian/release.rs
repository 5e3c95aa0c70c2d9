//! Debian release codenames, aliases and pockets: the one table behind the manifest's suite
//! check, `/etc/os-release`'s `VERSION_ID` and the purl `distro` qualifier (`debian-12`),
//! which must agree.

/// Debian releases by codename, oldest first, with their numbers (`None` for the
/// never-numbered `sid` and `experimental`).
pub const RELEASES: &[(&str, Option<&str>)] = &[
    ("buster", Some("10")),
    ("bullseye", Some("11")),
    ("bookworm", Some("12")),
    ("trixie", Some("13")),
    ("forky", Some("14")),
    ("duke", Some("15")),
    ("sid", None),
    ("experimental", None),
];

/// Suite names the archive publishes beside the codenames.
pub const ALIASES: &[&str] = &["oldoldstable", "oldstable", "stable", "testing", "unstable"];

/// Pockets that exist beside a release suite (`bookworm-security`).
pub const POCKETS: &[&str] = &[
    "-updates",
    "-security",
    "-backports",
    "-backports-sloppy",
    "-proposed-updates",
];

/// The release number of a codename (`bookworm` -> `12`); `None` for the unnumbered
/// `sid`/`experimental`, for aliases and for names that are not Debian releases.
pub fn number(codename: &str) -> Option<&'static str> {
    RELEASES
        .iter()
        .find(|(name, _)| *name == codename)
        .and_then(|(_, number)| *number)
}

/// Whether `name` is a Debian codename or alias (without a pocket).
pub fn is_known(name: &str) -> bool {
    RELEASES.iter().any(|(codename, _)| *codename == name) || ALIASES.contains(&name)
}

/// The release a suite belongs to: `bookworm-security` and `bookworm-updates` -> `bookworm`.
pub fn of_suite(codename: &str) -> &str {
    codename
        .split_once('-')
        .map_or(codename, |(release, _)| release)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suites_map_to_their_release_number() {
        assert_eq!(number(of_suite("bookworm-security")), Some("12"));
        assert_eq!(number(of_suite("trixie")), Some("13"));
        assert_eq!(number("buster"), Some("10"));
        assert_eq!(number("duke"), Some("15"));
        assert_eq!(number(of_suite("sid")), None);
        assert_eq!(number("stable"), None);
        assert_eq!(number("ubuntu"), None);
    }

    #[test]
    fn knows_codenames_and_aliases() {
        assert!(is_known("experimental") && is_known("oldstable") && is_known("forky"));
        assert!(!is_known("bookworm-security") && !is_known("jammy"));
    }
}
