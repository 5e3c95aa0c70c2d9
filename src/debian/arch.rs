//! Debian architecture names and their OCI platform spelling (image-spec `platform`).

use std::fmt;

/// A Debian architecture such as `amd64`, or the pseudo-architecture `all`.
#[derive(
    Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(transparent)]
pub struct Arch(String);

/// The architectures Debian builds for, with the OCI `architecture` and `variant` they map to.
const KNOWN: &[(&str, &str, Option<&str>)] = &[
    ("amd64", "amd64", None),
    ("arm64", "arm64", Some("v8")),
    ("armhf", "arm", Some("v7")),
    ("armel", "arm", Some("v5")),
    ("i386", "386", None),
    ("ppc64el", "ppc64le", None),
    ("s390x", "s390x", None),
    ("riscv64", "riscv64", None),
    ("mips64el", "mips64le", None),
    ("loong64", "loong64", None),
];

/// Why a string is not an architecture debless can build for.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error(
    "unknown architecture `{0}` (known: amd64, arm64, armhf, armel, i386, ppc64el, s390x, riscv64, mips64el, loong64)"
)]
pub struct UnknownArch(pub String);

impl Arch {
    /// Accepts a Debian architecture debless can build images for (not `all`).
    pub fn parse(name: &str) -> Result<Self, UnknownArch> {
        if KNOWN.iter().any(|(deb, _, _)| *deb == name) {
            Ok(Self(name.to_owned()))
        } else {
            Err(UnknownArch(name.to_owned()))
        }
    }

    /// The `all` pseudo-architecture of architecture-independent packages.
    pub fn all() -> Self {
        Self("all".to_owned())
    }

    /// The architecture of the machine debless runs on; images default to it.
    pub fn host() -> Self {
        let deb = match std::env::consts::ARCH {
            "x86_64" => "amd64",
            "aarch64" => "arm64",
            "arm" => "armhf",
            "x86" => "i386",
            "powerpc64" => "ppc64el",
            "s390x" => "s390x",
            "riscv64" => "riscv64",
            "loongarch64" => "loong64",
            _ => "amd64",
        };
        Self(deb.to_owned())
    }

    /// The name as Debian spells it.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether this is `all`.
    pub fn is_all(&self) -> bool {
        self.0 == "all"
    }

    /// The OCI platform `(architecture, variant)` for this architecture.
    pub fn oci_platform(&self) -> (&'static str, Option<&'static str>) {
        KNOWN
            .iter()
            .find(|(deb, _, _)| *deb == self.0)
            .map_or(("unknown", None), |(_, oci, variant)| (*oci, *variant))
    }

    /// The GNU multiarch tuple (`x86_64-linux-gnu`), for library search paths.
    pub fn multiarch_tuple(&self) -> &'static str {
        match self.0.as_str() {
            "amd64" => "x86_64-linux-gnu",
            "arm64" => "aarch64-linux-gnu",
            "armhf" => "arm-linux-gnueabihf",
            "armel" => "arm-linux-gnueabi",
            "i386" => "i386-linux-gnu",
            "ppc64el" => "powerpc64le-linux-gnu",
            "s390x" => "s390x-linux-gnu",
            "riscv64" => "riscv64-linux-gnu",
            "mips64el" => "mips64el-linux-gnuabi64",
            "loong64" => "loongarch64-linux-gnu",
            _ => "unknown-linux-gnu",
        }
    }
}

impl fmt::Display for Arch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_to_oci() {
        let arm64 = Arch::parse("arm64").expect("known");
        assert_eq!(arm64.oci_platform(), ("arm64", Some("v8")));
        assert_eq!(
            Arch::parse("amd64").expect("known").multiarch_tuple(),
            "x86_64-linux-gnu"
        );
        assert!(Arch::parse("all").is_err());
        assert!(Arch::parse("amd46").is_err());
        assert!(Arch::all().is_all());
    }
}
