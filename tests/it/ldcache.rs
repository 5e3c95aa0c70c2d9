//! `/etc/ld.so.cache` for packages that add a library directory in `/etc/ld.so.conf.d`:
//! read back by the host's `ldconfig -p -C`, and used by the image's own loader (a program
//! linked against a library in `/opt/hello/lib` runs only thanks to the cache).

use std::path::Path;
use std::process::Command;

use crate::hermetic::{SUITE, manifest, pkg};
use crate::support::chroot::{self, is_root};
use crate::support::context::TestContext;
use crate::support::live;
use crate::support::signed_repo::{PublishOptions, TestRepo};

const LIBRARY: &str = "const char *hello(void) { return \"hello from /opt\"; }\n";
const PROGRAM: &str =
    "#include <stdio.h>\nconst char *hello(void);\nint main(void) { puts(hello()); return 0; }\n";

/// Compiles the library (soname `libhello.so.1`) and a program linked against it;
/// `None` without gcc.
fn compile(dir: &Path) -> Option<(Vec<u8>, Vec<u8>)> {
    std::fs::write(dir.join("hello.c"), LIBRARY).expect("write");
    std::fs::write(dir.join("main.c"), PROGRAM).expect("write");
    let library = Command::new("gcc")
        .current_dir(dir)
        .args([
            "-shared",
            "-fPIC",
            "-Wl,-soname,libhello.so.1",
            "-o",
            "libhello.so.1.0",
            "hello.c",
        ])
        .output();
    let Ok(library) = library else {
        eprintln!("skipping: no gcc on this host");
        return None;
    };
    assert!(
        library.status.success(),
        "{}",
        String::from_utf8_lossy(&library.stderr)
    );
    std::os::unix::fs::symlink("libhello.so.1.0", dir.join("libhello.so")).expect("link");
    let program = Command::new("gcc")
        .current_dir(dir)
        .args(["-o", "hello", "main.c", "-L.", "-lhello"])
        .output()
        .expect("gcc runs");
    assert!(
        program.status.success(),
        "{}",
        String::from_utf8_lossy(&program.stderr)
    );
    Some((
        std::fs::read(dir.join("libhello.so.1.0")).expect("library"),
        std::fs::read(dir.join("hello")).expect("program"),
    ))
}

/// A repository with `libdebless-hello1` (library in /opt/hello/lib, soname link, and the
/// conf file when `with_conf`) and `debless-hello` (the program; Debian has a `hello`).
fn repo(library: &[u8], program: &[u8], with_conf: bool) -> TestRepo {
    let repo = TestRepo::new();
    let mut lib = pkg("libdebless-hello1", "1.0-1", "amd64", &[])
        .file("/opt/hello/lib/libhello.so.1.0", library, 0o644)
        .symlink("/opt/hello/lib/libhello.so.1", "libhello.so.1.0");
    if with_conf {
        lib = lib.file(
            "/etc/ld.so.conf.d/hello.conf",
            b"# hello's private directory\n/opt/hello/lib\n",
            0o644,
        );
    }
    lib.add_to(&repo, SUITE);
    pkg(
        "debless-hello",
        "1.0-1",
        "amd64",
        &[("Depends", "libdebless-hello1")],
    )
    .file("/usr/bin/hello", program, 0o755)
    .add_to(&repo, SUITE);
    repo.publish(SUITE, PublishOptions::default());
    repo
}

/// Locks and builds `--rootfs root`, with `extra` build arguments.
fn build(manifest_text: &str, extra: &[&str]) -> TestContext {
    let context = TestContext::new();
    context.manifest(manifest_text);
    let out = context.run(&["lock"]);
    assert!(out.status.success(), "{}", context.render(&out));
    let mut args = vec!["build", "--rootfs", "root"];
    args.extend_from_slice(extra);
    let out = context.run(&args);
    assert!(out.status.success(), "{}", context.render(&out));
    context
}

/// `ldconfig -p -C FILE` as `(soname, path)` pairs, in the cache's order.
fn host_ldconfig_print(cache: &Path) -> Option<Vec<(String, String)>> {
    let out = Command::new("ldconfig")
        .arg("-p")
        .arg("-C")
        .arg(cache)
        .output();
    let Ok(out) = out else {
        eprintln!("skipping the ldconfig read-back: no ldconfig on this host");
        return None;
    };
    assert!(
        out.status.success(),
        "ldconfig -p: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Some(
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| {
                let (left, path) = l.trim().split_once(" => ")?;
                Some((left.split(' ').next()?.to_owned(), path.to_owned()))
            })
            .collect(),
    )
}

#[test]
fn cache_lists_conf_directories_and_ldconfig_reads_it() {
    let work = tempfile::tempdir().expect("tempdir");
    let Some((library, program)) = compile(work.path()) else {
        return;
    };
    let with = repo(&library, &program, true);
    // No libc in this archive: the program cannot run here, only the cache is compared.
    let context = build(&manifest(&with, &["debless-hello"]), &["--no-check"]);
    let cache = context.path().join("root/etc/ld.so.cache");
    let bytes = std::fs::read(&cache).expect("the cache is written");
    assert!(bytes.starts_with(b"glibc-ld.so.cache1.1"));
    if let Some(entries) = host_ldconfig_print(&cache) {
        assert_eq!(
            entries,
            [(
                "libhello.so.1".to_owned(),
                "/opt/hello/lib/libhello.so.1".to_owned()
            )]
        );
    }

    // Without a conf file naming a new directory, no cache: images stay as they were.
    let without = repo(&library, &program, false);
    let context = build(&manifest(&without, &["debless-hello"]), &["--no-check"]);
    assert!(!context.path().join("root/etc/ld.so.cache").exists());
}

#[test]
fn image_loader_finds_a_conf_directory_library_through_the_cache() {
    if live::mirror().is_none() {
        return;
    }
    let work = tempfile::tempdir().expect("tempdir");
    let Some((library, program)) = compile(work.path()) else {
        return;
    };
    let local = repo(&library, &program, true);
    // The test archive for hello, the mirror's bookworm for libc6.
    let text = manifest(&local, &["debless-hello", "libc6"]).replace(
        "[[source]]",
        "[[source]]\nsuite = \"bookworm\"\n\n[[source]]",
    );
    // The shared-library check finds libhello through the cache, as the loader does.
    let context = build(&text, &[]);
    let root = context.path().join("root");
    let cache = root.join("etc/ld.so.cache");
    if let Some(entries) = host_ldconfig_print(&cache) {
        let find = |name: &str| {
            entries
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, p)| p.as_str())
        };
        assert_eq!(find("libhello.so.1"), Some("/opt/hello/lib/libhello.so.1"));
        assert_eq!(find("libc.so.6"), Some("/lib/x86_64-linux-gnu/libc.so.6"));
        // Sorted the way the loader's binary search needs: ldconfig prints in file order.
        let keys: Vec<&str> = entries.iter().map(|(k, _)| k.as_str()).collect();
        let mut sorted = keys.clone();
        sorted.sort_by(|a, b| debless::rootfs::ldcache::libcmp(b, a));
        assert_eq!(keys, sorted);
    }
    if !is_root() {
        eprintln!("skipping the program run: chroot needs root");
        return;
    }
    let out = chroot::run(&root, None, &["/usr/bin/hello"]);
    assert_eq!(out, "hello from /opt\n");
    // Without the cache the loader cannot find the library: the cache is what works.
    std::fs::remove_file(&cache).expect("remove cache");
    let out = chroot::output(&root, None, &["/usr/bin/hello"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("libhello.so.1"));
}
