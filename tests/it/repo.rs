//! The `repo` stage against the hermetic signed repository (trust failures, cache, by-hash)
//! and, when a Debian mirror answers, against the real archive.

use std::time::{Duration, SystemTime};

use debless::debian::Arch;
use debless::repo::signature::{verify_detached, verify_inrelease};
use debless::repo::{
    Http, IndexCache, Keyring, Mirrors, ReleaseError, RepoError, SignatureError, SuiteRequest,
    VerifiedSuite, load_suite,
};

use crate::support::signed_repo::{PackageSpec, PublishOptions, Signing, TestRepo, unix_now};

fn amd64() -> Vec<Arch> {
    vec![Arch::parse("amd64").expect("known arch")]
}

fn main_component() -> Vec<String> {
    vec!["main".to_owned()]
}

/// A repository with a few packages in suite `stable`, published as `options` say.
fn repo_with(options: PublishOptions) -> TestRepo {
    let repo = TestRepo::new();
    repo.add_package(
        "stable",
        PackageSpec::new("hello", "2.10-3").depends("libc6 (>= 2.36)"),
    );
    repo.add_package(
        "stable",
        PackageSpec::new("libc6", "2.36-9")
            .multi_arch("same")
            .priority("required"),
    );
    repo.add_package("stable", PackageSpec::new("tzdata", "2025a-1").arch("all"));
    repo.add_package("stable", PackageSpec::new("only-arm", "1").arch("arm64"));
    repo.publish("stable", options);
    repo
}

fn load(repo: &TestRepo, cache: &IndexCache, suite: &str) -> Result<VerifiedSuite, RepoError> {
    load_with(repo, cache, suite, &repo.keyring())
}

fn load_with(
    repo: &TestRepo,
    cache: &IndexCache,
    suite: &str,
    keyring: &Keyring,
) -> Result<VerifiedSuite, RepoError> {
    let http = Http::new().expect("HTTP client");
    let url = repo.url();
    let (components, archs) = (main_component(), amd64());
    let request = SuiteRequest {
        root: &url,
        suite,
        components: &components,
        architectures: &archs,
        keyring,
    };
    load_suite(&http, cache, &request, SystemTime::now())
}

fn names(suite: &VerifiedSuite) -> Vec<String> {
    let mut names: Vec<String> = suite.packages.iter().map(|p| p.name.clone()).collect();
    names.sort();
    names
}

#[test]
fn loads_a_signed_suite_by_hash() {
    let repo = repo_with(PublishOptions::default());
    let cache_dir = tempfile::tempdir().expect("tempdir");
    let suite = load(&repo, &IndexCache::new(cache_dir.path()), "stable").expect("trusted");
    assert_eq!(
        names(&suite),
        ["hello", "libc6", "tzdata"],
        "amd64 index includes all"
    );
    assert_eq!(suite.verified.signers, [repo.fingerprint()]);
    assert_eq!(suite.verified.codename, "stable");
    assert_eq!(suite.indices.len(), 1);
    assert_eq!(suite.indices[0].path, "main/binary-amd64/Packages.gz");
    let hello = suite
        .packages
        .iter()
        .find(|p| p.name == "hello")
        .expect("hello loaded");
    assert_eq!(hello.version.as_str(), "2.10-3");
    assert_eq!(hello.filename, "pool/main/h/hello/hello_2.10-3_amd64.deb");
    let requests = repo.requests();
    assert!(
        requests
            .iter()
            .any(|r| r.contains("/binary-amd64/by-hash/SHA256/")),
        "by-hash preferred: {requests:?}"
    );
    assert!(
        !requests.iter().any(|r| r.ends_with("/Packages.gz")),
        "plain path not needed: {requests:?}"
    );
    assert!(
        !requests.iter().any(|r| r.contains("binary-all")),
        "{requests:?}"
    );
}

