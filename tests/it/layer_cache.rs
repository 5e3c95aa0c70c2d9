//! The layer cache (`layers-v1/` in the cache): a warm rebuild gives the cold build's bytes,
//! a damaged entry is rebuilt with a warning, a format bump invalidates, a one-package update
//! recompresses one layer, concurrent builds share the cache, and `cache prune` bounds it.

use std::path::Path;
use std::process::Output;

use sha2::{Digest as _, Sha256};

use crate::hermetic::{SUITE, manifest, pkg, project, standard_repo};
use crate::support::context::TestContext;
use crate::support::signed_repo::{PublishOptions, TestRepo};

fn ok(project: &TestContext, out: &Output) -> String {
    assert!(out.status.success(), "{}", project.render(out));
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn digest(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

fn json(path: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(path).expect("read")).expect("json")
}

/// The layer digests (hex) of a single-image layout.
fn layers(layout: &Path) -> Vec<String> {
    let index = json(&layout.join("index.json"));
    let manifest = index["manifests"][0]["digest"].as_str().expect("digest");
    let manifest = json(
        &layout
            .join("blobs/sha256")
            .join(manifest.trim_start_matches("sha256:")),
    );
    manifest["layers"]
        .as_array()
        .expect("layers")
        .iter()
        .map(|l| {
            l["digest"]
                .as_str()
                .expect("digest")
                .trim_start_matches("sha256:")
                .to_owned()
        })
        .collect()
}

/// Every file of a layout, by relative path, with its bytes.
fn layout_files(layout: &Path) -> Vec<(String, Vec<u8>)> {
    let mut files = Vec::new();
    let mut dirs = vec![layout.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).expect("list") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                dirs.push(path);
            } else {
                let name = path.strip_prefix(layout).expect("inside");
                files.push((
                    name.display().to_string(),
                    std::fs::read(&path).expect("read"),
                ));
            }
        }
    }
    files.sort();
    files
}

fn locked(repo: &TestRepo, packages: &[&str], image: &str) -> TestContext {
    let mut app = project(repo, packages);
    app.manifest(&format!("{}\n[image]\n{image}\n", manifest(repo, packages)));
    app.env
        .push(("SOURCE_DATE_EPOCH".into(), "1700000000".into()));
    ok(&app, &app.run(&["lock"]));
    app
}

#[test]
fn a_warm_rebuild_is_the_cold_image() {
    let repo = standard_repo();
    let app = locked(&repo, &["hello", "tzdata"], "");
    let cold = app.run(&["build", "--output", "cold", "--sbom", "spdx"]);
    let cold_err = ok(&app, &cold);
    assert!(!cold_err.contains("Layer cache"), "{cold_err}");

    // The .debs are verified again (the lock is the truth), but none is extracted.
    let warm = app.run(&["build", "--output", "warm", "--sbom", "spdx"]);
    let warm_err = ok(&app, &warm);
    assert!(
        warm_err.contains("Layer cache (amd64): whole image reused, layers verified: 1"),
        "{warm_err}"
    );
    assert_eq!(digest(&warm), digest(&cold));
    assert_eq!(
        layout_files(&app.path().join("warm")),
        layout_files(&app.path().join("cold"))
    );
    assert_eq!(app.read("warm.spdx.json"), app.read("cold.spdx.json"));

    // Without the cache, from the .debs again: the same image.
    let uncached = app.run(&[
        "build",
        "--no-cache",
        "--output",
        "uncached",
        "--sbom",
        "spdx",
    ]);
    let uncached_err = ok(&app, &uncached);
    assert!(!uncached_err.contains("Layer cache"), "{uncached_err}");
    assert_eq!(digest(&uncached), digest(&cold));

    // Recording takes the cached image; `--verify` rebuilds from the .debs regardless.
    let recorded = app.run(&["build", "--record", "--sbom", "spdx"]);
    assert!(ok(&app, &recorded).contains("whole image reused"));
    let verified = app.run(&["build", "--verify", "--sbom", "spdx"]);
    let verified_err = ok(&app, &verified);
    assert!(!verified_err.contains("Layer cache"), "{verified_err}");
}

