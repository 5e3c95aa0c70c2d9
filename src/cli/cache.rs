//! `debless cache`: where the cache is, what it holds, and pruning it, through
//! [`crate::ops::cache`].

use std::time::{Duration, SystemTime};

use anyhow::Result;

use super::{Globals, status};
use crate::ops::cache::{self, PruneOptions};

/// Arguments of `debless cache`.
#[derive(Debug, clap::Args)]
pub struct CacheArgs {
    #[command(subcommand)]
    pub command: CacheCommand,
}

/// The cache subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum CacheCommand {
    /// Print the cache directory.
    Dir,
    /// Print the size of each part of the cache (.debs, indices, base blobs, layers).
    Info,
    /// Remove cached files, least recently used first, until the cache is within the bounds
    /// (any file may go: a later run fetches or builds it again).
    Prune(PruneArgs),
}

/// Arguments of `debless cache prune`.
#[derive(Debug, clap::Args)]
#[command(group(clap::ArgGroup::new("bound").required(true).multiple(true).args(["max_size", "max_age"])))]
pub struct PruneArgs {
    /// Keep at most this much: bytes, or with a suffix K, M, G, T (powers of 1024; `0`
    /// empties the cache).
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    pub max_size: Option<u64>,
    /// Remove what no build or lock used in this many days.
    #[arg(long, value_name = "DAYS")]
    pub max_age: Option<u64>,
    /// Only say what would be removed.
    #[arg(long)]
    pub dry_run: bool,
}

/// Runs `debless cache`.
pub fn run(globals: &Globals, args: &CacheArgs) -> Result<()> {
    let settings = &globals.settings;
    match &args.command {
        CacheCommand::Dir => outln!("{}", settings.cache_dir.display()),
        CacheCommand::Info => {
            let info = cache::info(settings)?;
            let total: u64 = info.buckets.iter().map(|b| b.bytes).sum();
            for bucket in &info.buckets {
                outln!(
                    "{:<16} {:>8} files {:>10}",
                    bucket.name,
                    bucket.files,
                    human(bucket.bytes)
                );
            }
            outln!("{:<16} {:>8}       {:>10}", "total", "", human(total));
        }
        CacheCommand::Prune(prune) => {
            let options = PruneOptions {
                max_size: prune.max_size,
                max_age: prune.max_age.map(|days| Duration::from_secs(days * 86_400)),
                dry_run: prune.dry_run,
            };
            let pruned = cache::prune(settings, &options, SystemTime::now())?;
            let verb = if prune.dry_run {
                "Would remove"
            } else {
                "Removed"
            };
            status(
                globals,
                format_args!(
                    "{verb} {} files ({}) from {}; {} files ({}) kept",
                    pruned.removed_files,
                    human(pruned.removed_bytes),
                    settings.cache_dir.display(),
                    pruned.kept_files,
                    human(pruned.kept_bytes)
                ),
            );
        }
    }
    Ok(())
}

/// `500M`, `2G`, `1.5GiB`, `4096`: bytes.
fn parse_size(text: &str) -> Result<u64, String> {
    let trimmed = text.trim();
    let digits_end = trimmed
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(trimmed.len());
    let (number, unit) = trimmed.split_at(digits_end);
    let number: f64 = number
        .parse()
        .map_err(|_| format!("`{text}` is not a size such as 500M or 2G"))?;
    let unit = unit.trim().to_ascii_uppercase();
    let scale: u64 = match unit.trim_end_matches("IB").trim_end_matches('B') {
        "" => 1,
        "K" => 1 << 10,
        "M" => 1 << 20,
        "G" => 1 << 30,
        "T" => 1 << 40,
        _ => return Err(format!("`{text}`: unknown unit (use K, M, G or T)")),
    };
    #[allow(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        clippy::cast_precision_loss
    )]
    Ok((number * scale as f64) as u64)
}

/// Bytes for people: `12.3 MB`.
fn human(bytes: u64) -> String {
    #[allow(clippy::cast_precision_loss)]
    let bytes = bytes as f64;
    if bytes >= 1e9 {
        format!("{:.1} GB", bytes / 1e9)
    } else if bytes >= 1e6 {
        format!("{:.1} MB", bytes / 1e6)
    } else if bytes >= 1e3 {
        format!("{:.1} kB", bytes / 1e3)
    } else {
        format!("{bytes} B")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("4096"), Ok(4096));
        assert_eq!(parse_size("0"), Ok(0));
        assert_eq!(parse_size("500M"), Ok(500 << 20));
        assert_eq!(parse_size("2G"), Ok(2 << 30));
        assert_eq!(parse_size("1.5GiB"), Ok(3 << 29));
        assert_eq!(parse_size("10kb"), Ok(10 << 10));
        assert!(parse_size("lots").is_err());
        assert!(parse_size("5X").is_err());
    }
}
