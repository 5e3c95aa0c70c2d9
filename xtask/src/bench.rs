//! `cargo xtask bench`: filled in below.

use anyhow::Result;

/// Runs the benchmarks named in `args` (all by default).
pub fn run(_args: &[String]) -> Result<()> {
    anyhow::bail!("bench is not written yet")
}
