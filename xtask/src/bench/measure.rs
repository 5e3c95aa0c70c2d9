//! Running one command and reading what it cost: the wall time is taken here; CPU time and
//! peak resident memory are what the kernel reports for the finished process (`wait4`'s
//! rusage, read through GNU time, because the workspace forbids the `unsafe` a direct call
//! would need). Polling `/proc/PID/status` instead would miss a peak reached between two polls
//! or just before exit. For a process tree (apt, mmdebstrap) the kernel's figure is the
//! largest single process, not the sum.

use std::fs::{self, File};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail};

/// GNU time, which waits for the command and writes its rusage.
pub const GNU_TIME: &str = "/usr/bin/time";

/// What one run of one command cost.
#[derive(Clone, Debug)]
pub struct Sample {
    pub wall: Duration,
    /// User + system CPU time: less sensitive than wall time to other work on the machine.
    pub cpu: Duration,
    pub peak_rss_kib: u64,
    /// Standard output (the digest `debless build` prints, apt's `Inst` lines).
    pub stdout: String,
}

impl Sample {
    /// `self` then `next` as one piece of work (apt's `update` then its `install`).
    pub fn then(&self, next: &Sample) -> Sample {
        Sample {
            wall: self.wall + next.wall,
            cpu: self.cpu + next.cpu,
            peak_rss_kib: self.peak_rss_kib.max(next.peak_rss_kib),
            stdout: format!("{}{}", self.stdout, next.stdout),
        }
    }

    /// One line for the progress log: `1.23 s (cpu 1.80 s, 82 MiB)`.
    pub fn summary(&self) -> String {
        format!(
            "{} (cpu {}, {:.0} MiB)",
            seconds(self.wall.as_secs_f64()),
            seconds(self.cpu.as_secs_f64()),
            kib_to_mib(self.peak_rss_kib)
        )
    }
}

/// Runs `cmd` to completion under GNU time, its stdout and stderr kept in `scratch` (created);
/// fails with the end of its stderr when it fails.
pub fn measure(cmd: &Command, scratch: &Path) -> Result<Sample> {
    fs::create_dir_all(scratch).with_context(|| format!("creating {}", scratch.display()))?;
    let rusage = scratch.join("rusage");
    let stdout = scratch.join("stdout");
    let stderr = scratch.join("stderr");
    let mut timed = Command::new(GNU_TIME);
    timed
        .arg("--format=%U %S %M")
        .arg("--output")
        .arg(&rusage)
        .arg(cmd.get_program())
        .args(cmd.get_args())
        .stdin(Stdio::null())
        .stdout(File::create(&stdout)?)
        .stderr(File::create(&stderr)?);
    for (key, value) in cmd.get_envs() {
        match value {
            Some(value) => timed.env(key, value),
            None => timed.env_remove(key),
        };
    }
    if let Some(dir) = cmd.get_current_dir() {
        timed.current_dir(dir);
    }
    let started = Instant::now();
    let status = timed
        .status()
        .with_context(|| format!("cannot start {GNU_TIME} (Debian package `time`)"))?;
    let wall = started.elapsed();
    if !status.success() {
        let text = fs::read_to_string(&stderr).unwrap_or_default();
        bail!("`{}` failed ({status}):\n{}", describe(cmd), tail(&text, 8));
    }
    let report =
        fs::read_to_string(&rusage).with_context(|| format!("reading {}", rusage.display()))?;
    let (cpu, peak_rss_kib) =
        parse_rusage(&report).with_context(|| format!("unexpected GNU time output {report:?}"))?;
    Ok(Sample {
        wall,
        cpu,
        peak_rss_kib,
        stdout: fs::read_to_string(&stdout)?,
    })
}

