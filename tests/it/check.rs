//! The shared-library check (`debless check`, and `build`'s own check), `debless provides`
//! and `debless add --for` on a hermetic archive whose packages ship small but well-formed
//! ELF files and whose Release signs a `Contents-amd64` index (issue #8).

use crate::hermetic::{SUITE, manifest, pkg};
use crate::support::context::TestContext;
use crate::support::signed_repo::{PublishOptions, TestRepo};

const LOADER: &str = "/lib64/ld-linux-x86-64.so.2";
const EM_X86_64: u16 = 62;
const EM_386: u16 = 3;

/// A minimal little-endian ELF shared object or PIE (one `PT_LOAD` over the whole file, an
/// optional `PT_INTERP`, a `PT_DYNAMIC` with `DT_NEEDED` strings): what the loader reads,
/// without needing a compiler in the test.
fn elf(wide: bool, machine: u16, interpreter: Option<&str>, needed: &[&str]) -> Vec<u8> {
    let (ehsize, phentsize, dynsize) = if wide { (64, 56, 16) } else { (52, 32, 8) };
    let word = |out: &mut Vec<u8>, value: usize| {
        if wide {
            out.extend_from_slice(&(value as u64).to_le_bytes());
        } else {
            out.extend_from_slice(&(value as u32).to_le_bytes());
        }
    };
    let mut strings = vec![0u8];
    let mut offsets = Vec::new();
    for name in needed {
        offsets.push(strings.len());
        strings.extend_from_slice(name.as_bytes());
        strings.push(0);
    }
    let interp: Vec<u8> = interpreter.map_or_else(Vec::new, |i| [i.as_bytes(), &[0]].concat());
    let phnum = if interpreter.is_some() { 3 } else { 2 };
    let interp_at = ehsize + phnum * phentsize;
    let strings_at = interp_at + interp.len();
    let dynamic_at = strings_at + strings.len();
    let dynamic_len = (needed.len() + 3) * dynsize;
    let total = dynamic_at + dynamic_len;
    let base = 0x1000;
    let mut out = b"\x7fELF".to_vec();
    out.extend_from_slice(&[if wide { 2 } else { 1 }, 1, 1, 0]);
    out.resize(16, 0);
    out.extend_from_slice(&3u16.to_le_bytes()); // ET_DYN
    out.extend_from_slice(&machine.to_le_bytes());
    out.extend_from_slice(&1u32.to_le_bytes());
    word(&mut out, 0);
    word(&mut out, ehsize);
    word(&mut out, 0);
    out.extend_from_slice(&0u32.to_le_bytes());
    for half in [ehsize, phentsize, phnum, 0, 0, 0] {
        out.extend_from_slice(&(half as u16).to_le_bytes());
    }
    let phdr = |out: &mut Vec<u8>, kind: u32, offset: usize, size: usize| {
        out.extend_from_slice(&kind.to_le_bytes());
        if wide {
            out.extend_from_slice(&0u32.to_le_bytes());
        }
        for value in [offset, base + offset, base + offset, size, size] {
            word(out, value);
        }
        if !wide {
            out.extend_from_slice(&0u32.to_le_bytes());
        }
        word(out, 8);
    };
    phdr(&mut out, 1, 0, total);
    if interpreter.is_some() {
        phdr(&mut out, 3, interp_at, interp.len());
    }
    phdr(&mut out, 2, dynamic_at, dynamic_len);
    out.extend_from_slice(&interp);
    out.extend_from_slice(&strings);
    for offset in offsets {
        word(&mut out, 1);
        word(&mut out, offset);
    }
    for (tag, value) in [(5, base + strings_at), (10, strings.len()), (0, 0)] {
        word(&mut out, tag);
        word(&mut out, value);
    }
    assert_eq!(out.len(), total);
    out
}

fn lib64(needed: &[&str]) -> Vec<u8> {
    elf(true, EM_X86_64, None, needed)
}

