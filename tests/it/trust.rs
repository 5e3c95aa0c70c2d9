//! What `debless build` trusts, as regression tests: every cached input is verified where it
//! is used, each `.deb` is the package the lock names, the lock proves itself unedited, files
//! follow the umask, interrupts leave no temporaries, and a lock builds after the mirror has
//! dropped its packages (from a snapshot archive). All hermetic: the signed test archive and
//! small HTTP servers on 127.0.0.1.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use crate::hermetic::{SUITE, pkg, project, standard_repo};
use crate::support::context::TestContext;
use crate::support::debs::Comp;
use crate::support::signed_repo::{PublishOptions, TestRepo};

/// A repository with `victim`, whose `.deb` is uncompressed so a test can change file bytes
/// and keep a valid archive of the same size.
fn victim_repo(payload_len: usize) -> TestRepo {
    let repo = TestRepo::new();
    let mut payload = b"good program!".to_vec();
    // Incompressible filler (the .deb is uncompressed anyway) to make downloads take time.
    let mut x: u32 = 0x9e37_79b9;
    payload.extend((0..payload_len).map(|_| {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        x.to_le_bytes()[0]
    }));
    let mut victim = pkg("victim", "1.0", "amd64", &[]).file("/usr/bin/victim", &payload, 0o755);
    victim.deb = victim.deb.compression(Comp::None);
    victim.add_to(&repo, SUITE);
    repo.publish(SUITE, PublishOptions::default());
    repo
}

fn locked(repo: &TestRepo, packages: &[&str]) -> TestContext {
    let project = project(repo, packages);
    let out = project.run(&["lock"]);
    assert!(out.status.success(), "{}", project.render(&out));
    project
}

