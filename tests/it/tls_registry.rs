//! A private registry as a company runs one: Debian's `docker-registry` speaking TLS with a
//! certificate from a test CA and asking for htpasswd (basic) credentials, which debless reads
//! from a docker `config.json` (`DOCKER_CONFIG`). `build --push` and `push` upload to it, and a
//! build on a base image pulls from it, when the CA is trusted through `SSL_CERT_FILE` or the
//! manifest's `[registry."HOST:PORT"] ca`; without the CA the one-line TLS error names the
//! host and the CA store; a wrong password is the registry's 401.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::hermetic::{manifest, project, standard_repo};
use crate::support::context::TestContext;
use crate::support::registry::{TestRegistry, start_with};
use crate::support::signed_repo::TestRepo;
use crate::support::tls::TestCerts;
use crate::support::{NO_LIVE_ENV, have_tool, no_live};

const USER: &str = "debless";
const PASSWORD: &str = "s3cret:with-colon";

/// The registry, its certificates and its users.
struct TlsRegistry {
    registry: TestRegistry,
    certs: TestCerts,
    /// `htpasswd` and the docker configurations.
    auth: tempfile::TempDir,
}

impl TlsRegistry {
    /// Starts one, or `None` (with the reason printed) where the tools are missing outside CI.
    fn start() -> Option<Self> {
        if no_live() {
            eprintln!("skipping TLS registry test: {NO_LIVE_ENV} is set");
            return None;
        }
        if !(have_tool("docker-registry") && have_tool("htpasswd") && have_tool("openssl")) {
            return None;
        }
        let certs = TestCerts::new();
        let auth = tempfile::tempdir().expect("temp dir");
        // bcrypt, the only hash docker-registry's htpasswd accepts.
        let out = Command::new("htpasswd")
            .args(["-Bbn", USER, PASSWORD])
            .output()
            .expect("htpasswd runs");
        assert!(out.status.success(), "htpasswd: {out:?}");
        let htpasswd = auth.path().join("htpasswd");
        std::fs::write(&htpasswd, &out.stdout).expect("write htpasswd");
        let (cert, key) = certs.server();
        let binary = crate::support::registry::binary().expect("docker-registry is installed");
        let registry = start_with(
            binary,
            &format!(
                "  tls:\n    certificate: {}\n    key: {}\n",
                cert.display(),
                key.display()
            ),
            &format!(
                "auth:\n  htpasswd:\n    realm: debless-test\n    path: {}\n",
                htpasswd.display()
            ),
        )
        .expect("docker-registry starts");
        Some(TlsRegistry {
            registry,
            certs,
            auth,
        })
    }

    fn address(&self) -> &str {
        &self.registry.address
    }

    /// A docker configuration directory whose `config.json` logs in as `user:password`.
    fn docker_config(&self, name: &str, user: &str, password: &str) -> PathBuf {
        let dir = self.auth.path().join(name);
        std::fs::create_dir_all(&dir).expect("mkdir");
        let auth = debless::registry::auth::base64_encode(format!("{user}:{password}").as_bytes());
        std::fs::write(
            dir.join("config.json"),
            format!(
                "{{\"auths\":{{\"{}\":{{\"auth\":\"{auth}\"}}}}}}",
                self.address()
            ),
        )
        .expect("write config.json");
        dir
    }

    /// A project of `repo` asking for `packages`, `extra` appended to its manifest, trusting
    /// `bundle` (and no host store) with the docker configuration `docker_config`.
    fn project(
        &self,
        repo: &TestRepo,
        packages: &[&str],
        extra: &str,
        bundle: &Path,
        docker_config: &Path,
    ) -> TestContext {
        let mut context = project(repo, packages);
        context.manifest(&format!("{}\n{extra}", manifest(repo, packages)));
        context.env.extend(self.certs.store_env(bundle));
        context.env.extend([
            ("DOCKER_CONFIG".into(), docker_config.display().to_string()),
            // The host's own credentials stay out of the test.
            ("REGISTRY_AUTH_FILE".into(), String::new()),
            ("DEBLESS_REGISTRY_USERNAME".into(), String::new()),
            ("DEBLESS_REGISTRY_PASSWORD".into(), String::new()),
        ]);
        context.filters.extend(self.certs.filters());
        context
            .filters
            .push((self.address().to_owned(), "[REGISTRY]".into()));
        context
    }
}

fn ok(context: &TestContext, out: &Output) {
    assert!(out.status.success(), "{}", context.render(out));
}

/// Locks and builds `context` into `rootfs`; the base's mawk and the added hello are there.
fn lock_and_build_on_the_base(context: &TestContext) {
    ok(context, &context.run(&["lock"]));
    ok(context, &context.run(&["build", "--rootfs", "rootfs"]));
    let root = context.path().join("rootfs");
    assert!(root.join("usr/bin/mawk").is_file(), "the base's mawk");
    assert!(root.join("usr/bin/hello").is_file(), "the added hello");
}

