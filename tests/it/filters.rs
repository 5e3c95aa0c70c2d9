//! Path filters (`[image] strip`, `exclude-paths`, `include-paths`) and `build --report`,
//! end to end on the hermetic archive.

use std::path::Path;

use crate::hermetic::{SUITE, manifest, pkg};
use crate::support::context::TestContext;
use crate::support::signed_repo::{PublishOptions, TestRepo};

/// The standard archive plus `docpkg`, which ships documentation, a man page, translations
/// and the locale alias file next to its program.
fn repo_with_docs() -> TestRepo {
    let repo = crate::hermetic::standard_repo();
    pkg("docpkg", "1.0-1", "amd64", &[])
        .file("/usr/bin/docpkg", b"#!/bin/sh\necho docs\n", 0o755)
        .file(
            "/usr/share/doc/docpkg/copyright",
            b"Format: copyright-format 1.0\nLicense: MIT\n",
            0o644,
        )
        .file("/usr/share/doc/docpkg/changelog.gz", &[0x1f; 4096], 0o644)
        .file("/usr/share/man/man1/x.1.gz", &[0x2e; 2048], 0o644)
        .file(
            "/usr/share/locale/de/LC_MESSAGES/x.mo",
            &[0xde; 1024],
            0o644,
        )
        .file(
            "/usr/share/locale/locale.alias",
            b"german de_DE.ISO-8859-1\n",
            0o644,
        )
        .add_to(&repo, SUITE);
    repo.publish(SUITE, PublishOptions::default());
    repo
}

/// A locked project for `docpkg` with `image` appended to the manifest's `[image]` table.
fn locked(repo: &TestRepo, image: &str) -> TestContext {
    locked_with(repo, &["docpkg"], image)
}

/// Like [`locked`] for other root packages.
fn locked_with(repo: &TestRepo, packages: &[&str], image: &str) -> TestContext {
    let mut project = TestContext::new();
    project.manifest(&format!("{}\n[image]\n{image}\n", manifest(repo, packages)));
    project.filters.push((repo.url(), "[REPO]".into()));
    let out = project.run(&["lock"]);
    assert!(out.status.success(), "{}", project.render(&out));
    project
}

fn build(project: &TestContext, args: &[&str]) -> std::process::Output {
    let out = project
        .command(&[&["build"], args].concat())
        .env("SOURCE_DATE_EPOCH", "1700000000")
        .output()
        .expect("run debless");
    assert!(out.status.success(), "{}", project.render(&out));
    out
}