/// libc6 with its loader, a library and the programs that use it (one forgetting its
/// `Depends`), a 32-bit build of the library, and a package with the same soname outside the
/// library path.
fn elf_repo() -> TestRepo {
    let repo = TestRepo::new();
    pkg("libc6", "2.36-9", "amd64", &[("Multi-Arch", "same")])
        .file("/lib/x86_64-linux-gnu/libc.so.6", &lib64(&[]), 0o755)
        .file(
            "/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2",
            &lib64(&[]),
            0o755,
        )
        .symlink(LOADER, "/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2")
        .add_to(&repo, SUITE);
    pkg("libgreet1", "1.2-1", "amd64", &[("Depends", "libc6")])
        .file(
            "/usr/lib/x86_64-linux-gnu/libgreet.so.1.2.0",
            &lib64(&["libc.so.6"]),
            0o644,
        )
        .symlink(
            "/usr/lib/x86_64-linux-gnu/libgreet.so.1",
            "libgreet.so.1.2.0",
        )
        .add_to(&repo, SUITE);
    pkg("lib32greet1", "1.2-1", "amd64", &[])
        .file(
            "/usr/lib/i386-linux-gnu/libgreet.so.1",
            &elf(false, EM_386, None, &[]),
            0o644,
        )
        .add_to(&repo, SUITE);
    pkg("greet-docs-examples", "1.2-1", "amd64", &[])
        .file(
            "/usr/share/doc/greet/examples/libgreet.so.1",
            &lib64(&[]),
            0o644,
        )
        .add_to(&repo, SUITE);
    let program = elf(
        true,
        EM_X86_64,
        Some(LOADER),
        &["libgreet.so.1", "libc.so.6"],
    );
    pkg(
        "greeter",
        "1.0-1",
        "amd64",
        &[("Depends", "libc6, libgreet1")],
    )
    .file("/usr/bin/greeter", &program, 0o755)
    .add_to(&repo, SUITE);
    pkg("greeter-broken", "1.0-1", "amd64", &[("Depends", "libc6")])
        .file("/usr/bin/greeter-broken", &program, 0o755)
        .add_to(&repo, SUITE);
    // A JRE's layout: libjvm.so only in its private `server/` directory, needed by the JDK's
    // other libraries, which the `java` launcher loads after loading libjvm.so by path.
    let jvm = "/usr/lib/jvm/java-17-openjdk-amd64/lib";
    pkg("fake-jre", "17.0-1", "amd64", &[("Depends", "libc6")])
        .file(
            &format!("{jvm}/server/libjvm.so"),
            &lib64(&["libc.so.6"]),
            0o644,
        )
        .file(&format!("{jvm}/libawt.so"), &lib64(&["libjvm.so"]), 0o644)
        .file(&format!("{jvm}/libjava.so"), &lib64(&["libjvm.so"]), 0o644)
        .file(
            "/usr/lib/jvm/java-17-openjdk-amd64/bin/java",
            &elf(true, EM_X86_64, Some(LOADER), &["libc.so.6"]),
            0o755,
        )
        .file("/usr/share/fake-jre/README", b"not a program", 0o644)
        .add_to(&repo, SUITE);
    // Trixie's JRE: its sound library needs a soname the package only recommends; the same
    // library in a package that does not recommend it.
    let jvm21 = "/usr/lib/jvm/java-21-openjdk-amd64/lib";
    for (name, fields) in [
        (
            "fake-jre21",
            &[
                ("Depends", "libc6"),
                ("Recommends", "libfontconfig1, libsound2t64 (>= 1.0.16)"),
            ][..],
        ),
        ("fake-jre21-norec", &[("Depends", "libc6")][..]),
    ] {
        pkg(name, "21.0-1", "amd64", fields)
            .file(
                &format!("{jvm21}/libjsound.so"),
                &lib64(&["libsound.so.2", "libc.so.6"]),
                0o644,
            )
            .add_to(&repo, SUITE);
    }
    repo.publish(SUITE, PublishOptions::default());
    repo
}

fn project(repo: &TestRepo, packages: &[&str], image: &str) -> TestContext {
    let mut context = TestContext::new();
    context.manifest(&format!("{}{image}", manifest(repo, packages)));
    context.filters.push((repo.url(), "[REPO]".into()));
    context.filters.push((
        repo.keyring_path().display().to_string(),
        "[KEYRING]".into(),
    ));
    context
}

