//! The integration test binary: one `mod` per area.

mod build_stages;
mod resolve;
mod support;
