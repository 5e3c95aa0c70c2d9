//! The integration test binary: one `mod` per area.

/// Asserts a named insta snapshot kept under `snapshots/` (`it__<module>__<name>.snap`).
macro_rules! snapshot {
    ($name:expr, $value:expr $(,)?) => {{
        let mut settings = insta::Settings::clone_current();
        settings.set_snapshot_path(concat!(env!("CARGO_MANIFEST_DIR"), "/snapshots"));
        settings.bind(|| insta::assert_snapshot!($name, $value));
    }};
}

mod alternatives;
mod app_files;
mod bazel;
mod build;
mod build_stages;
mod check;
mod check_live;
mod cli;
mod corp_ca_live;
mod distroless;
mod essentials;
mod example;
mod extra_ca;
mod filters;
mod hermetic;
mod https_mirror;
mod index_cache;
mod java_trust_store;
mod layer_cache;
mod ldcache;
mod live;
mod lock;
mod properties;
mod registry;
mod repo;
mod resolve;
mod sbom;
mod show_init;
mod support;
mod tls_registry;
mod trust;
mod why_diff;
