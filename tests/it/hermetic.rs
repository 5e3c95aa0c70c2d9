//! A small signed archive with real (synthetic) .debs, served on 127.0.0.1, and the manifest
//! that points debless at it: the fixture of the CLI-level `lock` and `build` tests.

use crate::support::context::TestContext;
use crate::support::debs::DebBuilder;
use crate::support::signed_repo::{PackageSpec, PublishOptions, TestRepo};

/// The suite every hermetic test publishes.
pub const SUITE: &str = "stable";

/// `name`, `version`, `arch`, Packages fields, and the files its .deb ships.
pub struct Pkg {
    pub deb: DebBuilder,
    pub spec: PackageSpec,
}

/// A package whose index stanza and control file agree.
pub fn pkg(name: &str, version: &str, arch: &str, fields: &[(&str, &str)]) -> Pkg {
    let mut control = String::new();
    let mut spec = PackageSpec::new(name, version).arch(arch);
    for (field, value) in fields {
        control.push_str(&format!("{field}: {value}\n"));
        spec = match *field {
            "Depends" => spec.depends(value),
            "Pre-Depends" => spec.pre_depends(value),
            "Provides" => spec.provides(value),
            "Conflicts" => spec.conflicts(value),
            "Breaks" => spec.breaks(value),
            "Multi-Arch" => spec.multi_arch(value),
            "Priority" => spec.priority(value),
            "Essential" => spec.essential(),
            "Component" => {
                // Not a control field: where the package lives in the archive.
                control.truncate(control.len() - format!("{field}: {value}\n").len());
                spec.component(value)
            }
            other => spec.field(other, value),
        };
    }
    Pkg {
        deb: DebBuilder::new(name, version, arch).control_fields(&control),
        spec,
    }
}

impl Pkg {
    /// Ships a regular file.
    pub fn file(mut self, path: &str, bytes: &[u8], mode: u32) -> Self {
        self.deb = self.deb.file(path, bytes, mode);
        self
    }

    /// Ships a symlink.
    pub fn symlink(mut self, path: &str, target: &str) -> Self {
        self.deb = self.deb.symlink(path, target);
        self
    }

    /// Ships a maintainer script (`postinst`) in control.tar.
    pub fn script(mut self, name: &str, text: &str) -> Self {
        self.deb = self.deb.control_member(name, text.as_bytes());
        self
    }

    /// Adds the package (with its real .deb) to a suite.
    pub fn add_to(self, repo: &TestRepo, suite: &str) {
        repo.add_package(suite, self.spec.deb_bytes(self.deb.build()));
    }
}

/// The standard universe: a hello program needing libc6 and an `awk`, two awk providers,
/// tzdata (all), a package with an unsatisfiable dependency, and two packages that clash.
pub fn standard_repo() -> TestRepo {
    let repo = TestRepo::new();
    publish_standard(&repo, PublishOptions::default());
    repo
}

/// Adds the standard packages to `repo` and publishes them with `options`.
pub fn publish_standard(repo: &TestRepo, options: PublishOptions) {
    pkg(
        "libc6",
        "2.36-9",
        "amd64",
        &[("Multi-Arch", "same"), ("Priority", "required")],
    )
    .file(
        "/lib/x86_64-linux-gnu/libc.so.6",
        b"\x7fELF fake libc",
        0o755,
    )
    .file(
        "/etc/ld.so.conf.d/x86_64-linux-gnu.conf",
        b"/usr/local/lib/x86_64-linux-gnu\n",
        0o644,
    )
    .add_to(repo, SUITE);
    pkg(
        "hello",
        "1.0-1",
        "amd64",
        &[("Depends", "libc6 (>= 2.36), awk")],
    )
    .file("/usr/bin/hello", b"#!/bin/sh\necho hello\n", 0o755)
    .symlink("/usr/bin/hi", "hello")
    .add_to(repo, SUITE);
    pkg(
        "mawk",
        "1.3.4-1",
        "amd64",
        &[
            ("Provides", "awk"),
            ("Priority", "required"),
            ("Depends", "libc6"),
        ],
    )
    .file("/usr/bin/mawk", b"mawk", 0o755)
    .add_to(repo, SUITE);
    pkg(
        "gawk",
        "5.2.1-2",
        "amd64",
        &[("Provides", "awk"), ("Priority", "optional")],
    )
    .file("/usr/bin/gawk", b"gawk", 0o755)
    .add_to(repo, SUITE);
    pkg("tzdata", "2024a-1", "all", &[("Multi-Arch", "foreign")])
        .file("/usr/share/zoneinfo/UTC", b"TZif2 fake", 0o644)
        .add_to(repo, SUITE);
    pkg(
        "needs-new-libc",
        "1.0",
        "amd64",
        &[("Depends", "libc6 (>= 2.40)")],
    )
    .file("/usr/bin/needs-new-libc", b"x", 0o755)
    .add_to(repo, SUITE);
    pkg(
        "coreutils",
        "9.1-1",
        "amd64",
        &[("Essential", "yes"), ("Priority", "required")],
    )
    .file("/usr/bin/ls", b"ls", 0o755)
    .add_to(repo, SUITE);
    pkg("unrar", "6.2-1", "amd64", &[("Component", "non-free")])
        .file("/usr/bin/unrar", b"unrar", 0o755)
        .add_to(repo, SUITE);
    pkg("clash-a", "1.0", "amd64", &[])
        .file("/usr/bin/clash", b"from a", 0o755)
        .add_to(repo, SUITE);
    pkg("clash-b", "1.0", "amd64", &[])
        .file("/usr/bin/clash", b"from b", 0o755)
        .add_to(repo, SUITE);
    repo.publish(SUITE, options);
}

/// A manifest for `packages` from the test archive, trusting its key.
pub fn manifest(repo: &TestRepo, packages: &[&str]) -> String {
    let list: Vec<String> = packages.iter().map(|p| format!("\"{p}\"")).collect();
    format!(
        "architectures = [\"amd64\"]\npackages = [{}]\n\n[[source]]\nsuite = \"{SUITE}\"\nurl = \"{}\"\nkeyring = \"{}\"\n",
        list.join(", "),
        repo.url(),
        repo.keyring_path().display()
    )
}

/// A project whose manifest asks for `packages`, with the repo URL filtered from outputs.
pub fn project(repo: &TestRepo, packages: &[&str]) -> TestContext {
    let mut context = TestContext::new();
    context.manifest(&manifest(repo, packages));
    context.filters.push((repo.url(), "[REPO]".into()));
    context.filters.push((
        repo.keyring_path().display().to_string(),
        "[KEYRING]".into(),
    ));
    context
}