#[test]
fn a_damaged_cached_layer_is_detected_rebuilt_and_the_image_is_the_same() {
    let repo = standard_repo();
    let app = locked(&repo, &["hello"], "");
    let cold = app.run(&["build", "--output", "cold"]);
    ok(&app, &cold);
    let layer = layers(&app.path().join("cold"))[0].clone();
    let cached = app.cache.join("layers-v1/sha256").join(&layer);
    let mut bytes = std::fs::read(&cached).expect("the layer is cached");
    bytes[100] ^= 0x20;
    std::fs::write(&cached, &bytes).expect("flip a byte");

    let warm = app.run(&["build", "--output", "warm"]);
    let stderr = ok(&app, &warm);
    assert!(
        stderr.contains("warning: the layer cache's") && stderr.contains("is damaged"),
        "{stderr}"
    );
    assert!(!stderr.contains("whole image reused"), "{stderr}");
    assert_eq!(digest(&warm), digest(&cold));
    // Rebuilt: the cached blob is whole again, and the next build takes the whole image.
    let rebuilt = std::fs::read(&cached).expect("rebuilt");
    assert_eq!(hex::encode(Sha256::digest(&rebuilt)), layer);
    let again = app.run(&["build", "--output", "again"]);
    let stderr = ok(&app, &again);
    assert!(stderr.contains("whole image reused"), "{stderr}");
    assert!(!stderr.contains("warning"), "{stderr}");
    assert_eq!(digest(&again), digest(&cold));
}

#[test]
fn a_layer_format_bump_invalidates_every_entry() {
    let repo = standard_repo();
    let app = locked(&repo, &["hello"], "");
    let cold = app.run(&["build"]);
    ok(&app, &cold);
    let bumped = app
        .command(&["build", "--output", "bumped"])
        .env("DEBLESS_TEST_LAYER_FORMAT", "999")
        .output()
        .expect("run");
    let stderr = ok(&app, &bumped);
    assert!(!stderr.contains("Layer cache"), "nothing reused: {stderr}");
    let again = app
        .command(&["build", "--output", "again"])
        .env("DEBLESS_TEST_LAYER_FORMAT", "999")
        .output()
        .expect("run");
    let stderr = ok(&app, &again);
    assert!(stderr.contains("whole image reused"), "{stderr}");
    assert_eq!(digest(&again), digest(&bumped));
}

#[test]
fn updating_one_package_recompresses_one_layer() {
    let repo = standard_repo();
    let packages = ["libc6", "hello", "mawk", "tzdata", "coreutils"];
    let app = locked(&repo, &packages, "layers = 4");
    ok(&app, &app.run(&["build", "--output", "before"]));
    let before = layers(&app.path().join("before"));
    assert_eq!(before.len(), 4);

    pkg(
        "hello",
        "1.0-2",
        "amd64",
        &[("Depends", "libc6 (>= 2.36), awk")],
    )
    .file("/usr/bin/hello", b"#!/bin/sh\necho hello again\n", 0o755)
    .symlink("/usr/bin/hi", "hello")
    .add_to(&repo, SUITE);
    repo.publish(SUITE, PublishOptions::default());
    ok(&app, &app.run(&["lock", "--update", "hello"]));
    let after = app.run(&["build", "--output", "after"]);
    let stderr = ok(&app, &after);
    assert!(
        stderr.contains("Layer cache (amd64): layers reused: 3, built: 1"),
        "{stderr}"
    );
    let changed = before
        .iter()
        .zip(layers(&app.path().join("after")))
        .filter(|(a, b)| **a != *b)
        .count();
    assert_eq!(changed, 1);
    let uncached = app.run(&["build", "--no-cache"]);
    ok(&app, &uncached);
    assert_eq!(
        String::from_utf8_lossy(&uncached.stderr)
            .lines()
            .find(|l| l.starts_with("Built"))
            .map(str::to_owned),
        stderr
            .lines()
            .find(|l| l.starts_with("Built"))
            .map(str::to_owned),
        "the partly cached image is the uncached one"
    );
}

