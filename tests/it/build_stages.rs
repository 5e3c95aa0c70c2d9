//! The build half of the pipeline on synthetic and real `.deb`s: reading archives, assembling
//! the rootfs (hostile entries, conflicts, merged /usr, status.d), writing it to a directory
//! like `dpkg-deb -x` would, and deterministic OCI output.

use std::io::Read;
use std::path::Path;
use std::process::Command;

use debless::deb::SpillFile;
use debless::debian::Arch;
use debless::oci::{self, Compression, ImageSpec, OciOptions};
use debless::rootfs::{self, MergedUsr, NodeKind, PackageDeb, Rootfs, RootfsError, RootfsOptions};

use crate::support::debs::{Comp, DebBuilder, Kind, write_all};

const EPOCH: i64 = 1_700_000_000;

fn options(merged_usr: MergedUsr) -> RootfsOptions {
    RootfsOptions {
        merged_usr,
        allow_overwrite: Vec::new(),
        generated_mtime: Some(EPOCH),
        // Large files' bytes go to an anonymous scratch file, as in `debless build`.
        scratch: Some(SpillFile::new_in(&std::env::temp_dir()).expect("scratch file")),
        ..RootfsOptions::default()
    }
}

fn assemble(debs: &[DebBuilder], opts: &RootfsOptions) -> Result<Rootfs, RootfsError> {
    let dir = tempfile::tempdir().expect("temp dir");
    let written = write_all(dir.path(), debs);
    rootfs::assemble(&written, opts)
}

fn oci_options(layers: usize) -> OciOptions {
    OciOptions {
        epoch: EPOCH,
        compression: Compression::Gzip,
        arch: Arch::parse("amd64").expect("known"),
        layers,
    }
}

/// A small, realistic set: a merged-/usr base-files, a libc with a loader link, a tool with a
/// setuid binary and a hard link, and a long path.
fn sample_packages() -> Vec<DebBuilder> {
    vec![
        DebBuilder::new("base-files", "13.8", "amd64")
            .symlink("bin", "usr/bin")
            .symlink("lib", "usr/lib")
            .symlink("lib64", "usr/lib64")
            .symlink("sbin", "usr/sbin")
            .dir("tmp", 0o1777)
            .dir("var/local", 0o2775)
            .owned_by(0, 50)
            .file("usr/lib/os-release", b"ID=debian\n", 0o644)
            .symlink("etc/os-release", "../usr/lib/os-release"),
        DebBuilder::new("libc6", "2.41-12", "amd64")
            .compression(Comp::Gz)
            .file("usr/lib/x86_64-linux-gnu/libc.so.6", b"\x7fELF libc", 0o755)
            .symlink(
                "usr/lib64/ld-linux-x86-64.so.2",
                "../lib/x86_64-linux-gnu/ld-linux-x86-64.so.2",
            )
            .file(
                "usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2",
                b"\x7fELF ld",
                0o755,
            ),
        DebBuilder::new("mount", "2.41-5", "amd64")
            .compression(Comp::Zst)
            .file("usr/bin/mount", b"\x7fELF mount", 0o4755)
            .file("usr/bin/perl5.40.1", b"#!perl", 0o755)
            .hardlink("usr/bin/perl", "usr/bin/perl5.40.1")
            .symlink("usr/share/zoneinfo/localtime", "/etc/localtime")
            .file(
                &format!(
                    "usr/share/doc/mount/{}/README",
                    "long-directory-name".repeat(6)
                ),
                b"long\n",
                0o644,
            ),
    ]
}

// ---------------------------------------------------------------------------------------------
// Hostile packages