fn locked_sha(project: &TestContext, name: &str) -> String {
    let lock = debless::lock::Lock::load(&project.path().join("debless.lock"))
        .expect("lock reads")
        .expect("lock exists");
    lock.packages
        .iter()
        .find(|p| p.name == name)
        .map(|p| p.sha256.clone())
        .unwrap_or_else(|| panic!("{name} is locked"))
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn replace_once(bytes: &mut [u8], from: &[u8], to: &[u8]) {
    let at = bytes
        .windows(from.len())
        .position(|w| w == from)
        .expect("pattern present");
    bytes[at..at + to.len()].copy_from_slice(to);
}

#[test]
fn issue_12_case_1_a_same_size_tampered_cached_deb_is_never_built() {
    let repo = victim_repo(0);
    let project = locked(&repo, &["victim"]);
    let first = project.run(&["build", "--output", "a"]);
    assert!(first.status.success(), "{}", project.render(&first));
    let entry = project
        .cache
        .join("debs/sha256")
        .join(locked_sha(&project, "victim"));
    let good = std::fs::read(&entry).expect("cached");
    let mut evil = good.clone();
    replace_once(&mut evil, b"good program!", b"evil program!");
    assert_eq!(evil.len(), good.len(), "same size");
    std::fs::write(&entry, &evil).expect("tamper with the cache");

    // Offline: nothing to replace it with, so a clear error naming the file and the package.
    let out = project.run(&["build", "--offline", "--output", "b"]);
    assert_eq!(out.status.code(), Some(1), "{}", project.render(&out));
    let err = stderr(&out);
    assert!(err.contains(&entry.display().to_string()), "{err}");
    assert!(err.contains("victim 1.0 amd64"), "{err}");
    assert!(!project.path().join("b").exists());

    // Online: evicted, fetched again, and the image is the first one.
    let out = project.run(&["build", "--output", "c"]);
    assert!(out.status.success(), "{}", project.render(&out));
    assert!(
        stderr(&out).contains("did not match its sha256"),
        "{}",
        stderr(&out)
    );
    assert_eq!(
        out.stdout, first.stdout,
        "same image as before the tampering"
    );
    assert_eq!(std::fs::read(&entry).expect("cached"), good);
}

#[test]
fn issue_12_case_3_a_flipped_byte_in_the_cache_is_replaced() {
    let repo = standard_repo();
    let project = locked(&repo, &["hello"]);
    let first = project.run(&["build", "--output", "a"]);
    assert!(first.status.success(), "{}", project.render(&first));
    let entry = project
        .cache
        .join("debs/sha256")
        .join(locked_sha(&project, "hello"));
    let mut bytes = std::fs::read(&entry).expect("cached");
    let middle = bytes.len() * 3 / 4;
    bytes[middle] ^= 0x01;
    std::fs::write(&entry, &bytes).expect("flip a byte");
    for attempt in ["b", "c"] {
        let out = project.run(&["build", "--output", attempt]);
        assert!(out.status.success(), "{}", project.render(&out));
        assert_eq!(out.stdout, first.stdout);
    }
}

#[test]
fn issue_12_case_4_a_truncated_or_edited_lock_is_refused_everywhere() {
    let repo = standard_repo();
    let project = locked(&repo, &["hello"]);
    let good = project.read("debless.lock");
    let refused = |what: &str| {
        for args in [
            &["lock", "--check"][..],
            &["build", "--output", "img"],
            &["build", "--no-check", "--output", "img"],
            &["why", "libc6"],
        ] {
            let out = project.run(args);
            assert_ne!(out.status.code(), Some(0), "{what}: {args:?} passed");
            let err = stderr(&out);
            assert!(
                err.contains("debless.lock` was edited or damaged")
                    && err.contains("run `debless lock`"),
                "{what}: {args:?}: {err}"
            );
        }
        assert!(!project.path().join("img").exists());
    };
    let cut = &good[..good.rfind("\n[[package]]").expect("packages")];
    std::fs::write(project.path().join("debless.lock"), cut).expect("truncate");
    refused("truncated at a [[package]] boundary");
    let edited = good.replacen("size = ", "size = 1", 1);
    std::fs::write(project.path().join("debless.lock"), edited).expect("edit");
    refused("size edited");
    // `debless lock` repairs it.
    let out = project.run(&["lock"]);
    assert!(out.status.success(), "{}", project.render(&out));
    assert_eq!(project.read("debless.lock"), good);
    assert!(project.run(&["lock", "--check"]).status.success());
}

#[test]
fn issue_12_case_5_a_lock_entry_must_name_the_deb_it_pins() {
    let repo = standard_repo();
    let project = locked(&repo, &["hello"]);
    // A consistent lock (checksum recomputed) that relabels hello: only the .deb can tell.
    let path = project.path().join("debless.lock");
    let mut lock = debless::lock::Lock::load(&path)
        .expect("reads")
        .expect("exists");
    for p in lock.packages.iter_mut().filter(|p| p.name == "hello") {
        p.version = debless::debian::Version::parse("1.0-9").expect("version");
    }
    std::fs::write(&path, lock.render()).expect("write");
    let out = project.run(&["build", "--sbom", "spdx", "--output", "img"]);
    assert_eq!(out.status.code(), Some(1), "{}", project.render(&out));
    let err = stderr(&out);
    assert!(
        err.contains("Version `1.0-1`") && err.contains("the lock says `1.0-9`"),
        "{err}"
    );
    assert!(!project.path().join("img").exists());
    assert!(!project.path().join("img.spdx.json").exists(), "no SBOM");
}

#[cfg(unix)]
#[test]
fn issue_12_case_6_files_follow_the_umask() {
    use std::os::unix::fs::PermissionsExt as _;
    let repo = standard_repo();
    let project = project(&repo, &["hello"]);
    let script = format!(
        "umask 022 && {bin} lock && {bin} build --sbom spdx --output img && \
         {bin} build --format oci-archive --output img.tar",
        bin = env!("CARGO_BIN_EXE_debless")
    );
    let out = Command::new("sh")
        .args(["-c", &script])
        .current_dir(project.path())
        .env("DEBLESS_CACHE_DIR", &project.cache)
        .env_remove("SOURCE_DATE_EPOCH")
        .output()
        .expect("run");
    assert!(out.status.success(), "{}", project.render(&out));
    let mode = |path: &Path| {
        std::fs::metadata(path)
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
            .permissions()
            .mode()
            & 0o777
    };
    let mut files = vec![
        project.path().join("debless.lock"),
        project.path().join("img/index.json"),
        project.path().join("img/oci-layout"),
        project.path().join("img.tar"),
        project.path().join("img.spdx.json"),
    ];
    let dirs = [
        project.path().join("img"),
        project.path().join("img/blobs"),
        project.path().join("img/blobs/sha256"),
    ];
    for dir in ["img/blobs/sha256", "debs/sha256"] {
        let base = if dir.starts_with("img") {
            project.path().to_path_buf()
        } else {
            project.cache.clone()
        };
        for entry in std::fs::read_dir(base.join(dir)).expect("list") {
            files.push(entry.expect("entry").path());
        }
    }
    for entry in walk(&project.cache) {
        if entry.is_file() {
            files.push(entry);
        }
    }
    for file in &files {
        assert_eq!(mode(file), 0o644, "{}", file.display());
    }
    for dir in &dirs {
        assert_eq!(mode(dir), 0o755, "{}", dir.display());
    }
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(walk(&path));
        }
        out.push(path);
    }
    out
}

