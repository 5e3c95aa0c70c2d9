//! The Bazel rules under `bazel/` driven by a real Bazel (Debian's bazel-bootstrap, 4.2.3, in
//! WORKSPACE mode; `cargo xtask test` installs it and nginx-light) on the example workspace
//! `bazel/examples/python3-gmpy2` (python3 on bookworm, gmpy2 over it as a base image, and a
//! two-architecture libc image):
//!
//! - `bazel build` gives the digests `debless build` gives, with network-less sandboxes, and an
//!   image index for two architectures;
//! - with nginx on 127.0.0.1 as an HTTP remote cache (WebDAV PUT), a second copy of the
//!   workspace at another path with a fresh `--output_user_root` (a second machine) gets every
//!   image as a remote cache hit and runs no debless action;
//! - `bazel test` of the `.verify` targets passes, and fails once the lock records another
//!   image digest without a rebuild;
//! - the `.lock` run target (`-- --check`) says the locks are current, and re-locks an edited
//!   manifest into the workspace.
//!
//! Every Bazel server is shut down and nginx stopped by drop guards, on every way out.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

use super::support::context::TestContext;
use super::support::{have_tool, live};

const EXAMPLE: &str = "examples/python3-gmpy2";

/// The Bazel servers this test started (one per workspace and output root), shut down on drop.
struct Bazel {
    servers: Vec<(PathBuf, PathBuf)>,
    repo_env: Vec<String>,
}

impl Bazel {
    /// Runs `bazel --output_user_root=ROOT ARGS…` in `workspace`.
    fn run(&mut self, workspace: &Path, root: &Path, args: &[&str]) -> Output {
        let server = (workspace.to_path_buf(), root.to_path_buf());
        if !self.servers.contains(&server) {
            self.servers.push(server);
        }
        let mut command = Command::new("bazel");
        command
            .arg(format!("--output_user_root={}", root.display()))
            // A server left behind by a killed test exits on its own.
            .arg("--max_idle_secs=120")
            .args(&args[..1])
            .args(self.repo_env.iter().map(|kv| format!("--repo_env={kv}")))
            .args(&args[1..])
            .current_dir(workspace)
            .stdin(Stdio::null());
        command.output().expect("bazel runs")
    }
}

impl Drop for Bazel {
    fn drop(&mut self) {
        for (workspace, root) in &self.servers {
            let _ = Command::new("bazel")
                .arg(format!("--output_user_root={}", root.display()))
                .arg("shutdown")
                .current_dir(workspace)
                .stdin(Stdio::null())
                .output();
            // Bazel makes its install base and outputs read-only; let the temp dir go.
            let _ = Command::new("chmod").args(["-R", "u+w"]).arg(root).output();
        }
    }
}

/// nginx serving a directory with WebDAV PUT on 127.0.0.1: Bazel's HTTP remote cache. Stopped
/// (killed and reaped) on drop.
struct Nginx {
    child: Child,
    url: String,
}