#[test]
fn hostile_entries_name_package_and_path() {
    let cases: Vec<(&str, DebBuilder, &str)> = vec![
        (
            "dot-dot traversal",
            DebBuilder::new("evil-dotdot", "1", "amd64").raw_entry(
                "./../../etc/passwd",
                Kind::File(b"x".to_vec()),
                0o644,
            ),
            "./../../etc/passwd",
        ),
        (
            "absolute name",
            DebBuilder::new("evil-absolute", "1", "amd64").raw_entry(
                "/etc/passwd",
                Kind::File(b"x".to_vec()),
                0o644,
            ),
            "/etc/passwd",
        ),
        (
            "symlink escape",
            DebBuilder::new("evil-symlink", "1", "amd64")
                .symlink("x", "../../..")
                .raw_entry("./x/evil", Kind::File(b"x".to_vec()), 0o644),
            "./x/evil",
        ),
        (
            "absolute symlink escape",
            DebBuilder::new("evil-abslink", "1", "amd64")
                .symlink("usr/up", "/../..")
                .raw_entry("./usr/up/evil", Kind::File(b"x".to_vec()), 0o644),
            "./usr/up/evil",
        ),
        (
            "hardlink escape",
            DebBuilder::new("evil-hardlink", "1", "amd64").raw_entry(
                "./h",
                Kind::Hardlink("../../etc/shadow".into()),
                0o644,
            ),
            "./h",
        ),
        (
            "hardlink to a missing file",
            DebBuilder::new("evil-hardlink2", "1", "amd64").raw_entry(
                "./h",
                Kind::Hardlink("./etc/shadow".into()),
                0o644,
            ),
            "./h",
        ),
        (
            "device node",
            DebBuilder::new("evil-device", "1", "amd64").raw_entry(
                "./dev/sda",
                Kind::Other(b'3'),
                0o660,
            ),
            "./dev/sda",
        ),
        (
            "fifo",
            DebBuilder::new("evil-fifo", "1", "amd64").raw_entry(
                "./run/fifo",
                Kind::Other(b'6'),
                0o600,
            ),
            "./run/fifo",
        ),
    ];
    for (what, deb, path) in cases {
        let name = deb
            .control_text()
            .lines()
            .next()
            .expect("Package line")
            .trim_start_matches("Package: ")
            .to_owned();
        let err = assemble(&[deb], &options(MergedUsr::No))
            .expect_err(what)
            .to_string();
        assert!(
            err.contains(&format!("`{name}`")),
            "{what}: error does not name the package: {err}"
        );
        assert!(
            err.contains(&format!("`{path}`")),
            "{what}: error does not name the path: {err}"
        );
    }
}

#[test]
fn hardlink_into_another_package_is_refused() {
    let first = DebBuilder::new("first", "1", "amd64").file("usr/bin/a", b"a", 0o755);
    let second = DebBuilder::new("second", "1", "amd64").hardlink("usr/bin/b", "usr/bin/a");
    let err = assemble(&[first, second], &options(MergedUsr::No)).expect_err("cross-package link");
    assert!(
        matches!(&err, RootfsError::BadHardlink { package, path, .. } if package == "second" && path == "./usr/bin/b"),
        "{err}"
    );
}

#[test]
fn truncated_and_wrong_format_debs_name_the_file() {
    let dir = tempfile::tempdir().expect("temp dir");
    let good = DebBuilder::new("cut", "1", "amd64").file("usr/share/a", &[7u8; 4000], 0o644);
    let bytes = good.build();
    let truncated = dir.path().join("cut_1_amd64.deb");
    std::fs::write(&truncated, &bytes[..bytes.len() - 100]).expect("write");
    let deb = PackageDeb {
        name: "cut".into(),
        version: "1".into(),
        arch: "amd64".into(),
        path: truncated.clone(),
    };
    let err = rootfs::assemble(&[deb], &options(MergedUsr::No))
        .expect_err("truncated")
        .to_string();
    assert!(
        err.contains("`cut`")
            && err.contains(&truncated.display().to_string())
            && err.contains("data.tar.xz"),
        "{err}"
    );

    let future = DebBuilder::new("future", "1", "amd64")
        .debian_binary("3.0\n")
        .file("a", b"a", 0o644);
    let err = assemble(&[future], &options(MergedUsr::No))
        .expect_err("format 3.0")
        .to_string();
    assert!(
        err.contains("`future`") && err.contains("future_1_amd64.deb") && err.contains("3.0"),
        "{err}"
    );
}

