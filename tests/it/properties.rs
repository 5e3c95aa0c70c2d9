//! Property tests for every parser that reads untrusted bytes: deb822, Release, InRelease
//! (clearsigned framing), versions, the packed index cache, ar, tar entries, ELF, the lock,
//! OCI JSON, image references and registry auth headers.
//!
//! Properties: no parser panics on arbitrary bytes or on small mutations of valid input;
//! writers round-trip through their parsers; version ordering is a total order and agrees
//! with `dpkg --compare-versions` on generated versions.
//!
//! The normal suite runs a few dozen cases per property; `cargo xtask fuzz` runs the same
//! tests with `PROPTEST_CASES` raised (proptest: stable Rust, shrinking, no nightly needed).

use std::io::Cursor;
use std::path::Path;
use std::process::Command;

use proptest::prelude::*;
use proptest::test_runner::Config;

use debless::debian::Version;

/// `PROPTEST_CASES`, else a bound small enough for every `cargo test` run.
fn cases(default: u32) -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn config() -> Config {
    Config {
        cases: cases(48),
        failure_persistence: None,
        ..Config::default()
    }
}

/// Valid bytes with a few positions overwritten and maybe cut short.
fn mutated(valid: Vec<u8>) -> impl Strategy<Value = Vec<u8>> {
    let len = valid.len().max(1);
    (
        proptest::collection::vec((0..len, any::<u8>()), 1..6),
        0..=len,
    )
        .prop_map(move |(edits, cut)| {
            let mut bytes = valid.clone();
            for (at, byte) in edits {
                if let Some(b) = bytes.get_mut(at) {
                    *b = byte;
                }
            }
            bytes.truncate(cut.max(1));
            bytes
        })
}

fn version_strategy() -> impl Strategy<Value = String> {
    (
        proptest::option::of(0u32..3),
        "[0-9][0-9a-z.+~]{0,5}",
        proptest::option::of("[0-9a-z+.~]{1,4}"),
    )
        .prop_map(|(epoch, upstream, revision)| {
            let mut text = String::new();
            if let Some(epoch) = epoch {
                text.push_str(&format!("{epoch}:"));
            }
            text.push_str(&upstream);
            if let Some(revision) = revision {
                text.push('-');
                text.push_str(&revision);
            }
            text
        })
}

