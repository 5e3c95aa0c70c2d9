//! `debless show`, `search` and `init` as a user runs them: show and search against the
//! hermetic signed archive, init against a fake os-release and fake apt sources.

use crate::hermetic::{SUITE, pkg, project, standard_repo};
use crate::support::context::TestContext;
use crate::support::signed_repo::PublishOptions;

#[test]
fn show_prints_versions_and_the_locked_pin() {
    let repo = standard_repo();
    let project = project(&repo, &["hello"]);
    let before = project.run(&["show", "hello"]);
    assert!(before.status.success(), "{}", project.render(&before));
    let text = String::from_utf8_lossy(&before.stdout);
    assert!(text.contains("locked: (none)"), "{text}");

    let lock = project.run(&["lock"]);
    assert!(lock.status.success(), "{}", project.render(&lock));
    // A newer hello appears after the lock: listed first, the pin stays marked.
    pkg(
        "hello",
        "1.1-1",
        "amd64",
        &[
            ("Pre-Depends", "libc6 (>= 2.36)"),
            ("Depends", "awk"),
            ("Provides", "greeter (= 1.1)"),
        ],
    )
    .file("/usr/bin/hello", b"#!/bin/sh\necho hello 1.1\n", 0o755)
    .add_to(&repo, SUITE);
    repo.publish(SUITE, PublishOptions::default());
    let out = project.run(&["show", "hello"]);
    snapshot!("show_hello", &project.render(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("locked: 1.0-1 (stable)"), "{text}");
    let newer = text.find("1.1-1 (stable)").expect("1.1-1 listed");
    let pinned = text.find("1.0-1 (stable) [locked]").expect("1.0-1 marked");
    assert!(newer < pinned, "highest version first: {text}");
    assert!(text.contains("Pre-Depends: libc6 (>= 2.36)"), "{text}");
    assert!(text.contains("Provides: greeter (= 1.1)"), "{text}");

    let json = project.run(&["show", "hello", "--json"]);
    assert!(json.status.success(), "{}", project.render(&json));
    let value: serde_json::Value = serde_json::from_slice(&json.stdout).expect("show --json");
    let amd64 = &value["architectures"][0];
    assert_eq!(amd64["architecture"], "amd64");
    assert_eq!(amd64["locked"]["version"], "1.0-1");
    let versions = amd64["versions"].as_array().expect("versions");
    assert_eq!(versions.len(), 2);
    assert_eq!(versions[0]["version"], "1.1-1");
    assert_eq!(versions[0]["locked"], false);
    assert_eq!(versions[0]["pre_depends"], "libc6 (>= 2.36)");
    assert_eq!(versions[1]["locked"], true);
    assert_eq!(versions[1]["depends"], "libc6 (>= 2.36), awk");
    assert_eq!(
        versions[1]["sha256"].as_str().map(str::len),
        Some(64),
        "{value}"
    );
}

#[test]
fn show_a_virtual_package_names_its_providers() {
    let repo = standard_repo();
    let project = project(&repo, &["hello"]);
    let out = project.run(&["show", "awk"]);
    assert_eq!(out.status.code(), Some(1), "{}", project.render(&out));
    snapshot!("show_awk", &project.render(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    // mawk is Priority: required, gawk optional: the resolver's order.
    assert!(
        stderr.contains("`awk` is a virtual package provided by mawk, gawk"),
        "{stderr}"
    );
}

#[test]
fn show_an_unknown_package_suggests_the_nearest() {
    let repo = standard_repo();
    let project = project(&repo, &["hello"]);
    let out = project.run(&["show", "helo"]);
    assert_eq!(out.status.code(), Some(1), "{}", project.render(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("no package `helo`"), "{stderr}");
    assert!(stderr.contains("did you mean `hello`?"), "{stderr}");
    let json = project.run(&["show", "helo", "--json"]);
    assert_eq!(json.status.code(), Some(1));
    assert!(json.stdout.is_empty(), "no JSON for an unknown package");
}

#[test]
fn search_lists_names_and_provided_names() {
    let repo = standard_repo();
    let project = project(&repo, &["hello"]);
    let out = project.run(&["search", "awk"]);
    assert!(out.status.success(), "{}", project.render(&out));
    snapshot!("search_awk", &project.render(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(
        lines,
        [
            "gawk 5.2.1-2 (stable) [provides awk]",
            "mawk 1.3.4-1 (stable) [provides awk]"
        ]
    );

    let json = project.run(&["search", "clash", "--json"]);
    assert!(json.status.success(), "{}", project.render(&json));
    let value: serde_json::Value = serde_json::from_slice(&json.stdout).expect("search --json");
    let names: Vec<&str> = value
        .as_array()
        .expect("an array")
        .iter()
        .filter_map(|hit| hit["name"].as_str())
        .collect();
    assert_eq!(names, ["clash-a", "clash-b"]);

    let none = project.run(&["search", "zzz"]);
    assert_eq!(none.status.code(), Some(1), "{}", project.render(&none));
}

/// A fake host: Debian bookworm with a main and a security archive in apt's deb822 format.
fn fake_host(context: &mut TestContext) {
    let host = context.path().join("host");
    let sources = host.join("apt/sources.list.d");
    std::fs::create_dir_all(&sources).expect("mkdir");
    std::fs::write(
        host.join("os-release"),
        "PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nVERSION_CODENAME=bookworm\nID=debian\n",
    )
    .expect("write os-release");
    std::fs::write(
        sources.join("debian.sources"),
        "Types: deb\nURIs: http://mirror.test/debian\nSuites: bookworm bookworm-updates\nComponents: main\n\n\
         Types: deb\nURIs: http://mirror.test/debian-security\nSuites: bookworm-security\nComponents: main\n",
    )
    .expect("write sources");
    context.env.push((
        "DEBLESS_OS_RELEASE".into(),
        host.join("os-release").display().to_string(),
    ));
    context.env.push((
        "DEBLESS_APT_ETC".into(),
        host.join("apt").display().to_string(),
    ));
}

#[test]
fn init_writes_a_valid_manifest_for_the_host_release() {
    let mut context = TestContext::new();
    fake_host(&mut context);
    let out = context.run(&["init"]);
    assert!(out.status.success(), "{}", context.render(&out));
    let path = context.path().join("debless.toml");
    let manifest = debless::manifest::Manifest::load(&path).expect("init writes a valid manifest");
    let suites: Vec<&str> = manifest.sources.iter().map(|s| s.suite.as_str()).collect();
    assert_eq!(
        suites,
        ["bookworm", "bookworm-updates", "bookworm-security"]
    );
    assert_eq!(manifest.architectures, [debless::debian::Arch::host()]);
    let text = context.read("debless.toml");
    assert!(
        !text.contains("mirror.test"),
        "the manifest names no mirror"
    );
    let host_arch = debless::debian::Arch::host();
    snapshot!(
        "init_manifest",
        &text.replace(host_arch.as_str(), "[HOST-ARCH]"),
    );

    // A second init refuses to overwrite; --force replaces, --suite overrides the host.
    let again = context.run(&["init"]);
    assert_eq!(again.status.code(), Some(1), "{}", context.render(&again));
    assert!(String::from_utf8_lossy(&again.stderr).contains("--force"));
    let forced = context.run(&["init", "--force", "--suite", "trixie"]);
    assert!(forced.status.success(), "{}", context.render(&forced));
    let manifest = debless::manifest::Manifest::load(&path).expect("valid");
    assert_eq!(manifest.sources[0].suite, "trixie");
}

#[test]
fn init_without_a_codename_asks_for_a_suite() {
    let mut context = TestContext::new();
    fake_host(&mut context);
    std::fs::write(context.path().join("host/os-release"), "ID=debian\n").expect("write");
    let out = context.run(&["init"]);
    assert_eq!(out.status.code(), Some(1), "{}", context.render(&out));
    insta::assert_snapshot!(context.render(&out), @r"
    exit: 1
    --- stdout
    --- stderr
    error: cannot tell this host's Debian release: `[TEMP]/host/os-release` has no VERSION_CODENAME

    hint: name one: `debless init --suite bookworm`
    ");
    assert!(!context.path().join("debless.toml").exists());
}

/// The manifest `init` writes locks against the host's real mirror, and `show` then reads the
/// same suites (skips without a mirror).
#[test]
fn init_manifest_locks_and_shows_on_the_live_mirror() {
    if crate::support::live::mirror().is_none() {
        return;
    }
    let context = TestContext::new();
    let init = context.run(&["init", "--suite", "bookworm"]);
    assert!(init.status.success(), "{}", context.render(&init));
    let lock = context.run(&["lock"]);
    assert!(lock.status.success(), "{}", context.render(&lock));
    let text = context.read("debless.lock");
    for name in ["base-files", "ca-certificates", "tzdata", "openssl"] {
        assert!(
            text.contains(&format!("name = \"{name}\"")),
            "{name} locked:\n{text}"
        );
    }
    let show = context.run(&["show", "tzdata", "--json"]);
    assert!(show.status.success(), "{}", context.render(&show));
    let value: serde_json::Value = serde_json::from_slice(&show.stdout).expect("json");
    let arch = &value["architectures"][0];
    let locked = arch["locked"]["version"]
        .as_str()
        .expect("tzdata is locked");
    assert!(
        arch["versions"]
            .as_array()
            .expect("versions")
            .iter()
            .any(|v| v["version"] == locked && v["locked"] == true),
        "the locked version is among those shown: {value}"
    );
}