#[test]
fn all_member_compressions_read_the_same() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut listings = Vec::new();
    for comp in [Comp::None, Comp::Gz, Comp::Xz, Comp::Zst] {
        let deb = DebBuilder::new("same", "1", "all")
            .compression(comp)
            .file("usr/share/x", b"payload", 0o644)
            .symlink("usr/share/y", "x")
            .write(dir.path());
        let opened = debless::deb::Deb::open(&deb.path).expect("readable");
        assert!(
            opened
                .md5sums()
                .is_some_and(|m| m.ends_with(b"  usr/share/x\n"))
        );
        listings.push(opened.data_entries().expect("data"));
    }
    assert!(listings.windows(2).all(|w| w[0] == w[1]));
    assert_eq!(
        listings[0].len(),
        5,
        "./, ./usr/, ./usr/share/, x, y: {:?}",
        listings[0]
    );
}

// ---------------------------------------------------------------------------------------------
// Conflicts

#[test]
fn conflicting_files_name_both_packages() {
    let a = DebBuilder::new("alpha", "1", "amd64").file("usr/bin/tool", b"one", 0o755);
    let b = DebBuilder::new("beta", "1", "amd64").file("usr/bin/tool", b"two", 0o755);
    let err = assemble(&[a.clone(), b.clone()], &options(MergedUsr::No)).expect_err("conflict");
    assert!(
        matches!(&err, RootfsError::Conflict { path, first, second } if path == "usr/bin/tool" && first == "alpha" && second == "beta")
    );
    assert!(err.to_string().contains("`alpha`") && err.to_string().contains("`beta`"));

    let allowed = RootfsOptions {
        allow_overwrite: vec!["beta".into()],
        ..options(MergedUsr::No)
    };
    let tree = assemble(&[a.clone(), b.clone()], &allowed).expect("beta may overwrite");
    assert_eq!(
        tree.tree().get("usr/bin/tool").map(|n| &n.kind),
        Some(&NodeKind::File(b"two".into()))
    );
    let by_glob = RootfsOptions {
        allow_overwrite: vec!["/usr/bin/*".into()],
        ..options(MergedUsr::No)
    };
    assert!(assemble(&[a, b], &by_glob).is_ok());
}

#[test]
fn identical_files_are_shared_and_directories_merge() {
    let lib = |arch: &str| {
        DebBuilder::new("libfoo1", "1", arch)
            .control_fields("Multi-Arch: same\n")
            .file("usr/share/doc/libfoo1/copyright", b"same text", 0o644)
            .dir("usr/share/foo", if arch == "amd64" { 0o755 } else { 0o700 })
    };
    let tree = assemble(&[lib("amd64"), lib("i386")], &options(MergedUsr::No))
        .expect("identical files are fine");
    let copyright = tree
        .tree()
        .get("usr/share/doc/libfoo1/copyright")
        .expect("present");
    assert_eq!(copyright.owner, Some(0));
    assert_eq!(
        tree.tree().get("usr/share/foo").map(|n| n.mode),
        Some(0o755),
        "first package's directory wins"
    );
    // Both instances get a status.d record; the second by name:arch.
    assert!(tree.tree().get("var/lib/dpkg/status.d/libfoo1").is_some());
    assert!(
        tree.tree()
            .get("var/lib/dpkg/status.d/libfoo1:i386")
            .is_some()
    );
}

// ---------------------------------------------------------------------------------------------
// Merged /usr

