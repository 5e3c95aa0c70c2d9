//! Helpers shared by the integration tests.

pub mod apt;
pub mod chroot;
pub mod context;
pub mod debs;
pub mod live;
pub mod registry;
pub mod signed_repo;
pub mod tree;
