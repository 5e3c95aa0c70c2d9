//! The host's Debian mirror for live tests: found the way debless finds it, and probed once.
//! When it does not answer, live tests print why and return early (they pass as skipped).

use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::OnceLock;
use std::time::Duration;

use debless::repo::{Http, Mirrors};

use super::context::TestContext;

/// The mirror, if one is configured and answers; prints the reason to skip otherwise
/// (always skips under `DEBLESS_TEST_NO_LIVE`, as `cargo xtask test --fast` sets it).
pub fn mirror() -> Option<&'static Mirrors> {
    if super::no_live() {
        eprintln!("skipping live test: {} is set", super::NO_LIVE_ENV);
        return None;
    }
    static PROBE: OnceLock<Result<Mirrors, String>> = OnceLock::new();
    let probe = PROBE.get_or_init(|| {
        let mirrors = debless::env::Settings::from_env()
            .mirrors()
            .map_err(|e| e.to_string())?;
        let http = Http::with_timeouts(Duration::from_secs(5), Duration::from_secs(10))
            .map_err(|e| e.to_string())?;
        http.get(&format!("{}/dists/bookworm/Release", mirrors.debian))
            .map_err(|e| format!("the mirror does not answer: {e}"))?;
        Ok(mirrors)
    });
    match probe {
        Ok(mirrors) => Some(mirrors),
        Err(reason) => {
            eprintln!("skipping live test: {reason}");
            None
        }
    }
}

/// `lockfiles/<name>`: a checked-in example manifest with its lock (and any files it adds).
pub fn example(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("lockfiles")
        .join(name)
}

/// Copies every file of `lockfiles/<name>` into the project directory.
pub fn copy_example(context: &TestContext, name: &str) {
    for entry in std::fs::read_dir(example(name)).expect("example dir") {
        let path = entry.expect("entry").path();
        let file = path.file_name().expect("file name");
        std::fs::copy(&path, context.path().join(file))
            .unwrap_or_else(|e| panic!("copy {}: {e}", path.display()));
    }
}

/// Copies `lockfiles/<name>` into the project and runs `debless build ARGS` there; its
/// stdout. `None` (skip, with the reason printed) without a mirror, or when the mirror no
/// longer serves a version the example pins (the example then needs a re-lock).
pub fn build_example(context: &TestContext, name: &str, args: &[&str]) -> Option<String> {
    let out = build_example_output(context, name, args)?;
    Some(String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

/// Like [`build_example`], the whole successful output (for tests reading the warnings).
pub fn build_example_output(context: &TestContext, name: &str, args: &[&str]) -> Option<Output> {
    mirror()?;
    copy_example(context, name);
    let mut command = vec!["build"];
    command.extend_from_slice(args);
    let out = context.run(&command);
    let stderr = String::from_utf8_lossy(&out.stderr);
    if !out.status.success() && stderr.contains("not found (404)") {
        eprintln!(
            "skipping: the mirror no longer serves a version pinned by {name}; re-lock it: {stderr}"
        );
        return None;
    }
    assert!(out.status.success(), "{}", context.render(&out));
    Some(out)
}