impl Nginx {
    fn start(binary: &Path, dir: &Path) -> Nginx {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let store = dir.join("store");
        let temp = dir.join("temp");
        for sub in ["ac", "cas"] {
            std::fs::create_dir_all(store.join(sub)).expect("cache dirs");
        }
        std::fs::create_dir_all(&temp).expect("nginx temp dir");
        let config = dir.join("nginx.conf");
        std::fs::write(
            &config,
            format!(
                r"daemon off;
master_process off;
pid {dir}/nginx.pid;
error_log {dir}/error.log;
events {{ worker_connections 64; }}
http {{
    access_log {dir}/access.log;
    client_body_temp_path {temp}/body;
    proxy_temp_path {temp}/proxy;
    fastcgi_temp_path {temp}/fastcgi;
    uwsgi_temp_path {temp}/uwsgi;
    scgi_temp_path {temp}/scgi;
    server {{
        listen 127.0.0.1:{port};
        root {store};
        client_max_body_size 0;
        dav_methods PUT;
        create_full_put_path on;
        dav_access user:rw;
    }}
}}
",
                dir = dir.display(),
                temp = temp.display(),
                store = store.display(),
            ),
        )
        .expect("write nginx.conf");
        let child = Command::new(binary)
            .args(["-c"])
            .arg(&config)
            .args(["-p"])
            .arg(dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("nginx starts");
        let nginx = Nginx {
            child,
            url: format!("http://127.0.0.1:{port}"),
        };
        for _ in 0..100 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return nginx;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        panic!(
            "nginx did not listen on port {port}: {}",
            std::fs::read_to_string(dir.join("error.log")).unwrap_or_default()
        );
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Copies the rules repository (with the example) to `to`, so the example's
/// `local_repository(path = "../..")` finds the rules there.
fn copy_rules(to: &Path) {
    let rules = Path::new(env!("CARGO_MANIFEST_DIR")).join("bazel");
    copy_tree(&rules, to);
}

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for entry in std::fs::read_dir(from).expect("read_dir") {
        let entry = entry.expect("entry");
        let name = entry.file_name();
        // A developer's own `bazel build` in the example leaves bazel-* convenience links.
        if name.to_string_lossy().starts_with("bazel-") {
            continue;
        }
        let kind = entry.file_type().expect("file type");
        if kind.is_dir() {
            copy_tree(&entry.path(), &to.join(&name));
        } else if kind.is_file() {
            std::fs::copy(entry.path(), to.join(&name)).expect("copy");
        }
    }
}

/// A tool on PATH or in /usr/sbin (where nginx lives, outside some users' PATH).
fn sbin_tool(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain([PathBuf::from("/usr/sbin")])
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
}

fn text(output: &Output) -> String {
    format!(
        "status {}\n--- stdout\n{}\n--- stderr\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        // Debian's Bazel has the sandbox print its mounts; they drown the useful lines.
        String::from_utf8_lossy(&output.stderr)
            .lines()
            .filter(|l| !l.contains("linux-sandbox"))
            .collect::<Vec<_>>()
            .join("\n")
    )
}

fn read_digest(path: &Path) -> String {
    std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .trim()
        .to_owned()
}

/// `INFO: N processes: …` of a build: which strategies ran its actions.
fn process_summary(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr)
        .lines()
        .rfind(|l| l.starts_with("INFO:") && l.contains(" processes"))
        .unwrap_or_default()
        .to_owned()
}

/// `debless build --output` of one example image, outside Bazel: its printed digest. `None`
/// (skip, with the reason printed) when the mirror no longer serves a version the example
/// pins: the example then needs a re-lock (`bazel run //python3:python3.lock`, …).
fn debless_build(workspace: &Path, cache: &Path, image: &str) -> Option<String> {
    let out = Command::new(env!("CARGO_BIN_EXE_debless"))
        .arg("--manifest")
        .arg(workspace.join(image).join("debless.toml"))
        .arg("--cache-dir")
        .arg(cache)
        .args(["build", "--output"])
        .arg(workspace.join(image).join(image))
        .output()
        .expect("debless runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    if !out.status.success() && stderr.contains("not found (404)") {
        eprintln!(
            "skipping: the mirror no longer serves a version pinned by the Bazel example's {image}; re-lock it: {stderr}"
        );
        return None;
    }
    assert!(out.status.success(), "{}", text(&out));
    Some(String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

#[test]
fn bazel_builds_the_example_hermetically_and_remote_caches_it() {
    if !have_tool("bazel") {
        return;
    }
    let Some(nginx_binary) = sbin_tool("nginx") else {
        have_tool("nginx");
        return;
    };
    let Some(mirrors) = live::mirror() else {
        return;
    };
    let temp = tempfile::tempdir().expect("tempdir");
    let top = temp.path();

    // The digests debless gives outside Bazel (python3 first: it is gmpy2's base).
    let plain = top.join("plain");
    copy_rules(&plain);
    let plain_ws = plain.join(EXAMPLE);
    let cache = top.join("debless-cache");
    let Some(python3) = debless_build(&plain_ws, &cache, "python3") else {
        return;
    };
    let Some(gmpy2) = debless_build(&plain_ws, &cache, "gmpy2") else {
        return;
    };
    let Some(libc) = debless_build(&plain_ws, &cache, "libc") else {
        return;
    };

    let mut bazel = Bazel {
        repo_env: {
            let mut env = vec![
                format!("DEBLESS_BINARY={}", env!("CARGO_BIN_EXE_debless")),
                format!("DEBLESS_MIRROR={}", mirrors.debian),
            ];
            if let Some(security) = &mirrors.security {
                env.push(format!("DEBLESS_SECURITY_MIRROR={security}"));
            }
            env
        },
        servers: Vec::new(),
    };
    let nginx = Nginx::start(&nginx_binary, &{
        let dir = top.join("nginx");
        std::fs::create_dir_all(&dir).expect("nginx dir");
        dir
    });
    let remote = format!("--remote_cache={}", nginx.url);
    let build = [
        "build",
        "--sandbox_default_allow_network=false",
        "--spawn_strategy=linux-sandbox",
        remote.as_str(),
        "//...",
    ];

    // First machine: builds every image in network-less sandboxes, fills the remote cache.
    let first = top.join("first");
    copy_rules(&first);
    let first_ws = first.join(EXAMPLE);
    let out = bazel.run(&first_ws, &top.join("root1"), &build);
    assert!(out.status.success(), "{}", text(&out));
    let summary = process_summary(&out);
    eprintln!("first machine: {summary}");
    assert!(
        summary.contains("linux-sandbox"),
        "the debless actions ran sandboxed: {summary}"
    );
    let bin = first_ws.join("bazel-bin");
    assert_eq!(read_digest(&bin.join("python3/python3.digest")), python3);
    assert_eq!(read_digest(&bin.join("gmpy2/gmpy2.digest")), gmpy2);
    assert!(bin.join("gmpy2/gmpy2/index.json").is_file());
    // Two architectures: the digest is an image index's, listing both platforms.
    assert_eq!(read_digest(&bin.join("libc/libc.digest")), libc);
    let index = std::fs::read(
        bin.join("libc/libc/blobs/sha256")
            .join(libc.trim_start_matches("sha256:")),
    )
    .expect("the index blob");
    let index: serde_json::Value = serde_json::from_slice(&index).expect("index JSON");
    assert_eq!(
        index["mediaType"],
        "application/vnd.oci.image.index.v1+json"
    );
    let platforms: Vec<&str> = index["manifests"]
        .as_array()
        .expect("manifests")
        .iter()
        .filter_map(|m| m["platform"]["architecture"].as_str())
        .collect();
    assert_eq!(platforms, ["amd64", "arm64"]);
    // The action never writes the workspace's lock.
    for image in ["python3", "gmpy2", "libc"] {
        assert_eq!(
            std::fs::read(first_ws.join(image).join("debless.lock")).expect("lock"),
            std::fs::read(
                Path::new(env!("CARGO_MANIFEST_DIR"))
                    .join("bazel")
                    .join(EXAMPLE)
                    .join(image)
                    .join("debless.lock")
            )
            .expect("checked-in lock"),
            "{image}'s lock was left alone"
        );
    }

    // Second machine: another path, a fresh output root; every debless action is a hit.
    let second = top.join("second");
    copy_rules(&second);
    let second_ws = second.join(EXAMPLE);
    let out = bazel.run(&second_ws, &top.join("root2"), &build);
    assert!(out.status.success(), "{}", text(&out));
    let summary = process_summary(&out);
    eprintln!("second machine: {summary}");
    assert!(
        summary.contains("3 remote cache hit"),
        "every image comes from the remote cache: {summary}\n{}",
        text(&out)
    );
    assert!(
        !summary.contains("sandbox") && !summary.contains("local"),
        "no action ran on the second machine: {summary}"
    );
    let bin = second_ws.join("bazel-bin");
    assert_eq!(read_digest(&bin.join("python3/python3.digest")), python3);
    assert_eq!(read_digest(&bin.join("gmpy2/gmpy2.digest")), gmpy2);
    assert_eq!(read_digest(&bin.join("libc/libc.digest")), libc);

    // The verify tests pass on the checked-in locks.
    let root1 = top.join("root1");
    let out = bazel.run(&first_ws, &root1, &["test", "//..."]);
    assert!(out.status.success(), "{}", text(&out));

    // The lock target agrees that the locks match their manifests.
    let out = bazel.run(
        &first_ws,
        &root1,
        &["run", "//gmpy2:gmpy2.lock", "--", "--check"],
    );
    assert!(out.status.success(), "{}", text(&out));

    // A lock whose recorded digest no longer matches the image (changed, never rebuilt).
    let lock_path = first_ws.join("python3/debless.lock");
    let lock = std::fs::read_to_string(&lock_path).expect("lock");
    let recorded = python3.trim_start_matches("sha256:");
    assert!(lock.contains(recorded), "the lock records {python3}");
    std::fs::write(&lock_path, lock.replace(recorded, &"0".repeat(64))).expect("edit lock");
    let out = bazel.run(&first_ws, &root1, &["test", "//python3:python3.verify"]);
    assert!(!out.status.success(), "{}", text(&out));
    let log =
        std::fs::read_to_string(first_ws.join("bazel-testlogs/python3/python3.verify/test.log"))
            .expect("test log");
    assert!(
        log.contains("differs from debless.lock"),
        "the verify test names the mismatch: {log}"
    );

    // The lock target re-locks an edited manifest and writes the workspace's lock.
    let manifest_path = first_ws.join("gmpy2/debless.toml");
    let manifest = std::fs::read_to_string(&manifest_path).expect("manifest");
    std::fs::write(
        &manifest_path,
        manifest.replace(
            r#"packages = ["python3-gmpy2"]"#,
            r#"packages = ["python3-gmpy2", "netbase"]"#,
        ),
    )
    .expect("edit manifest");
    let out = bazel.run(&first_ws, &root1, &["run", "//gmpy2:gmpy2.lock"]);
    assert!(out.status.success(), "{}", text(&out));
    let relocked = std::fs::read_to_string(first_ws.join("gmpy2/debless.lock")).expect("lock");
    assert!(relocked.contains(r#"name = "netbase""#), "{relocked}");
    let out = bazel.run(
        &first_ws,
        &root1,
        &["run", "//gmpy2:gmpy2.lock", "--", "--check"],
    );
    assert!(out.status.success(), "{}", text(&out));

    drop(bazel);
    drop(nginx);
}

/// `debless export`, which `debless_debs` reads with `json.decode`: URLs from `DEBLESS_MIRROR`
/// and `--mirror` fallbacks, the recorded digests, `--output` written whole; without any
/// mirror it fails naming what to set.
#[test]
fn export_gives_each_deb_its_urls() {
    let context = TestContext::new();
    let example = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("bazel")
        .join(EXAMPLE)
        .join("python3");
    for file in ["debless.toml", "debless.lock"] {
        std::fs::copy(example.join(file), context.path().join(file)).expect("copy the example");
    }
    let mut command = context.command(&[
        "export",
        "--format",
        "bazel-json",
        "--mirror",
        "http://127.0.0.1:9/snapshot/",
        "--output",
        "export.json",
    ]);
    command
        .env("DEBLESS_MIRROR", "http://127.0.0.1:9/debian")
        .env(
            "DEBLESS_SECURITY_MIRROR",
            "http://127.0.0.1:9/debian-security",
        );
    let out = command.output().expect("debless runs");
    assert!(out.status.success(), "{}", context.render(&out));
    let json: serde_json::Value =
        serde_json::from_str(&context.read("export.json")).expect("export.json is JSON");
    assert_eq!(json["version"], 1);
    assert_eq!(json["architectures"], serde_json::json!(["amd64"]));
    let lock = context.read("debless.lock");
    let debs = json["debs"].as_array().expect("debs");
    assert_eq!(debs.len(), lock.matches("[[package]]").count());
    let python = debs
        .iter()
        .find(|d| d["suite"] == "bookworm" && d["name"] == "python3")
        .expect("python3 (from bookworm) is exported");
    let path = python["path"].as_str().expect("path");
    let sha256 = python["sha256"].as_str().expect("sha256");
    assert!(lock.contains(sha256));
    assert_eq!(python["file"], format!("{sha256}.deb"));
    assert_eq!(
        python["urls"],
        serde_json::json!([
            format!("http://127.0.0.1:9/debian/{path}"),
            format!("http://127.0.0.1:9/snapshot/{path}"),
        ])
    );
    let security = debs
        .iter()
        .find(|d| d["suite"] == "bookworm-security")
        .expect("a security package");
    assert!(
        security["urls"][0]
            .as_str()
            .is_some_and(|u| u.starts_with("http://127.0.0.1:9/debian-security/pool/")),
        "{security}"
    );
    let recorded = json["images"]["amd64"]["manifest"]
        .as_str()
        .expect("digest");
    assert!(lock.contains(recorded.trim_start_matches("sha256:")));

    // No DEBLESS_MIRROR and no apt sources: a one-line error naming what to set.
    let apt = context.path().join("no-apt");
    std::fs::create_dir_all(&apt).expect("mkdir");
    let mut command = context.command(&["export"]);
    command.env("DEBLESS_APT_ETC", &apt);
    let out = command.output().expect("debless runs");
    assert_eq!(out.status.code(), Some(1), "{}", context.render(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("DEBLESS_MIRROR"), "{stderr}");
    assert!(stderr.contains("--repo_env"), "{stderr}");
}
