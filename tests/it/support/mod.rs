//! Helpers shared by the integration tests. Each area uses a part of them, hence the
//! `dead_code` allowance.
#![allow(dead_code)]

pub mod signed_repo;
