//! Live: the checked-in Java (17 and 21), curl and python3 images talk TLS to a corporate server
//! with nothing but `[image] extra-ca-certs` added. A CA made in the test signs the certificate of
//! an `openssl s_server` on 127.0.0.1 (chroot shares the host's network); inside each image, as
//! nonroot, Java (a class compiled on the host), curl and python3 reach it with the CA and fail
//! without. The Java trust store is also checked against the one Debian's own tools write from the
//! same certificates (update-ca-certificates, then ca-certificates-java's Java code).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::support::chroot::{self, is_root};
use crate::support::context::TestContext;
use crate::support::corp_ca::{CorpCa, ProcMount, keystore_entries, pem_ders};
use crate::support::have_tool;
use crate::support::live::{build_example, copy_example};

const BUNDLE: &str = "etc/ssl/certs/ca-certificates.crt";
const JAVA_STORE: &str = "etc/ssl/certs/java/cacerts";
/// ca-certificates-java's program (installed with the host JDK, which depends on it).
const DEBIAN_JAR: &str = "/usr/share/ca-certificates-java/ca-certificates-java.jar";

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/java")
}

/// `lockfiles/<name>` with `corp`'s CA as `[image] extra-ca-certs`, built into `rootfs/`.
fn build_with_corp_ca(name: &str, corp: &CorpCa) -> TestContext {
    let context = TestContext::new();
    copy_example(&context, name);
    std::fs::copy(corp.ca_pem(), context.path().join("corp-ca.pem")).expect("copy the CA");
    let manifest = context.read("debless.toml");
    assert!(manifest.contains("\n[image]\n"), "{manifest}");
    context.manifest(&manifest.replace(
        "\n[image]\n",
        "\n[image]\nextra-ca-certs = [\"corp-ca.pem\"]\n",
    ));
    let out = context.run(&["build", "--rootfs", "rootfs"]);
    assert!(out.status.success(), "{}", context.render(&out));
    context
}

/// `lockfiles/<name>` built twice into `rootfs/`: as checked in (`--verify`: its recorded
/// digest, trust store included, still holds) and with a fresh corporate CA as
/// `extra-ca-certs`. `None` when the example cannot be built from the mirror (skipped).
struct Builds {
    plain: TestContext,
    with_ca: TestContext,
    corp: CorpCa,
}

impl Builds {
    fn of(name: &str) -> Option<Self> {
        let plain = TestContext::new();
        let plain_root = plain.path().join("rootfs");
        build_example(
            &plain,
            name,
            &["--verify", "--rootfs", plain_root.to_str().expect("utf-8")],
        )?;
        let corp = CorpCa::new("Corp Root CA");
        let with_ca = build_with_corp_ca(name, &corp);
        Some(Self {
            plain,
            with_ca,
            corp,
        })
    }

    fn plain_root(&self) -> PathBuf {
        self.plain.path().join("rootfs")
    }

    fn root(&self) -> PathBuf {
        self.with_ca.path().join("rootfs")
    }
}

/// The Java trust store of the image built with the CA holds exactly its bundle's certificates.
fn assert_store_is_the_bundle(builds: &Builds) -> BTreeMap<String, Vec<u8>> {
    let (_, store) = keystore_entries(&builds.root().join(JAVA_STORE));
    let mut in_bundle = pem_ders(&builds.with_ca.read(&format!("rootfs/{BUNDLE}")));
    let mut in_store: Vec<Vec<u8>> = store.values().cloned().collect();
    in_bundle.sort();
    in_store.sort();
    assert_eq!(in_store, in_bundle, "the Java store is the bundle");
    store
}

/// The bundle of the image built with the CA is the plain one with the CA appended.
fn assert_bundle_gains_the_ca(plain: &Path, with_ca: &Path, corp: &CorpCa) {
    let read = |root: &Path| std::fs::read_to_string(root.join(BUNDLE)).expect("bundle");
    let mut expected = pem_ders(&read(plain));
    expected.extend(pem_ders(
        &std::fs::read_to_string(corp.ca_pem()).expect("read"),
    ));
    assert_eq!(pem_ders(&read(with_ca)), expected);
}