#[test]
fn a_complete_closure_passes_in_memory_on_disk_and_in_the_layout() {
    let repo = elf_repo();
    let context = project(&repo, &["greeter"], "");
    assert!(context.run(&["lock"]).status.success());
    let build = context.run(&["build", "--output", "oci", "--rootfs", "rootfs"]);
    assert!(build.status.success(), "{}", context.render(&build));
    let archive = context.run(&["build", "--format", "oci-archive", "--output", "img.tar"]);
    assert!(archive.status.success(), "{}", context.render(&archive));
    for args in [
        &["check"][..],
        &["check", "oci"][..],
        &["check", "img.tar"][..],
        &["check", "--rootfs", "rootfs"][..],
    ] {
        let out = context.run(args);
        assert_eq!(
            context.render(&out),
            "exit: 0\n--- stdout\namd64: 4 ELF files, 4 dynamic objects: every library and loader found\n--- stderr\n"
                .to_owned()
                + if args.len() == 1 {
                    "Fetched 3 packages (0.0 MB) into [TEMP]/cache\nCheck passed\n"
                } else {
                    "Check passed\n"
                },
            "{args:?}"
        );
    }
}

#[test]
fn build_fails_naming_the_missing_library_and_its_users() {
    let repo = elf_repo();
    let context = project(&repo, &["greeter-broken"], "");
    assert!(context.run(&["lock"]).status.success());
    let build = context.run(&["build", "--output", "oci"]);
    insta::assert_snapshot!(context.render(&build), @r"
    exit: 4
    --- stdout
    --- stderr
    Fetched 2 packages (0.0 MB) into [TEMP]/cache
    error: the image lacks shared libraries its ELF files need: `libgreet.so.1` (amd64), needed by `/usr/bin/greeter-broken`

    hint: add the packages that ship them (`debless provides libgreet.so.1`, or `debless add --for FILE`), or list them in `[image] allow-missing-libraries`; `debless check` lists them all, `debless build --no-check` skips the check
    ");
    let unchecked = context.run(&["build", "--no-check", "--output", "oci"]);
    assert!(unchecked.status.success(), "{}", context.render(&unchecked));
    let check = context.run(&["check", "oci"]);
    snapshot!("check_missing_report", context.render(&check));
    let json = context.run(&["check", "oci", "--json"]);
    assert_eq!(json.status.code(), Some(4));
    let report: serde_json::Value = serde_json::from_slice(&json.stdout).expect("JSON report");
    assert_eq!(report[0]["passed"], false);
    assert_eq!(report[0]["missing"][0]["name"], "libgreet.so.1");
    assert_eq!(
        report[0]["missing"][0]["needed-by"],
        serde_json::json!(["/usr/bin/greeter-broken"])
    );
}

#[test]
fn allowed_missing_libraries_do_not_fail() {
    let repo = elf_repo();
    let context = project(
        &repo,
        &["greeter-broken"],
        "\n[image]\nallow-missing-libraries = [\"libgreet.so.*\"]\n",
    );
    assert!(context.run(&["lock"]).status.success());
    let build = context.run(&["build"]);
    assert!(build.status.success(), "{}", context.render(&build));
    assert!(
        String::from_utf8_lossy(&build.stderr).contains(
            "Note: amd64: missing but allowed by `allow-missing-libraries`: libgreet.so.1"
        ),
        "{}",
        context.render(&build)
    );
    let check = context.run(&["check"]);
    insta::assert_snapshot!(context.render(&check), @r"
    exit: 0
    --- stdout
    amd64: 3 ELF files, 3 dynamic objects: every library and loader found
      allowed library libgreet.so.1
        needed by /usr/bin/greeter-broken
    --- stderr
    Fetched 2 packages (0.0 MB) into [TEMP]/cache
    Check passed
    ");
}

#[test]
fn provides_reads_the_signed_contents_index() {
    let repo = elf_repo();
    let context = project(&repo, &["libc6"], "");
    let out = context.run(&[
        "provides",
        "libgreet.so.1",
        "/usr/lib/x86_64-linux-gnu/libgreet.so.1.2.0",
    ]);
    snapshot!("provides_names_and_paths", context.render(&out));
    let json = context.run(&["provides", "--json", "ld-linux-x86-64.so.2"]);
    assert!(json.status.success(), "{}", context.render(&json));
    let hits: serde_json::Value = serde_json::from_slice(&json.stdout).expect("JSON");
    assert_eq!(
        hits,
        serde_json::json!([
            {"path": "/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2", "package": "libc6",
             "query": "ld-linux-x86-64.so.2", "suite": SUITE, "section": "misc"},
            {"path": LOADER, "package": "libc6",
             "query": "ld-linux-x86-64.so.2", "suite": SUITE, "section": "misc"},
        ])
    );
    // The index is fetched by its signed sha256 and cached: the second run asks for none.
    let fetched = |repo: &TestRepo| {
        repo.requests()
            .iter()
            .filter(|r| r.contains("Contents"))
            .count()
    };
    let before = fetched(&repo);
    assert!(context.run(&["provides", "libc.so.6"]).status.success());
    assert_eq!(fetched(&repo), before);
    let no_index = context.run(&["provides", "--arch", "riscv64", "libc.so.6"]);
    assert_eq!(no_index.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&no_index.stderr)
            .contains("the manifest's suites publish no `Contents-riscv64` index"),
        "{}",
        context.render(&no_index)
    );
    let none = context.run(&["provides", "libnothing.so.9"]);
    insta::assert_snapshot!(context.render(&none), @r"
    exit: 1
    --- stdout
    --- stderr
    error: no package of the manifest's suites ships `libnothing.so.9` on amd64

    hint: check the spelling; a path must be absolute and exact, a bare name matches any directory
    ");
}

#[test]
fn add_for_an_application_library_adds_its_package_and_relocks() {
    let repo = elf_repo();
    let context = project(
        &repo,
        &["libc6"],
        "\n[[image.files]]\nsrc = \"plugin.so\"\ndst = \"/app/plugin.so\"\n",
    );
    std::fs::write(
        context.path().join("plugin.so"),
        lib64(&["libgreet.so.1", "libc.so.6"]),
    )
    .expect("write the plugin");
    assert!(context.run(&["lock"]).status.success());
    let check = context.run(&["check"]);
    assert_eq!(check.status.code(), Some(4), "{}", context.render(&check));
    let add = context.run(&["add", "--for", "plugin.so"]);
    snapshot!("add_for_plugin", context.render(&add));
    snapshot!(
        "add_for_plugin_manifest",
        context.filter(&context.read("debless.toml"))
    );
    let lock = context.read("debless.lock");
    assert!(lock.contains("name = \"libgreet1\""), "{lock}");
    let check = context.run(&["check"]);
    assert!(check.status.success(), "{}", context.render(&check));
    // Nothing left to add: a second run changes nothing.
    let again = context.run(&["add", "--for", "plugin.so"]);
    assert!(again.status.success(), "{}", context.render(&again));
    assert_eq!(
        context.read("debless.toml").matches("libgreet1").count(),
        1,
        "added once"
    );
}

#[test]
fn size_measures_the_locked_image_like_build_report_without_writing_one() {
    let repo = elf_repo();
    let context = project(&repo, &["greeter"], "");
    assert!(context.run(&["lock"]).status.success());
    let size = context.run(&["size", "--json"]);
    assert!(size.status.success(), "{}", context.render(&size));
    let sized: serde_json::Value = serde_json::from_slice(&size.stdout).expect("JSON");
    assert!(
        !context.read("debless.lock").contains("[image.digest]"),
        "size records no image digest"
    );
    let build = context.run(&["build", "--report", "--json"]);
    assert!(build.status.success(), "{}", context.render(&build));
    let built: serde_json::Value = serde_json::from_slice(&build.stdout).expect("JSON");
    let report = &built["images"][0]["report"];
    assert_eq!(sized[0]["packages"], report["packages"]);
    assert_eq!(sized[0]["total"], report["total"]);
    assert_eq!(sized[0]["application"], 0);
    let text = context.run(&["size", "--offline"]);
    insta::assert_snapshot!(context.render(&text), @r"
    exit: 0
    --- stdout
    amd64: 3 packages, 1966 bytes after filters
      BYTES  PACKAGE
        798  libc6 2.36-9 amd64
        632  greeter 1.0-1 amd64
        536  libgreet1 1.2-1 amd64
       1966  total
          0  application files ([[image.files]], tars)
    --- stderr
    Fetched 3 packages (0.0 MB) into [TEMP]/cache
    ");
}

#[test]
fn add_names_packages_into_the_manifest_and_relocks() {
    let repo = elf_repo();
    let context = project(&repo, &["libc6"], "");
    let add = context.run(&["add", "greeter"]);
    assert!(add.status.success(), "{}", context.render(&add));
    assert!(
        context
            .read("debless.toml")
            .contains(r#"packages = ["libc6", "greeter"]"#)
    );
    let lock = context.read("debless.lock");
    assert!(
        lock.contains("name = \"libgreet1\""),
        "the closure is locked: {lock}"
    );
    let unknown = context.run(&["add", "no-such-package"]);
    assert_eq!(
        unknown.status.code(),
        Some(1),
        "{}",
        context.render(&unknown)
    );
    let bad = context.run(&["add", "--for", "debless.toml"]);
    insta::assert_snapshot!(context.render(&bad), @r"
    exit: 1
    --- stdout
    --- stderr
    error: `--for debless.toml`: not an ELF file

    hint: name ELF shared objects or executables
    ");
}

#[test]
fn a_library_off_the_search_path_warns_and_one_nowhere_fails() {
    let repo = elf_repo();
    let context = project(&repo, &["fake-jre"], "");
    assert!(context.run(&["lock"]).status.success());
    let build = context.run(&["build", "--output", "oci"]);
    assert!(build.status.success(), "{}", context.render(&build));
    let stderr = String::from_utf8_lossy(&build.stderr);
    assert!(
        stderr.contains(
            "Warning: amd64: `libjvm.so` needed by `/usr/lib/jvm/java-17-openjdk-amd64/lib/libawt.so`, `/usr/lib/jvm/java-17-openjdk-amd64/lib/libjava.so`: it is in the image at `/usr/lib/jvm/java-17-openjdk-amd64/lib/server/libjvm.so` but outside the loader's search path; not an error"
        ),
        "{stderr}"
    );
    let check = context.run(&["check", "oci"]);
    insta::assert_snapshot!(context.render(&check), @r"
    exit: 0
    --- stdout
    amd64: 6 ELF files, 6 dynamic objects: every library and loader found
      warning library libjvm.so (not an error)
        needed by /usr/lib/jvm/java-17-openjdk-amd64/lib/libawt.so
        needed by /usr/lib/jvm/java-17-openjdk-amd64/lib/libjava.so
        (it is in the image at `/usr/lib/jvm/java-17-openjdk-amd64/lib/server/libjvm.so` but outside the loader's search path; not an error: ld.so reuses a library already loaded under that soname, so its users run when they are loaded after it (as the `java` launcher loads libjvm.so by path, or a program its plugins); a program that needs it at start-up would need `/usr/lib/jvm/java-17-openjdk-amd64/lib/server` in `LD_LIBRARY_PATH` or a `DT_RUNPATH`)
    --- stderr
    Check passed
    ");
    let json = context.run(&["check", "oci", "--json"]);
    let report: serde_json::Value = serde_json::from_slice(&json.stdout).expect("JSON report");
    assert_eq!(report[0]["passed"], true);
    assert_eq!(report[0]["off-path"][0]["name"], "libjvm.so");
    assert_eq!(
        report[0]["off-path"][0]["found-off-path"],
        serde_json::json!(["/usr/lib/jvm/java-17-openjdk-amd64/lib/server/libjvm.so"])
    );

    // A soname no file provides stays an error, next to the warning.
    let context = project(&repo, &["fake-jre", "greeter-broken"], "");
    assert!(context.run(&["lock"]).status.success());
    let build = context.run(&["build", "--output", "oci"]);
    assert_eq!(build.status.code(), Some(4), "{}", context.render(&build));
    assert!(String::from_utf8_lossy(&build.stderr).contains("`libgreet.so.1` (amd64)"));
}

#[test]
fn a_soname_only_recommended_warns_naming_the_package_and_otherwise_fails() {
    let repo = elf_repo();
    let context = project(&repo, &["fake-jre21"], "");
    assert!(context.run(&["lock"]).status.success());
    let build = context.run(&["build", "--output", "oci"]);
    assert!(build.status.success(), "{}", context.render(&build));
    let stderr = String::from_utf8_lossy(&build.stderr);
    assert!(
        stderr.contains(
            "Warning: amd64: `libsound.so.2` needed by `/usr/lib/jvm/java-21-openjdk-amd64/lib/libjsound.so`: not in the image; fake-jre21 only recommends libsound2t64 (an optional feature; add it to `packages` if you need it)"
        ),
        "{stderr}"
    );
    // The layout read back (status.d from the layer) says the same.
    let json = context.run(&["check", "oci", "--json"]);
    assert!(json.status.success(), "{}", context.render(&json));
    let report: serde_json::Value = serde_json::from_slice(&json.stdout).expect("JSON report");
    assert_eq!(
        report[0]["optional"],
        serde_json::json!([{
            "kind": "library",
            "name": "libsound.so.2",
            "needed-by": ["/usr/lib/jvm/java-21-openjdk-amd64/lib/libjsound.so"],
            "optional": {"package": "fake-jre21", "field": "Recommends", "provider": "libsound2t64"},
        }])
    );
    // The same library in a package without that Recommends: an error.
    let context = project(&repo, &["fake-jre21-norec"], "");
    assert!(context.run(&["lock"]).status.success());
    let build = context.run(&["build", "--output", "oci"]);
    assert_eq!(build.status.code(), Some(4), "{}", context.render(&build));
    assert!(String::from_utf8_lossy(&build.stderr).contains("`libsound.so.2` (amd64)"));
}

#[test]
fn the_entrypoint_must_exist_be_executable_and_find_its_loader() {
    let repo = elf_repo();
    let image = |entrypoint: &str| format!("\n[image]\nentrypoint = [\"{entrypoint}\"]\n");
    // The JRE's launcher link is not there (no alternatives): the build names it.
    let context = project(&repo, &["greeter", "fake-jre"], &image("/usr/bin/java"));
    assert!(context.run(&["lock"]).status.success());
    let build = context.run(&["build", "--output", "oci"]);
    insta::assert_snapshot!(context.render(&build), @r"
    exit: 4
    --- stdout
    --- stderr
    Fetched 4 packages (0.0 MB) into [TEMP]/cache
    error: the image's program `/usr/bin/java` is not in the image

    hint: add the package that ships it (`debless provides /usr/bin/java`) or fix `[image] entrypoint`; `debless build --no-check` skips the check
    ");
    let unchecked = context.run(&["build", "--no-check", "--output", "oci"]);
    assert!(unchecked.status.success(), "{}", context.render(&unchecked));

    for (entrypoint, expected) in [
        ("/usr/share/fake-jre/README", Some("is not executable")),
        ("greeter", None),
        ("/usr/lib/jvm/java-17-openjdk-amd64/bin/java", None),
    ] {
        let context = project(&repo, &["greeter", "fake-jre"], &image(entrypoint));
        assert!(context.run(&["lock"]).status.success());
        let build = context.run(&["build", "--output", "oci"]);
        match expected {
            Some(text) => {
                assert_eq!(build.status.code(), Some(4), "{}", context.render(&build));
                assert!(String::from_utf8_lossy(&build.stderr).contains(text));
            }
            None => assert!(build.status.success(), "{}", context.render(&build)),
        }
    }

    // `cmd[0]` is the program when there is no entrypoint; a program without its loader fails.
    let context = project(
        &repo,
        &["fake-jre"],
        "\n[image]\ncmd = [\"/usr/lib/jvm/java-17-openjdk-amd64/bin/java\"]\nexclude-paths = [\"/lib64/*\"]\n",
    );
    assert!(context.run(&["lock"]).status.success());
    let build = context.run(&["build", "--output", "oci"]);
    assert_eq!(build.status.code(), Some(4), "{}", context.render(&build));
}
