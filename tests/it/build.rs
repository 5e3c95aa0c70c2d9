//! `debless build` as a user runs it, against the hermetic archive: a valid, deterministic
//! image, and every way a download or a package can be wrong.

use std::path::Path;
use std::process::Command;

use crate::hermetic::{SUITE, pkg, project, standard_repo};
use crate::support::context::TestContext;
use crate::support::debs::Kind;
use crate::support::signed_repo::{PublishOptions, TestRepo};

fn have(tool: &str) -> bool {
    Command::new("sh")
        .args([
            "-c",
            &format!("command -v {tool} || test -x /usr/sbin/{tool}"),
        ])
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Locks `packages` and returns the project.
fn locked(repo: &TestRepo, packages: &[&str]) -> TestContext {
    let project = project(repo, packages);
    let out = project.run(&["lock"]);
    assert!(out.status.success(), "{}", project.render(&out));
    project
}

/// The pool path and sha256 of a locked package.
fn locked_entry(project: &TestContext, name: &str) -> (String, String) {
    let lock = project.read("debless.lock");
    let block = lock
        .split("[[package]]")
        .find(|b| b.contains(&format!("name = \"{name}\"")))
        .unwrap_or_else(|| panic!("{name} is locked"));
    let field = |key: &str| {
        block
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{key} = \"")))
            .map(|v| v.trim_end_matches('"').to_owned())
            .unwrap_or_else(|| panic!("{key} of {name}"))
    };
    (field("path"), field("sha256"))
}

fn digest_of(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stdout).trim().to_owned()
}

#[test]
fn same_lock_same_digest_in_any_environment() {
    let repo = standard_repo();
    let project = locked(&repo, &["hello", "tzdata"]);
    let first = project
        .command(&["build", "--output", "a"])
        .env("SOURCE_DATE_EPOCH", "1700000000")
        .output()
        .expect("run");
    assert!(first.status.success(), "{}", project.render(&first));
    let digest = digest_of(&first);
    assert!(digest.starts_with("sha256:"), "{digest}");
    // The synthetic .debs are byte-stable, so the image digest is golden.
    snapshot!("hermetic_image_digest", digest);

    // Another cwd, timezone, umask, thread count and a cold cache.
    let elsewhere = tempfile::tempdir().expect("tempdir");
    let manifest = project.path().join("debless.toml");
    let out_dir = project.path().join("b");
    let script = format!(
        "umask 077; exec {} --manifest {} build --output {}",
        env!("CARGO_BIN_EXE_debless"),
        manifest.display(),
        out_dir.display()
    );
    let second = Command::new("sh")
        .args(["-c", &script])
        .current_dir(elsewhere.path())
        .env("DEBLESS_CACHE_DIR", elsewhere.path().join("cold-cache"))
        .env("SOURCE_DATE_EPOCH", "1700000000")
        .env("TZ", "Asia/Kathmandu")
        .env("RAYON_NUM_THREADS", "1")
        .output()
        .expect("run");
    assert!(second.status.success(), "{}", project.render(&second));
    assert_eq!(digest_of(&second), digest, "same lock, same image");
    // Warm cache, default environment: still the same.
    let third = project
        .command(&["build", "--output", "c"])
        .env("SOURCE_DATE_EPOCH", "1700000000")
        .output()
        .expect("run");
    assert_eq!(digest_of(&third), digest);
    // Without SOURCE_DATE_EPOCH the packages' newest file mtime is the epoch (the synthetic
    // .debs' 1700000000): reproducible, and the same image.
    let d1 = digest_of(&project.run(&["build", "--output", "d"]));
    let d2 = digest_of(&project.run(&["build", "--output", "e"]));
    assert_eq!(d1, d2);
    assert_eq!(
        d1, digest,
        "the default epoch is the packages' newest mtime"
    );
}

