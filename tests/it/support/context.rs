//! `TestContext`: a temp project directory, a private cache, and the `debless` binary run with
//! a clean environment, plus insta filters that hide temp paths and mirror URLs.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// One isolated debless project for a test.
pub struct TestContext {
    pub dir: tempfile::TempDir,
    pub cache: PathBuf,
    /// Extra environment for every command.
    pub env: Vec<(String, String)>,
    /// Strings to replace in outputs before snapshotting (e.g. a 127.0.0.1 URL).
    pub filters: Vec<(String, String)>,
}

impl Default for TestContext {
    fn default() -> Self {
        Self::new()
    }
}

impl TestContext {
    /// A fresh project directory with its own cache.
    pub fn new() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let cache = dir.path().join("cache");
        let root = dir.path().display().to_string();
        Self {
            dir,
            cache,
            env: Vec::new(),
            filters: vec![(root, "[TEMP]".into())],
        }
    }

    /// The project directory.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Writes `debless.toml`.
    pub fn manifest(&self, text: &str) -> &Self {
        std::fs::write(self.path().join("debless.toml"), text).expect("write manifest");
        self
    }

    /// Reads a file of the project as text.
    pub fn read(&self, name: &str) -> String {
        std::fs::read_to_string(self.path().join(name))
            .unwrap_or_else(|e| panic!("read {name}: {e}"))
    }

    /// Locks the project (which must succeed) and keeps a copy of the new lock as
    /// `old.lock`, the "before" side of a later `debless diff old.lock debless.lock`.
    pub fn lock_and_keep_as_old(&self) {
        let out = self.run(&["lock"]);
        assert!(out.status.success(), "{}", self.render(&out));
        std::fs::copy(
            self.path().join("debless.lock"),
            self.path().join("old.lock"),
        )
        .expect("copy the lock");
    }

    /// A `debless` command run in the project directory with the test cache.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_debless"));
        cmd.current_dir(self.path())
            .args(args)
            .env("DEBLESS_CACHE_DIR", &self.cache)
            .env_remove("SOURCE_DATE_EPOCH")
            .env_remove("DEBLESS_MIRROR")
            .env_remove("DEBLESS_SECURITY_MIRROR");
        for (key, value) in &self.env {
            cmd.env(key, value);
        }
        cmd
    }

    /// Runs debless and returns its output.
    pub fn run(&self, args: &[&str]) -> Output {
        self.command(args).output().expect("run debless")
    }

    /// Applies the filters to some output text.
    pub fn filter(&self, text: &str) -> String {
        let mut out = text.to_owned();
        for (from, to) in &self.filters {
            out = out.replace(from, to);
        }
        // Timings vary run to run.
        let mut filtered = String::with_capacity(out.len());
        for line in out.lines() {
            filtered.push_str(&filter_seconds(line));
            filtered.push('\n');
        }
        filtered
    }

    /// `exit code` + filtered stdout + stderr, for inline snapshots.
    pub fn render(&self, output: &Output) -> String {
        format!(
            "exit: {}\n--- stdout\n{}--- stderr\n{}",
            output.status.code().unwrap_or(-1),
            self.filter(&String::from_utf8_lossy(&output.stdout)),
            self.filter(&String::from_utf8_lossy(&output.stderr)),
        )
    }
}

/// Replaces `in 1.23s` by `in [TIME]`.
fn filter_seconds(line: &str) -> String {
    let mut out = String::new();
    let mut rest = line;
    while let Some(pos) = rest.find(" in ") {
        out.push_str(&rest[..pos + 4]);
        rest = &rest[pos + 4..];
        let digits = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        if digits > 0 && rest[digits..].starts_with('s') {
            out.push_str("[TIME]");
            rest = &rest[digits + 1..];
        }
    }
    out.push_str(rest);
    out
}
