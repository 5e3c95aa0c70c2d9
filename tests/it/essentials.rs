//! What `debless build` adds around the packages (accounts, os-release, nsswitch.conf, time
//! zone, CA bundle), checked in the OCI layout a runtime would unpack and in `--rootfs`.

use std::collections::BTreeMap;
use std::io::Read as _;
use std::path::Path;

use crate::hermetic::{SUITE, manifest, pkg};
use crate::support::chroot::{self, is_root};
use crate::support::context::TestContext;
use crate::support::signed_repo::{PublishOptions, TestRepo};

const EPOCH: i64 = 1_700_000_000;

/// An archive with a program, a tzdata with two zones, a ca-certificates with two certs
/// whose C order differs from a case-insensitive one, and a package shipping /etc/passwd.
fn essentials_repo() -> TestRepo {
    let repo = TestRepo::new();
    pkg("app", "1.0-1", "amd64", &[])
        .file("/usr/bin/app", b"#!/bin/sh\n", 0o755)
        .add_to(&repo, SUITE);
    pkg("tzdata", "2025a-1", "all", &[("Multi-Arch", "foreign")])
        .file("/usr/share/zoneinfo/Etc/UTC", b"TZif2 utc", 0o644)
        .file("/usr/share/zoneinfo/Europe/Berlin", b"TZif2 berlin", 0o644)
        .add_to(&repo, SUITE);
    pkg("ca-certificates", "20230311", "all", &[])
        .file(
            "/usr/share/ca-certificates/mozilla/AC_RAIZ_FNMT-RCM.crt",
            b"-----CERT FNMT-----",
            0o644,
        )
        .file(
            "/usr/share/ca-certificates/mozilla/ACCVRAIZ1.crt",
            b"-----CERT ACCV-----\n",
            0o644,
        )
        .file(
            "/usr/share/doc/ca-certificates/copyright",
            b"MPL-2.0\n",
            0o644,
        )
        .add_to(&repo, SUITE);
    pkg("ships-passwd", "1.0", "all", &[])
        .file("/etc/passwd", b"root:*:0:0:root:/root:/bin/bash\n", 0o644)
        .add_to(&repo, SUITE);
    repo.publish(SUITE, PublishOptions::default());
    repo
}

/// A locked project for `packages` with `image` appended as the `[image]` table.
fn project(repo: &TestRepo, packages: &[&str], image: &str) -> TestContext {
    let context = TestContext::new();
    context.manifest(&format!("{}\n[image]\n{image}\n", manifest(repo, packages)));
    let out = context.run(&["lock"]);
    assert!(out.status.success(), "{}", context.render(&out));
    context
}

fn build(context: &TestContext, args: &[&str]) -> std::process::Output {
    let mut all = vec!["build"];
    all.extend_from_slice(args);
    context
        .command(&all)
        .env("SOURCE_DATE_EPOCH", EPOCH.to_string())
        .output()
        .expect("run debless")
}

fn read_json(path: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(path).expect("blob")).expect("json")
}

fn blob(layout: &Path, digest: &str) -> std::path::PathBuf {
    let hex = digest.strip_prefix("sha256:").expect("sha256 digest");
    layout.join("blobs/sha256").join(hex)
}

/// The image manifest of a single-platform layout.
fn image_manifest(layout: &Path) -> serde_json::Value {
    let index = read_json(&layout.join("index.json"));
    let digest = index["manifests"][0]["digest"].as_str().expect("digest");
    let manifest = read_json(&blob(layout, digest));
    if manifest["manifests"].is_array() {
        let inner = manifest["manifests"][0]["digest"].as_str().expect("digest");
        return read_json(&blob(layout, inner));
    }
    manifest
}

/// One entry of the bottom layer as a runtime sees it.
#[derive(Debug, PartialEq, Eq)]
struct Entry {
    kind: char,
    mode: u32,
    owner: (u64, u64),
    mtime: u64,
    link: Option<String>,
    data: Vec<u8>,
}

fn bottom_layer(layout: &Path) -> BTreeMap<String, Entry> {
    let manifest = image_manifest(layout);
    let layer = &manifest["layers"][0];
    let media = layer["mediaType"].as_str().expect("media type");
    assert!(media.ends_with("+gzip"), "{media}");
    let file = std::fs::File::open(blob(layout, layer["digest"].as_str().expect("digest")))
        .expect("layer blob");
    let mut archive = tar::Archive::new(flate2::read::MultiGzDecoder::new(file));
    let mut entries = BTreeMap::new();
    for entry in archive.entries().expect("tar") {
        let mut entry = entry.expect("entry");
        let header = entry.header().clone();
        let path = entry.path().expect("path").to_string_lossy().into_owned();
        let mut data = Vec::new();
        entry.read_to_end(&mut data).expect("data");
        entries.insert(
            path.trim_end_matches('/').to_owned(),
            Entry {
                kind: char::from(header.entry_type().as_byte()),
                mode: header.mode().expect("mode"),
                owner: (header.uid().expect("uid"), header.gid().expect("gid")),
                mtime: header.mtime().expect("mtime"),
                link: header
                    .link_name()
                    .expect("link")
                    .map(|l| l.to_string_lossy().into_owned()),
                data,
            },
        );
    }
    entries
}

