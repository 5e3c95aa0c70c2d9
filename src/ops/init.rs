//! `init`: a commented `debless.toml` for the host's Debian release, to start from.
//!
//! The codename comes from os-release(5) (`VERSION_CODENAME`, path overridable with
//! `DEBLESS_OS_RELEASE`, read into [`Settings`]) unless a suite is named. Sources: the release, its `-updates`
//! pocket (rolling suites have none) and its `-security` suite when the host's apt sources (or
//! `DEBLESS_SECURITY_MIRROR`) name a security archive. No URL is written: `lock` finds the
//! mirror at run time, so the manifest works on any host. The text is validated with
//! [`Manifest::from_str`] before it is written.

use std::fmt::Write as _;
use std::path::Path;

use super::error::Context as _;
use super::{Error, Progress, Project};
use crate::debian::Arch;
use crate::env::Settings;
use crate::manifest::Manifest;

/// Packages a first image starts with: a base layout, trust roots and time zones.
const STARTER_PACKAGES: &[&str] = &["base-files", "ca-certificates", "tzdata"];

/// Suites that move continuously and so have no `-updates` or `-security` companions.
const ROLLING: &[&str] = &["sid", "unstable", "experimental"];

/// How to start a manifest.
#[derive(Clone, Debug, Default)]
pub struct InitOptions {
    /// The Debian release to start from; `None` reads the host's (`Settings::os_release`).
    pub suite: Option<String>,
    /// Replace an existing manifest.
    pub force: bool,
}

/// The manifest `init` wrote.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InitOutcome {
    /// The Debian release it starts from.
    pub codename: String,
    /// Its only architecture (the host's).
    pub arch: Arch,
    /// Its `[[source]]` suites, in order.
    pub suites: Vec<String>,
}

/// Writes a commented manifest at `project.manifest` for the release `options.suite` or the
/// host's.
pub fn init(
    project: &Project,
    settings: &Settings,
    options: &InitOptions,
    progress: &dyn Progress,
) -> Result<InitOutcome, Error> {
    let path = &project.manifest;
    if path.exists() && !options.force {
        return Err(Error::input(
            format!("`{}` already exists", path.display()),
            "edit it, or run `debless init --force` to replace it",
        ));
    }
    let codename = match &options.suite {
        Some(suite) => suite.trim().to_owned(),
        None => host_codename(&settings.os_release)?,
    };
    // Without a discoverable security archive, a `-security` source could not be locked.
    let has_security = match settings.mirrors() {
        Ok(mirrors) => mirrors.security.is_some(),
        Err(err) => {
            progress.status(&format!("note: {err}"));
            false
        }
    };
    let suites = suites_for(&codename, has_security);
    let arch = Arch::host();
    let text = render(&codename, &suites, &arch);
    Manifest::from_str(path, &text).map_err(|err| {
        Error::input(
            format!("cannot start a manifest for `{codename}`: {err}"),
            "name a Debian release: `debless init --suite bookworm`",
        )
    })?;
    crate::lock::write_atomically(path, text.as_bytes())
        .context_with(|| format!("writing `{}`", path.display()))?;
    Ok(InitOutcome {
        codename,
        arch,
        suites,
    })
}

/// `VERSION_CODENAME` of the host's os-release file.
fn host_codename(path: &Path) -> Result<String, Error> {
    let no_codename = |why: String| {
        Error::input(
            format!("cannot tell this host's Debian release: {why}"),
            "name one: `debless init --suite bookworm`",
        )
    };
    let text = std::fs::read_to_string(path)
        .map_err(|err| no_codename(format!("`{}`: {err}", path.display())))?;
    os_release_codename(&text)
        .ok_or_else(|| no_codename(format!("`{}` has no VERSION_CODENAME", path.display())))
}

/// The `VERSION_CODENAME` value of os-release text (shell-style `KEY=value`, maybe quoted).
fn os_release_codename(text: &str) -> Option<String> {
    text.lines().find_map(|line| {
        let value = line.trim().strip_prefix("VERSION_CODENAME=")?;
        let value = value.trim().trim_matches(|c| c == '"' || c == '\'');
        (!value.is_empty()).then(|| value.to_owned())
    })
}

/// The release, then its pockets: a suite already naming a pocket stands alone.
fn suites_for(codename: &str, has_security: bool) -> Vec<String> {
    let mut suites = vec![codename.to_owned()];
    if ROLLING.contains(&codename) || codename.contains('-') {
        return suites;
    }
    suites.push(format!("{codename}-updates"));
    if has_security {
        suites.push(format!("{codename}-security"));
    }
    suites
}

