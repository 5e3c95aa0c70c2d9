//! Multi-Arch: whether a package of one architecture may satisfy a dependency written by a
//! package of another (deb-control(5) "Multi-Arch", dpkg lib/dpkg/depcon.c
//! `deparchsatisfied`, apt-pkg/pkgcachegen.cc implicit provides).
//!
//! Architectures here are the ones apt files packages under: `all` is already mapped to the
//! native architecture by [`super::universe::Universe`].

use crate::debian::MultiArch;

/// What the dependency asks for, after reading its `:qualifier`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Wanted<'a> {
    /// No qualifier: the depender's own architecture, or any `Multi-Arch: foreign` package.
    SameAs(&'a str),
    /// `:any`: only `Multi-Arch: allowed` packages, of any architecture. apt models this as an
    /// implicit `name:any` provide of allowed versions only; `foreign` does not qualify.
    Any,
    /// `:native` or an explicit `:arch`: that architecture, or any `Multi-Arch: foreign` one.
    Exactly(&'a str),
}

impl<'a> Wanted<'a> {
    /// Reads the qualifier of an atom written by a package filed under `depender_arch`.
    pub(crate) fn from_qualifier(
        qualifier: Option<&'a str>,
        depender_arch: &'a str,
        native: &'a str,
    ) -> Self {
        match qualifier {
            None => Self::SameAs(depender_arch),
            Some("any") => Self::Any,
            Some("native") => Self::Exactly(native),
            Some(arch) => Self::Exactly(arch),
        }
    }

    /// Whether a package filed under `arch` with `multi_arch` satisfies this.
    pub(crate) fn accepts(self, arch: &str, multi_arch: MultiArch) -> bool {
        match self {
            Self::SameAs(want) | Self::Exactly(want) => {
                arch == want || multi_arch == MultiArch::Foreign
            }
            Self::Any => multi_arch == MultiArch::Allowed,
        }
    }
}

/// Whether two instances of one package name may be chosen together: only `Multi-Arch: same`
/// packages of different architectures may (dpkg refuses any other pair).
pub(crate) fn coinstallable(a: (&str, MultiArch), b: (&str, MultiArch)) -> bool {
    a.0 != b.0 && a.1 == MultiArch::Same && b.1 == MultiArch::Same
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unqualified_needs_same_arch_or_foreign() {
        let want = Wanted::from_qualifier(None, "amd64", "amd64");
        assert!(want.accepts("amd64", MultiArch::No));
        assert!(!want.accepts("i386", MultiArch::No));
        assert!(!want.accepts("i386", MultiArch::Same));
        assert!(!want.accepts("i386", MultiArch::Allowed));
        assert!(want.accepts("i386", MultiArch::Foreign));
    }

    #[test]
    fn any_needs_allowed_even_on_the_native_arch() {
        let want = Wanted::from_qualifier(Some("any"), "amd64", "amd64");
        assert!(want.accepts("amd64", MultiArch::Allowed));
        assert!(want.accepts("i386", MultiArch::Allowed));
        assert!(!want.accepts("amd64", MultiArch::No));
        assert!(!want.accepts("amd64", MultiArch::Foreign));
    }

    #[test]
    fn native_and_explicit_arch() {
        let native = Wanted::from_qualifier(Some("native"), "i386", "amd64");
        assert!(native.accepts("amd64", MultiArch::No));
        assert!(!native.accepts("i386", MultiArch::No));
        let explicit = Wanted::from_qualifier(Some("i386"), "amd64", "amd64");
        assert!(explicit.accepts("i386", MultiArch::Same));
        assert!(!explicit.accepts("amd64", MultiArch::Same));
        assert!(explicit.accepts("amd64", MultiArch::Foreign));
    }

    #[test]
    fn only_same_pairs_coexist() {
        assert!(coinstallable(
            ("amd64", MultiArch::Same),
            ("i386", MultiArch::Same)
        ));
        assert!(!coinstallable(
            ("amd64", MultiArch::Same),
            ("amd64", MultiArch::Same)
        ));
        assert!(!coinstallable(
            ("amd64", MultiArch::No),
            ("i386", MultiArch::No)
        ));
    }
}