#[test]
fn merged_usr_moves_unmerged_paths_into_usr() {
    let bookworm_style = DebBuilder::new("bash", "5.2", "amd64")
        .file("bin/bash", b"bash", 0o755)
        .file("sbin/ldconfig", b"ldconfig", 0o755)
        .file("lib/x86_64-linux-gnu/libtinfo.so.6", b"tinfo", 0o644)
        .symlink("lib64/ld-other.so.1", "/lib/x86_64-linux-gnu/libtinfo.so.6")
        .symlink("usr/share/bash/tools", "/bin")
        .file("usr/share/bash/tools/bashbug", b"#!/bin/sh", 0o755);
    let mut packages = sample_packages();
    packages.push(bookworm_style.clone());
    let merged = assemble(&packages, &options(MergedUsr::Auto)).expect("assembles");
    assert!(merged.merged_usr(), "base-files ships ./bin -> usr/bin");
    let tree = merged.tree();
    for (link, target) in [
        ("bin", "usr/bin"),
        ("sbin", "usr/sbin"),
        ("lib", "usr/lib"),
        ("lib64", "usr/lib64"),
    ] {
        assert_eq!(
            tree.get(link).map(|n| &n.kind),
            Some(&NodeKind::Symlink(target.into())),
            "{link}"
        );
    }
    assert!(
        tree.get("lib32").is_none(),
        "no link for a directory that does not exist under usr"
    );
    assert_eq!(
        tree.get("bin").and_then(|n| n.owner),
        Some(0),
        "base-files' link keeps its owner"
    );
    assert!(
        tree.get("usr/bin/bashbug").is_some(),
        "a path reaching /bin through another symlink lands in usr/bin"
    );
    assert!(tree.get("usr/bin/bash").is_some());
    assert!(
        tree.get("usr/sbin/ldconfig").is_some(),
        "sbin goes to usr/sbin, not usr/bin"
    );
    assert_eq!(
        tree.get("usr/lib64/ld-other.so.1").map(|n| &n.kind),
        Some(&NodeKind::Symlink(
            "/lib/x86_64-linux-gnu/libtinfo.so.6".into()
        )),
        "symlink targets are kept as written"
    );
    assert!(tree.get("usr/lib/x86_64-linux-gnu/libtinfo.so.6").is_some());
    assert!(
        tree.iter()
            .all(|(p, _)| !p.starts_with("bin/") && !p.starts_with("lib/"))
    );

    let unmerged = assemble(&[bookworm_style], &options(MergedUsr::Auto)).expect("assembles");
    assert!(!unmerged.merged_usr());
    assert!(unmerged.tree().get("bin").is_some_and(|n| n.is_dir()));
    assert!(unmerged.tree().get("bin/bash").is_some());
}

// ---------------------------------------------------------------------------------------------
// dpkg database

#[test]
fn status_d_holds_control_and_md5sums() {
    let tree = assemble(&sample_packages(), &options(MergedUsr::Auto)).expect("assembles");
    let file = |path: &str| match tree.tree().get(path).map(|n| (&n.kind, n.mode, n.uid)) {
        Some((NodeKind::File(data), 0o644, 0)) => {
            String::from_utf8(data.read().expect("readable").into_owned()).expect("utf-8")
        }
        other => panic!("{path}: {other:?}"),
    };
    let status = file("var/lib/dpkg/status.d/mount");
    assert!(
        status.starts_with("Package: mount\nStatus: install ok installed\nVersion: 2.41-5\n"),
        "{status}"
    );
    assert!(status.ends_with(" a package built by the debless tests\n"));
    let md5sums = file("var/lib/dpkg/status.d/mount.md5sums");
    assert_eq!(md5sums, sample_packages()[2].md5sums_text());
    assert!(md5sums.contains("  usr/bin/mount\n"));
}

// ---------------------------------------------------------------------------------------------
// OCI

fn build_digest(packages: &[DebBuilder], layers: usize) -> (String, Vec<String>) {
    let rootfs = assemble(packages, &options(MergedUsr::Auto)).expect("assembles");
    let image =
        oci::build_image(&rootfs, &ImageSpec::default(), &oci_options(layers)).expect("image");
    (
        image.manifest.digest.to_string(),
        image.layers.iter().map(|l| l.digest.to_string()).collect(),
    )
}

#[test]
fn image_digest_does_not_depend_on_thread_count() {
    let mut packages = sample_packages();
    for i in 0..6 {
        packages.push(DebBuilder::new(&format!("extra{i}"), "1", "all").file(
            &format!("usr/share/extra{i}/data"),
            &vec![i as u8; 5000],
            0o644,
        ));
    }
    let single = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .expect("pool");
    let many = rayon::ThreadPoolBuilder::new()
        .num_threads(4)
        .build()
        .expect("pool");
    let one_thread = single.install(|| build_digest(&packages, 3));
    let four_threads = many.install(|| build_digest(&packages, 3));
    assert_eq!(one_thread, four_threads);
    assert_eq!(one_thread.1.len(), 3);
    assert_ne!(
        build_digest(&packages, 1).0,
        one_thread.0,
        "layer count changes the image"
    );
}

