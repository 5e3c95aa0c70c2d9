//! The Java trust store debless writes instead of ca-certificates-java's postinst: when a JRE
//! links its `lib/security/cacerts` to `/etc/ssl/certs/java/cacerts`, that file is a JKS store
//! the host JDK opens with Debian's password, holding exactly the CA bundle's certificates
//! (`extra-ca-certs` included) under ca-certificates-java's aliases, the same bytes each build.

use std::os::unix::fs::PermissionsExt as _;

use crate::hermetic::{SUITE, manifest, pkg};
use crate::support::context::TestContext;
use crate::support::corp_ca::{CorpCa, keystore_entries, pem_ders};
use crate::support::have_tool;
use crate::support::signed_repo::{PublishOptions, TestRepo};

const TEST_CA: &str = include_str!("../../src/rootfs/testdata/ca.pem");
const STORE: &str = "etc/ssl/certs/java/cacerts";

/// ca-certificates with one packaged root (a name update-ca-certificates rewrites), and a JRE
/// whose trust store is the system one, as Debian's openjdk packages ship it.
fn repo() -> TestRepo {
    let repo = TestRepo::new();
    pkg("ca-certificates", "20230311", "all", &[])
        .file(
            "/usr/share/ca-certificates/mozilla/Debless_Test_(Root).crt",
            TEST_CA.as_bytes(),
            0o644,
        )
        .add_to(&repo, SUITE);
    pkg("fake-jre", "17", "amd64", &[])
        .symlink(
            "/usr/lib/jvm/fake-jre/lib/security/cacerts",
            "/etc/ssl/certs/java/cacerts",
        )
        .add_to(&repo, SUITE);
    pkg("app", "1.0", "all", &[])
        .file("/usr/share/app/README", b"an application", 0o644)
        .add_to(&repo, SUITE);
    repo.publish(SUITE, PublishOptions::default());
    repo
}

/// Locks and builds `packages` with `image` as the `[image]` table, `corp`'s CA as
/// `certs/corp.pem`, into `rootfs/` (and the OCI layout `layout/`).
fn build(repo: &TestRepo, packages: &[&str], image: &str, corp: Option<&CorpCa>) -> TestContext {
    let context = TestContext::new();
    context.manifest(&format!("{}\n[image]\n{image}", manifest(repo, packages)));
    if let Some(corp) = corp {
        std::fs::create_dir_all(context.path().join("certs")).expect("mkdir");
        std::fs::copy(corp.ca_pem(), context.path().join("certs/corp.pem")).expect("copy");
    }
    for command in [
        &["lock"][..],
        &["build", "--rootfs", "rootfs", "--output", "layout"],
    ] {
        let out = context.run(command);
        assert!(out.status.success(), "{}", context.render(&out));
    }
    context
}

#[test]
fn a_jre_gets_the_ca_bundle_as_a_jks_store_named_like_ca_certificates_java() {
    if !have_tool("keytool") || !have_tool("openssl") {
        return;
    }
    let repo = repo();
    let corp = CorpCa::new("Corp Root CA");
    let with_jre = build(
        &repo,
        &["ca-certificates", "fake-jre"],
        "extra-ca-certs = [\"certs/corp.pem\"]\n",
        Some(&corp),
    );
    let store = with_jre.path().join("rootfs").join(STORE);
    let (store_type, entries) = keystore_entries(&store);
    assert_eq!(store_type, "JKS", "the type ca-certificates-java writes");
    let corp_der = pem_ders(&std::fs::read_to_string(corp.ca_pem()).expect("read"));
    let expected = [
        (
            "debian:debless_test_=root=.pem".to_owned(),
            pem_ders(TEST_CA).remove(0),
        ),
        ("debian:corp.pem".to_owned(), corp_der[0].clone()),
    ];
    assert_eq!(entries, expected.into_iter().collect());
    // Exactly the bundle's certificates.
    let bundle = with_jre.read("rootfs/etc/ssl/certs/ca-certificates.crt");
    let mut in_bundle = pem_ders(&bundle);
    let mut in_store: Vec<Vec<u8>> = entries.into_values().collect();
    in_bundle.sort();
    in_store.sort();
    assert_eq!(in_store, in_bundle);
    let meta = std::fs::metadata(&store).expect("stat");
    assert_eq!(meta.permissions().mode() & 0o7777, 0o644);

    // The same bytes on a rebuild (every entry is dated at the image epoch).
    let first = std::fs::read(&store).expect("read");
    std::fs::remove_dir_all(with_jre.path().join("rootfs")).expect("rm");
    std::fs::remove_dir_all(with_jre.path().join("layout")).expect("rm");
    let again = with_jre.run(&["build", "--rootfs", "rootfs"]);
    assert!(again.status.success(), "{}", with_jre.render(&again));
    assert_eq!(std::fs::read(&store).expect("read"), first);

    // No JRE, no Java trust store.
    let without = build(
        &repo,
        &["ca-certificates"],
        "extra-ca-certs = [\"certs/corp.pem\"]\n",
        Some(&corp),
    );
    assert!(!without.path().join("rootfs").join(STORE).exists());
}

/// A JRE with no CA bundle in the image gets no store, and the build says why.
#[test]
fn a_jre_without_a_ca_bundle_gets_a_notice_and_no_store() {
    let repo = repo();
    let context = build(&repo, &["fake-jre"], "", None);
    assert!(!context.path().join("rootfs").join(STORE).exists());
    let out = context.run(&["build", "--rootfs", "rootfs2"]);
    assert!(
        String::from_utf8_lossy(&out.stderr).contains(
            "a JRE reads /etc/ssl/certs/java/cacerts but the image has no /etc/ssl/certs/ca-certificates.crt"
        ),
        "{}",
        context.render(&out)
    );
}

/// Over a base image the store is written from the base's bundle: when the JRE comes with the
/// new packages, and when the base has the JRE and `extra-ca-certs` changes its bundle.
#[test]
fn over_a_base_image_the_store_follows_the_bundle_the_image_ends_up_with() {
    if !have_tool("keytool") || !have_tool("openssl") {
        return;
    }
    let repo = repo();
    let corp = CorpCa::new("Corp Root CA");
    let packaged = (
        "debian:debless_test_=root=.pem".to_owned(),
        pem_ders(TEST_CA).remove(0),
    );
    let corp_entry = (
        "debian:corp.pem".to_owned(),
        pem_ders(&std::fs::read_to_string(corp.ca_pem()).expect("read")).remove(0),
    );
    let on = |base: &TestContext| {
        format!(
            "base = \"oci-layout:{}\"\n",
            base.path().join("layout").display()
        )
    };

    // The base has the JRE and its store; the extra CA joins both the bundle and the store.
    let jre_base = build(&repo, &["ca-certificates", "fake-jre"], "", None);
    let app = build(
        &repo,
        &["app"],
        &format!("{}extra-ca-certs = [\"certs/corp.pem\"]\n", on(&jre_base)),
        Some(&corp),
    );
    let (_, entries) = keystore_entries(&app.path().join("rootfs").join(STORE));
    assert_eq!(
        entries,
        [packaged.clone(), corp_entry].into_iter().collect()
    );

    // The base has only the bundle; the JRE on top gets a store from it.
    let bundle_base = build(&repo, &["ca-certificates"], "", None);
    assert!(!bundle_base.path().join("rootfs").join(STORE).exists());
    let app = build(&repo, &["fake-jre"], &on(&bundle_base), None);
    let (_, entries) = keystore_entries(&app.path().join("rootfs").join(STORE));
    assert_eq!(entries, [packaged].into_iter().collect());
}
