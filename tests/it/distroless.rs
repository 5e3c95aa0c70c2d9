//! The three distroless debian12 images rebuilt from the checked-in examples
//! `lockfiles/distroless-{static,base,cc}`: they reproduce their recorded digests, carry what
//! distroless documents (base/README.md; passwd, group and directories of its common/
//! rules, debian-notes §7.4), and a C program calling getpwuid(getuid()) and reading the CA
//! bundle runs in them as nonroot: statically linked in static, dynamically in base and cc.
//! Live: each test skips with a message when no mirror answers.

use std::os::unix::fs::{MetadataExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::support::chroot::{self, is_root};
use crate::support::context::TestContext;
use crate::support::live;

/// Builds `lockfiles/<name>` (copied, with its extra files) with `--verify` (the golden
/// digest), as an OCI layout `img` and a `rootfs` directory; `None` (skip) without a mirror.
fn build(context: &TestContext, name: &str) -> Option<PathBuf> {
    live::build_example(
        context,
        name,
        &["--verify", "--output", "img", "--rootfs", "rootfs"],
    )?;
    Some(context.path().join("rootfs"))
}

fn text(root: &Path, path: &str) -> String {
    std::fs::read_to_string(root.join(path)).unwrap_or_else(|e| panic!("/{path}: {e}"))
}

fn locked_names(context: &TestContext) -> Vec<String> {
    context
        .read("debless.lock")
        .lines()
        .filter_map(|l| l.strip_prefix("name = \""))
        .map(|n| n.trim_end_matches('"').to_owned())
        .collect()
}

/// The image config of the single-platform layout `img`.
fn image_config(context: &TestContext) -> serde_json::Value {
    let layout = context.path().join("img");
    let read = |digest: &str| -> serde_json::Value {
        let hex = digest.strip_prefix("sha256:").expect("sha256 digest");
        serde_json::from_slice(&std::fs::read(layout.join("blobs/sha256").join(hex)).expect("blob"))
            .expect("json")
    };
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(layout.join("index.json")).expect("index"))
            .expect("json");
    let manifest = read(index["manifests"][0]["digest"].as_str().expect("digest"));
    read(
        manifest["config"]["digest"]
            .as_str()
            .expect("config digest"),
    )
}

/// What every distroless flavour has: accounts, os-release, CA bundle, /tmp, the nonroot
/// home, zone files, netbase and media-types files, status.d for every package, the
/// nonroot user in the config.
fn assert_distroless_common(context: &TestContext, root: &Path) {
    assert_eq!(
        text(root, "etc/passwd"),
        "root:x:0:0:root:/root:/sbin/nologin\n\
         nobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\n\
         nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n"
    );
    let group = text(root, "etc/group");
    for line in [
        "root:x:0:",
        "nobody:x:65534:",
        "tty:x:5:",
        "staff:x:50:",
        "nonroot:x:65532:",
    ] {
        assert!(group.lines().any(|l| l == line), "{line} in {group}");
    }
    let os_release = text(root, "etc/os-release");
    assert!(os_release.lines().any(|l| l == "ID=debian"), "{os_release}");
    assert!(
        os_release.lines().any(|l| l == "VERSION_ID=\"12\""),
        "{os_release}"
    );
    let bundle = std::fs::read(root.join("etc/ssl/certs/ca-certificates.crt")).expect("bundle");
    assert!(bundle.starts_with(b"-----BEGIN CERTIFICATE-----"));
    assert!(bundle.len() > 100_000, "{} bytes", bundle.len());

    let tmp = std::fs::metadata(root.join("tmp")).expect("/tmp");
    assert_eq!(tmp.permissions().mode() & 0o7777, 0o1777);
    let home = std::fs::metadata(root.join("home/nonroot")).expect("/home/nonroot");
    assert_eq!(home.permissions().mode() & 0o7777, 0o700);
    if is_root() {
        // Owners are only written when the test runs as root.
        assert_eq!((home.uid(), home.gid()), (65532, 65532));
    }
    let root_home = std::fs::metadata(root.join("root")).expect("/root");
    assert_eq!(root_home.permissions().mode() & 0o7777, 0o700);

    assert_eq!(
        std::fs::read_link(root.join("etc/localtime")).expect("localtime link"),
        Path::new("/usr/share/zoneinfo/Etc/UTC")
    );
    assert!(root.join("usr/share/zoneinfo/Europe/Berlin").is_file());
    assert!(text(root, "etc/services").contains("https\t\t443/tcp"));
    assert!(text(root, "etc/protocols").contains("tcp\t6\tTCP"));
    assert!(text(root, "etc/mime.types").contains("application/json"));

    let names = locked_names(context);
    for name in &names {
        let control = text(root, &format!("var/lib/dpkg/status.d/{name}"));
        assert!(
            control.starts_with(&format!("Package: {name}\n")),
            "{control}"
        );
        assert!(
            root.join(format!("var/lib/dpkg/status.d/{name}.md5sums"))
                .is_file(),
            "{name}.md5sums"
        );
        assert!(
            root.join(format!("usr/share/doc/{name}/copyright"))
                .exists(),
            "{name} copyright"
        );
    }
    let status_d = std::fs::read_dir(root.join("var/lib/dpkg/status.d"))
        .expect("status.d")
        .count();
    assert_eq!(status_d, 2 * names.len(), "control + md5sums per package");

    let config = image_config(context);
    assert_eq!(config["config"]["User"], "65532");
    assert_eq!(config["config"]["WorkingDir"], "/home/nonroot");
    let env = config["config"]["Env"].as_array().expect("env");
    assert!(
        env.iter()
            .any(|e| e == "SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt")
    );
}

