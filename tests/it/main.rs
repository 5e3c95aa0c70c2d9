//! The integration test binary: one `mod` per area.

mod app_files;
mod build;
mod build_stages;
mod cli;
mod filters;
mod hermetic;
mod live;
mod lock;
mod repo;
mod resolve;
mod show_init;
mod support;
mod why_diff;
