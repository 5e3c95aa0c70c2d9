//! The apt oracle: what `apt-get -s install ROOTS` would install into an empty system, using
//! the host's apt with a private configuration (empty dpkg status, no Recommends, one
//! architecture, only the given suites). The resolver's closures are compared with it.
//!
//! The host's apt is bookworm's 2.6.1 classic solver whatever suite it reads, which is the
//! behaviour debless replays. Downloaded lists are cached per suite set under the system temp
//! dir, so `apt-get update` runs once per suite set and machine boot.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;

/// Serialises `apt-get update` runs of one test process (two tests may share a lists dir).
static UPDATE_LOCK: Mutex<()> = Mutex::new(());

/// Package names (`name`, or `name:arch` for foreign ones) apt would install for `roots` from
/// `suites` of `mirror_root` (main only) on `arch`.
pub fn apt_closure(
    mirror_root: &str,
    suites: &[&str],
    arch: &str,
    roots: &[&str],
) -> Result<BTreeSet<String>, String> {
    let base = std::env::temp_dir()
        .join("debless-apt-oracle")
        .join(format!("{}-{arch}", suites.join("+")));
    let config = write_config(&base, mirror_root, suites, arch).map_err(|e| e.to_string())?;
    {
        let _guard = UPDATE_LOCK
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let stamp = base.join("updated");
        // apt's lists age like the mirror: refresh them when older than a few hours, so the
        // oracle and debless read the same Release.
        let fresh = std::fs::metadata(&stamp)
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.elapsed().ok())
            .is_some_and(|age| age.as_secs() < 3 * 3600);
        if !fresh {
            run_apt(&config, &["update"])?;
            std::fs::write(&stamp, "").map_err(|e| e.to_string())?;
        }
    }
    let mut args = vec!["-s", "-q", "install"];
    args.extend_from_slice(roots);
    let output = run_apt(&config, &args)?;
    Ok(output
        .lines()
        .filter_map(|line| line.strip_prefix("Inst "))
        .filter_map(|rest| rest.split_whitespace().next())
        .map(str::to_owned)
        .collect())
}

fn write_config(
    base: &Path,
    mirror_root: &str,
    suites: &[&str],
    arch: &str,
) -> std::io::Result<PathBuf> {
    for dir in [
        "etc/sources.list.d",
        "etc/preferences.d",
        "etc/apt.conf.d",
        "state/lists/partial",
        "cache/archives/partial",
        "log",
    ] {
        std::fs::create_dir_all(base.join(dir))?;
    }
    let status = base.join("status");
    std::fs::write(&status, "")?;
    let sources = format!(
        "Types: deb\nURIs: {mirror_root}\nSuites: {}\nComponents: main\nArchitectures: {arch}\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n",
        suites.join(" ")
    );
    std::fs::write(base.join("etc/sources.list.d/oracle.sources"), sources)?;
    let b = base.display();
    let config = format!(
        r#"Dir "{b}/";
Dir::State "{b}/state/";
Dir::State::status "{b}/status";
Dir::Cache "{b}/cache/";
Dir::Etc "{b}/etc/";
Dir::Etc::SourceList "/dev/null";
Dir::Etc::SourceParts "{b}/etc/sources.list.d/";
Dir::Etc::Preferences "/dev/null";
Dir::Etc::PreferencesParts "{b}/etc/preferences.d/";
Dir::Etc::Parts "{b}/etc/apt.conf.d/";
Dir::Etc::Trusted "/usr/share/keyrings/debian-archive-keyring.gpg";
Dir::Etc::TrustedParts "{b}/etc/trusted.gpg.d/";
Dir::Log "{b}/log/";
Dir::Bin::methods "/usr/lib/apt/methods/";
APT::Architecture "{arch}";
APT::Architectures {{ "{arch}"; }};
APT::Install-Recommends "false";
APT::Install-Suggests "false";
APT::Sandbox::User "root";
Acquire::Languages "none";
Debug::NoLocking "true";
"#
    );
    let path = base.join("apt.conf");
    std::fs::write(&path, config)?;
    Ok(path)
}

fn run_apt(config: &Path, args: &[&str]) -> Result<String, String> {
    let output = Command::new("apt-get")
        .args(args)
        .env("APT_CONFIG", config)
        .env("LC_ALL", "C")
        .output()
        .map_err(|e| format!("cannot run apt-get: {e}"))?;
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    if !output.status.success() {
        return Err(format!(
            "apt-get {} failed: {}\n{stdout}",
            args.join(" "),
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    Ok(stdout)
}