/// Runs Debian's own pipeline on the image's certificate files: update-ca-certificates (the
/// host's, into a scratch `/etc/ssl/certs`) makes the `NAME.pem` links and the bundle, then
/// ca-certificates-java's UpdateCertificates imports the links, as its postinst does. Its
/// store and bundle must hold what debless wrote, under the same aliases.
fn assert_debian_writes_the_same(root: &Path, classes: &Path) {
    let scratch = tempfile::tempdir().expect("temp dir");
    let etc = scratch.path().join("etc");
    let hooks = scratch.path().join("hooks");
    std::fs::create_dir_all(&etc).expect("mkdir");
    std::fs::create_dir_all(&hooks).expect("mkdir");
    // /etc/ca-certificates.conf as ca-certificates' postinst writes it: every packaged file,
    // in C order (the bundle follows it).
    let certs_dir = root.join("usr/share/ca-certificates");
    let mut conf = Vec::new();
    for dir in std::fs::read_dir(&certs_dir).expect("certificate dirs") {
        let dir = dir.expect("entry").path();
        for file in std::fs::read_dir(&dir).expect("certificates") {
            let file = file.expect("entry").path();
            let relative = file.strip_prefix(&certs_dir).expect("below");
            conf.push(format!("{}\n", relative.display()));
        }
    }
    conf.sort();
    let conf_path = scratch.path().join("ca-certificates.conf");
    std::fs::write(&conf_path, conf.concat()).expect("write");
    let out = Command::new("/usr/sbin/update-ca-certificates")
        .arg("--fresh")
        .arg("--certsconf")
        .arg(&conf_path)
        .arg("--certsdir")
        .arg(&certs_dir)
        .arg("--localcertsdir")
        .arg(root.join("usr/local/share/ca-certificates"))
        .arg("--etccertsdir")
        .arg(&etc)
        .arg("--hooksdir")
        .arg(&hooks)
        .output()
        .expect("update-ca-certificates runs");
    assert!(out.status.success(), "{out:?}");
    assert!(
        std::fs::read(etc.join("ca-certificates.crt")).expect("Debian's bundle")
            == std::fs::read(root.join(BUNDLE)).expect("debless's bundle"),
        "the bundle is the one update-ca-certificates writes"
    );
    let mut links: Vec<String> = std::fs::read_dir(&etc)
        .expect("links")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "pem"))
        .map(|p| format!("+{}\n", p.display()))
        .collect();
    links.sort();
    let store = scratch.path().join("cacerts");
    let mut java = Command::new("java")
        .arg("-cp")
        .arg(format!("{DEBIAN_JAR}:{}", classes.display()))
        .arg("org.debian.security.WriteStore")
        .arg(&store)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("java runs");
    std::io::Write::write_all(
        &mut java.stdin.take().expect("stdin"),
        links.concat().as_bytes(),
    )
    .expect("feed the links");
    assert!(java.wait().expect("java ends").success());
    let (debian_type, debian) = keystore_entries(&store);
    let (ours_type, ours) = keystore_entries(&root.join(JAVA_STORE));
    assert_eq!(ours_type, debian_type);
    assert_eq!(ours.len(), debian.len());
    assert_eq!(
        ours, debian,
        "the aliases and certificates Debian's code writes"
    );
}

