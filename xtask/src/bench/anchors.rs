//! What debless is measured against, each doing the same work on the same mirror:
//!
//! - **apt**, isolated: its own state, cache and sources (only the lock's suites), an empty
//!   dpkg status, and none of the host's `apt.conf.d` (a Docker-style host turns off
//!   `pkgcache.bin` and keeps indices compressed there; the comparison needs apt's defaults).
//! - **mmdebstrap `--variant=extract`**: downloads the locked packages and unpacks them into a
//!   directory without running maintainer scripts, the closest tool to `debless build`.
//! - **the floor** of a rebuild: the work no builder that re-reads the `.deb`s can skip:
//!   decompress every data.tar (two processes, one per core of the reference machine), then
//!   `gzip -6` the concatenation once, as a layer is compressed.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context as _, Result};

/// One `deb` line: archive root, suite, components.
#[derive(Clone, Debug)]
pub struct AptSource {
    pub uri: String,
    pub suite: String,
    pub components: Vec<String>,
}

/// Debian's archive keys, as apt and mmdebstrap use them on a Debian host.
const ARCHIVE_KEYRING: &str = "/usr/share/keyrings/debian-archive-keyring.gpg";

/// An apt with everything of its own under one directory.
pub struct IsolatedApt {
    dir: PathBuf,
    config: PathBuf,
}

impl IsolatedApt {
    /// Writes the configuration under `dir` (which should be empty: no lists, no cache).
    pub fn create(dir: &Path, sources: &[AptSource], arch: &str) -> Result<Self> {
        for sub in [
            "etc/apt.conf.d",
            "etc/sources.list.d",
            "etc/preferences.d",
            "etc/trusted.gpg.d",
            "state/lists/partial",
            "cache/archives/partial",
            "log",
        ] {
            std::fs::create_dir_all(dir.join(sub))
                .with_context(|| format!("creating {}", dir.join(sub).display()))?;
        }
        std::fs::write(dir.join("status"), "")?;
        let stanzas: Vec<String> = sources
            .iter()
            .map(|s| {
                format!(
                    "Types: deb\nURIs: {}\nSuites: {}\nComponents: {}\nArchitectures: {arch}\nSigned-By: {ARCHIVE_KEYRING}\n",
                    s.uri,
                    s.suite,
                    s.components.join(" ")
                )
            })
            .collect();
        std::fs::write(
            dir.join("etc/sources.list.d/bench.sources"),
            stanzas.join("\n"),
        )?;
        let d = dir.display();
        // `Dir::Etc` moves `apt.conf` and `apt.conf.d` (read after APT_CONFIG) into `dir`.
        let config = format!(
            r#"Dir "/";
Dir::State "{d}/state/";
Dir::State::status "{d}/status";
Dir::Cache "{d}/cache/";
Dir::Etc "{d}/etc/";
Dir::Etc::SourceList "/dev/null";
Dir::Etc::SourceParts "{d}/etc/sources.list.d/";
Dir::Etc::Preferences "/dev/null";
Dir::Etc::PreferencesParts "{d}/etc/preferences.d/";
Dir::Etc::Parts "{d}/etc/apt.conf.d/";
Dir::Etc::TrustedParts "{d}/etc/trusted.gpg.d/";
Dir::Log "{d}/log/";
APT::Architecture "{arch}";
APT::Architectures {{ "{arch}"; }};
APT::Install-Recommends "false";
APT::Install-Suggests "false";
APT::Sandbox::User "root";
Acquire::Languages "none";
Debug::NoLocking "true";
"#
        );
        let path = dir.join("apt.conf");
        std::fs::write(&path, config)?;
        Ok(Self {
            dir: dir.to_owned(),
            config: path,
        })
    }

    /// `apt-get ARGS` under this configuration.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new("apt-get");
        cmd.args(args)
            .env("APT_CONFIG", &self.config)
            .env("LC_ALL", "C")
            .env("DEBIAN_FRONTEND", "noninteractive");
        cmd
    }

    /// Whether apt has written its binary package cache (what makes a warm `apt-get -s` fast).
    pub fn has_binary_cache(&self) -> bool {
        self.dir.join("cache/pkgcache.bin").is_file()
    }
}

/// The packages `apt-get -s install` would install (its `Inst NAME …` lines).
pub fn simulated_installs(stdout: &str) -> Vec<String> {
    let mut names: Vec<String> = stdout
        .lines()
        .filter_map(|line| line.strip_prefix("Inst "))
        .filter_map(|rest| rest.split_whitespace().next())
        .map(str::to_owned)
        .collect();
    names.sort();
    names
}

/// `mmdebstrap --variant=extract` of exactly `packages` into `target` (which must not exist).
pub fn mmdebstrap(
    target: &Path,
    codename: &str,
    arch: &str,
    sources: &[AptSource],
    packages: &[String],
) -> Command {
    let mut cmd = Command::new("mmdebstrap");
    cmd.args(["--quiet", "--variant=extract", "--mode=root"])
        .arg(format!("--architectures={arch}"))
        .arg(format!("--keyring={ARCHIVE_KEYRING}"))
        .arg("--aptopt=Acquire::Languages \"none\"")
        .arg(format!("--include={}", packages.join(",")))
        .arg(codename)
        .arg(target);
    for s in sources {
        cmd.arg(format!(
            "deb {} {} {}",
            s.uri,
            s.suite,
            s.components.join(" ")
        ));
    }
    cmd.env("LC_ALL", "C");
    cmd
}

/// The floor as a shell script: `floor.sh OUT DEB…`.
const FLOOR_SCRIPT: &str = r#"#!/bin/sh
# The floor of a rebuild: decompress every data.tar (two processes), gzip -6 the layer once.
set -eu
out=$1
shift
for deb in "$@"; do printf '%s\n' "$deb"; done |
    xargs -P 2 -I '{}' sh -c 'dpkg-deb --fsys-tarfile "$1" > "$2/$(basename "$1").tar"' sh '{}' "$out"
gzip -6 -n -c "$out"/*.tar > "$out/layer.tar.gz"
"#;

/// The floor's command for `debs` (largest first, so the two processes finish together),
/// writing into `out` (created empty).
pub fn floor(scratch: &Path, out: &Path, debs: &[(PathBuf, u64)]) -> Result<Command> {
    let script = scratch.join("floor.sh");
    std::fs::write(&script, FLOOR_SCRIPT)?;
    if out.exists() {
        std::fs::remove_dir_all(out)?;
    }
    std::fs::create_dir_all(out)?;
    let mut debs = debs.to_vec();
    debs.sort_by_key(|(_, size)| std::cmp::Reverse(*size));
    let mut cmd = Command::new("sh");
    cmd.arg(&script).arg(out);
    cmd.args(debs.iter().map(|(path, _)| path));
    Ok(cmd)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn simulated_installs_reads_inst_lines() {
        let out = "NOTE: This is only a simulation!\nInst libc6 (2.36-9 Debian:12/stable [amd64])\nInst gcc-12-base (12.2.0-14 Debian:12/stable [amd64])\nConf libc6 (2.36-9 Debian:12/stable [amd64])\n";
        assert_eq!(simulated_installs(out), ["gcc-12-base", "libc6"]);
    }
}
