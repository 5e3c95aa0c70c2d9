//! Live tests against the host's Debian mirror: the checked-in examples under `lockfiles/`
//! lock and build as a user would run them, closures agree with apt, images run.
//! Each test skips (with a message) when no mirror answers.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

use crate::support::apt::apt_closure;
use crate::support::chroot::{self, is_root};
use crate::support::context::TestContext;
use crate::support::live::{self, build_example, build_example_output, example};

/// Copies a checked-in example (manifest and lock) into the test's project directory, so
/// commands that write the lock never touch the checked-in files.
fn locked_names(lock: &str) -> BTreeSet<String> {
    lock.lines()
        .filter_map(|l| l.strip_prefix("name = \""))
        .map(|n| n.trim_end_matches('"').to_owned())
        .collect()
}

#[test]
fn checked_in_locks_match_their_manifests() {
    // Offline and instant: `lock --check` only compares the manifest with the lock.
    let context = TestContext::new();
    let mut checked = 0;
    for entry in std::fs::read_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("lockfiles"))
        .expect("lockfiles/ exists")
    {
        let dir = entry.expect("entry").path();
        let manifest = dir.join("debless.toml");
        let out = context.run(&[
            "--manifest",
            manifest.to_str().expect("utf-8"),
            "lock",
            "--check",
        ]);
        assert!(
            out.status.success(),
            "{}: {}",
            dir.display(),
            String::from_utf8_lossy(&out.stderr)
        );
        checked += 1;
    }
    assert!(checked >= 3, "the examples are checked in");
}

/// Locks `roots` on one suite (main, amd64) with debless and with apt; the sets must agree.
fn assert_closure_matches_apt(suite: &str, roots: &[&str]) {
    let Some(mirrors) = live::mirror() else {
        return;
    };
    let context = TestContext::new();
    let list: Vec<String> = roots.iter().map(|r| format!("\"{r}\"")).collect();
    context.manifest(&format!(
        "architectures = [\"amd64\"]\npackages = [{}]\n\n[[source]]\nsuite = \"{suite}\"\n",
        list.join(", ")
    ));
    let out = context.run(&["lock"]);
    assert!(out.status.success(), "{}", context.render(&out));
    let lock = context.read("debless.lock");
    // The real Debian archive keys signed what was locked.
    let archive_keys = [
        "B8B80B5B623EAB6AD8775C45B7C5D7D6350947F8",
        "04B54C3CDCA79751B16BC6B5225629DF75B188BD",
    ];
    assert!(
        archive_keys.iter().any(|k| lock.contains(k)),
        "signed-by names a Debian archive key: {lock}"
    );
    let ours = locked_names(&lock);
    let apt = match apt_closure(&mirrors.debian, &[suite], "amd64", roots) {
        Ok(set) => set,
        Err(err) => {
            eprintln!("skipping apt comparison: {err}");
            return;
        }
    };
    let only_ours: Vec<_> = ours.difference(&apt).collect();
    let only_apt: Vec<_> = apt.difference(&ours).collect();
    assert!(
        only_ours.is_empty() && only_apt.is_empty(),
        "{suite} {roots:?}: only debless {only_ours:?}, only apt {only_apt:?}"
    );
}

#[test]
fn lock_command_agrees_with_apt_on_bookworm() {
    assert_closure_matches_apt("bookworm", &["libc6", "libgmp10", "tzdata"]);
    assert_closure_matches_apt("bookworm", &["python3"]);
}

#[test]
fn lock_command_agrees_with_apt_on_trixie() {
    assert_closure_matches_apt("trixie", &["libc6", "libgmp10", "tzdata"]);
    assert_closure_matches_apt("trixie", &["python3"]);
}