#[test]
fn warm_load_reads_indices_from_the_cache() {
    let repo = repo_with(PublishOptions::default());
    let cache_dir = tempfile::tempdir().expect("tempdir");
    let cache = IndexCache::new(cache_dir.path());
    let cold = load(&repo, &cache, "stable").expect("cold load");
    std::fs::remove_dir_all(repo.root().join("dists/stable/main/binary-amd64"))
        .expect("delete served indices");
    let before = repo.requests().len();
    let warm = load(&repo, &cache, "stable").expect("warm load from cache");
    assert_eq!(names(&warm), names(&cold));
    assert_eq!(
        warm.verified.inrelease_sha256,
        cold.verified.inrelease_sha256
    );
    assert_eq!(repo.requests()[before..], ["/dists/stable/InRelease"]);
}

#[test]
fn falls_back_to_plain_paths_and_release_gpg() {
    let repo = repo_with(PublishOptions {
        by_hash: false,
        no_inrelease: true,
        ..PublishOptions::default()
    });
    let cache_dir = tempfile::tempdir().expect("tempdir");
    let suite = load(&repo, &IndexCache::new(cache_dir.path()), "stable").expect("trusted");
    assert_eq!(names(&suite), ["hello", "libc6", "tzdata"]);
    let requests = repo.requests();
    assert!(requests.contains(&"/dists/stable/Release.gpg".to_owned()));
    assert!(requests.contains(&"/dists/stable/main/binary-amd64/Packages.gz".to_owned()));
}

#[test]
fn security_layout_components_match_main() {
    let repo = repo_with(PublishOptions {
        security_layout: true,
        ..PublishOptions::default()
    });
    let cache_dir = tempfile::tempdir().expect("tempdir");
    let suite = load(&repo, &IndexCache::new(cache_dir.path()), "stable").expect("trusted");
    assert_eq!(suite.verified.release.components, ["updates/main"]);
    assert_eq!(suite.indices[0].path, "main/binary-amd64/Packages.gz");
}

fn expect_signature_error(options: PublishOptions, keyring: Option<Keyring>) -> SignatureError {
    let repo = repo_with(options);
    let cache_dir = tempfile::tempdir().expect("tempdir");
    let keyring = keyring.unwrap_or_else(|| repo.keyring());
    let err = load_with(
        &repo,
        &IndexCache::new(cache_dir.path()),
        "stable",
        &keyring,
    )
    .expect_err("must not be trusted");
    let message = err.to_string();
    assert!(!message.contains('\n'), "one line: {message}");
    match err {
        RepoError::Signature { suite, source, .. } => {
            assert_eq!(suite, "stable");
            source
        }
        other => panic!("expected a signature error, got {other}"),
    }
}

#[test]
fn bad_signature_is_refused() {
    let err = expect_signature_error(
        PublishOptions {
            sign_with: Signing::BadSignature,
            ..PublishOptions::default()
        },
        None,
    );
    assert!(matches!(err, SignatureError::BadSignature { .. }), "{err}");
}

#[test]
fn bad_detached_signature_is_refused() {
    let err = expect_signature_error(
        PublishOptions {
            sign_with: Signing::BadSignature,
            no_inrelease: true,
            ..PublishOptions::default()
        },
        None,
    );
    assert!(matches!(err, SignatureError::BadSignature { .. }), "{err}");
}

#[test]
fn unknown_key_is_refused() {
    let err = expect_signature_error(
        PublishOptions {
            sign_with: Signing::OtherKey,
            ..PublishOptions::default()
        },
        None,
    );
    assert!(
        matches!(err, SignatureError::UnknownKey { ref issuers } if !issuers.is_empty()),
        "{err}"
    );
}

#[test]
fn a_keyring_file_of_the_other_key_trusts_other_key_signatures_only() {
    let repo = repo_with(PublishOptions {
        sign_with: Signing::OtherKey,
        ..PublishOptions::default()
    });
    let other = Keyring::from_file(&repo.other_keyring_path()).expect("armored keyring");
    let cache_dir = tempfile::tempdir().expect("tempdir");
    let suite = load_with(&repo, &IndexCache::new(cache_dir.path()), "stable", &other)
        .expect("trusted by the other key");
    assert_eq!(suite.verified.signers, other.fingerprints());
}