/// Serves files from `root` on 127.0.0.1; pool files trickle out `chunk` bytes per 10 ms.
/// Returns the base URL. The thread lives as long as the test process.
fn slow_server(root: PathBuf, chunk: usize) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let root = root.clone();
            std::thread::spawn(move || {
                let mut reader = BufReader::new(stream.try_clone().expect("clone"));
                let mut line = String::new();
                if reader.read_line(&mut line).is_err() {
                    return;
                }
                let path = line.split_whitespace().nth(1).unwrap_or("/").to_owned();
                loop {
                    let mut header = String::new();
                    if reader.read_line(&mut header).map_or(true, |n| n == 0) || header == "\r\n" {
                        break;
                    }
                }
                let mut stream = stream;
                let file = root.join(path.trim_start_matches('/'));
                let Ok(body) = std::fs::read(&file) else {
                    let _ = stream.write_all(
                        b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                    );
                    return;
                };
                let _ = write!(
                    stream,
                    "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                    body.len()
                );
                if path.contains("/pool/") {
                    for part in body.chunks(chunk) {
                        if stream.write_all(part).is_err() {
                            return;
                        }
                        std::thread::sleep(Duration::from_millis(10));
                    }
                } else {
                    let _ = stream.write_all(&body);
                }
            });
        }
    });
    url
}

/// Paths under `dir` (recursively) whose name starts with one of `prefixes`.
fn leftovers(dir: &Path, prefixes: &[&str]) -> Vec<PathBuf> {
    walk(dir)
        .into_iter()
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| prefixes.iter().any(|prefix| n.starts_with(prefix)))
        })
        .collect()
}