#[test]
fn expired_sid_is_refused() {
    if live::mirror().is_none() {
        return;
    }
    let context = TestContext::new();
    context.manifest("packages = [\"libc6\"]\n[[source]]\nsuite = \"sid\"\n");
    let out = context.run(&["lock"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    if out.status.success() {
        eprintln!("note: the mirror's sid is fresh today; nothing to refuse");
        return;
    }
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("sid") && stderr.contains("expired"),
        "{stderr}"
    );
    assert!(!context.path().join("debless.lock").exists());
}

#[test]
fn checked_in_example_reproduces_its_recorded_digest() {
    // The lock records the digest its build made when it was checked in: the golden digest.
    let context = TestContext::new();
    let Some(digest) = build_example(&context, "bookworm-gmp", &["--verify"]) else {
        return;
    };
    assert!(
        digest.is_empty(),
        "no --output, no digest on stdout: {digest}"
    );
    let lock = context.read("debless.lock");
    assert!(
        lock.contains(
            "amd64 = \"sha256:c81698845b9ebaacf35b93cf6dce24e6b80bbaba297cf7b69921ba421091d498\""
        ),
        "the golden digest is recorded: {lock}"
    );
}

/// Runs `python3 -c` inside a root filesystem with chroot (the image's own loader and
/// libraries run).
fn run_python(rootfs: &Path, code: &str) -> String {
    chroot::run(rootfs, None, &["/usr/bin/python3", "-c", code])
}

#[test]
fn bookworm_python3_image_runs_and_matches_dpkg_deb() {
    let context = TestContext::new();
    let image = context.path().join("img");
    let rootfs = context.path().join("rootfs");
    let Some(_digest) = build_example(
        &context,
        "bookworm-python3",
        &[
            "--output",
            image.to_str().expect("utf-8"),
            "--rootfs",
            rootfs.to_str().expect("utf-8"),
        ],
    ) else {
        return;
    };
    // The image layout is valid for the OCI tools.
    for (tool, args) in [
        (
            "oci-image-tool",
            vec!["validate", "--type", "image", "--ref", "name=latest"],
        ),
        ("skopeo", vec!["inspect"]),
    ] {
        let target = if tool == "skopeo" {
            format!("oci:{}", image.display())
        } else {
            image.display().to_string()
        };
        match Command::new(tool).args(&args).arg(&target).output() {
            Ok(out) => assert!(
                out.status.success(),
                "{tool}: {}",
                String::from_utf8_lossy(&out.stderr)
            ),
            Err(_) => eprintln!("skip {tool}: not installed (cargo xtask test installs it)"),
        }
    }
    // umoci unpacks the layers the way a runtime would; python3 runs from them.
    let bundle = context.path().join("bundle");
    match Command::new("umoci")
        .args(["unpack", "--image"])
        .arg(format!("{}:latest", image.display()))
        .arg(&bundle)
        .output()
    {
        Ok(out) => {
            assert!(
                out.status.success(),
                "umoci: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            if is_root() {
                assert_eq!(run_python(&bundle.join("rootfs"), "print(1)"), "1\n");
            }
        }
        Err(_) => eprintln!("skip umoci: not installed"),
    }
    if is_root() {
        assert_eq!(
            run_python(&rootfs, "import json, ssl, sqlite3; print(json.dumps([1]))"),
            "[1]\n"
        );
    } else {
        eprintln!("skip running python3: chroot needs root");
    }
    // Every cached .deb extracted by dpkg-deb gives the same tree.
    let reference = context.path().join("reference");
    std::fs::create_dir(&reference).expect("mkdir");
    let lock = std::fs::read_to_string(example("bookworm-python3").join("debless.lock"))
        .expect("checked-in lock");
    let mut count = 0;
    for sha in lock.lines().filter_map(|l| l.strip_prefix("sha256 = \"")) {
        let deb = context
            .cache
            .join("debs/sha256")
            .join(sha.trim_end_matches('"'));
        let status = Command::new("dpkg-deb")
            .arg("-x")
            .arg(&deb)
            .arg(&reference)
            .status()
            .expect("dpkg-deb");
        assert!(status.success());
        count += 1;
    }
    assert!(count > 30, "python3's closure");
    let ours = crate::support::tree::walk(&rootfs);
    let theirs = crate::support::tree::walk(&reference);
    // Besides status.d, debless writes what maintainer scripts would (rootfs::essentials).
    let generated = [
        "etc/passwd",
        "etc/group",
        "etc/nsswitch.conf",
        "etc/os-release",
        "etc/localtime",
        "etc/timezone",
        "etc/ssl/certs/ca-certificates.crt",
        "home",
        "home/nonroot",
        "root",
        "tmp",
    ];
    // update-alternatives' links (tar registers rmt): `/etc/alternatives/NAME` and the link
    // to it, which dpkg-deb -x does not make; each must point into /etc/alternatives.
    let alternative_link = |path: &str| {
        path.starts_with("etc/alternatives/")
            || ours
                .get(path)
                .is_some_and(|kind| kind.starts_with("l -> /etc/alternatives/"))
                && !theirs.contains_key(path)
    };
    let differences = crate::support::tree::differences(&ours, &theirs, |path| {
        path.starts_with("var/lib/dpkg/status.d")
            || generated.contains(&path)
            || alternative_link(path)
    });
    assert!(
        ours.keys().any(|path| path == "usr/sbin/rmt"),
        "tar's rmt alternative is linked"
    );
    assert!(
        differences.is_empty(),
        "differences from dpkg-deb -x:\n{}",
        differences.join("\n")
    );
}

#[test]
fn trixie_python3_image_is_merged_usr_and_runs() {
    let context = TestContext::new();
    let rootfs = context.path().join("rootfs");
    let Some(_digest) = build_example(
        &context,
        "trixie-python3",
        &["--rootfs", rootfs.to_str().expect("utf-8")],
    ) else {
        return;
    };
    for (link, target) in [("bin", "usr/bin"), ("lib", "usr/lib"), ("sbin", "usr/sbin")] {
        assert_eq!(
            std::fs::read_link(rootfs.join(link)).expect("merged-usr link"),
            Path::new(target)
        );
    }
    // No base-files in the set: merged /usr comes from the release (trixie's libc6 ships the
    // loader only as /usr/lib64/ld-linux-x86-64.so.2).
    assert!(
        !context
            .read("debless.lock")
            .contains("name = \"base-files\"")
    );
    if is_root() {
        let out = chroot::run(
            &rootfs,
            Some("65532:65532"),
            &[
                "/usr/bin/python3",
                "-c",
                "import ssl, gmpy2; print(gmpy2.mpz(2) ** 64)",
            ],
        );
        assert_eq!(out, "18446744073709551616\n");
    } else {
        eprintln!("skipping the run of the trixie image: chroot needs root");
    }
}

/// A fresh user's trixie manifest (no base-files, as `debless init` leaves room for): it
/// locks, builds with the check on and its loader is at `/lib64` through the merged links.
#[test]
fn trixie_without_base_files_builds_with_the_check_on() {
    if live::mirror().is_none() {
        return;
    }
    let context = TestContext::new();
    context.manifest(
        "architectures = [\"amd64\"]\npackages = [\"libc6\", \"dash\"]\n\n[[source]]\nsuite = \"trixie\"\n\n[image]\nentrypoint = [\"/bin/sh\", \"-c\"]\n",
    );
    let lock = context.run(&["lock"]);
    assert!(lock.status.success(), "{}", context.render(&lock));
    let rootfs = context.path().join("rootfs");
    let build = context.run(&["build", "--rootfs", rootfs.to_str().expect("utf-8")]);
    assert!(build.status.success(), "{}", context.render(&build));
    assert_eq!(
        std::fs::read_link(rootfs.join("lib64")).expect("merged-usr link"),
        Path::new("usr/lib64")
    );
    if is_root() {
        let out = chroot::run(&rootfs, Some("65532:65532"), &["/bin/sh", "-c", "echo ok"]);
        assert_eq!(out, "ok\n");
    }
}

#[test]
fn daily_relock_pipeline_on_bookworm() {
    if live::mirror().is_none() {
        return;
    }
    let context = TestContext::new();
    let suites = |names: &[&str]| {
        let mut text = String::from("architectures = [\"amd64\"]\npackages = [\"python3\"]\n");
        for suite in names {
            text.push_str(&format!("\n[[source]]\nsuite = \"{suite}\"\n"));
        }
        text
    };
    context.manifest(&suites(&["bookworm"]));
    context.lock_and_keep_as_old();

    // Adding the point-release and security suites keeps the pins (Cargo's rule) until
    // `--update` moves packages forward.
    context.manifest(&suites(&[
        "bookworm",
        "bookworm-updates",
        "bookworm-security",
    ]));
    assert!(context.run(&["lock"]).status.success());
    let kept = context.run(&["diff", "old.lock", "debless.lock"]);
    assert!(String::from_utf8_lossy(&kept.stdout).contains("no changes"));
    let relock = context.run(&["lock", "--update", "--json"]);
    assert!(relock.status.success(), "{}", context.render(&relock));
    let summary: serde_json::Value =
        serde_json::from_slice(&relock.stdout).expect("lock --json is JSON");
    assert_eq!(summary["changed"], true);
    let diff = context.run(&["diff", "old.lock", "debless.lock", "--format", "json"]);
    let diff: serde_json::Value = serde_json::from_slice(&diff.stdout).expect("diff JSON");
    assert!(
        diff["counts"]["upgraded"].as_u64().unwrap_or(0) > 0,
        "security and point updates upgrade packages: {diff}"
    );
    let text = context.run(&["diff", "old.lock", "debless.lock"]);
    let text = String::from_utf8_lossy(&text.stdout);
    if diff["counts"]["security"].as_u64().unwrap_or(0) > 0 {
        assert!(text.contains("[security]"), "{text}");
    }

    // why libc6: from the root python3 down to libc6.
    let why = context.run(&["why", "libc6"]);
    let why = String::from_utf8_lossy(&why.stdout);
    let first = why.lines().next().unwrap_or_default();
    assert!(
        first.starts_with("python3 -> ") && first.ends_with(" -> libc6"),
        "{why}"
    );

    // build --record records the digest; a rebuild verifies; another epoch fails naming the
    // layer.
    let image = context.path().join("img");
    let image = image.to_str().expect("utf-8");
    let built = context.run(&["build", "--record", "--output", image]);
    assert!(built.status.success(), "{}", context.render(&built));
    assert!(context.run(&["build", "--verify"]).status.success());
    let other = context
        .command(&["build", "--verify", "--output", image])
        .env("SOURCE_DATE_EPOCH", "1000000000")
        .output()
        .expect("run");
    assert_eq!(other.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&other.stderr);
    assert!(stderr.contains("layer 1 of 1 differs: "), "{stderr}");
    assert!(
        stderr.contains("(mtime ") && stderr.contains(" -> 1000000000)"),
        "files are named with what changed: {stderr}"
    );
}

#[test]
fn stripped_python3_is_smaller_and_still_runs() {
    let context = TestContext::new();
    let full = context.path().join("full");
    let Some(_) = build_example(
        &context,
        "bookworm-python3",
        &["--output", full.to_str().expect("utf-8")],
    ) else {
        return;
    };
    let manifest = context.read("debless.toml");
    context.manifest(&manifest.replace("[image]\n", "[image]\nstrip = \"docs\"\n"));
    let rootfs = context.path().join("rootfs");
    let stripped = context.run(&[
        "build",
        "--json",
        "--rootfs",
        rootfs.to_str().expect("utf-8"),
        "--output",
        "stripped",
    ]);
    assert!(stripped.status.success(), "{}", context.render(&stripped));
    let again = context.run(&["build", "--json"]);
    let summary: serde_json::Value = serde_json::from_slice(&stripped.stdout).expect("JSON");
    let again: serde_json::Value = serde_json::from_slice(&again.stdout).expect("JSON");
    assert_eq!(
        summary["images"], again["images"],
        "stripped image digests are stable"
    );
    let stripped_size = summary["images"][0]["layers"][0]["size"]
        .as_u64()
        .expect("size");
    let full_size: u64 = std::fs::read_dir(full.join("blobs/sha256"))
        .expect("blobs")
        .map(|e| e.expect("entry").metadata().expect("meta").len())
        .max()
        .expect("a layer blob");
    assert!(stripped_size < full_size, "{stripped_size} < {full_size}");
    assert!(
        rootfs.join("usr/share/doc/libc6/copyright").is_file(),
        "licenses stay"
    );
    assert!(
        !rootfs
            .join("usr/share/doc/libc6/changelog.Debian.gz")
            .exists()
    );
    assert!(
        !rootfs
            .join("usr/share/man")
            .read_dir()
            .is_ok_and(|mut d| d.next().is_some())
    );
    if is_root() {
        assert_eq!(run_python(&rootfs, "import json, ssl; print('ok')"), "ok\n");
    }
    // Scanners still see every package, with no error about the filtered files.
    if let Some(report) = crate::support::syft::scan(context.path(), "oci-dir:stripped") {
        assert_eq!(
            crate::support::syft::deb_packages(&report),
            crate::support::syft::locked(&context.read("debless.lock"))
        );
    }
}

/// `debless init --suite trixie` writes a manifest that locks and builds with the check on
/// (before merged /usr followed the release, its split tree lacked the loader).
#[test]
fn init_manifest_for_trixie_locks_and_builds() {
    if live::mirror().is_none() {
        return;
    }
    let context = TestContext::new();
    for command in [
        &["init", "--suite", "trixie"][..],
        &["lock"],
        &["build", "--output", "img"],
    ] {
        let out = context.run(command);
        assert!(out.status.success(), "{}", context.render(&out));
    }
}

/// `lockfiles/distroless-java17`: the JRE builds with the check on (libjvm.so is only a
/// warning), `/usr/bin/java` comes from the JRE's .jinfo, and it runs as nonroot. The java
/// launcher finds libjli.so through `$ORIGIN`, which glibc reads from /proc/self/exe: /proc
/// is mounted in the chroot for the run, as a container runtime would.
#[test]
fn distroless_java17_builds_with_the_check_on_and_java_runs() {
    let context = TestContext::new();
    let rootfs = context.path().join("rootfs");
    let Some(_digest) = build_example(
        &context,
        "distroless-java17",
        &["--rootfs", rootfs.to_str().expect("utf-8")],
    ) else {
        return;
    };
    assert_eq!(
        std::fs::read_link(rootfs.join("usr/bin/java")).expect("java link"),
        Path::new("/etc/alternatives/java")
    );
    let Some(out) = java_version(&rootfs) else {
        return;
    };
    assert!(
        out.status.success()
            && String::from_utf8_lossy(&out.stderr).contains("openjdk version \"17"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Runs `/usr/bin/java -version` in `rootfs` as nonroot (65532), with /proc mounted for the
/// run; `None` (skip, with the reason printed) when not root or /proc cannot be mounted.
fn java_version(rootfs: &Path) -> Option<std::process::Output> {
    if !is_root() {
        eprintln!("skipping the run of the java image: chroot needs root");
        return None;
    }
    let proc_dir = rootfs.join("proc");
    std::fs::create_dir_all(&proc_dir).expect("mkdir proc");
    let mounted = Command::new("mount")
        .args(["-t", "proc", "proc"])
        .arg(&proc_dir)
        .status()
        .is_ok_and(|s| s.success());
    if !mounted {
        eprintln!("skipping the run of the java image: cannot mount /proc");
        return None;
    }
    let out = chroot::output(rootfs, Some("65532:65532"), &["/usr/bin/java", "-version"]);
    let _ = Command::new("umount").arg(&proc_dir).status();
    Some(out)
}

/// `lockfiles/trixie-java21`: trixie's JRE only recommends the sound and font libraries its
/// `libjsound.so` and `libfontmanager.so` need, so the build with the check on warns about
/// them, naming the package, and succeeds with the recorded digest; `java` runs as nonroot.
#[test]
fn trixie_java21_builds_with_recommends_as_warnings_and_java_runs() {
    let context = TestContext::new();
    let rootfs = context.path().join("rootfs");
    let Some(out) = build_example_output(
        &context,
        "trixie-java21",
        &["--verify", "--rootfs", rootfs.to_str().expect("utf-8")],
    ) else {
        return;
    };
    let stderr = String::from_utf8_lossy(&out.stderr);
    for (soname, user, provider) in [
        ("libasound.so.2", "libjsound.so", "libasound2t64"),
        ("libfreetype.so.6", "libfontmanager.so", "libfreetype6"),
        ("libharfbuzz.so.0", "libfontmanager.so", "libharfbuzz0b"),
    ] {
        let line = stderr
            .lines()
            .find(|l| l.starts_with(&format!("Warning: amd64: `{soname}` needed by")))
            .unwrap_or_else(|| panic!("a warning for {soname}: {stderr}"));
        assert!(
            line.contains(&format!("/lib/{user}`"))
                && line.ends_with(&format!(
                    "not in the image; openjdk-21-jre-headless only recommends {provider} (an optional feature; add it to `packages` if you need it)"
                )),
            "{line}"
        );
    }
    let Some(out) = java_version(&rootfs) else {
        return;
    };
    assert!(
        out.status.success()
            && String::from_utf8_lossy(&out.stderr).contains("openjdk version \"21"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