#[test]
fn an_application_change_rebuilds_only_the_application_layer() {
    let repo = standard_repo();
    let app = locked(&repo, &["hello"], "");
    app.manifest(&format!(
        "{}\n[image]\n[[image.files]]\nsrc = \"app.txt\"\ndst = \"/app/app.txt\"\n",
        manifest(&repo, &["hello"])
    ));
    std::fs::write(app.path().join("app.txt"), "one\n").expect("app");
    ok(&app, &app.run(&["lock"]));
    let first = app.run(&["build"]);
    ok(&app, &first);
    std::fs::write(app.path().join("app.txt"), "two\n").expect("app");
    let second = app.run(&["build", "--output", "second"]);
    let stderr = ok(&app, &second);
    assert!(
        stderr.contains("Layer cache (amd64): layers reused: 1, built: 1"),
        "{stderr}"
    );
    let uncached = app.run(&["build", "--no-cache", "--output", "uncached"]);
    ok(&app, &uncached);
    assert_eq!(digest(&second), digest(&uncached));
}

#[test]
fn concurrent_builds_share_the_cache() {
    let repo = standard_repo();
    let app = locked(&repo, &["hello", "tzdata"], "layers = 2");
    ok(&app, &app.run(&["build", "--no-cache"]));
    for round in ["cold", "warm"] {
        let children: Vec<_> = (0..3)
            .map(|i| {
                app.command(&["build", "--output", &format!("{round}-{i}")])
                    .stdout(std::process::Stdio::piped())
                    .stderr(std::process::Stdio::piped())
                    .spawn()
                    .expect("spawn")
            })
            .collect();
        let digests: Vec<String> = children
            .into_iter()
            .map(|child| {
                let out = child.wait_with_output().expect("wait");
                ok(&app, &out);
                digest(&out)
            })
            .collect();
        assert!(digests.iter().all(|d| *d == digests[0]), "{digests:?}");
        assert!(digests[0].starts_with("sha256:"), "{digests:?}");
    }
    let entries = std::fs::read_dir(app.cache.join("layers-v1/sha256"))
        .expect("cache")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect::<Vec<_>>();
    assert!(
        entries.iter().all(|name| !name.starts_with(".tmp-")),
        "{entries:?}"
    );
}

#[test]
fn cache_prune_bounds_the_cache() {
    let repo = standard_repo();
    let app = locked(&repo, &["hello"], "");
    let cold = app.run(&["build"]);
    ok(&app, &cold);
    let info = app.run(&["cache", "info"]);
    ok(&app, &info);
    let listing = String::from_utf8_lossy(&info.stdout);
    assert!(listing.contains("layers-v1"), "{listing}");
    assert!(listing.contains("debs"), "{listing}");

    let usage = app.run(&["cache", "prune"]);
    assert_eq!(usage.status.code(), Some(2), "{}", app.render(&usage));

    let dry = app.run(&["cache", "prune", "--max-size", "0", "--dry-run"]);
    let stderr = ok(&app, &dry);
    assert!(stderr.contains("Would remove"), "{stderr}");
    assert!(
        app.cache
            .join("layers-v1/refs")
            .read_dir()
            .expect("refs")
            .next()
            .is_some()
    );

    let pruned = app.run(&["cache", "prune", "--max-age", "30"]);
    let stderr = ok(&app, &pruned);
    assert!(stderr.contains("Removed 0 files"), "{stderr}");

    let pruned = app.run(&["cache", "prune", "--max-size", "0"]);
    let stderr = ok(&app, &pruned);
    assert!(stderr.contains("0 files (0 B) kept"), "{stderr}");
    let rebuilt = app.run(&["build"]);
    let stderr = ok(&app, &rebuilt);
    assert!(!stderr.contains("Layer cache"), "{stderr}");
    assert_eq!(
        stderr.lines().find(|l| l.starts_with("Built")),
        String::from_utf8_lossy(&cold.stderr)
            .lines()
            .find(|l| l.starts_with("Built"))
    );
}