/// Files over the inline limit live in the scratch file while the tree does; the image is the
/// same byte for byte as with every file in memory, hard links and shared `Multi-Arch: same`
/// files included, and the scratch directory is left as it was, whether assembling succeeds
/// or fails.
#[test]
fn spilled_contents_give_the_same_image_and_leave_nothing_behind() {
    let big = |seed: u8| -> Vec<u8> { (0..70_000u32).map(|i| (i as u8) ^ seed).collect() };
    let shared = |arch: &str| {
        DebBuilder::new("libbig1", "1", arch)
            .control_fields("Multi-Arch: same\n")
            .file("usr/share/big/table", &big(7), 0o644)
    };
    let mut packages = sample_packages();
    packages.push(
        DebBuilder::new("bigtool", "1", "amd64")
            .file("usr/bin/bigtool", &big(1), 0o755)
            .hardlink("usr/bin/bigtool-alias", "usr/bin/bigtool")
            .file("usr/share/bigtool/data", &big(2), 0o644),
    );
    packages.push(shared("amd64"));
    packages.push(shared("i386"));
    let scratch = tempfile::tempdir().expect("scratch dir");
    let spilled_options = RootfsOptions {
        scratch: Some(SpillFile::new_in(scratch.path()).expect("scratch file")),
        ..options(MergedUsr::Auto)
    };
    let in_memory_options = RootfsOptions {
        scratch: None,
        ..options(MergedUsr::Auto)
    };
    let image = |opts: &RootfsOptions| {
        let rootfs = assemble(&packages, opts).expect("assembles");
        let image =
            oci::build_image(&rootfs, &ImageSpec::default(), &oci_options(2)).expect("image");
        (rootfs, image.manifest.digest.to_string())
    };
    let (spilled, spilled_digest) = image(&spilled_options);
    let (_, in_memory_digest) = image(&in_memory_options);
    assert_eq!(spilled_digest, in_memory_digest);
    let table = spilled
        .tree()
        .file_content("usr/share/big/table")
        .expect("a file");
    assert!(!table.is_inline(), "a 70 kB file is spilled");
    assert_eq!(
        spilled
            .tree()
            .file_bytes("usr/bin/bigtool-alias")
            .as_deref(),
        Some(big(1).as_slice())
    );
    drop(spilled);
    let left: Vec<_> = std::fs::read_dir(scratch.path()).expect("list").collect();
    assert!(left.is_empty(), "scratch files have no name: {left:?}");

    // A conflict midway fails the assembly; nothing is left behind either.
    let clash = DebBuilder::new("zclash", "1", "amd64").file("usr/bin/bigtool", &big(9), 0o755);
    packages.push(clash);
    assert!(matches!(
        assemble(&packages, &spilled_options),
        Err(RootfsError::Conflict { .. })
    ));
    assert_eq!(std::fs::read_dir(scratch.path()).expect("list").count(), 0);
}

/// `type mode uid:gid mtime path [-> target]` for every entry of a layer blob.
fn layer_listing(path: &Path) -> Vec<String> {
    let file = std::fs::File::open(path).expect("blob");
    let mut archive = tar::Archive::new(flate2::read::MultiGzDecoder::new(file));
    let mut lines = Vec::new();
    for entry in archive.entries().expect("tar") {
        let mut entry = entry.expect("entry");
        let header = entry.header().clone();
        let kind = match header.entry_type() {
            tar::EntryType::Directory => 'd',
            tar::EntryType::Regular => '-',
            tar::EntryType::Symlink => 'l',
            tar::EntryType::Link => 'h',
            other => panic!("unexpected type {other:?}"),
        };
        let link = entry
            .link_name()
            .expect("link")
            .map(|l| format!(" -> {}", l.display()))
            .unwrap_or_default();
        let mut data = Vec::new();
        entry.read_to_end(&mut data).expect("data");
        let user = format!(
            "{:?}/{:?}",
            header.username().expect("utf-8").unwrap_or_default(),
            header.groupname().expect("utf-8").unwrap_or_default()
        );
        lines.push(format!(
            "{kind} {:04o} {}:{} {user} {} {}{link} ({} bytes)",
            header.mode().expect("mode"),
            header.uid().expect("uid"),
            header.gid().expect("gid"),
            header.mtime().expect("mtime"),
            entry.path().expect("path").display(),
            data.len()
        ));
    }
    lines
}