const PROGRAM: &str = r#"#include <pwd.h>
#include <stdio.h>
#include <unistd.h>
int main(void) {
    struct passwd *pw = getpwuid(getuid());
    FILE *f = fopen("/etc/ssl/certs/ca-certificates.crt", "rb");
    long n = 0;
    if (f) {
        char buf[4096];
        size_t r;
        while ((r = fread(buf, 1, sizeof buf, f)) > 0) n += (long)r;
        fclose(f);
    }
    printf("%s %ld\n", pw ? pw->pw_name : "?", f ? n : -1L);
    return pw && f ? 0 : 1;
}
"#;

/// Compiles [`PROGRAM`] with the host's gcc (`-static` or not) into `root/prog` and runs it
/// there as 65532:65532; `None` (skip, with a message) without gcc or root.
fn run_program_as_nonroot(root: &Path, work: &Path, static_link: bool) -> Option<String> {
    if !is_root() {
        eprintln!("skipping the program run: chroot needs root");
        return None;
    }
    let source = work.join("prog.c");
    std::fs::write(&source, PROGRAM).expect("write source");
    let mut gcc = Command::new("gcc");
    gcc.args(["-O2", "-o"]).arg(root.join("prog")).arg(&source);
    if static_link {
        gcc.arg("-static");
    }
    let Ok(out) = gcc.output() else {
        eprintln!("skipping the program run: no gcc on this host");
        return None;
    };
    assert!(
        out.status.success(),
        "gcc: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Some(chroot::run(root, Some("65532:65532"), &["/prog"]))
}

/// The program's output names nonroot and the bundle's full size.
fn assert_program_output(root: &Path, output: &str) {
    let (user, bytes) = output.trim().split_once(' ').expect("two words");
    assert_eq!(user, "nonroot");
    let bytes: u64 = bytes.parse().expect("a byte count");
    assert!(bytes > 0);
    let bundle = std::fs::metadata(root.join("etc/ssl/certs/ca-certificates.crt")).expect("bundle");
    assert_eq!(bytes, bundle.len());
}

#[test]
fn distroless_static_has_no_libc_and_runs_a_static_program() {
    let context = TestContext::new();
    let Some(root) = build(&context, "distroless-static") else {
        return;
    };
    assert_distroless_common(&context, &root);
    assert_eq!(
        locked_names(&context),
        [
            "base-files",
            "ca-certificates",
            "media-types",
            "netbase",
            "tzdata"
        ]
    );
    assert!(!root.join("lib/x86_64-linux-gnu/libc.so.6").exists());
    assert!(!root.join("lib64/ld-linux-x86-64.so.2").exists());
    // The example's one change from distroless: `files`, which static glibc has built in.
    assert!(text(&root, "etc/nsswitch.conf").contains("passwd:         files\n"));
    if let Some(output) = run_program_as_nonroot(&root, context.path(), true) {
        assert_program_output(&root, &output);
    }
}

#[test]
fn distroless_base_has_glibc_and_libssl_and_runs_a_dynamic_program() {
    let context = TestContext::new();
    let Some(root) = build(&context, "distroless-base") else {
        return;
    };
    assert_distroless_common(&context, &root);
    assert!(root.join("lib/x86_64-linux-gnu/libc.so.6").exists());
    assert!(root.join("lib64/ld-linux-x86-64.so.2").exists());
    assert!(root.join("usr/lib/x86_64-linux-gnu/libssl.so.3").exists());
    assert!(
        root.join("lib/x86_64-linux-gnu/libnss_compat.so.2")
            .exists()
    );
    assert!(
        !root
            .join("usr/lib/x86_64-linux-gnu/libstdc++.so.6")
            .exists()
    );
    // distroless' own nsswitch.conf (compat), which glibc's libnss_compat serves here.
    assert!(text(&root, "etc/nsswitch.conf").contains("passwd:         compat\n"));
    if let Some(output) = run_program_as_nonroot(&root, context.path(), false) {
        assert_program_output(&root, &output);
    }
}

#[test]
fn distroless_cc_adds_the_gcc_runtime_and_runs_a_dynamic_program() {
    let context = TestContext::new();
    let Some(root) = build(&context, "distroless-cc") else {
        return;
    };
    assert_distroless_common(&context, &root);
    for lib in [
        "usr/lib/x86_64-linux-gnu/libstdc++.so.6",
        "usr/lib/x86_64-linux-gnu/libgomp.so.1",
        "lib/x86_64-linux-gnu/libgcc_s.so.1",
        "usr/lib/x86_64-linux-gnu/libssl.so.3",
    ] {
        assert!(root.join(lib).exists(), "/{lib}");
    }
    if let Some(output) = run_program_as_nonroot(&root, context.path(), false) {
        assert_program_output(&root, &output);
    }
}