/// The manifest text. Commented examples are real TOML (a unit test uncomments and loads them).
fn render(codename: &str, suites: &[String], arch: &Arch) -> String {
    let packages: Vec<String> = STARTER_PACKAGES
        .iter()
        .map(|p| format!("\"{p}\""))
        .collect();
    let mut out = format!(
        "\
# debless.toml: the Debian packages of a container image and the suites they come from.
# `debless lock` resolves them into debless.lock; `debless build` turns the lock into an image.
# Started by `debless init` for {codename} on {arch}.

# One image per architecture; the first is the default platform.
architectures = [\"{arch}\"]

# Root packages, as `name`, `name:arch`, `name=version` or `name (>= version)`. Their
# dependencies are pulled in (Essential packages only when something depends on them).
packages = [{packages}]

# Packages never pulled in, even when something depends on them:
# exclude = [\"perl-base\"]

# Which provider to take for a virtual package:
# prefer = {{ awk = \"mawk\" }}

# Suites to resolve from. Without `url`, the mirror is found at lock time (DEBLESS_MIRROR,
# else this host's apt sources); `url` and `keyring` name any other Debian-shaped archive.
",
        arch = arch.as_str(),
        packages = packages.join(", "),
    );
    for suite in suites {
        let _ = write!(
            out,
            "[[source]]\nsuite = \"{suite}\"\ncomponents = [\"main\"]\n\n"
        );
    }
    out.push_str(
        "\
# What `debless build` puts around the packages:
# [image]
# entrypoint = [\"/bin/sh\", \"-c\"]
# cmd = [\"date\"]
# env = { TZ = \"UTC\" }
# user = \"65534\"
# workdir = \"/\"
# compression = \"zstd\"
",
    );
    out
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    #[test]
    fn reads_the_codename_quoted_or_not() {
        let text = "PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nVERSION_CODENAME=bookworm\nID=debian\n";
        assert_eq!(os_release_codename(text).as_deref(), Some("bookworm"));
        assert_eq!(
            os_release_codename("VERSION_CODENAME=\"trixie\"\n").as_deref(),
            Some("trixie")
        );
        assert_eq!(os_release_codename("ID=debian\nVERSION_CODENAME=\n"), None);
    }

    #[test]
    fn pockets_follow_the_release() {
        assert_eq!(
            suites_for("bookworm", true),
            ["bookworm", "bookworm-updates", "bookworm-security"]
        );
        assert_eq!(suites_for("trixie", false), ["trixie", "trixie-updates"]);
        assert_eq!(suites_for("sid", true), ["sid"]);
        assert_eq!(
            suites_for("bookworm-backports", true),
            ["bookworm-backports"]
        );
    }

    #[test]
    fn the_template_and_its_commented_examples_are_valid() {
        let suites = suites_for("bookworm", true);
        let arch = Arch::parse("arm64").expect("known architecture");
        let text = render("bookworm", &suites, &arch);
        let manifest = Manifest::from_str(Path::new("debless.toml"), &text).expect("valid");
        assert_eq!(manifest.architectures, [arch]);
        let names: Vec<&str> = manifest.packages.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(names, STARTER_PACKAGES);
        let got: Vec<&str> = manifest.sources.iter().map(|s| s.suite.as_str()).collect();
        assert_eq!(got, suites);
        assert!(manifest.sources.iter().all(|s| s.url.is_none()));

        // Uncomment every example line (`# key = …`, `# [table]`): the result must load too.
        let uncommented: String = text
            .lines()
            .map(|line| match line.strip_prefix("# ") {
                Some(rest)
                    if rest.starts_with('[')
                        || rest.split_once(" = ").is_some_and(|(key, _)| {
                            key.chars().all(|c| c.is_ascii_lowercase() || c == '-')
                        }) =>
                {
                    rest.to_owned() + "\n"
                }
                _ => line.to_owned() + "\n",
            })
            .collect();
        let full = Manifest::from_str(Path::new("debless.toml"), &uncommented)
            .unwrap_or_else(|err| panic!("{err}\n{uncommented}"));
        assert!(full.exclude.contains("perl-base"));
        assert_eq!(full.prefer.get("awk").map(String::as_str), Some("mawk"));
        assert_eq!(full.image.user.as_deref(), Some("65534"));
        assert_eq!(full.image.cmd.as_deref(), Some(&["date".to_owned()][..]));
    }
}
