//! `cargo xtask bench [lock|build|scale|all] [--runs N] [--readme]`: debless side by side
//! with the tools that do the same work, on the same mirror, in one run, printed as ratios
//! against the targets of the speed issue. Timings live here, never in tests.
//!
//! - `lock` (`lockfiles/bookworm-python3`): cold `debless lock` vs an isolated
//!   `apt-get update` + `apt-get -s install python3`; re-resolving with the indices cached
//!   (`rm debless.lock; debless lock`) vs `apt-get -s install` with its `pkgcache.bin`.
//! - `build`: cold build of python3 and of ffmpeg (`lockfiles/bench-ffmpeg`) vs
//!   `mmdebstrap --variant=extract` of the same packages; python3's rebuild with a warm cache
//!   vs the floor (every data.tar decompressed by two processes, the layer gzipped once);
//!   peak RSS of the default-jre-headless (`lockfiles/bench-jre`) and ffmpeg builds.
//! - `scale`: python3, default-jre-headless and ffmpeg: closure size, cold and warm build time
//!   (and mmdebstrap's), peak RSS, so growth with the image shows.
//!
//! Each figure is the median of `--runs` runs (default 3), debless and its anchor alternating.
//! `--readme` (with every benchmark) rewrites README.md's performance table from the run. The
//! tools the anchors need are installed with apt-get when missing and running as root.
//! Layout: [`measure`] runs one command and reads its cost, [`anchors`] are apt, mmdebstrap
//! and the floor, [`scenario`] is the measured work, [`report`] the tables.

mod anchors;
mod measure;
mod report;
mod scenario;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{Context as _, Result, bail, ensure};

use scenario::{BuildPlan, BuildResult, Debless, Example};

/// The default number of runs of each measurement.
const DEFAULT_RUNS: usize = 3;

/// What `cargo xtask bench …` asked for.
#[derive(Debug, PartialEq, Eq)]
struct Options {
    lock: bool,
    build: bool,
    scale: bool,
    runs: usize,
    readme: bool,
}

impl Options {
    fn parse(args: &[String]) -> Result<Self> {
        let mut options = Options {
            lock: false,
            build: false,
            scale: false,
            runs: DEFAULT_RUNS,
            readme: false,
        };
        let mut args = args.iter();
        while let Some(arg) = args.next() {
            match arg.as_str() {
                "lock" => options.lock = true,
                "build" => options.build = true,
                "scale" => options.scale = true,
                "all" => (options.lock, options.build, options.scale) = (true, true, true),
                "--readme" => options.readme = true,
                "--runs" => {
                    let n = args.next().context("`--runs` needs a number")?;
                    options.runs = parse_runs(n)?;
                }
                other => match other.strip_prefix("--runs=") {
                    Some(n) => options.runs = parse_runs(n)?,
                    None => bail!(
                        "unknown argument `{other}`\n\nusage: cargo xtask bench [lock|build|scale|all] [--runs N] [--readme]"
                    ),
                },
            }
        }
        if !(options.lock || options.build || options.scale) {
            (options.lock, options.build, options.scale) = (true, true, true);
        }
        if options.readme && !(options.lock && options.build && options.scale) {
            bail!(
                "`--readme` regenerates every row of the table: run `cargo xtask bench --readme` (all benchmarks)"
            );
        }
        Ok(options)
    }

    /// The examples to build and the anchors each needs, small to large.
    fn builds(&self) -> Vec<(&'static str, &'static str, BuildPlan)> {
        if !(self.build || self.scale) {
            return Vec::new();
        }
        vec![
            (
                "bookworm-python3",
                "python3",
                BuildPlan {
                    mmdebstrap: true,
                    floor: self.build,
                    zstd: false,
                },
            ),
            (
                "bench-jre",
                "default-jre-headless",
                BuildPlan {
                    mmdebstrap: self.scale,
                    floor: false,
                    zstd: false,
                },
            ),
            (
                "bench-ffmpeg",
                "ffmpeg",
                BuildPlan {
                    mmdebstrap: true,
                    floor: false,
                    zstd: true,
                },
            ),
        ]
    }
}