#[test]
fn writes_a_valid_image_with_its_package_database() {
    let repo = standard_repo();
    let project = locked(&repo, &["hello"]);
    let out = project.run(&["build", "--output", "img", "--rootfs", "root"]);
    assert!(out.status.success(), "{}", project.render(&out));
    let root = project.path().join("root");
    assert_eq!(
        std::fs::read(root.join("usr/bin/hello")).expect("hello shipped"),
        b"#!/bin/sh\necho hello\n"
    );
    assert_eq!(
        std::fs::read_link(root.join("usr/bin/hi")).expect("symlink"),
        Path::new("hello")
    );
    let status =
        std::fs::read_to_string(root.join("var/lib/dpkg/status.d/hello")).expect("status.d entry");
    assert!(
        status.starts_with("Package: hello\nStatus: install ok installed\n"),
        "{status}"
    );
    assert!(root.join("var/lib/dpkg/status.d/hello.md5sums").is_file());
    for name in ["libc6", "mawk"] {
        assert!(root.join("var/lib/dpkg/status.d").join(name).is_file());
    }
    let layout = project.path().join("img");
    for file in ["oci-layout", "index.json"] {
        assert!(layout.join(file).is_file(), "{file}");
    }
    if have("skopeo") {
        let inspect = Command::new("skopeo")
            .arg("inspect")
            .arg(format!("oci:{}", layout.display()))
            .output()
            .expect("skopeo");
        assert!(
            inspect.status.success(),
            "{}",
            String::from_utf8_lossy(&inspect.stderr)
        );
        let json = String::from_utf8_lossy(&inspect.stdout);
        assert!(json.contains("\"Architecture\": \"amd64\""), "{json}");
    } else {
        eprintln!("skip: skopeo is not installed (cargo xtask test installs it)");
    }
    if have("umoci") {
        let bundle = project.path().join("bundle");
        let unpack = Command::new("umoci")
            .args(["unpack", "--rootless", "--image"])
            .arg(format!("{}:latest", layout.display()))
            .arg(&bundle)
            .output()
            .expect("umoci");
        assert!(
            unpack.status.success(),
            "{}",
            String::from_utf8_lossy(&unpack.stderr)
        );
        assert_eq!(
            std::fs::read(bundle.join("rootfs/usr/bin/hello")).expect("unpacked"),
            b"#!/bin/sh\necho hello\n"
        );
    } else {
        eprintln!("skip: umoci is not installed (cargo xtask test installs it)");
    }
    if have("oci-image-tool") {
        let validate = Command::new("oci-image-tool")
            .args(["validate", "--type", "image", "--ref", "name=latest"])
            .arg(&layout)
            .output()
            .expect("oci-image-tool");
        assert!(
            validate.status.success(),
            "{}{}",
            String::from_utf8_lossy(&validate.stdout),
            String::from_utf8_lossy(&validate.stderr)
        );
    }
}

#[test]
fn archive_formats_load_in_skopeo() {
    let repo = standard_repo();
    let project = locked(&repo, &["hello"]);
    for (format, transport) in [
        ("oci-archive", "oci-archive"),
        ("docker-archive", "docker-archive"),
    ] {
        let file = format!("image.{format}.tar");
        let out = project.run(&["build", "--format", format, "--output", &file]);
        assert!(out.status.success(), "{}", project.render(&out));
        assert!(project.path().join(&file).is_file());
        if have("skopeo") {
            let inspect = Command::new("skopeo")
                .arg("inspect")
                .arg(format!(
                    "{transport}:{}",
                    project.path().join(&file).display()
                ))
                .output()
                .expect("skopeo");
            assert!(
                inspect.status.success(),
                "{format}: {}",
                String::from_utf8_lossy(&inspect.stderr)
            );
        }
    }
}

