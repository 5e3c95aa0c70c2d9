//! Helpers shared by the integration tests.

pub mod apt;
pub mod context;
pub mod debs;
pub mod signed_repo;
