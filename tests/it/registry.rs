//! Issue #5, base images and registries, as a user meets them: a manifest with
//! `[image] base`, `debless lock` pinning it, `debless build` on top of its layers,
//! `--push` to a real registry (Debian's `docker-registry`), and every way a base can be
//! wrong (bad reference, 401, bytes that do not match their digest, a file clash).

use std::path::Path;
use std::process::{Command, Output};

use crate::hermetic::{SUITE, manifest, pkg, project, standard_repo};
use crate::support::chroot::{self, is_root};
use crate::support::context::TestContext;
use crate::support::registry::{Canned, fake_registry, registry};
use crate::support::signed_repo::{PublishOptions, TestRepo};
use std::sync::{Arc, OnceLock};

fn ok(project: &TestContext, out: &Output) {
    assert!(out.status.success(), "{}", project.render(out));
}

fn json(path: &Path) -> serde_json::Value {
    serde_json::from_slice(
        &std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display())),
    )
    .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn blob(layout: &Path, digest: &str) -> serde_json::Value {
    json(
        &layout
            .join("blobs/sha256")
            .join(digest.trim_start_matches("sha256:")),
    )
}

/// The image manifest of a single-image layout.
fn only_manifest(layout: &Path) -> serde_json::Value {
    let index = json(&layout.join("index.json"));
    let digest = index["manifests"][0]["digest"].as_str().expect("a digest");
    blob(layout, digest)
}

fn layer_digests(manifest: &serde_json::Value) -> Vec<String> {
    manifest["layers"]
        .as_array()
        .expect("layers")
        .iter()
        .map(|l| l["digest"].as_str().expect("digest").to_owned())
        .collect()
}

/// Builds `packages` of `repo` into an OCI layout `base-layout` of a fresh project.
fn base_layout(repo: &TestRepo, packages: &[&str], image: &str) -> TestContext {
    let base = project(repo, packages);
    base.manifest(&format!("{}\n[image]\n{image}\n", manifest(repo, packages)));
    ok(&base, &base.run(&["lock"]));
    ok(&base, &base.run(&["build", "--output", "base-layout"]));
    base
}

/// A project on `base_ref` asking for `packages`.
fn app(repo: &TestRepo, packages: &[&str], base_ref: &str) -> TestContext {
    let app = project(repo, packages);
    app.manifest(&format!(
        "{}\n[image]\nbase = \"{base_ref}\"\nenv = {{ GREETING = \"hello\" }}\n",
        manifest(repo, packages)
    ));
    app
}