fn dpkg_available() -> bool {
    Command::new("dpkg")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

fn dpkg_says(a: &str, op: &str, b: &str) -> bool {
    Command::new("dpkg")
        .args(["--compare-versions", a, op, b])
        .status()
        .expect("dpkg runs")
        .success()
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn deb822_never_panics_and_round_trips(
        junk in any::<String>(),
        stanza in proptest::collection::btree_map("[A-Z][A-Za-z0-9-]{0,8}", "[!-~][ -~]{0,12}[!-~]", 1..6),
    ) {
        let _ = debless::debian::deb822::parse(&junk);
        let text: String = stanza.iter().map(|(k, v)| format!("{k}: {v}\n")).collect();
        let parsed = debless::debian::deb822::parse(&text).expect("generated stanza parses");
        prop_assert_eq!(parsed.len(), 1);
        for (key, value) in &stanza {
            prop_assert_eq!(parsed[0].get(key), Some(value.as_str()));
        }
    }

    #[test]
    fn release_parsing_never_panics(text in any::<String>(), date in any::<String>()) {
        let _ = debless::repo::release::Release::parse(&text);
        let _ = debless::repo::release::parse_date(&date);
        let release = format!("Origin: Debian\nSuite: stable\nCodename: x\nDate: {date}\nSHA256:\n {text}\n");
        let _ = debless::repo::release::Release::parse(&release);
    }

    #[test]
    fn version_parse_never_panics_and_displays_back(text in any::<String>(), valid in version_strategy()) {
        let _ = Version::parse(&text);
        let version = Version::parse(&valid).expect("generated version parses");
        let again = Version::parse(&version.to_string()).expect("display parses");
        prop_assert_eq!(again.cmp(&version), std::cmp::Ordering::Equal);
    }

    #[test]
    fn version_order_is_total(a in version_strategy(), b in version_strategy(), c in version_strategy()) {
        let (a, b, c) = (
            Version::parse(&a).expect("a"),
            Version::parse(&b).expect("b"),
            Version::parse(&c).expect("c"),
        );
        prop_assert_eq!(a.cmp(&b), b.cmp(&a).reverse());
        prop_assert_eq!(a.cmp(&a), std::cmp::Ordering::Equal);
        if a <= b && b <= c {
            prop_assert!(a <= c, "{a} <= {b} <= {c}");
        }
    }

    #[test]
    fn ar_reader_never_panics(bytes in any::<Vec<u8>>(), deb in mutated(small_deb())) {
        for input in [bytes, deb] {
            let _ = debless::deb::ar::read_members(&mut Cursor::new(&input));
        }
    }

    #[test]
    fn deb_reader_never_panics_on_damaged_debs(deb in mutated(small_deb())) {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("x.deb");
        std::fs::write(&path, &deb).expect("write");
        if let Ok(opened) = debless::deb::Deb::open(&path) {
            let _ = opened.data_entries();
            let _ = opened.expect_identity("victim", "1.0", "amd64");
        }
    }

    #[test]
    fn tar_entries_never_panic(bytes in any::<Vec<u8>>(), tar in mutated(small_tar())) {
        for input in [bytes, tar] {
            let _ = debless::deb::tar::visit_entries(Cursor::new(&input), None, |entry| {
                let _ = entry.path.len();
                Ok::<(), debless::deb::tar::TarError>(())
            });
        }
    }

    #[test]
    fn elf_parser_never_panics(bytes in any::<Vec<u8>>(), elf in mutated(real_elf())) {
        let mut prefixed = debless::elf::MAGIC.to_vec();
        prefixed.extend_from_slice(&bytes);
        for input in [bytes, prefixed, elf] {
            let _ = debless::elf::parse(&input);
        }
    }

    #[test]
    fn lock_parse_never_panics(text in any::<String>(), edit in mutated(sample_lock_text().into_bytes())) {
        let _ = debless::lock::Lock::parse(Path::new("debless.lock"), &text);
        let edited = String::from_utf8_lossy(&edit);
        let _ = debless::lock::Lock::parse(Path::new("debless.lock"), &edited);
    }

    #[test]
    fn lock_round_trips(names in proptest::collection::btree_set("[a-z0-9][a-z0-9+.-]{1,10}", 1..8),
                        version in version_strategy()) {
        let mut lock = sample_lock();
        let template = lock.packages[0].clone();
        lock.packages = names
            .iter()
            .map(|name| debless::lock::LockedPackage {
                name: name.clone(),
                version: Version::parse(&version).expect("version"),
                path: format!("pool/main/{name}.deb"),
                ..template.clone()
            })
            .collect();
        lock.normalise();
        let text = lock.render();
        let back = debless::lock::Lock::parse(Path::new("debless.lock"), &text);
        prop_assert!(back.is_ok(), "{:?}\n{text}", back.err());
        prop_assert_eq!(back.expect("checked").render(), text);
    }

    #[test]
    fn oci_json_never_panics(bytes in any::<Vec<u8>>(), json in mutated(index_json())) {
        let cache = debless::registry::pull::BlobCache::new(Path::new("/nonexistent"));
        let puller = debless::registry::pull::Puller::cache_only(cache, "fuzz");
        for input in [bytes, json] {
            let _ = puller.resolve_platform("sha256:00", &input, "amd64");
            let _ = debless::oci::model::Document::parse(&input);
            let _ = debless::oci::model::ImageConfig::parse(&input);
        }
    }

    #[test]
    fn registry_inputs_never_panic(text in any::<String>(), header in "(Bearer|Basic|bearer) [ -~]{0,40}") {
        use debless::registry::reference::{ImageSource, Reference};
        if let Ok(reference) = Reference::parse(&text) {
            let again = Reference::parse(&reference.to_string());
            prop_assert!(again.is_ok(), "{reference} does not parse back");
            prop_assert_eq!(again.expect("checked").to_string(), reference.to_string());
        }
        let _ = ImageSource::parse(&text);
        let _ = debless::registry::auth::Challenge::parse(&text);
        let _ = debless::registry::auth::Challenge::parse(&header);
        let _ = debless::registry::auth::from_auth_file(&text, "127.0.0.1:5000");
        let _ = debless::registry::auth::base64_decode(&text);
    }
}

proptest! {
    // One dpkg process per case: bounded separately so `cargo xtask fuzz` stays minutes long.
    #![proptest_config(Config { cases: cases(24).min(2_000), failure_persistence: None, ..Config::default() })]

    #[test]
    fn version_order_agrees_with_dpkg(a in version_strategy(), b in version_strategy()) {
        if !dpkg_available() {
            return Ok(());
        }
        let (va, vb) = (Version::parse(&a).expect("a"), Version::parse(&b).expect("b"));
        let op = match va.cmp(&vb) {
            std::cmp::Ordering::Less => "lt",
            std::cmp::Ordering::Equal => "eq",
            std::cmp::Ordering::Greater => "gt",
        };
        prop_assert!(dpkg_says(&a, op, &b), "debless says {a} {op} {b}, dpkg disagrees");
    }
}

proptest! {
    #![proptest_config(Config { cases: cases(16).min(500), failure_persistence: None, ..Config::default() })]

    #[test]
    fn clearsigned_framing_never_panics(body in any::<Vec<u8>>(), signed in mutated(clearsigned())) {
        let keyring = debless::repo::signature::Keyring::debian();
        let now = std::time::SystemTime::now();
        for input in [body, signed] {
            let _ = debless::repo::signature::verify_inrelease(&input, &keyring, now);
        }
    }
}

/// A small valid `.deb` (uncompressed members) to mutate.
fn small_deb() -> Vec<u8> {
    crate::support::debs::DebBuilder::new("victim", "1.0", "amd64")
        .file("/usr/bin/victim", b"#!/bin/sh\necho hi\n", 0o755)
        .symlink("/usr/bin/alias", "victim")
        .compression(crate::support::debs::Comp::None)
        .build()
}

/// A small valid tar with a long name, a link and a file.
fn small_tar() -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    let mut header = tar::Header::new_gnu();
    header.set_size(3);
    header.set_mode(0o644);
    header.set_entry_type(tar::EntryType::Regular);
    builder
        .append_data(
            &mut header,
            format!("./usr/{}", "long/".repeat(30)) + "x",
            &b"abc"[..],
        )
        .expect("append");
    let mut link = tar::Header::new_gnu();
    link.set_size(0);
    link.set_entry_type(tar::EntryType::Symlink);
    builder
        .append_link(&mut link, "./usr/link", "../x")
        .expect("link");
    builder.into_inner().expect("finish")
}

