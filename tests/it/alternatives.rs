//! `[image] alternatives` (on by default): the links `update-alternatives --install` would make,
//! read from the packages' postinst scripts (synthetic packages, then mawk from the mirror).

use std::path::Path;

use crate::hermetic::{SUITE, manifest, pkg};
use crate::support::chroot::{self, is_root};
use crate::support::context::TestContext;
use crate::support::live;
use crate::support::signed_repo::{PublishOptions, TestRepo};

fn register(link: &str, name: &str, path: &str, priority: u32, slaves: &str) -> String {
    format!(
        "#!/bin/sh\nset -e\nif [ \"$1\" = configure ]; then\n  update-alternatives --install {link} {name} {path} {priority} {slaves}\nfi\n"
    )
}

fn repo() -> TestRepo {
    let repo = TestRepo::new();
    pkg("mawk", "1.3.4-1", "amd64", &[])
        .file("/usr/bin/mawk", b"mawk", 0o755)
        .file("/usr/share/man/man1/mawk.1.gz", b"man", 0o644)
        .script(
            "postinst",
            &register(
                "/usr/bin/awk",
                "awk",
                "/usr/bin/mawk",
                5,
                "\\\n    --slave /usr/share/man/man1/awk.1.gz awk.1.gz /usr/share/man/man1/mawk.1.gz \\\n    --slave /usr/bin/nawk nawk /usr/bin/mawk",
            ),
        )
        .add_to(&repo, SUITE);
    pkg("gawk", "5.2-1", "amd64", &[])
        .file("/usr/bin/gawk", b"gawk", 0o755)
        .script(
            "postinst",
            &register("/usr/bin/awk", "awk", "/usr/bin/gawk", 10, ""),
        )
        .add_to(&repo, SUITE);
    pkg("less", "590-1", "amd64", &[])
        .file("/usr/bin/less", b"less", 0o755)
        .script(
            "postinst",
            &register("/usr/bin/pager", "pager", "/usr/bin/less", 77, ""),
        )
        .add_to(&repo, SUITE);
    pkg("most", "5.1-1", "amd64", &[])
        .file("/usr/bin/most", b"most", 0o755)
        .script(
            "postinst",
            &register("/usr/bin/pager", "pager", "/usr/bin/most", 77, ""),
        )
        .add_to(&repo, SUITE);
    pkg("editor-file", "1.0", "amd64", &[])
        .file("/usr/bin/editor", b"a real file", 0o755)
        .file("/usr/bin/ed", b"ed", 0o755)
        .script(
            "postinst",
            &register("/usr/bin/editor", "editor", "/usr/bin/ed", 1, ""),
        )
        .add_to(&repo, SUITE);
    repo.publish(SUITE, PublishOptions::default());
    repo
}

fn build_rootfs(repo: &TestRepo, packages: &[&str], image: &str) -> (TestContext, String) {
    let context = TestContext::new();
    context.manifest(&format!("{}\n[image]\n{image}\n", manifest(repo, packages)));
    let out = context.run(&["lock"]);
    assert!(out.status.success(), "{}", context.render(&out));
    let out = context.run(&["build", "--rootfs", "root"]);
    assert!(out.status.success(), "{}", context.render(&out));
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    (context, stderr)
}

fn link(root: &Path, path: &str) -> Option<String> {
    std::fs::read_link(root.join(path))
        .ok()
        .map(|t| t.to_string_lossy().into_owned())
}

#[test]
fn alternatives_follow_priority_and_skip_real_files() {
    let repo = repo();
    let (context, stderr) = build_rootfs(
        &repo,
        &["mawk", "gawk", "less", "most", "editor-file"],
        "alternatives = true",
    );
    let root = context.path().join("root");
    // gawk (10) beats mawk (5); mawk's slaves go with it.
    assert_eq!(
        link(&root, "usr/bin/awk").as_deref(),
        Some("/etc/alternatives/awk")
    );
    assert_eq!(
        link(&root, "etc/alternatives/awk").as_deref(),
        Some("/usr/bin/gawk")
    );
    assert_eq!(link(&root, "usr/bin/nawk"), None);
    // Equal priorities: the smaller path.
    assert_eq!(
        link(&root, "etc/alternatives/pager").as_deref(),
        Some("/usr/bin/less")
    );
    assert_eq!(
        link(&root, "usr/bin/pager").as_deref(),
        Some("/etc/alternatives/pager")
    );
    // A package's real file is never replaced.
    assert_eq!(
        std::fs::read(root.join("usr/bin/editor")).expect("editor"),
        b"a real file"
    );
    assert!(
        stderr.contains("`/usr/bin/editor` is a file shipped by a package"),
        "{stderr}"
    );
}

#[test]
fn alternatives_write_slaves_only_for_existing_paths_and_are_on_by_default() {
    let repo = repo();
    let (context, _) = build_rootfs(&repo, &["mawk"], "exclude-paths = [\"/usr/share/man/*\"]");
    let root = context.path().join("root");
    assert_eq!(
        link(&root, "etc/alternatives/awk").as_deref(),
        Some("/usr/bin/mawk")
    );
    assert_eq!(
        link(&root, "usr/bin/nawk").as_deref(),
        Some("/etc/alternatives/nawk")
    );
    assert_eq!(
        link(&root, "etc/alternatives/nawk").as_deref(),
        Some("/usr/bin/mawk")
    );
    // The man page was filtered out: no slave link to nowhere.
    assert_eq!(link(&root, "usr/share/man/man1/awk.1.gz"), None);
    assert_eq!(link(&root, "etc/alternatives/awk.1.gz"), None);

    let (plain, _) = build_rootfs(&repo, &["mawk"], "alternatives = false");
    let root = plain.path().join("root");
    assert!(!root.join("etc/alternatives").exists());
    assert_eq!(link(&root, "usr/bin/awk"), None);
}

#[test]
fn mawk_from_the_mirror_provides_awk() {
    if live::mirror().is_none() {
        return;
    }
    let context = TestContext::new();
    context.manifest(
        "architectures = [\"amd64\"]\npackages = [\"mawk\"]\n\n[[source]]\nsuite = \"bookworm\"\n\n[image]\nalternatives = true\n",
    );
    let out = context.run(&["lock"]);
    assert!(out.status.success(), "{}", context.render(&out));
    let out = context.run(&["build", "--rootfs", "root"]);
    assert!(out.status.success(), "{}", context.render(&out));
    let root = context.path().join("root");
    assert_eq!(
        link(&root, "usr/bin/awk").as_deref(),
        Some("/etc/alternatives/awk")
    );
    assert_eq!(
        link(&root, "etc/alternatives/awk").as_deref(),
        Some("/usr/bin/mawk")
    );
    assert_eq!(
        link(&root, "etc/alternatives/nawk").as_deref(),
        Some("/usr/bin/mawk")
    );
    if !is_root() {
        eprintln!("skipping the awk run: chroot needs root");
        return;
    }
    let out = chroot::run(&root, None, &["/usr/bin/awk", "BEGIN { print 6 * 7 }"]);
    assert_eq!(out, "42\n");
}
