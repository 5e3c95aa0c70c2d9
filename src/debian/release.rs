//! Debian release codenames and their numbers, for `/etc/os-release`'s `VERSION_ID` and the
//! purl `distro` qualifier (`debian-12`), which must agree.

/// The release number of a codename (`bookworm` -> `12`); `None` for the unnumbered
/// `sid`/`unstable` and for names that are not Debian releases.
pub fn number(codename: &str) -> Option<&'static str> {
    Some(match codename {
        "buster" => "10",
        "bullseye" => "11",
        "bookworm" => "12",
        "trixie" => "13",
        "forky" => "14",
        "duke" => "15",
        _ => return None,
    })
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
        assert_eq!(number(of_suite("sid")), None);
        assert_eq!(number("ubuntu"), None);
    }
}
