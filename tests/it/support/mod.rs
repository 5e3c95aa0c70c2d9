//! Helpers shared by the integration tests.

pub mod apt;
pub mod chroot;
pub mod context;
pub mod corp_ca;
pub mod debs;
pub mod live;
pub mod registry;
pub mod signed_repo;
pub mod syft;
pub mod tls;
pub mod tree;

/// Set (to anything but empty) by `cargo xtask test --fast`: tests needing the live mirror or
/// a registry skip with a message, even under `CI`.
pub const NO_LIVE_ENV: &str = "DEBLESS_TEST_NO_LIVE";

/// Whether [`NO_LIVE_ENV`] asks to skip the live-mirror and registry tests.
pub fn no_live() -> bool {
    std::env::var_os(NO_LIVE_ENV).is_some_and(|v| !v.is_empty())
}

/// Whether a tool `cargo xtask test` installs is on PATH; under CI (`CI` set, as xtask does)
/// a missing one is a failure, elsewhere the caller skips with the printed message.
pub fn have_tool(tool: &str) -> bool {
    let found = std::process::Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        assert!(
            std::env::var_os("CI").is_none(),
            "`{tool}` is missing under CI: `cargo xtask test` installs it"
        );
        eprintln!(
            "skipping: `{tool}` is not installed (run `cargo xtask test`, which installs it)"
        );
    }
    found
}