fn parse_runs(text: &str) -> Result<usize> {
    match text.parse::<usize>() {
        Ok(n) if n >= 1 => Ok(n),
        _ => bail!("`--runs` takes a whole number ≥ 1, not `{text}`"),
    }
}

/// Runs the benchmarks `args` names (all by default) and prints their tables.
pub fn run(args: &[String]) -> Result<()> {
    let options = Options::parse(args)?;
    let root = workspace_root()?;
    ensure_tools(&options)?;
    // Before the build below adds its own load: what else the machine is doing.
    let load = load_average();
    let debless = Debless {
        bin: build_release(&root)?,
    };
    let mirrors = debless::env::Settings::from_env()
        .mirrors()
        .context("bench needs the Debian mirror (DEBLESS_MIRROR or the host's apt sources)")?;
    let scratch = tempfile::Builder::new()
        .prefix("debless-bench-")
        .tempdir()
        .context("creating the benchmark's scratch directory")?;

    let python3 = Example::load(&root, "bookworm-python3", "python3")?;
    let lock = if options.lock {
        eprintln!("bench lock: {}", python3.label);
        Some(scenario::bench_lock(
            &debless,
            &python3,
            &mirrors,
            options.runs,
            scratch.path(),
        )?)
    } else {
        None
    };
    let mut builds: Vec<BuildResult> = Vec::new();
    for (name, label, plan) in options.builds() {
        let example = Example::load(&root, name, label)?;
        eprintln!(
            "bench build: {label} ({} debs, lockfiles/{name})",
            example.lock.packages.len()
        );
        builds.push(scenario::bench_build(
            &debless,
            &example,
            &mirrors,
            plan,
            options.runs,
            scratch.path(),
        )?);
    }

    let rows = report::rows(lock.as_ref(), &builds);
    let mut generated = format!("{}\n\n", header(&root, &options, load));
    generated.push_str(&report::target_table(&rows));
    if options.scale {
        generated.push_str(
            "\nScaling with the closure (`.debs`: download size; files: the image's bytes after filters; cold: empty cache; rebuild: the same lock with the cache the cold build left):\n\n",
        );
        generated.push_str(&report::scale_table(&builds));
    }
    println!("{generated}");
    let targeted = rows.iter().filter(|r| r.has_target());
    let met = targeted.clone().filter(|r| r.passes()).count();
    println!("{met} of {} targets met", targeted.count());
    if options.readme {
        let readme = root.join("README.md");
        report::rewrite_readme(&readme, &generated)?;
        eprintln!(
            "bench: rewrote the performance table in {}",
            readme.display()
        );
    }
    Ok(())
}

fn workspace_root() -> Result<PathBuf> {
    let manifest_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    Ok(manifest_dir
        .parent()
        .context("xtask lives inside the workspace")?
        .to_path_buf())
}

/// `cargo build --release` of debless; the path of the binary.
fn build_release(root: &Path) -> Result<PathBuf> {
    let status = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args([
            "build",
            "--release",
            "--package",
            "debless",
            "--bin",
            "debless",
        ])
        .current_dir(root)
        .status()
        .context("cannot run cargo")?;
    ensure!(status.success(), "cargo build --release failed");
    let target =
        std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root.join("target"), PathBuf::from);
    Ok(target.join("release/debless"))
}

/// The tools the anchors run, by the binary that proves each Debian package is installed.
fn tools(options: &Options) -> Vec<(&'static str, &'static str)> {
    let mut tools = vec![("time", "time")];
    if options.lock {
        tools.push(("apt-get", "apt"));
    }
    if options.build || options.scale {
        tools.push(("mmdebstrap", "mmdebstrap"));
    }
    if options.build {
        tools.extend([("dpkg-deb", "dpkg"), ("gzip", "gzip")]);
    }
    tools
}

