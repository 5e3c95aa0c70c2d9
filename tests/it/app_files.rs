//! `[[image.files]]` and `[image] tars`: the application's own files as the image's top
//! layer, end to end on the hermetic archive.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::os::unix::fs::PermissionsExt as _;
use std::process::{Command, Output};

use debless::oci::inspect::{EntrySummary, LayerBlob, layer_entries, manifest_layers};

use crate::hermetic::{manifest, standard_repo};
use crate::support::context::TestContext;
use crate::support::signed_repo::TestRepo;

const IMAGE: &str = r#"
[image]
tars = ["build/venv.tar.gz"]

[[image.files]]
src = "dist/run.sh"
dst = "/app/run.sh"

[[image.files]]
src = "dist/config.txt"
dst = "/app/etc/"
mode = "0600"
owner = "nonroot"
"#;

/// A tar.gz with a directory, a file owned by 1000 and a symlink, as a Python venv would be.
fn venv_tar() -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    let mut add = |path: &str, kind: tar::EntryType, data: &[u8], link: Option<&str>| {
        let mut header = tar::Header::new_gnu();
        header.set_entry_type(kind);
        header.set_mode(if kind == tar::EntryType::Regular {
            0o644
        } else {
            0o755
        });
        header.set_uid(1000);
        header.set_gid(1000);
        header.set_mtime(4_000_000_000);
        header.set_size(data.len() as u64);
        if let Some(link) = link {
            header.set_link_name(link).expect("link");
        }
        builder
            .append_data(&mut header, path, data)
            .expect("append");
    };
    add("./venv/", tar::EntryType::Directory, b"", None);
    add(
        "./venv/lib.py",
        tar::EntryType::Regular,
        b"print(1)\n",
        None,
    );
    add(
        "./venv/python",
        tar::EntryType::Symlink,
        b"",
        Some("/usr/bin/hello"),
    );
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&builder.into_inner().expect("tar"))
        .expect("gzip");
    gz.finish().expect("gzip")
}

/// A locked `hello` project whose manifest has `image`, with the app sources written.
fn app_project(repo: &TestRepo, image: &str) -> TestContext {
    let mut project = TestContext::new();
    project.manifest(&format!("{}{image}", manifest(repo, &["hello"])));
    project.filters.push((repo.url(), "[REPO]".into()));
    let dist = project.path().join("dist");
    std::fs::create_dir_all(&dist).expect("mkdir");
    std::fs::create_dir_all(project.path().join("build")).expect("mkdir");
    std::fs::write(dist.join("run.sh"), "#!/bin/sh\nexec hello\n").expect("write");
    std::fs::set_permissions(dist.join("run.sh"), std::fs::Permissions::from_mode(0o755))
        .expect("chmod");
    std::fs::write(dist.join("config.txt"), "debug = false\n").expect("write");
    std::fs::write(project.path().join("build/venv.tar.gz"), venv_tar()).expect("write");
    let out = project.run(&["lock"]);
    assert!(out.status.success(), "{}", project.render(&out));
    project
}

fn build(project: &TestContext, output: &str) -> Output {
    project
        .command(&["build", "--output", output])
        .env("SOURCE_DATE_EPOCH", "1700000000")
        .output()
        .expect("run debless")
}

/// The built image's digest and its layers, bottom first.
fn built_layers(project: &TestContext, output: &str) -> (String, Vec<LayerBlob>) {
    let out = build(project, output);
    assert!(out.status.success(), "{}", project.render(&out));
    let layout = project.path().join(output);
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(layout.join("index.json")).expect("index.json"))
            .expect("json");
    let manifest = index["manifests"][0]["digest"].as_str().expect("digest");
    let layers = manifest_layers(&layout, manifest).expect("manifest in layout");
    let digest = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    (digest, layers)
}

fn listing(blob: &LayerBlob) -> BTreeMap<String, EntrySummary> {
    layer_entries(blob).expect("readable layer")
}