#[test]
fn refuses_a_download_that_is_not_what_the_lock_says() {
    let repo = standard_repo();
    let project = locked(&repo, &["hello"]);
    let (path, sha) = locked_entry(&project, "hello");
    let served = repo.root().join(&path);
    let good = std::fs::read(&served).expect("pool file");

    // Same size, other bytes: a sha256 mismatch naming the package and both digests.
    let mut evil = good.clone();
    let last = evil.len() - 1;
    evil[last] ^= 0xff;
    std::fs::write(&served, &evil).expect("replace pool file");
    let out = project.run(&["build", "--output", "img"]);
    assert_eq!(out.status.code(), Some(1), "{}", project.render(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("sha256 mismatch for `hello 1.0-1 amd64`"),
        "{stderr}"
    );
    assert!(stderr.contains(&sha), "expected digest named: {stderr}");
    assert_eq!(stderr.lines().count(), 1, "one line: {stderr}");
    assert!(!project.path().join("img").exists(), "no image left behind");
    assert!(
        !project.cache.join("debs/sha256").join(&sha).exists(),
        "nothing unverified enters the cache"
    );

    // Truncated: a size mismatch.
    std::fs::write(&served, &good[..good.len() / 2]).expect("truncate pool file");
    let out = project.run(&["build", "--output", "img"]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("size mismatch for `hello"), "{stderr}");

    // Gone from the mirror, but a fallback mirror has it.
    std::fs::remove_file(&served).expect("remove pool file");
    let fallback = TestRepo::new();
    let fallback_file = fallback.root().join(&path);
    std::fs::create_dir_all(fallback_file.parent().expect("pool dir")).expect("mkdir");
    std::fs::write(&fallback_file, &good).expect("fallback copy");
    let out = project.run(&["build", "--output", "img", "--mirror", &fallback.url()]);
    assert!(out.status.success(), "{}", project.render(&out));

    // Offline from a warm cache works; from a cold one it lists what is missing.
    let out = project.run(&["build", "--offline", "--output", "img2"]);
    assert!(out.status.success(), "{}", project.render(&out));
    let cold = project
        .command(&["build", "--offline", "--output", "img3"])
        .env("DEBLESS_CACHE_DIR", project.path().join("empty-cache"))
        .output()
        .expect("run");
    assert_eq!(cold.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&cold.stderr);
    assert!(
        stderr.contains("not in the cache") && stderr.contains("hello 1.0-1 amd64"),
        "{stderr}"
    );
}

#[test]
fn refuses_hostile_and_clashing_packages() {
    let repo = TestRepo::new();
    crate::hermetic::publish_standard(&repo, PublishOptions::default());
    let mut evil = pkg("evil", "1.0", "amd64", &[]);
    evil.deb = evil.deb.raw_entry(
        "./../../etc/cron.d/evil",
        Kind::File(b"* * * * * root id\n".to_vec()),
        0o644,
    );
    evil.add_to(&repo, SUITE);
    let mut escape = pkg("escape", "1.0", "amd64", &[]);
    escape.deb = escape.deb.symlink("/usr/lib/up", "../../../..").raw_entry(
        "./usr/lib/up/tmp/owned",
        Kind::File(b"x".to_vec()),
        0o644,
    );
    escape.add_to(&repo, SUITE);
    repo.publish(SUITE, PublishOptions::default());

    let mut report = String::new();
    for packages in [&["evil"][..], &["escape"], &["clash-a", "clash-b"]] {
        let project = locked(&repo, packages);
        let out = project.run(&["build", "--output", "img", "--rootfs", "root"]);
        assert_eq!(out.status.code(), Some(1), "{}", project.render(&out));
        assert!(!project.path().join("img").exists(), "no image left behind");
        assert!(
            !project.path().join("root").exists(),
            "no rootfs left behind"
        );
        report.push_str(&project.filter(&String::from_utf8_lossy(&out.stderr)));
    }
    snapshot!("hostile_packages", report);
}

#[test]
fn two_builds_share_one_cold_cache() {
    let repo = standard_repo();
    let project = locked(&repo, &["hello", "tzdata"]);
    let spawn = |out: &str| {
        project
            .command(&["build", "--output", out])
            .env("SOURCE_DATE_EPOCH", "1700000000")
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("spawn debless")
    };
    let (first, second) = (spawn("one"), spawn("two"));
    let first = first.wait_with_output().expect("first build");
    let second = second.wait_with_output().expect("second build");
    assert!(first.status.success(), "{}", project.render(&first));
    assert!(second.status.success(), "{}", project.render(&second));
    assert_eq!(digest_of(&first), digest_of(&second));
    let entries: Vec<_> = std::fs::read_dir(project.cache.join("debs/sha256"))
        .expect("cache dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(entries.len(), 4, "hello, libc6, mawk, tzdata: {entries:?}");
    assert!(
        entries.iter().all(|e| !e.starts_with(".tmp")),
        "no temp files left"
    );
}

#[test]
fn verify_reproduces_the_recorded_digest_or_names_what_differs() {
    let repo = standard_repo();
    let project = locked(&repo, &["hello"]);
    let no_record = project.run(&["build", "--verify"]);
    assert_eq!(no_record.status.code(), Some(1), "nothing recorded yet");

    let first = project.run(&["build", "--record", "--output", "img"]);
    assert!(first.status.success(), "{}", project.render(&first));
    let lock = project.read("debless.lock");
    let digest = digest_of(&first);
    assert!(
        lock.contains(&format!("amd64 = \"{digest}\"")),
        "recorded: {lock}"
    );
    // A rebuild reproduces it, and recording again changes nothing.
    let again = project.run(&["build", "--verify"]);
    assert!(again.status.success(), "{}", project.render(&again));
    assert!(project.run(&["build", "--record"]).status.success());
    assert_eq!(project.read("debless.lock"), lock);
    // A re-lock that moves nothing keeps the recorded digests.
    assert!(project.run(&["lock", "--update"]).status.success());
    assert_eq!(project.read("debless.lock"), lock);

    // Another epoch: the layer differs, and with the recorded layout the files are named.
    let other_epoch = project
        .command(&["build", "--verify", "--output", "img"])
        .env("SOURCE_DATE_EPOCH", "1000000000")
        .output()
        .expect("run");
    assert_eq!(other_epoch.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&other_epoch.stderr);
    assert!(stderr.contains("layer 1 of 1 differs"), "{stderr}");
    assert!(
        stderr.contains("etc/ld.so.conf.d/x86_64-linux-gnu.conf (mtime 1700000000 -> 1000000000)"),
        "the file and its mtime change: {stderr}"
    );
    assert_eq!(
        digest_of(&project.run(&["build", "--verify", "--output", "img"])),
        digest,
        "a failed verify leaves the recorded layout alone"
    );

    // An edited [image] table: same layers, another config. Without the recorded layout the
    // config and the compression are both possible; with it, the layer blobs tell.
    let text = project.read("debless.toml");
    project.manifest(&format!("{text}\n[image]\nworkdir = \"/tmp\"\n"));
    let edited = project.run(&["build", "--verify"]);
    assert_eq!(edited.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&edited.stderr);
    assert!(
        stderr.contains("every layer holds the recorded files, so the image config differs (the [image] table or SOURCE_DATE_EPOCH) or the layers compress to other bytes"),
        "{stderr}"
    );
    let edited = project.run(&["build", "--verify", "--output", "img"]);
    assert_eq!(edited.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&edited.stderr);
    assert!(
        stderr.contains("every layer is identical, so the image config differs"),
        "{stderr}"
    );
    assert_eq!(project.read("debless.lock"), lock, "--verify never records");

    // Regression: same files, other compressed bytes (another `compression`, as a debless
    // whose compressor changed gives) was reported as a config change.
    project.manifest(&format!("{text}\n[image]\ncompression = \"zstd\"\n"));
    let recompressed = project.run(&["build", "--verify", "--output", "img"]);
    assert_eq!(recompressed.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&recompressed.stderr);
    assert!(
        stderr.contains("every layer holds the recorded files but compresses to other bytes"),
        "{stderr}"
    );
    assert!(!stderr.contains("config differs"), "{stderr}");
}

/// Issue case 2: a plain build never writes debless.lock. A build whose digest differs from
/// the recorded one warns naming the architecture and layer, `--verify` fails, and only
/// `--record` moves the reference.
#[test]
fn a_plain_build_never_rewrites_the_recorded_digest() {
    let repo = standard_repo();
    let project = locked(&repo, &["hello"]);
    let unrecorded = project.read("debless.lock");
    let plain = project.run(&["build", "--output", "img"]);
    assert!(plain.status.success(), "{}", project.render(&plain));
    assert_eq!(
        project.read("debless.lock"),
        unrecorded,
        "no digests recorded"
    );
    assert!(!unrecorded.contains("[image.digest]"), "{unrecorded}");

    let recorded_run = project.run(&["build", "--record"]);
    assert!(
        recorded_run.status.success(),
        "{}",
        project.render(&recorded_run)
    );
    let lock = project.read("debless.lock");
    let digest = digest_of(&plain);
    assert!(lock.contains(&format!("amd64 = \"{digest}\"")), "{lock}");

    // Another SOURCE_DATE_EPOCH: a warning naming the layer, exit 0, the lock untouched.
    let other_epoch = project
        .command(&["build"])
        .env("SOURCE_DATE_EPOCH", "1000000000")
        .output()
        .expect("run");
    assert!(
        other_epoch.status.success(),
        "{}",
        project.render(&other_epoch)
    );
    let stderr = String::from_utf8_lossy(&other_epoch.stderr);
    assert!(
        stderr.contains("warning: the image differs from the digests")
            && stderr.contains("amd64: manifest")
            && stderr.contains("layer 1 of 1 differs (recorded sha256:"),
        "{stderr}"
    );
    assert_eq!(
        project.read("debless.lock"),
        lock,
        "a plain build never records"
    );
    let verify = project
        .command(&["build", "--verify"])
        .env("SOURCE_DATE_EPOCH", "1000000000")
        .output()
        .expect("run");
    assert_eq!(verify.status.code(), Some(1), "{}", project.render(&verify));

    // A changed [image]: same layers, another config; warned, not recorded.
    let text = project.read("debless.toml");
    project.manifest(&format!("{text}\n[image]\nworkdir = \"/tmp\"\n"));
    let edited = project.run(&["build"]);
    assert!(edited.status.success(), "{}", project.render(&edited));
    let stderr = String::from_utf8_lossy(&edited.stderr);
    assert!(stderr.contains("the image config differs"), "{stderr}");
    assert_eq!(project.read("debless.lock"), lock);
    assert_eq!(project.run(&["build", "--verify"]).status.code(), Some(1));
    // Recording is explicit, and then verify passes.
    assert!(project.run(&["build", "--record"]).status.success());
    assert_ne!(project.read("debless.lock"), lock);
    assert!(project.run(&["build", "--verify"]).status.success());
}

/// Issue case 8: the default epoch follows the packages, not the Release `Date`, so a re-lock
/// against a re-signed Release that moves no package keeps the image digest.
#[test]
fn a_relock_that_moves_no_package_keeps_the_image_digest() {
    // Signed two days ago first, so the re-signed Release is not from the future.
    let repo = TestRepo::new();
    let now = crate::support::signed_repo::unix_now();
    crate::hermetic::publish_standard(
        &repo,
        PublishOptions {
            date: now - 2 * 86_400,
            valid_until: Some(now + 7 * 86_400),
            ..PublishOptions::default()
        },
    );
    let project = locked(&repo, &["hello"]);
    let first = project.run(&["build", "--record", "--output", "a"]);
    assert!(first.status.success(), "{}", project.render(&first));
    let digest = digest_of(&first);
    let before = project.read("debless.lock");

    // The same packages, signed again today.
    repo.publish(SUITE, PublishOptions::default());
    let relock = project.run(&["lock"]);
    assert!(relock.status.success(), "{}", project.render(&relock));
    let after = project.read("debless.lock");
    assert_ne!(after, before, "the lock records the new Release");
    let again = project.run(&["build", "--verify", "--output", "b"]);
    assert!(again.status.success(), "{}", project.render(&again));
    assert_eq!(digest_of(&again), digest, "same packages, same image");
}

/// Issue case 9: bad destinations fail before any download, naming the path as given.
#[test]
fn bad_output_destinations_fail_before_any_download() {
    let repo = standard_repo();
    let project = locked(&repo, &["hello"]);
    let requests = repo.requests().len();
    let fails = |args: &[&str], needle: &str| {
        let out = project.run(args);
        assert_eq!(out.status.code(), Some(1), "{}", project.render(&out));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(needle), "{args:?}: {stderr}");
        assert!(!stderr.contains(".debless-"), "no temporary path: {stderr}");
    };
    std::fs::write(project.path().join("file"), "not a layout").expect("write");
    fails(
        &["build", "--output", "file"],
        "--output `file` exists and is not an OCI layout",
    );
    fails(
        &["build", "--output", "missing/dir/img"],
        "--output `missing/dir/img`: the directory `missing/dir` does not exist",
    );
    fails(
        &["build", "--format", "oci-archive", "--output", "file"],
        "--output `file` already exists",
    );
    fails(
        &["build", "--rootfs", "missing/root"],
        "--rootfs `missing/root`: the directory `missing` does not exist",
    );
    // A place nobody can create files in (even root: /proc refuses new entries).
    fails(
        &["build", "--output", "/proc/debless-img"],
        "--output `/proc/debless-img`: cannot create files in `/proc`",
    );
    assert_eq!(repo.requests().len(), requests, "nothing was downloaded");
    let forced = project.run(&[
        "build",
        "--format",
        "oci-archive",
        "--output",
        "file",
        "--force",
    ]);
    assert!(forced.status.success(), "{}", project.render(&forced));
}
