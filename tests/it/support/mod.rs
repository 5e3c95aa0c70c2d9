//! Helpers shared by the integration tests.

pub mod apt;
pub mod chroot;
pub mod context;
pub mod debs;
pub mod live;
pub mod registry;
pub mod signed_repo;
pub mod syft;
pub mod tree;

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