/// The first 8 KB of a real ELF file of this host (the test binary itself).
fn real_elf() -> Vec<u8> {
    let exe = std::env::current_exe().expect("test binary");
    let mut bytes = std::fs::read(exe).expect("read the test binary");
    bytes.truncate(8192);
    bytes
}

/// A small valid lock, as the canonical writer renders it.
fn sample_lock() -> debless::lock::Lock {
    use debless::lock::{Lock, LockedPackage, LockedSource};
    let sha = "ab".repeat(32);
    let mut lock = Lock {
        manifest_digest: "sha256:00".into(),
        architectures: vec!["amd64".into()],
        roots: vec!["a".into()],
        sources: vec![LockedSource {
            suite: "stable".into(),
            codename: "stable".into(),
            components: vec!["main".into()],
            date: 1_795_252_544,
            valid_until: None,
            inrelease_sha256: sha.clone(),
            signed_by: Vec::new(),
        }],
        packages: vec![LockedPackage {
            name: "a".into(),
            version: Version::parse("1.0-1").expect("version"),
            architecture: "amd64".into(),
            target: debless::debian::Arch::parse("amd64").expect("arch"),
            suite: "stable".into(),
            source_package: "a".into(),
            source_version: None,
            path: "pool/main/a.deb".into(),
            size: 1,
            sha256: sha,
            depends: Vec::new(),
            required_by: vec!["manifest".into()],
        }],
        images: std::collections::BTreeMap::new(),
        base: None,
    };
    lock.normalise();
    lock
}

