//! debless's own HTTPS trusts what the host trusts, plus a source's own CA: the signed test
//! archive served over TLS by `openssl s_server` with a certificate from a test CA locks and
//! builds when the CA is given by `SSL_CERT_FILE` or by the source's `ca`, and is refused
//! without it, in one line naming the URL once, the host and the CA store.

use std::path::Path;

use crate::hermetic::{SUITE, standard_repo};
use crate::support::context::TestContext;
use crate::support::corp_ca::HttpsServer;
use crate::support::signed_repo::TestRepo;
use crate::support::tls::TestCerts;

/// The standard archive served over HTTPS with a certificate of `certs`' test CA.
struct HttpsArchive {
    repo: TestRepo,
    certs: TestCerts,
    server: HttpsServer,
}

impl HttpsArchive {
    fn start() -> Self {
        let repo = standard_repo();
        let certs = TestCerts::new();
        let server = certs.serve_files(repo.root());
        HttpsArchive {
            repo,
            certs,
            server,
        }
    }

    fn url(&self) -> String {
        format!("https://127.0.0.1:{}", self.server.port())
    }

    /// A project asking for libc6 from the archive, its source's table ending with `extra`,
    /// trusting `bundle` as `SSL_CERT_FILE` (and nothing of the host's store).
    fn project(&self, extra: &str, bundle: &Path) -> TestContext {
        let mut project = TestContext::new();
        project.manifest(&format!(
            "architectures = [\"amd64\"]\npackages = [\"libc6\"]\n\n[[source]]\nsuite = \"{SUITE}\"\nurl = \"{}\"\nkeyring = \"{}\"\n{extra}",
            self.url(),
            self.repo.keyring_path().display()
        ));
        project.env.extend(self.certs.store_env(bundle));
        project.filters.extend(self.certs.filters());
        project
            .filters
            .push((format!(":{}", self.server.port()), ":[PORT]".into()));
        project
    }
}

fn lock_and_build(project: &TestContext) {
    let lock = project.run(&["lock"]);
    assert!(lock.status.success(), "{}", project.render(&lock));
    let build = project.run(&["build", "--rootfs", "rootfs"]);
    assert!(build.status.success(), "{}", project.render(&build));
    assert!(
        project
            .path()
            .join("rootfs/lib/x86_64-linux-gnu/libc.so.6")
            .exists()
    );
}

#[test]
fn lock_and_build_over_https_trust_ssl_cert_file_and_refuse_without_it() {
    let archive = HttpsArchive::start();

    // Without the CA: refused in one line naming the URL once, the host and the CA store
    // (the error once printed the URL twice, in reqwest's words and in debless's).
    let untrusted = archive.project("", &archive.certs.other_ca());
    let out = untrusted.run(&["lock"]);
    assert_eq!(
        untrusted.render(&out),
        "exit: 1
--- stdout
--- stderr
error: `https://127.0.0.1:[PORT]/dists/stable/InRelease`: the TLS certificate of `127.0.0.1:[PORT]` is not trusted (invalid peer certificate: UnknownIssuer); CA store: SSL_CERT_FILE=[OTHER]/ca.pem, SSL_CERT_DIR [EMPTY], debless's built-in Mozilla roots

hint: trust the server's CA: add it to the system store (update-ca-certificates) or SSL_CERT_FILE, or name it with `ca` in its `[[source]]` or `[registry.\"HOST:PORT\"]` table of debless.toml
"
    );

    // With it: lock, build, and `show` (which reads the suites as `lock` does).
    let trusted = archive.project("", &archive.certs.ca());
    lock_and_build(&trusted);
    let show = trusted.run(&["show", "libc6"]);
    assert!(show.status.success(), "{}", trusted.render(&show));

    // `build` fetching the locked `.deb` files without the CA: the same one line.
    std::fs::copy(
        trusted.path().join("debless.lock"),
        untrusted.path().join("debless.lock"),
    )
    .expect("copy the lock");
    // No snapshot archive to fall back to (its root refuses connections at once).
    let mut untrusted = untrusted;
    untrusted
        .env
        .push(("DEBLESS_SNAPSHOT".into(), "http://127.0.0.1:1".into()));
    let out = untrusted.run(&["build", "--rootfs", "rootfs"]);
    let stderr = untrusted.filter(&String::from_utf8_lossy(&out.stderr));
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    let deb = "https://127.0.0.1:[PORT]/pool/main/libc/libc6/libc6_2.36-9_amd64.deb";
    assert!(
        stderr.starts_with(&format!(
            "error: cannot download `libc6 2.36-9 amd64`: `{deb}`: the TLS certificate of `127.0.0.1:[PORT]` is not trusted (invalid peer certificate: UnknownIssuer); CA store: SSL_CERT_FILE=[OTHER]/ca.pem, SSL_CERT_DIR [EMPTY], debless's built-in Mozilla roots; `http://127.0.0.1:1/"
        )),
        "{stderr}"
    );
    assert_eq!(stderr.matches(deb).count(), 1, "{stderr}");
    assert!(
        stderr.contains("\n\nhint: trust the server's CA: "),
        "{stderr}"
    );
}

#[test]
fn a_sources_own_ca_is_trusted_for_its_server() {
    let archive = HttpsArchive::start();
    let project = archive.project("ca = \"certs/mirror-ca.pem\"\n", &archive.certs.other_ca());
    std::fs::create_dir_all(project.path().join("certs")).expect("mkdir");
    std::fs::copy(
        archive.certs.ca(),
        project.path().join("certs/mirror-ca.pem"),
    )
    .expect("copy the CA");
    lock_and_build(&project);

    // The same archive with the `.deb` files fetched again: `build` uses the source's CA too.
    std::fs::remove_dir_all(project.path().join("cache")).expect("empty the cache");
    std::fs::remove_dir_all(project.path().join("rootfs")).expect("remove the rootfs");
    let build = project.run(&["build", "--rootfs", "rootfs"]);
    assert!(build.status.success(), "{}", project.render(&build));

    // A CA file that is not there, or holds no certificate: one line naming it.
    let missing = archive.project("ca = \"certs/missing.pem\"\n", &archive.certs.other_ca());
    let out = missing.run(&["lock"]);
    let rendered = missing.render(&out);
    assert!(
        rendered.starts_with(
            "exit: 1\n--- stdout\n--- stderr\nerror: cannot set up the HTTP client: CA file `certs/missing.pem`: No such file or directory (os error 2)\n\nhint: "
        ),
        "{rendered}"
    );
    let key = archive.project("ca = \"server.key\"\n", &archive.certs.other_ca());
    let (_, server_key) = archive.certs.server();
    std::fs::copy(server_key, key.path().join("server.key")).expect("copy");
    let out = key.run(&["lock"]);
    assert!(
        key.render(&out).contains(
            "error: cannot set up the HTTP client: CA file `server.key`: holds no PEM certificate (`-----BEGIN CERTIFICATE-----`)\n"
        ),
        "{}",
        key.render(&out)
    );
}