fn digest(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

fn compressed_layer_bytes(project: &TestContext) -> u64 {
    let out = build(project, &["--json"]);
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    json["images"][0]["layers"]
        .as_array()
        .expect("layers")
        .iter()
        .map(|l| l["size"].as_u64().expect("size"))
        .sum()
}

/// Every md5sums line names a file that exists in `root`, and every regular file of the
/// package under `/usr` is listed.
fn assert_md5sums_consistent(root: &Path, package: &str) {
    let sums =
        std::fs::read_to_string(root.join(format!("var/lib/dpkg/status.d/{package}.md5sums")))
            .expect("md5sums written");
    let listed: Vec<&str> = sums
        .lines()
        .map(|l| l.split_once("  ").expect("two-space separator").1)
        .collect();
    for path in &listed {
        assert!(root.join(path).is_file(), "md5sums lists missing {path}");
    }
    assert!(listed.contains(&"usr/bin/docpkg"), "{sums}");
}

#[test]
fn strip_docs_keeps_copyright_and_drops_the_rest() {
    let repo = repo_with_docs();
    let stripped = locked(&repo, "strip = \"docs\"");
    build(&stripped, &["--rootfs", "root"]);
    let root = stripped.path().join("root");
    assert!(root.join("usr/share/doc/docpkg/copyright").is_file());
    assert!(root.join("usr/share/locale/locale.alias").is_file());
    assert!(root.join("usr/bin/docpkg").is_file());
    for gone in [
        "usr/share/doc/docpkg/changelog.gz",
        "usr/share/man/man1/x.1.gz",
        "usr/share/man/man1",
        "usr/share/locale/de/LC_MESSAGES/x.mo",
    ] {
        assert!(!root.join(gone).exists(), "{gone} should be filtered");
    }
    assert_md5sums_consistent(&root, "docpkg");
    let sums = std::fs::read_to_string(root.join("var/lib/dpkg/status.d/docpkg.md5sums"))
        .expect("md5sums");
    assert!(sums.contains("usr/share/doc/docpkg/copyright"), "{sums}");
    assert!(
        !sums.contains("changelog.gz") && !sums.contains("x.mo"),
        "{sums}"
    );

    // Deterministic: two builds, same digest.
    let first = digest(&build(&stripped, &["--output", "a"]));
    let second = digest(&build(&stripped, &["--output", "b"]));
    assert!(first.starts_with("sha256:"), "{first}");
    assert_eq!(first, second);

    // Smaller than the same packages unfiltered, whose tree still has everything.
    let full = locked(&repo, "");
    build(&full, &["--rootfs", "root"]);
    let full_root = full.path().join("root");
    assert!(
        full_root
            .join("usr/share/doc/docpkg/changelog.gz")
            .is_file()
    );
    assert!(full_root.join("usr/share/man/man1/x.1.gz").is_file());
    assert_md5sums_consistent(&full_root, "docpkg");
    assert!(compressed_layer_bytes(&stripped) < compressed_layer_bytes(&full));
}

#[test]
fn include_paths_win_over_exclude_paths_and_strip() {
    let repo = repo_with_docs();
    let project = locked(
        &repo,
        "strip = \"docs\"\nexclude-paths = [\"/usr/bin/*\"]\ninclude-paths = [\"/usr/share/man/man1/*\"]",
    );
    build(&project, &["--rootfs", "root"]);
    let root = project.path().join("root");
    assert!(
        !root.join("usr/bin/docpkg").exists(),
        "excluded by exclude-paths"
    );
    assert!(
        root.join("usr/share/man/man1/x.1.gz").is_file(),
        "re-included"
    );
    assert!(!root.join("usr/share/doc/docpkg/changelog.gz").exists());
    let sums = std::fs::read_to_string(root.join("var/lib/dpkg/status.d/docpkg.md5sums"))
        .expect("md5sums");
    assert!(sums.contains("usr/share/man/man1/x.1.gz"), "{sums}");
    assert!(!sums.contains("usr/bin/docpkg"), "{sums}");
}

#[test]
fn unknown_strip_preset_is_refused() {
    let repo = repo_with_docs();
    let project = TestContext::new();
    project.manifest(&format!(
        "{}\n[image]\nstrip = \"manpages\"\n",
        manifest(&repo, &["docpkg"])
    ));
    let out = project.run(&["lock"]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("image.strip") && stderr.contains("\"docs\""),
        "{stderr}"
    );
}

#[test]
fn report_lists_packages_by_size_and_parses_as_json() {
    let repo = repo_with_docs();
    let project = locked_with(&repo, &["docpkg", "hello"], "strip = \"docs\"");
    let out = build(&project, &["--report"]);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    snapshot!("build_report_strip_docs", text);

    let out = build(&project, &["--report", "--json"]);
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("--report --json");
    let report = &json["images"][0]["report"];
    let packages = report["packages"].as_array().expect("packages");
    let bytes: Vec<u64> = packages
        .iter()
        .map(|p| p["bytes"].as_u64().expect("bytes"))
        .collect();
    assert!(bytes.windows(2).all(|w| w[0] >= w[1]), "sorted: {bytes:?}");
    assert_eq!(report["total"].as_u64(), Some(bytes.iter().sum()));
    let docpkg = packages
        .iter()
        .find(|p| p["name"] == "docpkg")
        .expect("docpkg reported");
    // The filtered 7 KiB of docs, man page and translation are not counted.
    assert!(docpkg["bytes"].as_u64().expect("bytes") < 1024, "{docpkg}");
    let layer = &report["layers"][0];
    assert!(layer["uncompressed"].as_u64() > layer["compressed"].as_u64());
}