#[test]
fn image_has_distroless_accounts_timezone_and_ca_bundle() {
    let repo = essentials_repo();
    let context = project(
        &repo,
        &["app", "tzdata", "ca-certificates"],
        "user = \"nonroot\"",
    );
    let out = build(&context, &["--output", "img", "--rootfs", "root"]);
    assert!(out.status.success(), "{}", context.render(&out));
    let layout = context.path().join("img");
    let layer = bottom_layer(&layout);
    let text = |path: &str| String::from_utf8_lossy(&layer[path].data).into_owned();

    snapshot!("passwd", &text("etc/passwd"));
    snapshot!("group", &text("etc/group"));
    assert!(!layer.contains_key("etc/shadow"), "no shadow file");
    // Generated files: root's, 0644, the image epoch.
    for path in [
        "etc/passwd",
        "etc/group",
        "etc/os-release",
        "etc/nsswitch.conf",
        "etc/timezone",
        "etc/ssl/certs/ca-certificates.crt",
    ] {
        let entry = &layer[path];
        assert_eq!(
            (entry.kind, entry.mode, entry.owner, entry.mtime),
            ('0', 0o644, (0, 0), EPOCH as u64),
            "{path}"
        );
    }
    let dir = |path: &str| {
        let entry = &layer[path];
        assert_eq!(entry.kind, '5', "{path} is a directory");
        (entry.mode, entry.owner)
    };
    assert_eq!(dir("root"), (0o700, (0, 0)));
    assert_eq!(dir("home"), (0o755, (0, 0)));
    assert_eq!(dir("home/nonroot"), (0o700, (65532, 65532)));
    assert_eq!(dir("tmp"), (0o1777, (0, 0)));

    // tzdata: the absolute link its postinst makes, and the name.
    let localtime = &layer["etc/localtime"];
    assert_eq!(localtime.kind, '2');
    assert_eq!(
        localtime.link.as_deref(),
        Some("/usr/share/zoneinfo/Etc/UTC")
    );
    assert_eq!(text("etc/timezone"), "Etc/UTC\n");

    // CA bundle: C order of the relative paths (ACCV before AC_), each newline-terminated.
    assert_eq!(
        text("etc/ssl/certs/ca-certificates.crt"),
        "-----CERT ACCV-----\n-----CERT FNMT-----\n"
    );
    let os_release = text("etc/os-release");
    assert!(os_release.contains("ID=debian\n"), "{os_release}");
    assert!(
        text("etc/nsswitch.conf").contains("passwd:         compat\n"),
        "distroless' nsswitch.conf"
    );

    // The config names the user numerically.
    let manifest = image_manifest(&layout);
    let config = read_json(&blob(
        &layout,
        manifest["config"]["digest"]
            .as_str()
            .expect("config digest"),
    ));
    assert_eq!(config["config"]["User"], "65532");

    // --rootfs gets the same modes (owners only when run as root).
    use std::os::unix::fs::PermissionsExt as _;
    let root = context.path().join("root");
    let mode = |path: &str| {
        std::fs::symlink_metadata(root.join(path))
            .expect(path)
            .permissions()
            .mode()
            & 0o7777
    };
    assert_eq!(mode("tmp"), 0o1777);
    assert_eq!(mode("home/nonroot"), 0o700);
    assert_eq!(
        std::fs::read_link(root.join("etc/localtime")).expect("link"),
        Path::new("/usr/share/zoneinfo/Etc/UTC")
    );

    // Deterministic: a second build gives the same image.
    let first = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    let again = build(&context, &["--output", "img2"]);
    assert!(again.status.success(), "{}", context.render(&again));
    assert_eq!(String::from_utf8_lossy(&again.stdout).trim(), first);
}

