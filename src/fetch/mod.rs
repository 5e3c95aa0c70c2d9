//! Stage `fetch`: the lock's `.deb` files, downloaded in parallel, verified against the lock's
//! size and sha256, and kept in a content-addressed cache ([`cache`]) shared by every build;
//! re-verified each time a build uses them, and found in the snapshot archive ([`snapshot`])
//! once the mirror has dropped them.

pub mod cache;
pub mod download;
pub mod export;
pub mod snapshot;

pub use cache::DebCache;
pub use download::{
    DebRequest, FetchError, FetchOptions, Progress, Transport, fetch_all, fetch_all_then,
};