#[cfg(unix)]
fn signal(child: &std::process::Child, name: &str) {
    let status = Command::new("kill")
        .args([&format!("-{name}"), &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
}

#[cfg(unix)]
#[test]
fn issue_12_case_7_interrupts_leave_no_temporaries() {
    // ~400 KB at 8 KB per 10 ms: the download takes about half a second.
    let repo = victim_repo(400_000);
    let slow = slow_server(repo.root().to_path_buf(), 8192);
    let context = TestContext::new();
    context.manifest(&format!(
        "architectures = [\"amd64\"]\npackages = [\"victim\"]\n\n[[source]]\nsuite = \"{SUITE}\"\nurl = \"{slow}\"\nkeyring = \"{}\"\n",
        repo.keyring_path().display()
    ));
    let out = context.run(&["lock"]);
    assert!(out.status.success(), "{}", context.render(&out));
    let tmpdir = context.path().join("tmp");
    std::fs::create_dir_all(&tmpdir).expect("tmpdir");
    let spawn = |output: &str| {
        context
            .command(&["build", "--output", output])
            .env("TMPDIR", &tmpdir)
            .env("DEBLESS_SNAPSHOT", "http://127.0.0.1:1")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn")
    };
    let check_clean = |when: &str| {
        let left = leftovers(&context.cache, &[".tmp"]);
        assert!(left.is_empty(), "{when}: cache leftovers {left:?}");
        let left = leftovers(&tmpdir, &["debless-"]);
        assert!(left.is_empty(), "{when}: TMPDIR leftovers {left:?}");
        let left = leftovers(context.path(), &[".debless-"]);
        assert!(left.is_empty(), "{when}: output leftovers {left:?}");
    };
    // During the download, by SIGINT and by SIGTERM: exit like a shell, nothing left.
    for (name, code, delay) in [("INT", 130, 250), ("TERM", 143, 150), ("INT", 130, 20)] {
        let _ = std::fs::remove_dir_all(context.cache.join("debs"));
        let child = spawn("img");
        std::thread::sleep(Duration::from_millis(delay));
        signal(&child, name);
        let out = child.wait_with_output().expect("wait");
        assert_eq!(out.status.code(), Some(code), "SIG{name} after {delay} ms");
        check_clean(&format!("SIG{name} after {delay} ms"));
        assert!(!context.path().join("img").exists());
    }
    // Later moments (building, writing): it may have finished; either way nothing is left.
    let out = context.run(&["build", "--output", "warm"]);
    assert!(out.status.success(), "{}", context.render(&out));
    for delay in [5, 40, 120] {
        let child = spawn("late");
        std::thread::sleep(Duration::from_millis(delay));
        signal(&child, "INT");
        let out = child.wait_with_output().expect("wait");
        assert!(
            matches!(out.status.code(), Some(0 | 130)),
            "{delay} ms: {}",
            stderr(&out)
        );
        check_clean(&format!("SIGINT after {delay} ms, warm cache"));
    }

    // SIGKILL cannot be caught: the next run sweeps what it left once its owner is gone.
    let _ = std::fs::remove_dir_all(context.cache.join("debs"));
    let child = spawn("killed");
    std::thread::sleep(Duration::from_millis(250));
    signal(&child, "KILL");
    let _ = child.wait_with_output();
    let left = leftovers(&context.cache, &[".tmp"]);
    assert!(!left.is_empty(), "a killed download leaves its temporary");
    let long_ago = std::time::SystemTime::now() - Duration::from_secs(600);
    for path in &left {
        std::fs::File::options()
            .write(true)
            .open(path)
            .and_then(|f| f.set_modified(long_ago))
            .expect("backdate");
    }
    let out = context.run(&["lock", "--check"]);
    assert!(out.status.success(), "{}", context.render(&out));
    check_clean("after the sweep");
}

#[test]
fn issue_12_a_lock_builds_from_the_snapshot_archive_when_the_mirror_dropped_it() {
    let repo = victim_repo(0);
    let project = locked(&repo, &["victim"]);
    let lock = debless::lock::Lock::load(&project.path().join("debless.lock"))
        .expect("reads")
        .expect("exists");
    let victim = lock
        .packages
        .iter()
        .find(|p| p.name == "victim")
        .expect("locked");
    let stamp = debless::fetch::snapshot::timestamp(lock.sources[0].date);

    // The snapshot service has the old state of the archive, under its timestamp only.
    let snapshot = tempfile::tempdir().expect("tempdir");
    let old = snapshot
        .path()
        .join(format!("archive/debian/{stamp}"))
        .join(&victim.path);
    std::fs::create_dir_all(old.parent().expect("pool dir")).expect("mkdir");
    std::fs::copy(repo.root().join(&victim.path), &old).expect("copy");
    let snapshot_url = slow_server(snapshot.path().to_path_buf(), usize::MAX);

    // The mirror moved on: the pinned file is gone (404).
    std::fs::remove_file(repo.root().join(&victim.path)).expect("drop from the mirror");
    let out = project
        .command(&["build", "--output", "img"])
        .env("DEBLESS_SNAPSHOT", &snapshot_url)
        .output()
        .expect("run");
    assert!(out.status.success(), "{}", project.render(&out));
    let err = stderr(&out);
    assert!(
        err.contains("Fetched victim 1.0 amd64 from the snapshot archive")
            && err.contains(&format!("/archive/debian/{stamp}/{}", victim.path)),
        "{err}"
    );

    // The base can be set per source instead; it is not a lock input.
    let text = project.read("debless.toml");
    project.manifest(&format!("{text}snapshot = \"{snapshot_url}/\"\n"));
    assert!(project.run(&["lock", "--check"]).status.success());
    let _ = std::fs::remove_dir_all(project.cache.join("debs"));
    let out = project.run(&["build", "--output", "img-key"]);
    assert!(out.status.success(), "{}", project.render(&out));
    assert!(
        stderr(&out).contains("from the snapshot archive"),
        "{}",
        stderr(&out)
    );
    project.manifest(&format!("{text}snapshot = \"ftp://snapshot\"\n"));
    let out = project.run(&["build", "--output", "img-bad"]);
    assert_eq!(out.status.code(), Some(1), "{}", project.render(&out));
    assert!(
        stderr(&out).contains("snapshot `ftp://snapshot` must start with http"),
        "{}",
        stderr(&out)
    );
    project.manifest(&text);

    // The snapshot is verified like a mirror: other bytes are refused.
    let mut evil = std::fs::read(&old).expect("read");
    replace_once(&mut evil, b"good program!", b"evil program!");
    std::fs::write(&old, evil).expect("tamper");
    let _ = std::fs::remove_dir_all(project.cache.join("debs"));
    let out = project
        .command(&["build", "--output", "img2"])
        .env("DEBLESS_SNAPSHOT", &snapshot_url)
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(1), "{}", project.render(&out));
    assert!(
        stderr(&out).contains("sha256 mismatch for `victim"),
        "{}",
        stderr(&out)
    );
}
