//! `cargo xtask fuzz [CASES]`: the property tests of `tests/it/properties.rs` (every parser
//! of untrusted bytes) with many more cases than the normal suite runs, on stable Rust.
//!
//! proptest reads `PROPTEST_CASES`; the tests bound their default to a few dozen so that
//! `cargo test` stays quick, and cap the cases that start a `dpkg` process. Failures are
//! shrunk to a minimal input and printed; they are not persisted, so add a regression test
//! beside the parser for each one found.

use std::process::Command;

use anyhow::{Context as _, Result, bail};

/// Cases per property when none are given.
const DEFAULT_CASES: u32 = 100_000;

/// Runs the property tests with `args[0]` (or [`DEFAULT_CASES`]) cases each, optimised.
pub fn run(args: &[String]) -> Result<()> {
    let cases = match args.first() {
        None => DEFAULT_CASES,
        Some(text) => text
            .parse()
            .with_context(|| format!("`{text}` is not a number of cases"))?,
    };
    eprintln!("xtask: fuzzing every parser with {cases} cases per property");
    let status = Command::new(env!("CARGO"))
        .args(["test", "--release", "--test", "it", "properties::"])
        .env("PROPTEST_CASES", cases.to_string())
        .status()
        .context("running cargo test")?;
    if !status.success() {
        bail!("a property failed; the minimal input is printed above");
    }
    Ok(())
}