#[test]
fn push_and_pull_through_a_tls_registry_with_htpasswd_trusting_ssl_cert_file() {
    let Some(registry) = TlsRegistry::start() else {
        return;
    };
    let repo = standard_repo();
    let login = registry.docker_config("login", USER, PASSWORD);
    let ca = registry.certs.ca();
    let base_ref = format!("{}/tls/base:v1", registry.address());

    let base = registry.project(&repo, &["libc6", "mawk"], "", &ca, &login);
    ok(&base, &base.run(&["lock"]));
    let out = base.run(&["build", "--output", "layout", "--push", &base_ref]);
    ok(&base, &out);
    assert!(
        base.render(&out)
            .contains("Pushed [REGISTRY]/tls/base:v1@sha256:"),
        "{}",
        base.render(&out)
    );

    let image = format!("[image]\nbase = \"{base_ref}\"\n");
    let app = registry.project(&repo, &["hello"], &image, &ca, &login);
    lock_and_build_on_the_base(&app);

    // Without the CA: refused at the first request, one line naming the URL once, the host
    // and the CA store, for a pull and for a push alike.
    let other = registry.certs.other_ca();
    let untrusted = registry.project(&repo, &["hello"], &image, &other, &login);
    let out = untrusted.run(&["lock"]);
    assert_eq!(
        untrusted.render(&out),
        "exit: 1
--- stdout
--- stderr
error: base image `[REGISTRY]/tls/base:v1`: `https://[REGISTRY]/v2/`: the TLS certificate of `[REGISTRY]` is not trusted (invalid peer certificate: UnknownIssuer); CA store: SSL_CERT_FILE=[OTHER]/ca.pem, SSL_CERT_DIR [EMPTY], debless's built-in Mozilla roots

hint: trust the server's CA: add it to the system store (update-ca-certificates) or SSL_CERT_FILE, or name it with `ca` in its `[[source]]` or `[registry.\"HOST:PORT\"]` table of debless.toml
"
    );
    let layout = base.path().join("layout").display().to_string();
    let out = untrusted.run(&["push", &layout, &base_ref]);
    let stderr = untrusted.filter(&String::from_utf8_lossy(&out.stderr));
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.starts_with(&format!(
            "error: cannot push `{layout}` to `[REGISTRY]/tls/base:v1`: `https://[REGISTRY]/v2/`: the TLS certificate of `[REGISTRY]` is not trusted (invalid peer certificate: UnknownIssuer); CA store: SSL_CERT_FILE=[OTHER]/ca.pem, SSL_CERT_DIR [EMPTY], debless's built-in Mozilla roots\n\nhint: trust the server's CA"
        )),
        "{stderr}"
    );
    assert_eq!(stderr.matches("https://").count(), 1, "{stderr}");

    // A wrong password, and none at all: the registry's 401, named as such.
    let wrong = registry.docker_config("wrong", USER, "not-the-password");
    let refused = registry.project(&repo, &["hello"], "", &ca, &wrong);
    let out = refused.run(&["push", &layout, &base_ref]);
    let stderr = refused.filter(&String::from_utf8_lossy(&out.stderr));
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(
            "registry `[REGISTRY]` refused access to `tls/base` (401 unauthorized, with the configured credentials)"
        ),
        "{stderr}"
    );
    let nobody = registry.docker_config("nobody", "", "");
    std::fs::write(nobody.join("config.json"), "{\"auths\":{}}").expect("write");
    let anonymous = registry.project(&repo, &["hello"], &image, &ca, &nobody);
    let out = anonymous.run(&["lock"]);
    let stderr = anonymous.filter(&String::from_utf8_lossy(&out.stderr));
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("(401 unauthorized, no credentials configured)"),
        "{stderr}"
    );
}

#[test]
fn the_manifests_registry_ca_is_trusted_for_that_registry() {
    let Some(registry) = TlsRegistry::start() else {
        return;
    };
    let repo = standard_repo();
    let login = registry.docker_config("login", USER, PASSWORD);
    // The host's store (here `SSL_CERT_FILE`) does not vouch for the registry: only the
    // manifest's CA file does.
    let other = registry.certs.other_ca();
    let table = format!(
        "[registry.\"{}\"]\nca = \"certs/registry-ca.pem\"\n",
        registry.address()
    );
    let with_ca = |context: &TestContext| {
        std::fs::create_dir_all(context.path().join("certs")).expect("mkdir");
        std::fs::copy(
            registry.certs.ca(),
            context.path().join("certs/registry-ca.pem"),
        )
        .expect("copy the CA");
    };
    let base_ref = format!("{}/tls/base:v1", registry.address());
    let base = registry.project(&repo, &["libc6", "mawk"], &table, &other, &login);
    with_ca(&base);
    ok(&base, &base.run(&["lock"]));
    ok(
        &base,
        &base.run(&["build", "--output", "layout", "--push", &base_ref]),
    );
    // `debless push` reads the project's manifest for its registry tables too.
    ok(
        &base,
        &base.run(&[
            "push",
            "layout",
            &format!("{}/tls/again:v1", registry.address()),
        ]),
    );

    let app = registry.project(
        &repo,
        &["hello"],
        &format!("{table}\n[image]\nbase = \"{base_ref}\"\n"),
        &other,
        &login,
    );
    with_ca(&app);
    lock_and_build_on_the_base(&app);

    // The same CA named for another registry does not help this one.
    let elsewhere = registry.project(
        &repo,
        &["hello"],
        &format!(
            "[registry.\"registry.test:5000\"]\nca = \"certs/registry-ca.pem\"\n\n[image]\nbase = \"{base_ref}\"\n"
        ),
        &other,
        &login,
    );
    with_ca(&elsewhere);
    let out = elsewhere.run(&["lock"]);
    let stderr = elsewhere.filter(&String::from_utf8_lossy(&out.stderr));
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("the TLS certificate of `[REGISTRY]` is not trusted"),
        "{stderr}"
    );
}