#[test]
fn debian_keyring_does_not_trust_the_test_repo() {
    let err = expect_signature_error(PublishOptions::default(), Some(Keyring::debian()));
    assert!(matches!(err, SignatureError::UnknownKey { .. }), "{err}");
}

#[test]
fn unsigned_release_is_refused() {
    let err = expect_signature_error(
        PublishOptions {
            sign_with: Signing::Unsigned,
            ..PublishOptions::default()
        },
        None,
    );
    assert!(matches!(err, SignatureError::Unsigned), "{err}");
    let err = expect_signature_error(
        PublishOptions {
            sign_with: Signing::Unsigned,
            no_inrelease: true,
            ..PublishOptions::default()
        },
        None,
    );
    assert!(matches!(err, SignatureError::Unsigned), "{err}");
}

fn expect_release_error(options: PublishOptions) -> ReleaseError {
    let repo = repo_with(options);
    let cache_dir = tempfile::tempdir().expect("tempdir");
    match load(&repo, &IndexCache::new(cache_dir.path()), "stable") {
        Err(RepoError::Release { suite, source }) => {
            assert_eq!(suite, "stable");
            source
        }
        other => panic!("expected a Release error, got {other:?}"),
    }
}

#[test]
fn expired_release_is_refused() {
    let date = unix_now() - 10 * 86_400;
    let err = expect_release_error(PublishOptions {
        date,
        valid_until: Some(date + 7 * 86_400),
        ..PublishOptions::default()
    });
    assert_eq!(
        err,
        ReleaseError::Expired {
            suite: "stable".into(),
            valid_until: date + 7 * 86_400
        }
    );
    assert!(err.to_string().contains("expired"), "{err}");
}

#[test]
fn release_from_the_future_is_refused() {
    let date = unix_now() + 3600;
    let err = expect_release_error(PublishOptions {
        date,
        valid_until: None,
        ..PublishOptions::default()
    });
    assert_eq!(
        err,
        ReleaseError::NotYetValid {
            suite: "stable".into(),
            date
        }
    );
}

fn expect_index_mismatch(options: PublishOptions) -> (String, u64, u64, String, String) {
    let repo = repo_with(options);
    let cache_dir = tempfile::tempdir().expect("tempdir");
    let cache = IndexCache::new(cache_dir.path());
    match load(&repo, &cache, "stable") {
        Err(RepoError::IndexMismatch {
            suite,
            url,
            expected_size,
            actual_size,
            expected_sha256,
            actual_sha256,
        }) => {
            assert_eq!(suite, "stable");
            assert!(url.starts_with(&repo.url()), "{url}");
            assert!(
                !cache_dir
                    .path()
                    .join("indices-v1/sha256")
                    .join(&expected_sha256)
                    .exists(),
                "nothing unverified is cached"
            );
            (
                url,
                expected_size,
                actual_size,
                expected_sha256,
                actual_sha256,
            )
        }
        other => panic!("expected an index mismatch, got {other:?}"),
    }
}

#[test]
fn tampered_index_is_refused() {
    let (url, _, _, expected, actual) = expect_index_mismatch(PublishOptions {
        tamper_index: true,
        ..PublishOptions::default()
    });
    assert_ne!(expected, actual);
    assert!(url.contains(&format!("by-hash/SHA256/{expected}")), "{url}");
}

#[test]
fn truncated_index_is_refused() {
    let (_, expected_size, actual_size, _, _) = expect_index_mismatch(PublishOptions {
        truncate_index: true,
        by_hash: false,
        ..PublishOptions::default()
    });
    assert_eq!(actual_size, expected_size / 2);
}

/// Files under a cache directory, temporary ones included.
fn files_under(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    entries
        .map(|entry| entry.expect("dir entry").path())
        .flat_map(|path| {
            if path.is_dir() {
                files_under(&path)
            } else {
                vec![path]
            }
        })
        .collect()
}