/// `javac` the fixtures (TrustProbe, and WriteStore against Debian's jar) into a temp dir.
fn compile_fixtures() -> tempfile::TempDir {
    let classes = tempfile::tempdir().expect("temp dir");
    let out = Command::new("javac")
        .args(["--release", "17", "-cp", DEBIAN_JAR, "-d"])
        .arg(classes.path())
        .arg(fixtures().join("TrustProbe.java"))
        .arg(fixtures().join("org/debian/security/WriteStore.java"))
        .output()
        .expect("javac runs");
    assert!(
        out.status.success(),
        "javac: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    classes
}

/// `TrustProbe URL` as nonroot inside `root` (the class copied to `/probe`): its output and
/// whether it succeeded; `None` when /proc cannot be mounted.
fn run_probe(root: &Path, classes: &Path, url: &str) -> Option<(bool, String)> {
    std::fs::create_dir_all(root.join("probe")).expect("mkdir");
    std::fs::copy(
        classes.join("TrustProbe.class"),
        root.join("probe/TrustProbe.class"),
    )
    .expect("copy the class");
    let _proc = ProcMount::new(root)?;
    let out = chroot::output(
        root,
        Some("65532:65532"),
        &["/usr/bin/java", "-cp", "/probe", "TrustProbe", url],
    );
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    Some((out.status.success(), text))
}

#[test]
fn distroless_java17_trusts_its_bundle_and_extra_ca_certs_from_java() {
    if !(have_tool("openssl") && have_tool("javac") && have_tool("keytool")) {
        return;
    }
    let Some(builds) = Builds::of("distroless-java17") else {
        return;
    };
    let (plain_root, root, corp) = (builds.plain_root(), builds.root(), &builds.corp);
    let classes = compile_fixtures();
    assert_debian_writes_the_same(&plain_root, classes.path());
    assert_bundle_gains_the_ca(&plain_root, &root, corp);
    // Exactly the bundle's certificates: the packaged ones under their Debian aliases, and
    // the CA under its file's name.
    let (_, plain_store) = keystore_entries(&plain_root.join(JAVA_STORE));
    let (_, store) = keystore_entries(&root.join(JAVA_STORE));
    let mut expected: BTreeMap<String, Vec<u8>> = plain_store.clone();
    let corp_der = pem_ders(&std::fs::read_to_string(corp.ca_pem()).expect("read")).remove(0);
    expected.insert("debian:corp-ca.pem".into(), corp_der);
    assert_eq!(store, expected);
    assert_store_is_the_bundle(&builds);

    if !is_root() {
        eprintln!("skipping the runs in the java image: chroot needs root");
        return;
    }
    // keytool in the image reads its default store (`-cacerts`) with Debian's password.
    let Some(_proc) = ProcMount::new(&root) else {
        return;
    };
    let listing = chroot::run(
        &root,
        Some("65532:65532"),
        &[
            "/usr/bin/keytool",
            "-list",
            "-cacerts",
            "-storepass",
            "changeit",
        ],
    );
    assert!(
        listing.contains(&format!("Your keystore contains {} entries", store.len())),
        "{listing}"
    );
    drop(_proc);

    let server = corp.serve();
    let Some((ok, text)) = run_probe(&root, classes.path(), &server.url()) else {
        return;
    };
    assert!(
        ok && text.contains(&format!("trusted certificates: {}\n", store.len()))
            && text.contains("HTTP status: 200"),
        "{text}"
    );
    let Some((ok, text)) = run_probe(&plain_root, classes.path(), &server.url()) else {
        return;
    };
    assert!(
        !ok && text.contains(&format!("trusted certificates: {}\n", plain_store.len()))
            && text.contains("PKIX path building failed"),
        "without `extra-ca-certs` the request fails: {text}"
    );
}

#[test]
fn trixie_curl_trusts_extra_ca_certs() {
    if !have_tool("openssl") {
        return;
    }
    let Some(builds) = Builds::of("trixie-curl") else {
        return;
    };
    let (plain_root, root, corp) = (builds.plain_root(), builds.root(), &builds.corp);
    assert_bundle_gains_the_ca(&plain_root, &root, corp);
    assert!(
        !root.join(JAVA_STORE).exists(),
        "no JRE, no Java trust store"
    );
    if !is_root() {
        eprintln!("skipping the runs in the curl image: chroot needs root");
        return;
    }
    let server = corp.serve();
    let curl = |root: &Path| {
        chroot::output(
            root,
            Some("65532:65532"),
            &["/usr/bin/curl", "-sS", "--fail", &server.url()],
        )
    };
    let out = curl(&root);
    assert!(
        out.status.success() && !out.stdout.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = curl(&plain_root);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.code() == Some(60) && stderr.contains("SSL certificate problem"),
        "without `extra-ca-certs` curl refuses the server: {out:?}"
    );
}

#[test]
fn trixie_java21_reaches_a_server_signed_by_extra_ca_certs() {
    if !(have_tool("openssl") && have_tool("javac")) {
        return;
    }
    let Some(builds) = Builds::of("trixie-java21") else {
        return;
    };
    let (plain_root, root, corp) = (builds.plain_root(), builds.root(), &builds.corp);
    assert_bundle_gains_the_ca(&plain_root, &root, corp);
    assert_store_is_the_bundle(&builds);
    if !is_root() {
        eprintln!("skipping the runs in the java image: chroot needs root");
        return;
    }
    let classes = compile_fixtures();
    let server = corp.serve();
    let Some((ok, text)) = run_probe(&root, classes.path(), &server.url()) else {
        return;
    };
    assert!(ok && text.contains("HTTP status: 200"), "{text}");
    let Some((ok, text)) = run_probe(&plain_root, classes.path(), &server.url()) else {
        return;
    };
    assert!(
        !ok && text.contains("PKIX path building failed"),
        "without `extra-ca-certs` the request fails: {text}"
    );
}

#[test]
fn trixie_python3_reaches_a_server_signed_by_extra_ca_certs() {
    if !have_tool("openssl") {
        return;
    }
    let Some(builds) = Builds::of("trixie-python3") else {
        return;
    };
    let (plain_root, root, corp) = (builds.plain_root(), builds.root(), &builds.corp);
    assert_eq!(
        pem_ders(&builds.with_ca.read(&format!("rootfs/{BUNDLE}"))),
        pem_ders(&std::fs::read_to_string(corp.ca_pem()).expect("read")),
        "an image without ca-certificates gets a bundle of the extra CAs alone"
    );
    if !is_root() {
        eprintln!("skipping the runs in the python image: chroot needs root");
        return;
    }
    let server = corp.serve();
    let fetch = |root: &Path| {
        chroot::output(
            root,
            Some("65532:65532"),
            &[
                "/usr/bin/python3",
                "-c",
                "import sys, urllib.request; print(urllib.request.urlopen(sys.argv[1]).status)",
                &server.url(),
            ],
        )
    };
    let out = fetch(&root);
    assert!(
        out.status.success() && String::from_utf8_lossy(&out.stdout).trim() == "200",
        "{out:?}"
    );
    let out = fetch(&plain_root);
    assert!(
        !out.status.success()
            && String::from_utf8_lossy(&out.stderr).contains("CERTIFICATE_VERIFY_FAILED"),
        "without `extra-ca-certs` python refuses the server: {out:?}"
    );
}
