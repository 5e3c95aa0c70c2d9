//! `debless why` and `debless diff` (and the diff `lock --update` prints) against the hermetic
//! archive: a lock, a newer upload of `hello` that splits out a library, a re-lock.

use crate::hermetic::{SUITE, pkg, project, standard_repo};
use crate::support::context::TestContext;
use crate::support::signed_repo::PublishOptions;

/// A project locked on hello 1.0-1, then re-locked with `--update` after hello 1.1-1 (which
/// needs a new `libhello1` from the same source) was published; `old.lock` is the first lock.
fn relocked_project() -> TestContext {
    let repo = standard_repo();
    let project = project(&repo, &["hello", "tzdata"]);
    project.lock_and_keep_as_old();
    pkg(
        "libhello1",
        "1.1-1",
        "amd64",
        &[("Source", "hello"), ("Depends", "libc6")],
    )
    .file("/usr/lib/x86_64-linux-gnu/libhello.so.1", b"\x7fELF", 0o644)
    .add_to(&repo, SUITE);
    pkg(
        "hello",
        "1.1-1",
        "amd64",
        &[("Depends", "libc6 (>= 2.36), libhello1, awk")],
    )
    .file("/usr/bin/hello", b"#!/bin/sh\necho hello 1.1\n", 0o755)
    .add_to(&repo, SUITE);
    repo.publish(SUITE, PublishOptions::default());
    let update = project.run(&["lock", "--update"]);
    assert!(update.status.success(), "{}", project.render(&update));
    snapshot!("lock_update_prints_the_diff", &project.render(&update));
    // The archive goes away with `repo`: `why` and `diff` read only lock files.
    project
}

#[test]
fn diff_in_every_format() {
    let project = relocked_project();
    for (format, name) in [
        ("text", "diff_text"),
        ("markdown", "diff_markdown"),
        ("json", "diff_json"),
    ] {
        let out = project.run(&["diff", "old.lock", "debless.lock", "--format", format]);
        assert_eq!(out.status.code(), Some(0), "{}", project.render(&out));
        snapshot!(name, &project.render(&out));
    }
    let json = project.run(&["diff", "old.lock", "debless.lock", "--format", "json"]);
    let parsed: serde_json::Value =
        serde_json::from_slice(&json.stdout).expect("diff --format json prints JSON");
    assert_eq!(parsed["changed"], true);
    assert_eq!(parsed["counts"]["upgraded"], 1);
    let hello = &parsed["targets"][0]["sources"][0];
    assert_eq!(hello["source-package"], "hello");
    assert_eq!(hello["packages"][0]["change"], "upgraded");
    assert_eq!(hello["packages"][1]["name"], "libhello1");
    assert_eq!(hello["packages"][1]["change"], "added");

    let same = project.run(&["diff", "debless.lock", "debless.lock"]);
    assert_eq!(same.status.code(), Some(0));
    assert_eq!(String::from_utf8_lossy(&same.stdout), "no changes\n");

    let missing = project.run(&["diff", "nosuch.lock", "debless.lock"]);
    assert_eq!(
        missing.status.code(),
        Some(1),
        "{}",
        project.render(&missing)
    );
}

#[test]
fn why_explains_from_the_lock_alone() {
    let project = relocked_project();
    let out = project.run(&["why", "libc6"]);
    assert_eq!(out.status.code(), Some(0), "{}", project.render(&out));
    snapshot!("why_libc6", &project.render(&out));

    let root = project.run(&["why", "hello"]);
    assert_eq!(
        String::from_utf8_lossy(&root.stdout),
        "hello is a root of the manifest\n"
    );

    let json = project.run(&["why", "libhello1", "--json"]);
    let parsed: serde_json::Value =
        serde_json::from_slice(&json.stdout).expect("why --json prints JSON");
    assert_eq!(
        parsed["targets"][0]["chains"],
        serde_json::json!([["hello", "libhello1"]])
    );

    let typo = project.run(&["why", "helo"]);
    assert_eq!(typo.status.code(), Some(1));
    let stderr = project.filter(&String::from_utf8_lossy(&typo.stderr));
    assert!(stderr.contains("did you mean `hello`?"), "{stderr}");

    let unknown = project.run(&["why", "nosuch"]);
    assert_eq!(unknown.status.code(), Some(1));
    insta::assert_snapshot!(project.render(&unknown), @r"
    exit: 1
    --- stdout
    --- stderr
    error: `nosuch` is not in `debless.lock`

    hint: `debless why` explains locked packages; after editing the manifest, run `debless lock`
    ");
}

#[test]
fn security_updates_are_marked() {
    let repo = standard_repo();
    let security = format!("{SUITE}-security");
    repo.publish(&security, PublishOptions::default());
    // The same archive a second time, as the `-security` suite.
    let project = project(&repo, &["hello"]);
    let manifest = project.read("debless.toml");
    let (_, source) = manifest
        .split_once("[[source]]")
        .expect("the hermetic manifest has a [[source]]");
    let security_source = source.replace(
        &format!("suite = \"{SUITE}\""),
        &format!("suite = \"{security}\""),
    );
    project.manifest(&format!("{manifest}\n[[source]]{security_source}"));
    project.lock_and_keep_as_old();
    pkg(
        "hello",
        "1.0-1+sec1",
        "amd64",
        &[("Depends", "libc6 (>= 2.36), awk")],
    )
    .file("/usr/bin/hello", b"#!/bin/sh\necho patched\n", 0o755)
    .add_to(&repo, &security);
    repo.publish(&security, PublishOptions::default());
    let update = project.run(&["lock", "--update"]);
    assert!(update.status.success(), "{}", project.render(&update));
    let out = project.run(&["diff", "old.lock", "debless.lock"]);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "hello\n  upgraded   hello 1.0-1 -> 1.0-1+sec1 [security] (-20 B)\n1 upgraded (1 from security suites); download size -20 B\n"
    );
}
