//! `debless lock` as a user runs it, against the hermetic signed archive: the lock it writes,
//! every trust failure, resolution errors, `--check` and `--update`.

use crate::hermetic::{SUITE, pkg, project, standard_repo};
use crate::support::signed_repo::{PublishOptions, Signing, TestRepo, unix_now};

/// Hides what changes on every run: signature bytes, dates.
fn stable_lock_text(text: &str) -> String {
    text.lines()
        .map(|line| {
            if line.starts_with("inrelease-sha256 = ")
                || line.starts_with("date = ")
                || line.starts_with("valid-until = ")
                || line.starts_with("signed-by = ")
                || line.starts_with("manifest-digest = ")
                || line.starts_with("checksum = ")
            {
                format!("{} = [FILTERED]", line.split(" = ").next().unwrap_or(line))
            } else {
                line.to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn locks_the_closure_and_is_byte_stable() {
    let repo = standard_repo();
    let project = project(&repo, &["hello", "tzdata"]);
    let out = project.run(&["lock"]);
    assert!(out.status.success(), "{}", project.render(&out));
    let lock = project.read("debless.lock");
    snapshot!("hermetic_lock", &stable_lock_text(&lock));
    // hello -> libc6 + awk; awk's providers are tied on nothing but priority: mawk (required).
    for name in ["hello", "libc6", "mawk", "tzdata"] {
        assert!(
            lock.contains(&format!("name = \"{name}\"")),
            "{name} locked"
        );
    }
    assert!(!lock.contains("gawk"), "only one awk provider");
    assert!(
        !lock.contains("coreutils"),
        "Essential packages come only when something depends on them"
    );
    assert!(
        !lock.contains("127.0.0.1"),
        "the lock never records a mirror URL"
    );
    // Same manifest, same indices: the lock is not rewritten.
    let again = project.run(&["lock"]);
    assert!(again.status.success());
    assert_eq!(project.read("debless.lock"), lock);
    let stderr = String::from_utf8_lossy(&again.stderr);
    assert!(stderr.contains("is up to date"), "{stderr}");
    assert_eq!(
        repo.requests()
            .iter()
            .filter(|r| r.contains("binary-amd64"))
            .count(),
        1,
        "a warm lock fetches only InRelease: {:?}",
        repo.requests()
    );
}

#[test]
fn check_reports_what_changed() {
    let repo = standard_repo();
    let project = project(&repo, &["hello"]);
    let missing = project.run(&["lock", "--check"]);
    assert_eq!(
        missing.status.code(),
        Some(3),
        "{}",
        project.render(&missing)
    );
    assert!(project.run(&["lock"]).status.success());
    assert!(project.run(&["lock", "--check"]).status.success());
    project.manifest(&crate::hermetic::manifest(&repo, &["hello", "tzdata"]));
    let stale = project.run(&["lock", "--check"]);
    assert_eq!(stale.status.code(), Some(3));
    insta::assert_snapshot!(project.render(&stale), @r"
    exit: 3
    --- stdout
    --- stderr
    error: `debless.lock` does not match the manifest: package `tzdata` was added to the manifest

    hint: run `debless lock` and commit the new lock
    ");
    let build = project.run(&["build", "--output", "img"]);
    assert_eq!(build.status.code(), Some(3), "build refuses a stale lock");
    assert!(!project.path().join("img").exists());
}

#[test]
fn keeps_pins_until_update() {
    let repo = standard_repo();
    let project = project(&repo, &["hello"]);
    assert!(project.run(&["lock"]).status.success());
    // A newer hello appears in the suite.
    pkg(
        "hello",
        "1.1-1",
        "amd64",
        &[("Depends", "libc6 (>= 2.36), awk")],
    )
    .file("/usr/bin/hello", b"#!/bin/sh\necho hello 1.1\n", 0o755)
    .add_to(&repo, SUITE);
    repo.publish(SUITE, PublishOptions::default());
    assert!(project.run(&["lock"]).status.success());
    assert!(
        project.read("debless.lock").contains("version = \"1.0-1\""),
        "without --update the pin stays"
    );
    let unknown = project.run(&["lock", "--update", "nosuch"]);
    assert_eq!(unknown.status.code(), Some(1));
    let out = project.run(&["lock", "--update", "hello"]);
    assert!(out.status.success(), "{}", project.render(&out));
    let lock = project.read("debless.lock");
    assert!(lock.contains("version = \"1.1-1\""), "{lock}");
}

/// Publishes the standard universe with `options` and runs `lock`, expecting a failure.
fn failing_lock(options: PublishOptions) -> (TestRepo, String) {
    let repo = TestRepo::new();
    crate::hermetic::publish_standard(&repo, options);
    let project = project(&repo, &["hello"]);
    let out = project.run(&["lock"]);
    assert_eq!(out.status.code(), Some(1), "{}", project.render(&out));
    assert!(
        !project.path().join("debless.lock").exists(),
        "a failed lock writes nothing"
    );
    let stderr = project.filter(&String::from_utf8_lossy(&out.stderr));
    (repo, stderr)
}

#[test]
fn refuses_every_untrusted_repository() {
    let now = unix_now();
    let cases = [
        (
            PublishOptions {
                sign_with: Signing::BadSignature,
                ..PublishOptions::default()
            },
            "BAD signature from key",
        ),
        (
            PublishOptions {
                sign_with: Signing::OtherKey,
                ..PublishOptions::default()
            },
            "no good signature from a trusted key (signed by unknown key(s)",
        ),
        (
            PublishOptions {
                sign_with: Signing::Unsigned,
                ..PublishOptions::default()
            },
            "the file is not signed",
        ),
        (
            PublishOptions {
                date: now - 30 * 86_400,
                valid_until: Some(now - 86_400),
                ..PublishOptions::default()
            },
            "Release file for suite `stable` is expired (Valid-Until",
        ),
        (
            PublishOptions {
                date: now + 3600,
                valid_until: Some(now + 7 * 86_400),
                ..PublishOptions::default()
            },
            "Release file for suite `stable` is not valid yet (Date",
        ),
        (
            PublishOptions {
                tamper_index: true,
                ..PublishOptions::default()
            },
            "does not match the signed Release: expected ",
        ),
        (
            PublishOptions {
                truncate_index: true,
                ..PublishOptions::default()
            },
            "does not match the signed Release: expected ",
        ),
    ];
    for (options, expected) in cases {
        let (_repo, stderr) = failing_lock(options);
        let first = stderr.lines().next().unwrap_or_default();
        assert!(
            first.starts_with("error: suite `stable`: "),
            "the suite is named first: {stderr}"
        );
        assert!(first.contains(expected), "{expected:?} in {first:?}");
        assert!(
            stderr
                .lines()
                .skip(1)
                .all(|l| l.is_empty() || l.starts_with("hint: ")),
            "one line, then at most a hint: {stderr}"
        );
    }
}

#[test]
fn refuses_a_release_going_backwards() {
    let repo = standard_repo();
    let project = project(&repo, &["hello"]);
    assert!(project.run(&["lock"]).status.success());
    repo.publish(
        SUITE,
        PublishOptions {
            date: unix_now() - 86_400,
            ..PublishOptions::default()
        },
    );
    let out = project.run(&["lock"]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("older than the"), "{stderr}");
    // A changed manifest (which reads the indices while the Releases are verified) and
    // `--update` are refused the same way, and the lock is left alone.
    let before = project.read("debless.lock");
    project.manifest(&crate::hermetic::manifest(&repo, &["hello", "tzdata"]));
    for args in [&["lock"][..], &["lock", "--update"]] {
        let out = project.run(args);
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains("older than the"), "{args:?}: {stderr}");
        assert_eq!(project.read("debless.lock"), before, "{args:?}");
    }
}

#[test]
fn explains_resolution_failures() {
    let repo = standard_repo();
    let mut report = String::new();
    for packages in [
        &["helo"][..],
        &["needs-new-libc"],
        &["clash-a", "hello", "libc6=9.9"],
    ] {
        let project = project(&repo, packages);
        let out = project.run(&["lock"]);
        assert_eq!(out.status.code(), Some(1), "{}", project.render(&out));
        assert!(!project.path().join("debless.lock").exists());
        report.push_str(&format!("$ packages = {packages:?}\n"));
        report.push_str(&project.filter(&String::from_utf8_lossy(&out.stderr)));
    }
    snapshot!("resolution_failures", &report);
}

#[test]
fn refuses_bad_manifests_with_the_culprit() {
    let repo = standard_repo();
    let project = project(&repo, &["hello"]);
    let text = project.read("debless.toml");
    project.manifest(&text.replace("packages", "pakages"));
    let out = project.run(&["lock"]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("pakages"), "{stderr}");
    assert!(!project.path().join("debless.lock").exists());
}

#[test]
fn finds_packages_only_in_the_components_asked_for() {
    let repo = standard_repo();
    let project = project(&repo, &["unrar"]);
    let out = project.run(&["lock"]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("`unrar` is not in any configured suite"),
        "{stderr}"
    );
    let text = project.read("debless.toml");
    project.manifest(&text.replace(
        &format!("suite = \"{SUITE}\"\n"),
        &format!("suite = \"{SUITE}\"\ncomponents = [\"main\", \"non-free\"]\n"),
    ));
    let out = project.run(&["lock"]);
    assert!(out.status.success(), "{}", project.render(&out));
    assert!(
        project
            .read("debless.lock")
            .contains("path = \"pool/non-free/")
    );
}

/// The locked `name version` lines, for compact golden locks.
fn locked_set(lock: &str) -> String {
    let mut out = String::new();
    let mut name = "";
    for line in lock.lines() {
        if let Some(n) = line.strip_prefix("name = ") {
            name = n.trim_matches('"');
        } else if let Some(v) = line.strip_prefix("version = ")
            && !name.is_empty()
        {
            out.push_str(&format!("{name} {}\n", v.trim_matches('"')));
        } else if let Some(r) = line.strip_prefix("required-by = ") {
            out.push_str(&format!("  required-by {r}\n"));
        }
    }
    out
}

#[test]
fn resolution_rules_end_to_end() {
    let repo = standard_repo();
    for (name, version, fields) in [
        (
            "app",
            "1.0",
            &[("Depends", "liba | libb, virt (>= 2), tool:any")][..],
        ),
        ("liba", "1.0", &[]),
        ("libb", "1.0", &[]),
        ("prov-old", "1.0", &[("Provides", "virt (= 1)")]),
        ("prov-new", "1.0", &[("Provides", "virt (= 2)")]),
        ("tool", "1.0", &[("Multi-Arch", "allowed")]),
        ("breaker", "1.0", &[("Breaks", "liba (<< 9)")]),
        ("needs-liba", "1.0", &[("Depends", "liba")]),
    ] {
        pkg(name, version, "amd64", fields)
            .file(&format!("/usr/share/{name}/marker"), name.as_bytes(), 0o644)
            .add_to(&repo, SUITE);
    }
    repo.publish(SUITE, PublishOptions::default());

    // Alternatives in written order, versioned provides, `:any` on Multi-Arch: allowed.
    let project = project(&repo, &["app"]);
    let out = project.run(&["lock"]);
    assert!(out.status.success(), "{}", project.render(&out));
    let mut golden = String::from("$ packages = [\"app\"]\n");
    golden.push_str(&locked_set(&project.read("debless.lock")));

    // `prefer` picks another provider of a virtual package.
    let preferring = crate::hermetic::project(&repo, &["hello"]);
    let text = preferring.read("debless.toml");
    preferring.manifest(&text.replace("packages = [", "prefer = { awk = \"gawk\" }\npackages = ["));
    let out = preferring.run(&["lock"]);
    assert!(out.status.success(), "{}", preferring.render(&out));
    golden.push_str("$ packages = [\"hello\"], prefer = { awk = \"gawk\" }\n");
    golden.push_str(&locked_set(&preferring.read("debless.lock")));

    // A Breaks that an alternative can avoid is avoided: libb instead of liba.
    let avoiding = crate::hermetic::project(&repo, &["app", "breaker"]);
    let out = avoiding.run(&["lock"]);
    assert!(out.status.success(), "{}", avoiding.render(&out));
    golden.push_str("$ packages = [\"app\", \"breaker\"]\n");
    golden.push_str(&locked_set(&avoiding.read("debless.lock")));

    // One it cannot avoid is an error naming both packages.
    let breaking = crate::hermetic::project(&repo, &["needs-liba", "breaker"]);
    let out = breaking.run(&["lock"]);
    assert_eq!(out.status.code(), Some(1), "{}", breaking.render(&out));
    golden.push_str("$ packages = [\"needs-liba\", \"breaker\"]\n");
    golden.push_str(&breaking.filter(&String::from_utf8_lossy(&out.stderr)));
    snapshot!("resolution_rules", golden);
}