#[test]
fn app_files_and_tars_become_a_deterministic_top_layer() {
    let repo = standard_repo();
    let project = app_project(&repo, IMAGE);
    let (first, layers) = built_layers(&project, "img");
    assert_eq!(layers.len(), 2, "packages, then the application");
    let top = listing(&layers[1]);
    let summary: Vec<(&str, &str, u32, &str, u64)> = top
        .iter()
        .map(|(p, e)| (p.as_str(), e.kind, e.mode, e.owner.as_str(), e.mtime))
        .collect();
    assert_eq!(
        summary,
        [
            ("app", "d", 0o755, "0:0", 1_700_000_000),
            ("app/etc", "d", 0o755, "0:0", 1_700_000_000),
            (
                "app/etc/config.txt",
                "-",
                0o600,
                "65532:65532",
                1_700_000_000
            ),
            ("app/run.sh", "-", 0o755, "0:0", 1_700_000_000),
            ("venv", "d", 0o755, "1000:1000", 1_700_000_000),
            ("venv/lib.py", "-", 0o644, "1000:1000", 1_700_000_000),
            ("venv/python", "l", 0o755, "1000:1000", 1_700_000_000),
        ]
    );
    assert_eq!(top["venv/python"].content, "/usr/bin/hello");
    let bottom = listing(&layers[0]);
    assert!(bottom.contains_key("usr/bin/hello"));
    assert!(!bottom.keys().any(|p| p.starts_with("app")));

    // Same inputs, same digest.
    let (second, _) = built_layers(&project, "again");
    assert_eq!(first, second);

    // New script bytes: only the top layer changes.
    std::fs::write(
        project.path().join("dist/run.sh"),
        "#!/bin/sh\nexec hello --loud\n",
    )
    .expect("write");
    let (third, changed) = built_layers(&project, "changed");
    assert_ne!(first, third);
    let name = |blob: &LayerBlob| blob.path.file_name().map(|n| n.to_owned());
    assert_eq!(
        name(&changed[0]),
        name(&layers[0]),
        "package layer unchanged"
    );
    assert_ne!(name(&changed[1]), name(&layers[1]));

    if have_umoci() {
        let out = Command::new("umoci")
            .args(["unpack", "--rootless", "--image", "img:latest", "bundle"])
            .current_dir(project.path())
            .output()
            .expect("umoci");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let rootfs = project.path().join("bundle/rootfs");
        assert!(rootfs.join("app/run.sh").is_file());
        assert!(rootfs.join("usr/bin/hello").is_file());
        assert!(rootfs.join("venv/lib.py").is_file());
    } else {
        eprintln!("umoci not installed: skipping the unpack check");
    }
}

fn have_umoci() -> bool {
    Command::new("umoci")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

#[test]
fn settings_are_lock_inputs_but_bytes_are_not() {
    let repo = standard_repo();
    let project = app_project(&repo, IMAGE);
    // The bytes are covered by the image digest `build` records, not by the lock inputs.
    std::fs::write(project.path().join("dist/run.sh"), "changed\n").expect("write");
    let out = project.run(&["lock", "--check"]);
    assert!(out.status.success(), "{}", project.render(&out));
    project.manifest(&format!(
        "{}{}",
        manifest(&repo, &["hello"]),
        IMAGE.replace("/app/run.sh", "/app/start.sh")
    ));
    let out = project.run(&["lock", "--check"]);
    assert_eq!(out.status.code(), Some(3), "{}", project.render(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("`image.files`/`image.tars`"), "{stderr}");
}

#[test]
fn a_missing_src_is_one_line_naming_it() {
    let repo = standard_repo();
    let project = app_project(
        &repo,
        "[[image.files]]\nsrc = \"dist/nope\"\ndst = \"/app/nope\"\n",
    );
    let out = build(&project, "img");
    assert_eq!(out.status.code(), Some(1), "{}", project.render(&out));
    let stderr = project.filter(&String::from_utf8_lossy(&out.stderr));
    assert_eq!(
        stderr.trim_end(),
        "error: `image.files`: `dist/nope` does not exist"
    );
}

#[test]
fn a_tar_entry_climbing_out_is_refused_naming_it() {
    let repo = standard_repo();
    let project = app_project(&repo, "[image]\ntars = [\"evil.tar\"]\n");
    let mut header = tar::Header::new_gnu();
    header.set_entry_type(tar::EntryType::Regular);
    header.set_mode(0o644);
    header.set_uid(0);
    header.set_gid(0);
    header.set_mtime(0);
    header.set_size(1);
    header.as_old_mut().name[..4].copy_from_slice(b"../x");
    header.set_cksum();
    let mut builder = tar::Builder::new(Vec::new());
    builder.append(&header, &b"x"[..]).expect("append");
    std::fs::write(
        project.path().join("evil.tar"),
        builder.into_inner().expect("tar"),
    )
    .expect("write");
    let out = build(&project, "img");
    assert_eq!(out.status.code(), Some(1), "{}", project.render(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("tar `evil.tar`: entry `../x` refused: `..` component"),
        "{stderr}"
    );
    assert!(!project.path().join("img").exists());
}

#[test]
fn rootfs_directory_carries_the_app_layer_too() {
    let repo = standard_repo();
    let project = app_project(&repo, IMAGE);
    let out = project.run(&["build", "--rootfs", "root"]);
    assert!(out.status.success(), "{}", project.render(&out));
    let root = project.path().join("root");
    let script = root.join("app/run.sh");
    assert_eq!(
        std::fs::read_to_string(&script).expect("app file in the rootfs"),
        "#!/bin/sh\nexec hello\n"
    );
    let mode = std::fs::metadata(&script)
        .expect("stat")
        .permissions()
        .mode()
        & 0o7777;
    assert_eq!(mode, 0o755);
    let config = root.join("app/etc/config.txt");
    let mode = std::fs::metadata(&config)
        .expect("stat")
        .permissions()
        .mode()
        & 0o7777;
    assert_eq!(mode, 0o600);
    assert!(
        root.join("usr/bin/hello").is_file(),
        "packages are there too"
    );
}