/// An index is parsed while it downloads: one that parses well but is not the file the Release
/// signed is refused all the same, by its digest, and nothing of it is cached.
#[test]
fn a_substituted_index_that_parses_is_refused_and_nothing_is_cached() {
    use std::io::{Read, Write};
    let repo = repo_with(PublishOptions::default());
    let dir = repo.root().join("dists/stable/main/binary-amd64");
    let signed = std::fs::read(dir.join("Packages.gz")).expect("published index");
    let expected = debless::repo::index::sha256_hex(&signed);
    let mut text = String::new();
    flate2::read::GzDecoder::new(signed.as_slice())
        .read_to_string(&mut text)
        .expect("gzip");
    assert!(text.contains("Version: 2.10-3"), "{text}");
    let mut forged = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    forged
        .write_all(text.replace("Version: 2.10-3", "Version: 9.9-9").as_bytes())
        .expect("gzip");
    let forged = forged.finish().expect("gzip");
    std::fs::write(dir.join("by-hash/SHA256").join(&expected), &forged).expect("substitute");

    let cache_dir = tempfile::tempdir().expect("tempdir");
    let err = load(&repo, &IndexCache::new(cache_dir.path()), "stable")
        .expect_err("the substituted index is refused");
    let message = err.to_string();
    match err {
        RepoError::IndexMismatch {
            url,
            expected_sha256,
            actual_sha256,
            ..
        } => {
            assert!(
                url.ends_with(&format!("/by-hash/SHA256/{expected}")),
                "{url}"
            );
            assert_eq!(expected_sha256, expected);
            assert_eq!(actual_sha256, debless::repo::index::sha256_hex(&forged));
            for named in [&url, &expected_sha256, &actual_sha256] {
                assert!(message.contains(named.as_str()), "{message}");
            }
        }
        other => panic!("expected an index mismatch, got {other:?}"),
    }
    assert_eq!(
        files_under(cache_dir.path()),
        Vec::<std::path::PathBuf>::new(),
        "nothing unverified is cached, compressed or packed"
    );
}

#[test]
fn missing_suite_component_and_architecture_are_named() {
    let repo = repo_with(PublishOptions::default());
    let cache_dir = tempfile::tempdir().expect("tempdir");
    let cache = IndexCache::new(cache_dir.path());
    match load(&repo, &cache, "nosuch") {
        Err(RepoError::UnknownSuite { suite, root }) => {
            assert_eq!(suite, "nosuch");
            assert_eq!(root, repo.url());
        }
        other => panic!("expected UnknownSuite, got {other:?}"),
    }
    let http = Http::new().expect("client");
    let url = repo.url();
    let keyring = repo.keyring();
    let (contrib, archs) = (vec!["contrib".to_owned()], amd64());
    let request = SuiteRequest {
        root: &url,
        suite: "stable",
        components: &contrib,
        architectures: &archs,
        keyring: &keyring,
    };
    let err = load_suite(&http, &cache, &request, SystemTime::now()).expect_err("no contrib");
    assert!(
        matches!(err, RepoError::MissingComponent { ref component, .. } if component == "contrib"),
        "{err}"
    );
    let (main, s390x) = (main_component(), vec![Arch::parse("s390x").expect("known")]);
    let request = SuiteRequest {
        components: &main,
        architectures: &s390x,
        ..request
    };
    let err = load_suite(&http, &cache, &request, SystemTime::now()).expect_err("no s390x");
    assert!(err.to_string().contains("`s390x`"), "{err}");
}