fn sample_lock_text() -> String {
    sample_lock().render()
}

fn index_json() -> Vec<u8> {
    br#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:0000000000000000000000000000000000000000000000000000000000000000","size":7,"platform":{"architecture":"amd64","os":"linux"}}]}"#.to_vec()
}

/// A clearsigned message shape (the signature itself need not verify).
fn clearsigned() -> Vec<u8> {
    b"-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA256\n\nOrigin: Debian\n- Suite: stable\n-----BEGIN PGP SIGNATURE-----\n\nwsBcBAEBCAAQBQJnAAAACRAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\n=AAAA\n-----END PGP SIGNATURE-----\n".to_vec()
}

/// A `Packages` stanza with random optional fields (the shapes the packed index stores).
fn stanza_strategy() -> impl Strategy<Value = String> {
    (
        "[a-z][a-z0-9+.-]{1,12}",
        version_strategy(),
        prop_oneof![Just("amd64"), Just("all"), Just("arm64")],
        proptest::option::of("[a-z][a-z0-9-]{1,8}( \\(1\\.[0-9]\\))?"),
        proptest::option::of(
            "[a-z][a-z0-9]{1,6}(:any)?( \\(= 1\\.[0-9]\\))?(, [a-z][a-z0-9]{1,6})?",
        ),
        proptest::option::of("[a-z][a-z0-9]{1,6}( \\(>= 1\\))?( \\| [a-z]{2,5})?(,\n [a-z]{2,5})?"),
        proptest::option::of(prop_oneof![Just("same"), Just("foreign"), Just("allowed")]),
        proptest::option::of(0u64..100_000),
        (any::<bool>(), "[0-9a-f]{64}", 0u64..u64::MAX / 2),
    )
        .prop_map(
            |(name, version, arch, source, provides, depends, multi_arch, installed, rest)| {
                let (essential, sha, size) = rest;
                let mut text =
                    format!("Package: {name}\nVersion: {version}\nArchitecture: {arch}\n");
                let mut field = |key: &str, value: Option<String>| {
                    if let Some(value) = value {
                        text.push_str(&format!("{key}: {value}\n"));
                    }
                };
                field("Source", source);
                field("Provides", provides);
                field("Depends", depends.clone());
                field("Breaks", depends);
                field("Multi-Arch", multi_arch.map(str::to_owned));
                field("Installed-Size", installed.map(|n| n.to_string()));
                field("Essential", essential.then(|| "yes".to_owned()));
                field("Filename", Some(format!("pool/main/{name}.deb")));
                field("Size", Some(size.to_string()));
                field("SHA256", Some(sha));
                text
            },
        )
}

proptest! {
    #![proptest_config(config())]

    /// The packed index cache gives back exactly what the stanzas parsed to, and a damaged
    /// packed file is refused (never a panic, never other packages).
    #[test]
    fn packed_indices_round_trip_and_refuse_damage(
        stanzas in proptest::collection::vec(stanza_strategy(), 1..8),
        edits in proptest::collection::vec((any::<prop::sample::Index>(), 1u8..=255), 1..4),
    ) {
        use debless::debian::{BinaryPackage, deb822};
        use debless::repo::packed;
        let text = stanzas.join("\n");
        let parsed = deb822::parse(&text).expect("generated stanzas are deb822");
        let packages: Vec<BinaryPackage> = parsed
            .iter()
            .map(|stanza| BinaryPackage::from_stanza(stanza).expect("generated stanzas are packages"))
            .collect();
        let sha = "ab".repeat(32);
        let bytes = packed::encode(&packages, &sha);
        let decoded = packed::decode(&bytes, &sha).expect("a fresh packed index decodes");
        prop_assert_eq!(format!("{packages:?}"), format!("{decoded:?}"));
        let mut damaged = bytes.clone();
        for (at, xor) in edits {
            let i = at.index(damaged.len());
            damaged[i] ^= xor;
        }
        // Two edits of one byte can cancel out.
        prop_assert!(damaged == bytes || packed::decode(&damaged, &sha).is_err(), "damage went unnoticed");
    }
}
