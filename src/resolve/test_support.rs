//! Builders for the small hand-made universes the resolver's unit tests use. Packages go
//! through the real deb822 reader and `BinaryPackage::from_stanza`, so tests exercise the same
//! parsing as live indices.

use super::universe::{SourcePackages, Universe};
use crate::debian::{Arch, Atom, BinaryPackage, deb822};

/// A package stanza with the mandatory fields filled in; `extra` holds more `Field: value`
/// lines (`Depends: b`, `Architecture: i386`, ...). Architecture defaults to amd64.
pub(crate) fn pkg(name: &str, version: &str, extra: &str) -> BinaryPackage {
    let mut text = format!("Package: {name}\nVersion: {version}\n");
    for line in extra.lines().filter(|l| !l.trim().is_empty()) {
        text.push_str(line.trim());
        text.push('\n');
    }
    if !extra.contains("Architecture:") {
        text.push_str("Architecture: amd64\n");
    }
    text.push_str(&format!(
        "Filename: pool/main/{name}_{version}.deb\nSize: 1\nSHA256: {}\n",
        "0".repeat(64)
    ));
    let stanzas = deb822::parse(&text).expect("test stanza is deb822");
    BinaryPackage::from_stanza(&stanzas[0]).expect("test stanza is a package")
}

/// A universe on amd64 from `(label, priority, packages)` suites.
pub(crate) fn universe_of(suites: Vec<(&str, i32, Vec<BinaryPackage>)>) -> Universe {
    universe_on(suites, &["amd64"])
}

/// A universe on the given architectures (native first).
pub(crate) fn universe_on(
    suites: Vec<(&str, i32, Vec<BinaryPackage>)>,
    architectures: &[&str],
) -> Universe {
    let sources = suites
        .into_iter()
        .map(|(label, priority, packages)| SourcePackages {
            label: label.to_owned(),
            priority,
            packages,
        })
        .collect();
    let archs: Vec<Arch> = architectures
        .iter()
        .map(|a| Arch::parse(a).expect("known test arch"))
        .collect();
    Universe::new(sources, &archs)
}

/// Parses one relationship atom.
pub(crate) fn atom(text: &str) -> Atom {
    Atom::parse(text).expect("test atom is valid")
}
