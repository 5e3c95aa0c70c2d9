//! Running a program inside an unpacked image with `chroot`, so the image's own loader and
//! libraries are what runs. chroot needs root: callers check [`is_root`] first and skip (with a
//! printed reason) without it.

use std::path::Path;
use std::process::{Command, Output};

/// Whether the tests run as root (chroot works, file owners are written).
pub fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout.trim_ascii() == b"0")
}

/// `chroot [--userspec=USER:GROUP] ROOT ARGV…`, whatever its exit status.
pub fn output(root: &Path, userspec: Option<&str>, argv: &[&str]) -> Output {
    let mut command = Command::new("chroot");
    if let Some(userspec) = userspec {
        command.arg(format!("--userspec={userspec}"));
    }
    command.arg(root).args(argv).output().expect("chroot runs")
}

/// Like [`output`], asserting the program succeeds; its stdout.
pub fn run(root: &Path, userspec: Option<&str>, argv: &[&str]) -> String {
    let out = output(root, userspec, argv);
    assert!(
        out.status.success(),
        "`{}` in the image at `{}`: {}{}",
        argv.join(" "),
        root.display(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}