#[test]
fn base_from_an_oci_layout_keeps_its_layers_and_its_packages() {
    let repo = standard_repo();
    let base = base_layout(&repo, &["libc6", "mawk"], "user = \"nonroot\"");
    let layout = base.path().join("base-layout");
    let app = app(
        &repo,
        &["hello"],
        &format!("oci-layout:{}", layout.display()),
    );
    ok(&app, &app.run(&["lock"]));
    let lock = app.read("debless.lock");
    // The base's packages meet hello's dependencies and are listed, not locked again.
    assert!(lock.contains("\"libc6:amd64=2.36-9\""), "{lock}");
    assert!(lock.contains("\"mawk:amd64=1.3.4-1\""), "{lock}");
    assert_eq!(lock.matches("[[package]]").count(), 1, "{lock}");
    assert!(lock.contains("name = \"hello\""));

    ok(
        &app,
        &app.run(&["build", "--record", "--output", "out", "--rootfs", "root"]),
    );
    // `--rootfs` holds the whole image: the base's files and the added package's.
    let root = app.path().join("root");
    assert_eq!(
        std::fs::read(root.join("usr/bin/mawk")).expect("the base's mawk"),
        b"mawk"
    );
    assert!(root.join("usr/bin/hello").is_file(), "the added hello");
    let base_manifest = only_manifest(&layout);
    let manifest = only_manifest(&app.path().join("out"));
    let base_layers = layer_digests(&base_manifest);
    let layers = layer_digests(&manifest);
    assert_eq!(layers.len(), base_layers.len() + 1);
    assert_eq!(
        layers[..base_layers.len()],
        base_layers[..],
        "base layers unchanged"
    );
    let base_digest = json(&layout.join("index.json"))["manifests"][0]["digest"].clone();
    assert_eq!(
        manifest["annotations"]["org.opencontainers.image.base.digest"],
        base_digest
    );
    assert_eq!(
        manifest["annotations"]["org.opencontainers.image.base.name"],
        format!("oci-layout:{}", layout.display())
    );
    let config = blob(
        &app.path().join("out"),
        manifest["config"]["digest"].as_str().expect("config"),
    );
    assert_eq!(config["config"]["User"], "65532", "inherited from the base");
    assert!(
        config["config"]["Env"]
            .as_array()
            .is_some_and(|env| env.iter().any(|e| e == "GREETING=hello")),
        "set by the manifest: {}",
        config["config"]
    );
    assert_eq!(
        config["history"].as_array().map(Vec::len),
        Some(layers.len())
    );

    // build uses the pinned digest: a re-tagged layout no longer matches.
    let rebuilt = app.run(&["build", "--verify"]);
    ok(&app, &rebuilt);
    std::fs::remove_dir_all(&layout).expect("remove the base");
    let gone = app.run(&["build"]);
    // Blobs come from the cache: the pinned base still builds without its layout.
    ok(&app, &gone);
}

#[test]
fn the_sbom_over_a_base_lists_the_base_packages_too() {
    let repo = standard_repo();
    let base = base_layout(&repo, &["libc6", "mawk"], "user = \"nonroot\"");
    let layout = base.path().join("base-layout");
    let base_ref = format!("oci-layout:{}", layout.display());
    let app = app(&repo, &["hello"], &base_ref);
    ok(&app, &app.run(&["lock"]));
    ok(
        &app,
        &app.run(&["build", "--sbom", "both", "--output", "out"]),
    );
    let bom = json(&app.path().join("out.cdx.json"));
    let components = bom["components"].as_array().expect("components");
    let names: Vec<&str> = components
        .iter()
        .map(|c| c["name"].as_str().expect("name"))
        .collect();
    assert_eq!(names, ["hello", "libc6", "mawk"]);
    for component in components {
        let from_base = component["properties"]
            .as_array()
            .expect("properties")
            .iter()
            .find(|p| p["name"] == "debless:provided-by-base")
            .map(|p| p["value"].clone());
        if component["name"] == "hello" {
            assert_eq!(from_base, None);
            assert_eq!(component["hashes"][0]["alg"], "SHA-256");
        } else {
            assert_eq!(from_base, Some(serde_json::json!(base_ref)));
            assert!(component.get("hashes").is_none(), "{component}");
        }
    }
    assert_eq!(
        components[1]["purl"],
        "pkg:deb/debian/libc6@2.36-9?arch=amd64"
    );
    let spdx = json(&app.path().join("out.spdx.json"));
    let packages = spdx["packages"].as_array().expect("packages");
    assert_eq!(packages.len(), 3);
    let libc = packages
        .iter()
        .find(|p| p["name"] == "libc6")
        .expect("libc6 in the SPDX document");
    assert!(libc.get("checksums").is_none(), "{libc}");
    assert!(
        libc["comment"]
            .as_str()
            .is_some_and(|c| c.contains("provided by the base image")),
        "{libc}"
    );
}

