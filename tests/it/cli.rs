//! The command line itself: help text, usage errors, completions.

use crate::support::context::TestContext;

#[test]
fn help_lists_every_command() {
    let context = TestContext::new();
    let out = context.run(&["--help"]);
    assert!(out.status.success());
    snapshot!("help", context.render(&out));
}

#[test]
fn usage_errors_exit_2() {
    let context = TestContext::new();
    for args in [
        &["frobnicate"][..],
        &["build", "--format", "tarball"],
        &["lock", "--check", "--update"],
    ] {
        let out = context.run(args);
        assert_eq!(
            out.status.code(),
            Some(2),
            "{args:?}: {}",
            context.render(&out)
        );
    }
}

#[test]
fn missing_manifest_is_named() {
    let context = TestContext::new();
    let out = context.run(&["lock"]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.starts_with("error: `debless.toml` does not exist"),
        "{stderr}"
    );
    assert!(
        stderr.contains("hint: run `debless init` to write one, or pass `--manifest PATH`"),
        "{stderr}"
    );
}

/// A reader that stops early (`debless search lib | head -1`) closes stdout: debless stops
/// quietly with exit 0 instead of panicking on the broken pipe.
#[test]
fn a_closed_stdout_is_no_error() {
    let repo = crate::hermetic::standard_repo();
    let project = crate::hermetic::project(&repo, &["hello"]);
    for args in [&["search", "lib"][..], &["completions", "bash"]] {
        // The reader is gone before debless writes: every write fails with EPIPE.
        let (reader, writer) = std::io::pipe().expect("pipe");
        drop(reader);
        let out = project
            .command(args)
            .stdout(writer)
            .output()
            .expect("run debless");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "{args:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
    }
}

#[test]
fn completions_cover_every_command() {
    let context = TestContext::new();
    for shell in ["bash", "zsh", "fish"] {
        let out = context.run(&["completions", shell]);
        assert!(out.status.success(), "{shell}");
        let script = String::from_utf8_lossy(&out.stdout);
        for command in ["lock", "build", "why", "diff", "show", "search", "init"] {
            assert!(script.contains(command), "{shell} completes `{command}`");
        }
        assert!(script.contains("verify"), "{shell} completes flags");
    }
}