#[test]
fn layer_listing_snapshot() {
    let rootfs = assemble(&sample_packages(), &options(MergedUsr::Auto)).expect("assembles");
    let opts = OciOptions {
        epoch: EPOCH - 1,
        ..oci_options(1)
    };
    let image = oci::build_image(&rootfs, &ImageSpec::default(), &opts).expect("image");
    let listing = layer_listing(&image.store.path(&image.layers[0].digest)).join("\n");
    snapshot!("layer_listing", listing);
}

#[test]
fn layers_group_packages_and_keep_parents() {
    let rootfs = assemble(&sample_packages(), &options(MergedUsr::Auto)).expect("assembles");
    let image = oci::build_image(&rootfs, &ImageSpec::default(), &oci_options(3)).expect("image");
    assert_eq!(image.layers.len(), 3);
    let listings: Vec<Vec<String>> = image
        .layers
        .iter()
        .map(|l| layer_listing(&image.store.path(&l.digest)))
        .collect();
    // The mount layer carries its own parents and the hard link after its file.
    let mount_layer = listings
        .iter()
        .find(|l| l.iter().any(|e| e.contains(" usr/bin/mount ")))
        .expect("mount layer");
    let position = |needle: &str| {
        mount_layer
            .iter()
            .position(|e| e.contains(needle))
            .unwrap_or_else(|| panic!("{needle} in {mount_layer:#?}"))
    };
    assert!(position("d 0755 0:0 \"\"/\"\" 1700000000 usr ") < position(" usr/bin/mount "));
    assert!(position(" usr/bin/perl (") < position(" usr/bin/perl5.40.1 -> usr/bin/perl"));
    assert!(
        mount_layer.iter().all(|e| !e.contains(" bin ")),
        "links stay in the bottom layer"
    );
}

/// Compares `Rootfs::write_to_dir` with `dpkg-deb -x` of the same packages, in order,
/// ignoring the status.d files debless adds.
/// Returns how many paths were compared.
fn compare_with_dpkg_deb(debs: &[PackageDeb], merged: MergedUsr) -> usize {
    let out = tempfile::tempdir().expect("temp dir");
    let ours = out.path().join("ours");
    let theirs = out.path().join("theirs");
    std::fs::create_dir(&theirs).expect("mkdir");
    for deb in debs {
        let status = Command::new("dpkg-deb")
            .arg("-x")
            .arg(&deb.path)
            .arg(&theirs)
            .status()
            .expect("dpkg-deb runs");
        assert!(status.success(), "dpkg-deb -x {}", deb.path.display());
    }
    let rootfs = rootfs::assemble(debs, &options(merged)).expect("assembles");
    rootfs.write_to_dir(&ours).expect("writes");
    assert!(
        matches!(
            rootfs.write_to_dir(&ours),
            Err(RootfsError::TargetNotEmpty { .. })
        ),
        "a non-empty target is refused"
    );
    let ours = crate::support::tree::walk(&ours);
    let theirs = crate::support::tree::walk(&theirs);
    let differences = crate::support::tree::differences(&ours, &theirs, |path| {
        path.starts_with("var/lib/dpkg/status.d")
    });
    assert!(
        differences.is_empty(),
        "differences:\n{}",
        differences.join("\n")
    );
    theirs.len()
}