#[test]
fn a_file_over_a_different_base_file_is_an_error() {
    let repo = standard_repo();
    let base = base_layout(&repo, &["clash-a"], "");
    let layout = base.path().join("base-layout");
    let app = app(
        &repo,
        &["clash-b"],
        &format!("oci-layout:{}", layout.display()),
    );
    ok(&app, &app.run(&["lock"]));
    let out = app.run(&["build", "--output", "out"]);
    assert_eq!(out.status.code(), Some(1), "{}", app.render(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    let first = error_line(&stderr);
    assert!(
        first.contains(
            "`/usr/bin/clash` from package `clash-b` would overwrite the base image's file"
        ),
        "{stderr}"
    );
    assert!(!app.path().join("out").exists(), "nothing half-written");
}

#[test]
fn bad_base_references_fail_with_one_line() {
    let repo = standard_repo();
    for (base_ref, expected) in [
        ("Upper/Case:1", "is not an image reference"),
        ("oci-layout:/nonexistent/layout", "/nonexistent/layout"),
        ("oci-archive:/nonexistent.tar", "/nonexistent.tar"),
    ] {
        let app = app(&repo, &["hello"], base_ref);
        let out = app.run(&["lock"]);
        assert_eq!(out.status.code(), Some(1), "{}", app.render(&out));
        let stderr = String::from_utf8_lossy(&out.stderr);
        let first = error_line(&stderr);
        assert!(first.contains(expected), "{base_ref}: {stderr}");
        assert!(!app.path().join("debless.lock").exists());
    }
}

#[test]
fn a_rebuilt_oci_layout_base_names_the_re_lock() {
    // Regression: once the base layout was rebuilt with other bytes, the build failed with a
    // missing blob and only "check the name and tag of the image".
    let repo = standard_repo();
    let base = base_layout(&repo, &["libc6"], "user = \"nonroot\"");
    let layout = base.path().join("base-layout");
    let app = app(
        &repo,
        &["hello"],
        &format!("oci-layout:{}", layout.display()),
    );
    ok(&app, &app.run(&["lock"]));
    base.manifest(&format!(
        "{}\n[image]\nuser = \"root\"\n",
        manifest(&repo, &["libc6"])
    ));
    ok(&base, &base.run(&["build", "--output", "base-layout"]));
    // On another machine (an empty cache) the pinned manifest is nowhere.
    std::fs::remove_dir_all(&app.cache).expect("empty the cache");
    let out = app.run(&["build", "--output", "out"]);
    assert_eq!(out.status.code(), Some(1), "{}", app.render(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(error_line(&stderr).contains("was not found"), "{stderr}");
    assert!(
        stderr.contains("`debless lock --update` pins it again"),
        "{stderr}"
    );
    ok(&app, &app.run(&["lock", "--update"]));
    ok(&app, &app.run(&["build", "--output", "out"]));
}

#[test]
fn a_registry_asking_for_credentials_is_named() {
    let address = fake_registry(|_| Canned {
        status: 401,
        headers: vec![("WWW-Authenticate".into(), "Basic realm=\"fake\"".into())],
        body: br#"{"errors":[{"code":"UNAUTHORIZED"}]}"#.to_vec(),
    });
    let repo = standard_repo();
    let app = app(&repo, &["hello"], &format!("{address}/private/base:1"));
    let out = app.run(&["lock"]);
    assert_eq!(out.status.code(), Some(1), "{}", app.render(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        error_line(&stderr).contains(&format!(
            "registry `{address}` refused access to `private/base` (401 unauthorized, no credentials configured)"
        )),
        "{stderr}"
    );
    assert!(stderr.contains("hint: log in"), "{stderr}");
    assert!(!app.path().join("debless.lock").exists());
}

/// A config and manifest of an image with no layers: the smallest valid base.
fn empty_image() -> (Vec<u8>, String, String) {
    let config = br#"{"architecture":"amd64","os":"linux","config":{"User":"1000"},"rootfs":{"type":"layers","diff_ids":[]}}"#.to_vec();
    let config_digest = format!("sha256:{}", sha256_hex(&config));
    let manifest = format!(
        r#"{{"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.v2+json","config":{{"mediaType":"application/vnd.docker.container.image.v1+json","digest":"{config_digest}","size":{}}},"layers":[]}}"#,
        config.len()
    );
    (config, config_digest, manifest)
}

#[test]
fn bearer_tokens_are_fetched_with_the_configured_credentials() {
    let (config, _, manifest) = empty_image();
    let realm: Arc<OnceLock<String>> = Arc::new(OnceLock::new());
    let realm_in_server = Arc::clone(&realm);
    let address = fake_registry(move |asked| {
        let realm = realm_in_server.get().expect("set before any request");
        if asked.url.starts_with("/token") {
            // "robot:s3cret" in base64.
            let good_url = asked.url.contains("service=fake")
                && asked
                    .url
                    .contains("scope=repository%3Aprivate%2Fbase%3Apull");
            return if good_url && asked.authorization.as_deref() == Some("Basic cm9ib3Q6czNjcmV0") {
                Canned {
                    status: 200,
                    headers: Vec::new(),
                    body: br#"{"token":"t0ken"}"#.to_vec(),
                }
            } else {
                Canned {
                    status: 401,
                    headers: Vec::new(),
                    body: Vec::new(),
                }
            };
        }
        if asked.authorization.as_deref() != Some("Bearer t0ken") {
            return Canned {
                status: 401,
                headers: vec![(
                    "WWW-Authenticate".into(),
                    format!(
                        "Bearer realm=\"{realm}\",service=\"fake\",scope=\"repository:private/base:pull\""
                    ),
                )],
                body: Vec::new(),
            };
        }
        if asked.url.contains("/manifests/") {
            Canned {
                status: 200,
                headers: vec![(
                    "Content-Type".into(),
                    "application/vnd.docker.distribution.manifest.v2+json".into(),
                )],
                body: manifest.clone().into_bytes(),
            }
        } else {
            Canned {
                status: 200,
                headers: Vec::new(),
                body: config.clone(),
            }
        }
    });
    realm
        .set(format!("http://{address}/token"))
        .expect("set once");
    let repo = standard_repo();
    let mut app = app(&repo, &["hello"], &format!("{address}/private/base:1"));
    // Without credentials the token endpoint refuses: the error names the registry.
    let out = app.run(&["lock"]);
    assert_eq!(out.status.code(), Some(1), "{}", app.render(&out));
    assert!(
        error_line(&String::from_utf8_lossy(&out.stderr))
            .contains("401 unauthorized, no credentials configured")
    );
    app.env
        .push(("DEBLESS_REGISTRY_USERNAME".into(), "robot".into()));
    app.env
        .push(("DEBLESS_REGISTRY_PASSWORD".into(), "s3cret".into()));
    ok(&app, &app.run(&["lock"]));
    ok(&app, &app.run(&["build", "--output", "out"]));
    let manifest = only_manifest(&app.path().join("out"));
    let config = blob(
        &app.path().join("out"),
        manifest["config"]["digest"].as_str().expect("config"),
    );
    assert_eq!(
        config["config"]["User"], "1000",
        "inherited from the private base"
    );
}

#[test]
fn a_registry_serving_other_bytes_is_refused_and_nothing_is_cached() {
    let config =
        br#"{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}"#;
    let config_digest = format!("sha256:{}", sha256_hex(config));
    let manifest = format!(
        r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"{config_digest}","size":{}}},"layers":[]}}"#,
        config.len()
    );
    let address = fake_registry(move |asked| {
        if asked.url.contains("/manifests/") {
            Canned {
                status: 200,
                headers: vec![(
                    "Content-Type".into(),
                    "application/vnd.oci.image.manifest.v1+json".into(),
                )],
                body: manifest.clone().into_bytes(),
            }
        } else {
            // The config blob, tampered with.
            Canned {
                status: 200,
                headers: Vec::new(),
                body: br#"{"architecture":"amd64","os":"linux","evil":true}"#.to_vec(),
            }
        }
    });
    let repo = standard_repo();
    let app = app(&repo, &["hello"], &format!("{address}/lying/base:1"));
    let out = app.run(&["lock"]);
    assert_eq!(out.status.code(), Some(1), "{}", app.render(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    let first = error_line(&stderr);
    assert!(first.contains("digest mismatch"), "{stderr}");
    assert!(
        first.contains(&format!("expected {config_digest}")),
        "{stderr}"
    );
    assert!(!app.path().join("debless.lock").exists());
    let cached = app
        .cache
        .join("oci-blobs-v1/sha256")
        .join(&config_digest[7..]);
    assert!(!cached.exists(), "a mismatching blob is never cached");
}

/// The `error:` line of a failed command's stderr (status lines come before it).
fn error_line(stderr: &str) -> &str {
    stderr
        .lines()
        .find(|l| l.starts_with("error: "))
        .unwrap_or_default()
}

fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest as _;
    hex::encode(sha2::Sha256::digest(bytes))
}

/// The manifest (or index) bytes the registry serves for `reference`, as skopeo reads them.
fn skopeo_raw(reference: &str) -> Vec<u8> {
    let out = Command::new("skopeo")
        .args([
            "inspect",
            "--raw",
            "--tls-verify=false",
            &format!("docker://{reference}"),
        ])
        .output()
        .expect("run skopeo");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

fn have(tool: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .output()
        .is_ok_and(|o| o.status.success())
}

#[test]
fn push_a_base_then_build_on_it_from_the_registry() {
    let Some(registry) = registry() else {
        return;
    };
    let repo = standard_repo();
    let base = base_layout(&repo, &["libc6", "mawk"], "");
    let base_ref = format!("{}/it/base-{}:v1", registry.address, std::process::id());
    let out = base.run(&["push", "base-layout", &base_ref]);
    ok(&base, &out);
    let base_digest = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    assert_eq!(
        serde_json::Value::String(base_digest.clone()),
        json(&base.path().join("base-layout/index.json"))["manifests"][0]["digest"]
    );

    let app = app(&repo, &["hello"], &base_ref);
    ok(&app, &app.run(&["lock"]));
    assert!(
        app.read("debless.lock")
            .contains(&format!("amd64 = \"{base_digest}\""))
    );
    let app_ref = format!("{}/it/app-{}:v1", registry.address, std::process::id());
    let out = app.run(&["build", "--output", "out", "--push", &app_ref]);
    ok(&app, &out);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("1 mounted"),
        "the base layer is mounted: {stderr}"
    );
    let pushed = String::from_utf8_lossy(&out.stdout)
        .lines()
        .last()
        .unwrap_or_default()
        .to_owned();
    let manifest = only_manifest(&app.path().join("out"));
    let index = json(&app.path().join("out/index.json"));
    assert_eq!(index["manifests"][0]["digest"], pushed.as_str());
    assert_eq!(
        layer_digests(&manifest)[0],
        layer_digests(&only_manifest(&base.path().join("base-layout")))[0]
    );
    if have("skopeo") {
        let raw = skopeo_raw(&app_ref);
        assert_eq!(format!("sha256:{}", sha256_hex(&raw)), pushed);
    }

    // The tag moves: the lock keeps its pin until a bare `lock --update`.
    let moved = base_layout(&repo, &["libc6", "mawk", "tzdata"], "");
    let out = moved.run(&["push", "base-layout", &base_ref]);
    ok(&moved, &out);
    let moved_digest = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    assert_ne!(moved_digest, base_digest);
    ok(&app, &app.run(&["lock"]));
    assert!(
        app.read("debless.lock")
            .contains(&format!("amd64 = \"{base_digest}\""))
    );
    ok(&app, &app.run(&["lock", "--update"]));
    let lock = app.read("debless.lock");
    assert!(
        lock.contains(&format!("amd64 = \"{moved_digest}\"")),
        "{lock}"
    );
    assert!(lock.contains("\"tzdata:all=2024a-1\""), "{lock}");
}

#[test]
fn multi_arch_base_index_and_pushed_index() {
    let Some(registry) = registry() else {
        return;
    };
    let repo = TestRepo::new();
    for arch in ["amd64", "arm64"] {
        pkg("libc6", "2.36-9", arch, &[("Multi-Arch", "same")])
            .file(
                "/usr/lib/libc.so.6",
                format!("libc {arch}").as_bytes(),
                0o755,
            )
            .add_to(&repo, SUITE);
        pkg("hello", "1.0-1", arch, &[("Depends", "libc6")])
            .file("/usr/bin/hello", format!("hello {arch}").as_bytes(), 0o755)
            .add_to(&repo, SUITE);
    }
    repo.publish(SUITE, PublishOptions::default());
    let two = |packages: &[&str]| {
        manifest(&repo, packages).replace(
            "architectures = [\"amd64\"]",
            "architectures = [\"amd64\", \"arm64\"]",
        )
    };
    let base = project(&repo, &["libc6"]);
    base.manifest(&two(&["libc6"]));
    ok(&base, &base.run(&["lock"]));
    let base_ref = format!(
        "{}/it/multi-base-{}:v1",
        registry.address,
        std::process::id()
    );
    ok(&base, &base.run(&["build", "--push", &base_ref]));

    let app = project(&repo, &["hello"]);
    app.manifest(&format!(
        "{}\n[image]\nbase = \"{base_ref}\"\n",
        two(&["hello"])
    ));
    ok(&app, &app.run(&["lock"]));
    let lock = app.read("debless.lock");
    assert!(lock.contains("\"libc6:arm64=2.36-9\""), "{lock}");
    assert_eq!(
        lock.matches("[[package]]").count(),
        2,
        "hello per arch: {lock}"
    );
    let app_ref = format!(
        "{}/it/multi-app-{}:v1",
        registry.address,
        std::process::id()
    );
    let out = app.run(&["build", "--output", "out", "--push", &app_ref]);
    ok(&app, &out);
    let index = json(&app.path().join("out/index.json"));
    let top = index["manifests"][0]["digest"]
        .as_str()
        .expect("digest")
        .to_owned();
    let nested = blob(&app.path().join("out"), &top);
    let platforms: Vec<&str> = nested["manifests"]
        .as_array()
        .expect("an index")
        .iter()
        .map(|m| m["platform"]["architecture"].as_str().expect("arch"))
        .collect();
    assert_eq!(platforms, ["amd64", "arm64"]);
    if have("skopeo") {
        let raw = skopeo_raw(&app_ref);
        let pushed: serde_json::Value = serde_json::from_slice(&raw).expect("json");
        assert_eq!(pushed["manifests"].as_array().map(Vec::len), Some(2));
        assert_eq!(format!("sha256:{}", sha256_hex(&raw)), top);
    }
    if have("oci-image-tool") {
        let out = Command::new("oci-image-tool")
            .args(["validate", "--type", "image", "--ref", "name=latest"])
            .arg(app.path().join("out"))
            .output()
            .expect("run oci-image-tool");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// The issue's acceptance test: a distroless-like python3 base built by debless and pushed,
/// then `python3-gmpy2` and its libraries added on top as a user would, pulled back with
/// skopeo, unpacked with umoci and run under chroot.
#[test]
fn live_gmpy2_on_a_distroless_like_python_base() {
    if crate::support::live::mirror().is_none() {
        return;
    }
    let Some(registry) = registry() else {
        return;
    };
    let id = std::process::id();
    let base = TestContext::new();
    base.manifest(
        "architectures = [\"amd64\"]\n\
         packages = [\"base-files\", \"netbase\", \"tzdata\", \"media-types\", \"ca-certificates\", \"libc6\", \"libssl3\", \"python3\"]\n\
         \n[[source]]\nsuite = \"bookworm\"\n\n[image]\nuser = \"nonroot\"\n",
    );
    ok(&base, &base.run(&["lock"]));
    let base_ref = format!("{}/it/python3-{id}:bookworm", registry.address);
    ok(&base, &base.run(&["build", "--push", &base_ref]));

    let mut app = TestContext::new();
    app.cache = base.cache.clone();
    app.manifest(&format!(
        "architectures = [\"amd64\"]\n\
         packages = [\"libgmp10\", \"libmpfr6\", \"libmpc3\", \"python3-gmpy2\"]\n\
         \n[[source]]\nsuite = \"bookworm\"\n\n[image]\nbase = \"{base_ref}\"\n"
    ));
    ok(&app, &app.run(&["lock"]));
    let lock = app.read("debless.lock");
    assert!(
        lock.contains("\"python3:amd64="),
        "python3 is provided by the base: {lock}"
    );
    assert!(lock.contains("\"libc6:amd64="), "{lock}");
    assert!(
        !lock.contains("name = \"python3\"\n"),
        "python3 is not re-added: {lock}"
    );
    assert!(!lock.contains("name = \"libc6\"\n"), "{lock}");
    assert!(lock.contains("name = \"python3-gmpy2\""), "{lock}");
    let app_ref = format!("{}/it/gmpy2-{id}:v1", registry.address);
    let out = app.run(&["build", "--push", &app_ref]);
    ok(&app, &out);

    if !have("skopeo") {
        eprintln!("skip the pull-back: skopeo is not installed (cargo xtask test installs it)");
        return;
    }
    let raw = |reference: &str| -> serde_json::Value {
        serde_json::from_slice(&skopeo_raw(reference)).expect("a manifest")
    };
    let base_layers = layer_digests(&raw(&base_ref));
    let app_manifest = raw(&app_ref);
    let app_layers = layer_digests(&app_manifest);
    assert_eq!(
        app_layers[..base_layers.len()],
        base_layers[..],
        "base layers untouched"
    );
    assert_eq!(app_layers.len(), base_layers.len() + 1);
    let pulled = app.path().join("pulled");
    let copy = Command::new("skopeo")
        .args([
            "copy",
            "-q",
            "--src-tls-verify=false",
            &format!("docker://{app_ref}"),
        ])
        .arg(format!("oci:{}:v1", pulled.display()))
        .output()
        .expect("run skopeo");
    assert!(
        copy.status.success(),
        "{}",
        String::from_utf8_lossy(&copy.stderr)
    );
    // A scanner sees the base's packages and the added ones, each once.
    if let Some(report) = crate::support::syft::scan(app.path(), "oci-dir:pulled") {
        let found = crate::support::syft::deb_packages(&report);
        let lock: toml::Value = toml::from_str(&app.read("debless.lock")).expect("lock TOML");
        let text = |v: &toml::Value| v.as_str().expect("a string").to_owned();
        let provided = lock["base"]["provided"]["amd64"]
            .as_array()
            .expect("[base.provided] amd64")
            .iter()
            .map(|entry| {
                let entry = text(entry);
                let (name_arch, version) = entry.split_once('=').expect("name:arch=version");
                let name = name_arch.split_once(':').map_or(name_arch, |(n, _)| n);
                (name.to_owned(), version.to_owned())
            });
        let added = crate::support::syft::locked(&app.read("debless.lock"));
        let wanted: std::collections::BTreeSet<(String, String)> = provided.chain(added).collect();
        assert!(wanted.iter().any(|(name, _)| name == "python3-gmpy2"));
        assert!(wanted.iter().any(|(name, _)| name == "python3"));
        assert_eq!(found, wanted, "syft sees base + added packages");
    }
    if !is_root() || !have("umoci") {
        eprintln!("skip running python3: needs root (chroot) and umoci");
        return;
    }
    let bundle = app.path().join("bundle");
    let unpack = Command::new("umoci")
        .args(["unpack", "--image"])
        .arg(format!("{}:v1", pulled.display()))
        .arg(&bundle)
        .output()
        .expect("run umoci");
    assert!(
        unpack.status.success(),
        "{}",
        String::from_utf8_lossy(&unpack.stderr)
    );
    let run = chroot::run(
        &bundle.join("rootfs"),
        None,
        &[
            "/usr/bin/python3",
            "-c",
            "import gmpy2; print(gmpy2.mpz(2)**100)",
        ],
    );
    assert_eq!(run.trim(), "1267650600228229401496703205376");
}

/// `[image] layers = N`: packages are grouped by name, so updating one package rewrites only
/// the layer that holds it.
#[test]
fn updating_one_package_changes_one_layer() {
    let repo = standard_repo();
    let packages = ["libc6", "hello", "mawk", "tzdata", "coreutils"];
    let mut app = project(&repo, &packages);
    app.manifest(&format!(
        "{}\n[image]\nlayers = 4\n",
        manifest(&repo, &packages)
    ));
    app.env
        .push(("SOURCE_DATE_EPOCH".into(), "1700000000".into()));
    ok(&app, &app.run(&["lock"]));
    ok(&app, &app.run(&["build", "--output", "before"]));
    let before = layer_digests(&only_manifest(&app.path().join("before")));
    assert!(before.len() > 1 && before.len() <= 4, "{before:?}");

    pkg(
        "hello",
        "1.0-2",
        "amd64",
        &[("Depends", "libc6 (>= 2.36), awk")],
    )
    .file("/usr/bin/hello", b"#!/bin/sh\necho hello again\n", 0o755)
    .symlink("/usr/bin/hi", "hello")
    .add_to(&repo, SUITE);
    repo.publish(SUITE, PublishOptions::default());
    ok(&app, &app.run(&["lock", "--update", "hello"]));
    assert!(app.read("debless.lock").contains("version = \"1.0-2\""));
    ok(&app, &app.run(&["build", "--output", "after"]));
    let after = layer_digests(&only_manifest(&app.path().join("after")));
    assert_eq!(before.len(), after.len());
    let changed = before.iter().zip(&after).filter(|(a, b)| a != b).count();
    assert_eq!(changed, 1, "before {before:?}\nafter {after:?}");
}

#[test]
fn a_package_conflicting_with_the_base_is_refused_and_base_changes_make_the_lock_stale() {
    let repo = standard_repo();
    pkg("gawk-hater", "1.0", "amd64", &[("Conflicts", "gawk")])
        .file("/usr/bin/gawk-hater", b"x", 0o755)
        .add_to(&repo, SUITE);
    repo.publish(SUITE, PublishOptions::default());
    let base = project(&repo, &["gawk"]);
    ok(&base, &base.run(&["lock"]));
    ok(
        &base,
        &base.run(&["build", "--format", "oci-archive", "--output", "base.tar"]),
    );
    let archive = format!("oci-archive:{}", base.path().join("base.tar").display());

    let app = app(&repo, &["gawk-hater"], &archive);
    let out = app.run(&["lock"]);
    assert_eq!(out.status.code(), Some(1), "{}", app.render(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        error_line(&stderr).contains("`gawk-hater` conflicts with `gawk`"),
        "{stderr}"
    );
    assert!(
        stderr.contains("hint: `gawk` is in the base image `oci-archive:"),
        "{stderr}"
    );
    assert!(!app.path().join("debless.lock").exists());

    // The same archive as a base for a package that fits: pinned, then stale once the
    // manifest names another base.
    let app = self::app(&repo, &["hello"], &archive);
    ok(&app, &app.run(&["lock"]));
    assert!(app.read("debless.lock").contains("\"gawk:amd64=5.2.1-2\""));
    ok(&app, &app.run(&["build"]));
    app.manifest(
        &app.read("debless.toml")
            .replace(&archive, "127.0.0.1:1/other:1"),
    );
    let out = app.run(&["build"]);
    assert_eq!(out.status.code(), Some(3), "{}", app.render(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("the base image changed from"),
        "{}",
        app.render(&out)
    );
}