#[test]
fn loads_several_architectures_in_request_order() {
    let repo = repo_with(PublishOptions::default());
    let cache_dir = tempfile::tempdir().expect("tempdir");
    let http = Http::new().expect("client");
    let url = repo.url();
    let keyring = repo.keyring();
    let components = main_component();
    let archs = vec![
        Arch::parse("arm64").expect("known"),
        Arch::parse("amd64").expect("known"),
    ];
    let request = SuiteRequest {
        root: &url,
        suite: "stable",
        components: &components,
        architectures: &archs,
        keyring: &keyring,
    };
    let suite = load_suite(
        &http,
        &IndexCache::new(cache_dir.path()),
        &request,
        SystemTime::now(),
    )
    .expect("trusted");
    let index_archs: Vec<&str> = suite.indices.iter().map(|i| i.arch.as_str()).collect();
    assert_eq!(index_archs, ["arm64", "amd64"]);
    let first = suite.packages.first().map(|p| p.name.as_str());
    assert_eq!(first, Some("tzdata"), "arm64 index first: tzdata, only-arm");
    assert_eq!(suite.packages.len(), 2 + 3);
}

// ---------------------------------------------------------------------------------------
// Live tests: the Debian mirror of this host, skipped when none answers.

/// The mirrors and a client, or `None` (after saying why) when no mirror answers quickly.
fn live_mirror() -> Option<(Mirrors, Http)> {
    if crate::support::no_live() {
        eprintln!("skipping live test: {} is set", crate::support::NO_LIVE_ENV);
        return None;
    }
    let mirrors = match debless::env::Settings::from_env().mirrors() {
        Ok(mirrors) => mirrors,
        Err(err) => {
            eprintln!("skipping live test: {err}");
            return None;
        }
    };
    // One quick attempt, without the client's retries, so an offline run skips fast.
    let url = format!("{}/dists/bookworm/InRelease", mirrors.debian);
    let answer = reqwest::blocking::Client::builder()
        .connect_timeout(Duration::from_secs(3))
        .timeout(Duration::from_secs(5))
        .build()
        .and_then(|probe| probe.head(&url).send());
    match answer {
        Ok(response) if response.status().is_success() => {}
        Ok(response) => {
            eprintln!("skipping live test: `{url}` answered {}", response.status());
            return None;
        }
        Err(err) => {
            eprintln!("skipping live test: the mirror does not answer: {err}");
            return None;
        }
    }
    Some((mirrors, Http::new().expect("client")))
}

/// A cache kept across test runs, so repeated runs fetch only InRelease.
fn live_cache() -> IndexCache {
    IndexCache::new(std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("debless-live-cache"))
}

fn load_live(mirrors: &Mirrors, http: &Http, suite: &str) -> Result<VerifiedSuite, RepoError> {
    let root = mirrors.root_for(suite).expect("a root for the suite");
    let (components, archs, keyring) = (main_component(), amd64(), Keyring::debian());
    let request = SuiteRequest {
        root,
        suite,
        components: &components,
        architectures: &archs,
        keyring: &keyring,
    };
    load_suite(http, &live_cache(), &request, SystemTime::now())
}

/// Archive 12 and 13 primaries (debian-notes §2.1).
const ARCHIVE_12: &str = "B8B80B5B623EAB6AD8775C45B7C5D7D6350947F8";
const ARCHIVE_13: &str = "04B54C3CDCA79751B16BC6B5225629DF75B188BD";

#[test]
fn live_bookworm_and_trixie_main_amd64() {
    let Some((mirrors, http)) = live_mirror() else {
        return;
    };
    for (suite, release_key) in [
        ("bookworm", "4D64FEC119C2029067D6E791F8D2585B8783D481"),
        ("trixie", "41587F7DB8C774BCCF131416762F67A0B2C39DE4"),
    ] {
        let loaded = load_live(&mirrors, &http, suite).expect("the real suite verifies");
        for key in [ARCHIVE_12, ARCHIVE_13, release_key] {
            assert!(
                loaded.verified.signers.iter().any(|s| s == key),
                "{suite}: {key} not in {:?}",
                loaded.verified.signers
            );
        }
        assert_eq!(loaded.verified.codename, suite);
        assert!(
            loaded.packages.len() > 50_000,
            "{suite}: {} packages",
            loaded.packages.len()
        );
        assert!(loaded.packages.iter().any(|p| p.name == "libc6"));
        assert!(
            loaded.packages.iter().any(|p| p.architecture == "all"),
            "binary-amd64 includes Architecture: all"
        );
    }
}

