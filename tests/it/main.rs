//! The integration test binary: one `mod` per area, shared helpers in `support`.

mod repo;
mod support;