fn have(tool: &str) -> bool {
    Command::new(tool)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

#[test]
fn write_to_dir_matches_dpkg_deb_on_synthetic_debs() {
    if !have("dpkg-deb") {
        eprintln!("skipping: dpkg-deb is not installed");
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let mut packages = sample_packages();
    // dpkg-deb -x cannot see merged /usr, so compare the parts that do not need it.
    packages[0] = DebBuilder::new("base-files", "12.4", "amd64")
        .dir("tmp", 0o1777)
        .file("usr/lib/os-release", b"ID=debian\n", 0o644)
        .symlink("etc/os-release", "../usr/lib/os-release");
    let debs = write_all(dir.path(), &packages);
    assert!(compare_with_dpkg_deb(&debs, MergedUsr::No) > 20);
}

#[test]
fn write_to_dir_matches_dpkg_deb_on_real_debs() {
    if !have("dpkg-deb") || !have("apt-get") {
        eprintln!("skipping: dpkg-deb or apt-get is not installed");
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let names = ["base-files", "libc6", "libgmp10", "tzdata"];
    let download = Command::new("apt-get")
        .arg("download")
        .args(names)
        .current_dir(dir.path())
        .output();
    if !download.is_ok_and(|o| o.status.success()) {
        eprintln!(
            "skipping: `apt-get download` failed (offline or no apt lists; run `apt-get update`)"
        );
        return;
    }
    let mut debs: Vec<PackageDeb> = Vec::new();
    for name in names {
        let path = std::fs::read_dir(dir.path())
            .expect("listing")
            .map(|e| e.expect("entry").path())
            .find(|p| {
                p.file_name()
                    .is_some_and(|f| f.to_string_lossy().starts_with(&format!("{name}_")))
            })
            .expect("downloaded");
        let fields = Command::new("dpkg-deb")
            .args(["--showformat=${Version}\\n${Architecture}", "--show"])
            .arg(&path)
            .output()
            .expect("dpkg-deb");
        let text = String::from_utf8_lossy(&fields.stdout).into_owned();
        let mut parts = text
            .trim()
            .split('\t')
            .next_back()
            .unwrap_or_default()
            .lines();
        let version = parts.next().unwrap_or_default().to_owned();
        let arch = parts.next().unwrap_or_default().to_owned();
        debs.push(PackageDeb {
            name: name.to_owned(),
            version,
            arch,
            path,
        });
    }
    // tzdata alone ships well over a thousand zone files.
    assert!(compare_with_dpkg_deb(&debs, MergedUsr::No) > 1000);
}

#[test]
fn layouts_and_archives_are_accepted_by_skopeo_and_umoci() {
    let rootfs = assemble(&sample_packages(), &options(MergedUsr::Auto)).expect("assembles");
    let image = oci::build_image(
        &rootfs,
        &ImageSpec {
            user: Some("65532".into()),
            ..ImageSpec::default()
        },
        &oci_options(2),
    )
    .expect("image");
    let out = tempfile::tempdir().expect("temp dir");
    let layout = out.path().join("layout");
    let digest =
        oci::write_oci_layout(&layout, std::slice::from_ref(&image), "latest").expect("layout");
    assert_eq!(digest, image.manifest.digest);
    // Writing again replaces the layout with identical content.
    assert_eq!(
        oci::write_oci_layout(&layout, std::slice::from_ref(&image), "latest").expect("layout"),
        digest
    );
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(layout.join("index.json")).expect("index"))
            .expect("json");
    assert_eq!(
        index["manifests"][0]["annotations"]["org.opencontainers.image.ref.name"],
        "latest"
    );
    assert_eq!(index["manifests"][0]["platform"]["architecture"], "amd64");
    assert_eq!(
        oci::fsck_layout(&layout).expect("valid layout"),
        4,
        "one manifest, one config, two layers"
    );
    for blob in std::fs::read_dir(layout.join("blobs/sha256")).expect("blobs") {
        let path = blob.expect("entry").path();
        let data = std::fs::read(&path).expect("blob");
        assert_eq!(
            oci::Digest::of(&data).hex(),
            path.file_name().expect("name").to_string_lossy(),
            "blob content matches its name"
        );
    }
    let oci_archive = out.path().join("image.oci.tar");
    let docker_archive = out.path().join("image.docker.tar");
    oci::write_oci_archive(&oci_archive, std::slice::from_ref(&image), "latest")
        .expect("oci archive");
    oci::write_docker_archive(
        &docker_archive,
        std::slice::from_ref(&image),
        "debless-test:latest",
    )
    .expect("docker archive");
    let first = std::fs::read(&oci_archive).expect("archive");
    oci::write_oci_archive(&oci_archive, std::slice::from_ref(&image), "latest")
        .expect("oci archive");
    assert_eq!(
        first,
        std::fs::read(&oci_archive).expect("archive"),
        "archives are byte-stable"
    );

    if !have("skopeo") {
        eprintln!("skipping skopeo checks: skopeo is not installed (apt-get install skopeo)");
    } else {
        for reference in [
            format!("oci:{}:latest", layout.display()),
            format!("oci-archive:{}", oci_archive.display()),
            format!("docker-archive:{}", docker_archive.display()),
        ] {
            let output = Command::new("skopeo")
                .args(["inspect", "--config", &reference])
                .output()
                .expect("skopeo runs");
            assert!(
                output.status.success(),
                "skopeo inspect {reference}: {}",
                String::from_utf8_lossy(&output.stderr)
            );
            let config: serde_json::Value =
                serde_json::from_slice(&output.stdout).expect("config json");
            assert_eq!(config["config"]["User"], "65532", "{reference}");
        }
    }
    if !have("umoci") {
        eprintln!("skipping umoci checks: umoci is not installed (apt-get install umoci)");
    } else {
        let bundle = out.path().join("bundle");
        let output = Command::new("umoci")
            .args(["unpack", "--rootless", "--image"])
            .arg(format!("{}:latest", layout.display()))
            .arg(&bundle)
            .output()
            .expect("umoci runs");
        assert!(
            output.status.success(),
            "umoci unpack: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        let rootfs_dir = bundle.join("rootfs");
        assert_eq!(
            std::fs::read(rootfs_dir.join("usr/lib/os-release")).expect("file"),
            b"ID=debian\n"
        );
        assert_eq!(
            std::fs::read_link(rootfs_dir.join("bin"))
                .expect("link")
                .display()
                .to_string(),
            "usr/bin"
        );
        assert!(rootfs_dir.join("usr/bin/mount").is_file());
    }
}

#[test]
fn several_architectures_get_an_image_index() {
    let rootfs = assemble(&sample_packages(), &options(MergedUsr::Auto)).expect("assembles");
    let images: Vec<_> = ["amd64", "arm64"]
        .into_iter()
        .map(|arch| {
            let opts = OciOptions {
                arch: Arch::parse(arch).expect("known"),
                ..oci_options(1)
            };
            oci::build_image(&rootfs, &ImageSpec::default(), &opts).expect("image")
        })
        .collect();
    assert_eq!(
        images[0].layers, images[1].layers,
        "same rootfs, same layers"
    );
    assert_ne!(images[0].manifest.digest, images[1].manifest.digest);
    let out = tempfile::tempdir().expect("temp dir");
    let layout = out.path().join("multi");
    let top = oci::write_oci_layout(&layout, &images, "v1").expect("layout");
    // One index, two manifests, two configs, one shared layer.
    assert_eq!(oci::fsck_layout(&layout).expect("valid layout"), 6);
    let layer_blob = layout
        .join("blobs/sha256")
        .join(images[0].layers[0].digest.hex());
    std::fs::write(&layer_blob, b"tampered").expect("write");
    assert!(matches!(
        oci::fsck_layout(&layout),
        Err(oci::OciError::Corrupt { .. })
    ));
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(layout.join("index.json")).expect("index"))
            .expect("json");
    assert_eq!(
        index["manifests"][0]["mediaType"],
        "application/vnd.oci.image.index.v1+json"
    );
    assert_eq!(index["manifests"][0]["digest"], top.as_str());
    let nested: serde_json::Value = serde_json::from_slice(
        &std::fs::read(layout.join("blobs/sha256").join(top.hex())).expect("index blob"),
    )
    .expect("json");
    let platforms: Vec<(String, String)> = nested["manifests"]
        .as_array()
        .expect("manifests")
        .iter()
        .map(|m| {
            (
                m["platform"]["architecture"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
                m["platform"]["variant"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
            )
        })
        .collect();
    assert_eq!(
        platforms,
        [
            ("amd64".to_owned(), String::new()),
            ("arm64".to_owned(), "v8".to_owned())
        ]
    );
    assert!(matches!(
        oci::write_docker_archive(&out.path().join("d.tar"), &images, "x:y"),
        Err(oci::OciError::DockerArchiveNeedsOneImage(2))
    ));
    std::fs::write(out.path().join("not-a-layout"), b"keep me").expect("write");
    assert!(matches!(
        oci::write_oci_layout(&out.path().join("not-a-layout"), &images, "v1"),
        Err(oci::OciError::TargetExists { .. })
    ));
    if have("skopeo") {
        let output = Command::new("skopeo")
            .args(["--override-arch", "arm64", "inspect", "--raw"])
            .arg(format!("oci:{}:v1", layout.display()))
            .output()
            .expect("skopeo runs");
        assert!(
            output.status.success(),
            "skopeo: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    } else {
        eprintln!("skipping skopeo check: skopeo is not installed");
    }
}