/// Installs the missing [`tools`] as root with apt-get, or names them.
fn ensure_tools(options: &Options) -> Result<()> {
    let missing: Vec<&str> = tools(options)
        .into_iter()
        .filter(|(binary, _)| !super::have(binary))
        .map(|(_, package)| package)
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    if !(super::is_root() && super::have("apt-get")) {
        bail!(
            "the benchmark's anchors need {}: install them (`apt-get install {}`) or run as root",
            missing.join(", "),
            missing.join(" ")
        );
    }
    eprintln!(
        "xtask: installing the benchmark's tools: {}",
        missing.join(" ")
    );
    super::run(
        Command::new("apt-get")
            .args(["update", "-qq"])
            .env("DEBIAN_FRONTEND", "noninteractive"),
    )?;
    super::run(
        Command::new("apt-get")
            .args(["install", "-y", "-qq", "--no-install-recommends"])
            .args(&missing)
            .env("DEBIAN_FRONTEND", "noninteractive"),
    )
}

/// The one-minute load average, from `/proc/loadavg`.
fn load_average() -> Option<f64> {
    std::fs::read_to_string("/proc/loadavg")
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// When, on what and how the figures were taken.
fn header(root: &Path, options: &Options, load: Option<f64>) -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(0));
    let when = debless::timestamp::format_rfc3339(now);
    let (date, time) = when.split_once('T').unwrap_or((&when, ""));
    let revision = Command::new("git")
        .args(["describe", "--always", "--dirty"])
        .current_dir(root)
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map_or_else(
            || "unknown".to_owned(),
            |o| String::from_utf8_lossy(&o.stdout).trim().to_owned(),
        );
    let cpus = std::thread::available_parallelism().map_or(0, std::num::NonZero::get);
    let load = match load {
        // The benchmark alone keeps at most about one core busy; more is someone else's work.
        Some(load) if load >= 0.5 => {
            format!("load average {load:.2} before the run: measured while other work ran")
        }
        Some(load) => format!("load average {load:.2} before the run"),
        None => "load average unknown".to_owned(),
    };
    format!(
        "Measured by `cargo xtask bench --runs {runs}` on {date} at {} UTC: debless {revision} (release build), {cpus} CPUs, {load}. Each figure is the median of {runs} runs, debless and its anchor alternating, on the same mirror; peak RSS is the kernel's maximum resident set of the process.",
        time.trim_end_matches('Z').get(..5).unwrap_or(time),
        runs = options.runs
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn no_name_means_all_and_three_runs() {
        let options = Options::parse(&[]).expect("parses");
        assert!(options.lock && options.build && options.scale && !options.readme);
        assert_eq!(options.runs, DEFAULT_RUNS);
    }

    #[test]
    fn names_and_runs() {
        let options = Options::parse(&args(&["lock", "--runs", "5"])).expect("parses");
        assert!(options.lock && !options.build && !options.scale);
        assert_eq!(options.runs, 5);
        assert_eq!(
            Options::parse(&args(&["build", "--runs=1"]))
                .expect("parses")
                .runs,
            1
        );
        assert!(Options::parse(&args(&["--runs", "0"])).is_err());
        assert!(Options::parse(&args(&["--runs"])).is_err());
        assert!(Options::parse(&args(&["speed"])).is_err());
    }

    #[test]
    fn readme_needs_every_row() {
        assert!(Options::parse(&args(&["lock", "--readme"])).is_err());
        assert!(Options::parse(&args(&["--readme"])).expect("parses").readme);
        assert!(Options::parse(&args(&["all", "--readme"])).is_ok());
    }

    #[test]
    fn plans_follow_the_benchmarks() {
        assert!(
            Options::parse(&args(&["lock"]))
                .expect("parses")
                .builds()
                .is_empty()
        );
        let build = Options::parse(&args(&["build"])).expect("parses").builds();
        assert!(build[0].2.floor && build[0].2.mmdebstrap);
        assert!(!build[1].2.mmdebstrap, "the JRE row is memory only");
        assert_eq!(
            build.iter().filter(|(_, _, plan)| plan.zstd).count(),
            1,
            "ffmpeg alone is also built with zstd"
        );
        assert!(build[2].2.zstd);
        let scale = Options::parse(&args(&["scale"])).expect("parses").builds();
        assert!(
            scale
                .iter()
                .all(|(_, _, plan)| plan.mmdebstrap && !plan.floor)
        );
    }
}