/// `%U %S %M` (user s, system s, max RSS KiB), the last line of GNU time's report.
fn parse_rusage(report: &str) -> Option<(Duration, u64)> {
    let mut fields = report
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())?
        .split_whitespace();
    let user: f64 = fields.next()?.parse().ok()?;
    let system: f64 = fields.next()?.parse().ok()?;
    let rss: u64 = fields.next()?.parse().ok()?;
    Some((Duration::from_secs_f64(user + system), rss))
}

/// The command as a shell line, for messages.
pub fn describe(cmd: &Command) -> String {
    std::iter::once(cmd.get_program())
        .chain(cmd.get_args())
        .map(|a| a.to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join(" ")
}

fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.trim_end().lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// Runs `a` and `b` `runs` times each, alternating which goes first, so load that comes and
/// goes on the machine falls on both alike. Each closure gets the run's index.
pub fn interleaved(
    runs: usize,
    (a_name, mut a): (&str, impl FnMut(usize) -> Result<Sample>),
    (b_name, mut b): (&str, impl FnMut(usize) -> Result<Sample>),
) -> Result<(Vec<Sample>, Vec<Sample>)> {
    let (mut a_samples, mut b_samples) = (Vec::new(), Vec::new());
    for run in 0..runs {
        let (first, second) = if run.is_multiple_of(2) {
            let first = a(run)?;
            (first, b(run)?)
        } else {
            let second = b(run)?;
            (a(run)?, second)
        };
        eprintln!(
            "    run {}/{runs}: {a_name} {}, {b_name} {}",
            run + 1,
            first.summary(),
            second.summary()
        );
        a_samples.push(first);
        b_samples.push(second);
    }
    Ok((a_samples, b_samples))
}

/// Runs `a` `runs` times (work with no anchor to interleave with).
pub fn repeated(
    runs: usize,
    (name, mut a): (&str, impl FnMut(usize) -> Result<Sample>),
) -> Result<Vec<Sample>> {
    let mut samples = Vec::new();
    for run in 0..runs {
        let sample = a(run)?;
        eprintln!("    run {}/{runs}: {name} {}", run + 1, sample.summary());
        samples.push(sample);
    }
    Ok(samples)
}

/// The median (the mean of the middle two for an even count); 0 for no values.
pub fn median(values: impl IntoIterator<Item = f64>) -> f64 {
    let mut values: Vec<f64> = values.into_iter().collect();
    if values.is_empty() {
        return 0.0;
    }
    values.sort_by(f64::total_cmp);
    let mid = values.len() / 2;
    if values.len().is_multiple_of(2) {
        f64::midpoint(values[mid - 1], values[mid])
    } else {
        values[mid]
    }
}

/// Median wall time in seconds.
pub fn median_wall(samples: &[Sample]) -> f64 {
    median(samples.iter().map(|s| s.wall.as_secs_f64()))
}

/// Median peak RSS in MiB.
pub fn median_rss_mib(samples: &[Sample]) -> f64 {
    median(samples.iter().map(|s| kib_to_mib(s.peak_rss_kib)))
}

#[expect(
    clippy::cast_precision_loss,
    reason = "KiB counts of a process fit f64"
)]
pub fn kib_to_mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

/// `0.62 s`, `0.071 s` below a tenth.
pub fn seconds(secs: f64) -> String {
    if secs < 0.1 {
        format!("{secs:.3} s")
    } else {
        format!("{secs:.2} s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_of_odd_and_even_counts() {
        assert!((median([3.0, 1.0, 2.0]) - 2.0).abs() < f64::EPSILON);
        assert!((median([4.0, 1.0, 3.0, 2.0]) - 2.5).abs() < f64::EPSILON);
        assert!(median([]).abs() < f64::EPSILON);
    }

    #[test]
    fn rusage_is_the_last_line() {
        let report = "Command exited with non-zero status 1\n0.50 0.25 81234\n";
        let (cpu, rss) = parse_rusage(report).expect("parses");
        assert_eq!(cpu, Duration::from_millis(750));
        assert_eq!(rss, 81234);
        assert!(parse_rusage("garbage").is_none());
    }
}