#[test]
fn live_bookworm_security() {
    let Some((mirrors, http)) = live_mirror() else {
        return;
    };
    let loaded = load_live(&mirrors, &http, "bookworm-security").expect("security verifies");
    assert!(
        loaded.verified.root.ends_with("-security"),
        "{}",
        loaded.verified.root
    );
    assert!(
        loaded
            .verified
            .signers
            .iter()
            .any(|s| s == "05AB90340C0C5E797F44A8C8254CF3B5AEC0A8F0"),
        "security 12 key signs: {:?}",
        loaded.verified.signers
    );
    assert!(
        loaded
            .verified
            .release
            .components
            .iter()
            .any(|c| c == "updates/main")
    );
    assert!(loaded.verified.valid_until.is_some());
    assert!(!loaded.packages.is_empty());
    assert!(
        loaded
            .packages
            .iter()
            .all(|p| p.filename.starts_with("pool/updates/")),
        "security pool paths"
    );
}

#[test]
fn live_sid_is_refused_when_expired() {
    let Some((mirrors, http)) = live_mirror() else {
        return;
    };
    // The mirror's sid was past Valid-Until on 2026-11-26 (debian-notes §1.3); if it has been
    // refreshed since, the dates must at least agree with the verdict.
    match load_live(&mirrors, &http, "sid") {
        Err(RepoError::Release {
            source: ReleaseError::Expired { suite, valid_until },
            ..
        }) => {
            assert_eq!(suite, "sid");
            assert!(valid_until < unix_now());
        }
        Ok(loaded) => {
            eprintln!("note: sid is not expired on this mirror today");
            let until = loaded
                .verified
                .valid_until
                .expect("sid carries Valid-Until");
            assert!(until >= unix_now() && loaded.verified.date <= unix_now() + 10);
        }
        Err(other) => panic!("sid: unexpected error {other}"),
    }
}

#[test]
fn live_bookworm_inrelease_verifies_and_a_flipped_byte_does_not() {
    let Some((mirrors, http)) = live_mirror() else {
        return;
    };
    let dists = format!("{}/dists/bookworm", mirrors.debian);
    let inrelease = http.get(&format!("{dists}/InRelease")).expect("InRelease");
    let keyring = Keyring::debian();
    let verified = verify_inrelease(&inrelease, &keyring, SystemTime::now()).expect("genuine");
    assert!(verified.text.contains("\nCodename: bookworm\n"));
    assert!(verified.signers.iter().any(|s| s == ARCHIVE_12));

    let mut flipped = inrelease.clone();
    let at = find(&flipped, b"Codename: bookworm").expect("Codename in the signed text") + 10;
    flipped[at] ^= 0x01; // `b` -> `c`
    let err = verify_inrelease(&flipped, &keyring, SystemTime::now()).expect_err("altered");
    assert!(matches!(err, SignatureError::BadSignature { .. }), "{err}");

    let mut appended = inrelease.clone();
    appended.extend_from_slice(b"\nSuite: evil\n");
    let err = verify_inrelease(&appended, &keyring, SystemTime::now()).expect_err("appended");
    assert!(matches!(err, SignatureError::Malformed(_)), "{err}");

    // Release.gpg may be stale on a mirror (debian-notes §1.5): only check it when it verifies,
    // and then that an altered Release does not.
    let release = http.get(&format!("{dists}/Release")).expect("Release");
    let signature = http
        .get(&format!("{dists}/Release.gpg"))
        .expect("Release.gpg");
    if verify_detached(&release, &signature, &keyring, SystemTime::now()).is_ok() {
        assert_eq!(verified.text.as_bytes(), &release[..]);
        let mut altered = release.clone();
        let at = find(&altered, b"Codename: bookworm").expect("Codename in Release") + 10;
        altered[at] ^= 0x01;
        assert!(verify_detached(&altered, &signature, &keyring, SystemTime::now()).is_err());
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack
        .windows(needle.len())
        .position(|window| window == needle)
}
