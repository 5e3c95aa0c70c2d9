//! The Debian vocabulary every stage speaks: versions, deb822 stanzas, relationship fields,
//! architectures, release codenames and the binary package record of a `Packages` index.
//!
//! Kept apart from the stages so that `repo`, `resolve`, `lock` and `rootfs` agree on one
//! meaning of "version 2:6.3.0+dfsg-3" or "`libc6 (>= 2.36) | musl`".

pub mod arch;
pub mod compression;
pub mod deb822;
pub mod package;
pub mod relation;
pub mod release;
pub mod suggest;
pub mod version;

pub use arch::Arch;
pub use package::{BinaryPackage, MultiArch};
pub use relation::{Alternatives, Atom, Relation};
pub use version::Version;
