//! The gmpy2 case of issue #8 on the live mirror: a Python extension copied into a python3
//! image lacks libgmp, libmpfr and libmpc; `check` names them, `add --for` adds their
//! packages, and the rebuilt image imports the extension.

use debless::repo::Http;
use debless::repo::index::sha256_hex;

use crate::support::chroot::{self, is_root};
use crate::support::context::TestContext;
use crate::support::live;

const EXTENSION: &str = "gmpy2.cpython-311-x86_64-linux-gnu.so";

/// The extension module out of bookworm's python3-gmpy2 .deb: locked in a scratch project,
/// downloaded by its locked sha256 and read with debless's own .deb reader.
fn gmpy2_extension(root: &str) -> Vec<u8> {
    let scratch = TestContext::new();
    scratch.manifest(
        "architectures = [\"amd64\"]\npackages = [\"python3-gmpy2\"]\n\n[[source]]\nsuite = \"bookworm\"\n",
    );
    let out = scratch.run(&["lock"]);
    assert!(out.status.success(), "{}", scratch.render(&out));
    let lock = debless::lock::Lock::load(&scratch.path().join("debless.lock"))
        .expect("readable lock")
        .expect("a lock was written");
    let package = lock
        .packages
        .iter()
        .find(|p| p.name == "python3-gmpy2")
        .expect("python3-gmpy2 is locked");
    let bytes = Http::new()
        .expect("http client")
        .get(&format!("{root}/{}", package.path))
        .expect("the mirror serves the locked .deb");
    assert_eq!(
        sha256_hex(&bytes),
        package.sha256,
        "the .deb matches its lock"
    );
    let deb_path = scratch.path().join("python3-gmpy2.deb");
    std::fs::write(&deb_path, &bytes).expect("write the .deb");
    let deb = debless::deb::Deb::open(&deb_path).expect("a valid .deb");
    deb.data_entries()
        .expect("readable data.tar")
        .into_iter()
        .find_map(|entry| match entry.kind {
            debless::deb::EntryKind::File(content) if entry.path.ends_with(EXTENSION) => {
                Some(content.into_bytes().expect("in memory"))
            }
            _ => None,
        })
        .expect("python3-gmpy2 ships the extension module")
}

#[test]
fn gmpy2_extension_on_python3_is_checked_fixed_by_add_for_and_runs() {
    let Some(mirrors) = live::mirror() else {
        return;
    };
    let context = TestContext::new();
    live::copy_example(&context, "bookworm-python3");
    std::fs::write(
        context.path().join(EXTENSION),
        gmpy2_extension(&mirrors.debian),
    )
    .expect("write the extension");
    let manifest = format!(
        "{}\n[[image.files]]\nsrc = \"{EXTENSION}\"\ndst = \"/usr/lib/python3/dist-packages/{EXTENSION}\"\n",
        context.read("debless.toml")
    );
    context.manifest(&manifest);
    let lock = context.run(&["lock"]);
    assert!(lock.status.success(), "{}", context.render(&lock));
    let check = context.run(&["check"]);
    let stderr = String::from_utf8_lossy(&check.stderr);
    if stderr.contains("not found (404)") {
        eprintln!(
            "skipping: the mirror no longer serves a version pinned by bookworm-python3; re-lock it"
        );
        return;
    }
    snapshot!("gmpy2_check_before", context.render(&check));

    let add = context.run(&["add", "--for", EXTENSION]);
    assert!(add.status.success(), "{}", context.render(&add));
    snapshot!(
        "gmpy2_add_for",
        String::from_utf8_lossy(&add.stdout).into_owned()
    );
    let manifest = context.read("debless.toml");
    assert!(
        manifest.contains(r#"packages = ["python3", "libgmp10", "libmpc3", "libmpfr6"]"#),
        "{manifest}"
    );

    let build = context.run(&["build", "--rootfs", "rootfs"]);
    assert!(build.status.success(), "{}", context.render(&build));
    let check = context.run(&["check", "--rootfs", "rootfs"]);
    assert!(check.status.success(), "{}", context.render(&check));
    if !is_root() {
        eprintln!("skip running python3 with gmpy2: chroot needs root");
        return;
    }
    let out = chroot::run(
        &context.path().join("rootfs"),
        None,
        &[
            "/usr/bin/python3",
            "-c",
            "import gmpy2; print(gmpy2.mpz(2)**100)",
        ],
    );
    assert_eq!(out.trim(), "1267650600228229401496703205376");
}
