//! The integration test binary: one `mod` per area.

mod resolve;
mod support;