#[test]
fn manifest_accounts_and_zones() {
    let repo = essentials_repo();
    let context = project(
        &repo,
        &["app", "tzdata", "ships-passwd"],
        "user = \"app:staff\"\ntimezone = \"Europe/Berlin\"\n\
         [[image.users]]\nname = \"app\"\nuid = 1000\nhome = \"/srv/app\"\n\
         [[image.groups]]\nname = \"app\"\ngid = 1000",
    );
    let out = build(&context, &["--output", "img"]);
    assert!(out.status.success(), "{}", context.render(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("`/etc/passwd` of package `ships-passwd` replaced"),
        "the generated passwd wins and says so: {stderr}"
    );
    let layout = context.path().join("img");
    let layer = bottom_layer(&layout);
    let passwd = String::from_utf8_lossy(&layer["etc/passwd"].data).into_owned();
    assert!(
        passwd.starts_with("root:x:0:0:root:/root:/sbin/nologin\n")
            && passwd.ends_with("app:x:1000:1000:app:/srv/app:/sbin/nologin\n"),
        "{passwd}"
    );
    assert!(String::from_utf8_lossy(&layer["etc/group"].data).ends_with("app:x:1000:\n"));
    assert_eq!(
        (layer["srv/app"].mode, layer["srv/app"].owner),
        (0o700, (1000, 1000))
    );
    assert_eq!(
        layer["etc/localtime"].link.as_deref(),
        Some("/usr/share/zoneinfo/Europe/Berlin")
    );
    assert_eq!(layer["etc/timezone"].data, b"Europe/Berlin\n");
    let manifest = image_manifest(&layout);
    let config = read_json(&blob(
        &layout,
        manifest["config"]["digest"].as_str().expect("digest"),
    ));
    assert_eq!(config["config"]["User"], "1000:50");
    // Without ca-certificates there is no bundle.
    assert!(!layer.contains_key("etc/ssl/certs/ca-certificates.crt"));
}

#[test]
fn bad_users_and_zones_are_refused_by_name() {
    let repo = essentials_repo();
    let cases = [
        ("user = \"nonrot\"", "no user named `nonrot`"),
        (
            "timezone = \"Mars/Olympus\"",
            "/usr/share/zoneinfo/Mars/Olympus",
        ),
        ("accounts = false\nuser = \"nonroot\"", "accounts = false"),
        (
            "[[image.users]]\nname = \"dup\"\nuid = 65532",
            "clashes with user `nonroot`",
        ),
    ];
    for (image, needle) in cases {
        let context = project(&repo, &["app", "tzdata"], image);
        let out = build(&context, &["--output", "img"]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{image}: {stderr}");
        assert!(
            stderr.contains(needle),
            "{image}: {stderr:?} lacks {needle:?}"
        );
    }
    // Accounts off: no passwd, numeric users still work, and no tzdata means no localtime.
    let context = project(&repo, &["app"], "accounts = false\nuser = \"65532:65532\"");
    let out = build(&context, &["--output", "img"]);
    assert!(out.status.success(), "{}", context.render(&out));
    let layer = bottom_layer(&context.path().join("img"));
    for absent in ["etc/passwd", "etc/group", "home/nonroot", "etc/localtime"] {
        assert!(!layer.contains_key(absent), "{absent}");
    }
    assert_eq!(layer["tmp"].mode, 0o1777);
}

#[test]
fn live_python3_runs_as_nonroot_and_finds_its_name() {
    if crate::support::live::mirror().is_none() {
        return;
    }
    let context = TestContext::new();
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("lockfiles/bookworm-python3");
    let manifest = std::fs::read_to_string(example.join("debless.toml")).expect("example");
    assert!(
        manifest
            .trim_end()
            .ends_with("entrypoint = [\"/usr/bin/python3\"]")
    );
    context.manifest(&format!("{manifest}user = \"nonroot\"\n"));
    std::fs::copy(
        example.join("debless.lock"),
        context.path().join("debless.lock"),
    )
    .expect("copy lock");
    let out = context.run(&["build", "--output", "img", "--rootfs", "root"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    if !out.status.success() && stderr.contains("not found (404)") {
        eprintln!("skipping: the mirror no longer serves a version pinned by bookworm-python3");
        return;
    }
    assert!(out.status.success(), "{}", context.render(&out));
    let config = read_json(&blob(
        &context.path().join("img"),
        image_manifest(&context.path().join("img"))["config"]["digest"]
            .as_str()
            .expect("digest"),
    ));
    assert_eq!(config["config"]["User"], "65532");
    let root = context.path().join("root");
    assert!(
        std::fs::read_to_string(root.join("etc/os-release"))
            .expect("generated os-release (python3 does not pull base-files)")
            .contains("VERSION_CODENAME=bookworm")
    );
    if !is_root() {
        eprintln!("skip running python3 as nonroot: chroot needs root");
        return;
    }
    let run = chroot::run(
        &root,
        Some("65532:65532"),
        &[
            "/usr/bin/python3",
            "-c",
            "import os, pwd; print(pwd.getpwuid(65532).pw_name, os.getuid())",
        ],
    );
    assert_eq!(run, "nonroot 65532\n");
}
