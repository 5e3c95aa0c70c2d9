//! `[image] extra-ca-certs`: corporate CA certificates appended to the image's CA bundle, and
//! files that are not CA certificates refused naming file and block.

use crate::hermetic::{SUITE, manifest, pkg};
use crate::support::context::TestContext;
use crate::support::signed_repo::{PublishOptions, TestRepo};

const CA: &str = include_str!("../../src/rootfs/testdata/ca.pem");
const LEAF: &str = include_str!("../../src/rootfs/testdata/leaf.pem");
const MOZILLA_ROOT: &str = "-----BEGIN CERTIFICATE-----\nMOZILLA\n-----END CERTIFICATE-----\n";

/// ca-certificates with one (fake) packaged root, as update-ca-certificates would read it.
fn repo() -> TestRepo {
    let repo = TestRepo::new();
    pkg("ca-certificates", "20230311", "all", &[])
        .file(
            "/usr/share/ca-certificates/mozilla/Some_Root.crt",
            MOZILLA_ROOT.as_bytes(),
            0o644,
        )
        .add_to(&repo, SUITE);
    repo.publish(SUITE, PublishOptions::default());
    repo
}

fn project(repo: &TestRepo, extra: &str) -> TestContext {
    let mut context = TestContext::new();
    context.manifest(&format!(
        "{}\n[image]\nextra-ca-certs = [{extra}]\n",
        manifest(repo, &["ca-certificates"])
    ));
    context.filters.push((repo.url(), "[REPO]".into()));
    context
}

#[test]
fn extra_cas_follow_the_packaged_bundle_in_manifest_order() {
    let repo = repo();
    let context = project(&repo, "\"certs/corp.pem\", \"second.pem\"");
    std::fs::create_dir_all(context.path().join("certs")).expect("mkdir");
    // Two copies of the CA in one file and one in another: kept once, in first-seen order.
    std::fs::write(
        context.path().join("certs/corp.pem"),
        format!("# Corp root\n{CA}{CA}"),
    )
    .expect("write");
    std::fs::write(context.path().join("second.pem"), CA).expect("write");
    assert!(context.run(&["lock"]).status.success());
    let build = context.run(&["build", "--rootfs", "rootfs"]);
    assert!(build.status.success(), "{}", context.render(&build));
    let bundle = context.read("rootfs/etc/ssl/certs/ca-certificates.crt");
    assert_eq!(bundle, format!("{MOZILLA_ROOT}{CA}"));
}

#[test]
fn a_file_that_is_not_a_ca_certificate_fails_the_build_naming_it() {
    let repo = repo();
    let context = project(&repo, "\"corp.pem\"");
    std::fs::write(context.path().join("corp.pem"), format!("{CA}{LEAF}")).expect("write");
    assert!(context.run(&["lock"]).status.success());
    let build = context.run(&["build", "--rootfs", "rootfs"]);
    insta::assert_snapshot!(context.render(&build), @r"
    exit: 1
    --- stdout
    --- stderr
    Fetched 1 packages (0.0 MB) into [TEMP]/cache
    error: `extra-ca-certs`: `corp.pem`, PEM block 2 (line 12): `CN=localhost` is not a CA certificate (no basicConstraints `CA:TRUE`); add the CA that issued it instead
    ");
    assert!(
        !context.path().join("rootfs").exists(),
        "nothing half-written"
    );

    std::fs::write(
        context.path().join("corp.pem"),
        "-----BEGIN CERTIFICATE-----\nbroken!\n-----END CERTIFICATE-----\n",
    )
    .expect("write");
    let build = context.run(&["build", "--rootfs", "rootfs"]);
    assert_eq!(build.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&build.stderr).contains("`extra-ca-certs`: `")
            && String::from_utf8_lossy(&build.stderr)
                .contains("corp.pem`, PEM block 1 (line 1): not valid PEM"),
        "{}",
        context.render(&build)
    );
}
