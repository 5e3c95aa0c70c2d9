//! The benchmark's tables: the target rows (debless, its anchor, the ratio, the target and
//! whether it is met) and the scaling series, as markdown for the terminal and the README.
//! `--readme` replaces what lies between [`BEGIN`] and [`END`] in README.md, so the numbers
//! there always come from a run of this benchmark.

use std::fmt::Write as _;
use std::path::Path;

use anyhow::{Context as _, Result};

use super::measure::{median_rss_mib, median_wall, seconds};
use super::scenario::{BuildResult, LockResult};

/// The markers around the generated part of README.md's performance section.
pub const BEGIN: &str = "<!-- bench:begin -->";
pub const END: &str = "<!-- bench:end -->";

/// The memory ceiling the issue sets for any build.
const RSS_LIMIT_MIB: f64 = 200.0;

/// What a row compares.
enum Target {
    /// debless ÷ anchor at most this.
    Ratio(f64),
    /// Peak RSS at most this many MiB.
    Mib(f64),
    /// A ratio shown for comparison, with no target of its own.
    Informational,
}

/// One row of the target table.
pub struct Row {
    work: String,
    /// Seconds for [`Target::Ratio`], MiB for [`Target::Mib`].
    debless: f64,
    /// The anchor's description and its seconds.
    anchor: Option<(String, f64)>,
    target: Target,
}

impl Row {
    fn ratio(&self) -> Option<f64> {
        self.anchor.as_ref().map(|(_, secs)| self.debless / secs)
    }

    /// Whether the target is met.
    pub fn passes(&self) -> bool {
        match self.target {
            Target::Ratio(max) => self.ratio().is_some_and(|r| r <= max),
            Target::Mib(max) => self.debless <= max,
            Target::Informational => false,
        }
    }

    /// Whether the row has a target (informational rows do not count).
    pub fn has_target(&self) -> bool {
        !matches!(self.target, Target::Informational)
    }

    fn cells(&self) -> [String; 6] {
        let value = match self.target {
            Target::Ratio(_) | Target::Informational => seconds(self.debless),
            Target::Mib(_) => format!("{:.0} MiB", self.debless),
        };
        let anchor = self.anchor.as_ref().map_or_else(
            || "—".to_owned(),
            |(what, secs)| format!("{what}: {}", seconds(*secs)),
        );
        let ratio = self
            .ratio()
            .map_or_else(|| "—".to_owned(), |r| format!("{r:.2}×"));
        let target = match self.target {
            Target::Ratio(max) => format!("≤ {max}×"),
            Target::Mib(max) => format!("≤ {max:.0} MiB"),
            Target::Informational => "—".to_owned(),
        };
        let verdict = match (self.has_target(), self.passes()) {
            (false, _) => "",
            (true, true) => "PASS",
            (true, false) => "FAIL",
        };
        [
            self.work.clone(),
            value,
            anchor,
            ratio,
            target,
            verdict.to_owned(),
        ]
    }
}

/// The rows the results measured, in the order.
pub fn rows(lock: Option<&LockResult>, builds: &[BuildResult]) -> Vec<Row> {
    let mut rows = Vec::new();
    if let Some(lock) = lock {
        rows.push(Row {
            work: format!("cold `lock` ({} packages, no cache)", lock.packages),
            debless: median_wall(&lock.cold),
            anchor: Some((
                "`apt-get update` + `apt-get -s install`".to_owned(),
                median_wall(&lock.apt_cold),
            )),
            target: Target::Ratio(0.25),
        });
        rows.push(Row {
            work: "re-resolve, indices cached (`rm debless.lock; debless lock`)".to_owned(),
            debless: median_wall(&lock.warm),
            anchor: Some((
                "`apt-get -s install` with its pkgcache.bin".to_owned(),
                median_wall(&lock.apt_warm),
            )),
            target: Target::Ratio(0.15),
        });
    }
    let find = |label: &str| builds.iter().find(|b| b.label == label);
    if let Some(python) = find("python3") {
        if let Some(mm) = &python.mmdebstrap {
            rows.push(cold_build_row(python, mm));
        }
        if let Some(floor) = &python.floor {
            rows.push(Row {
                work: "python3: rebuild of the unchanged lock, warm cache".to_owned(),
                debless: median_wall(&python.warm),
                anchor: Some((
                    "decompress every data.tar (2 procs) + `gzip -6` of the layer".to_owned(),
                    median_wall(floor),
                )),
                target: Target::Ratio(0.1),
            });
        }
    }
    if let Some(jre) = find("default-jre-headless") {
        rows.push(rss_row(jre));
    }
    if let Some(ffmpeg) = find("ffmpeg") {
        if let Some(mm) = &ffmpeg.mmdebstrap {
            rows.push(cold_build_row(ffmpeg, mm));
            if let Some(zstd) = &ffmpeg.cold_zstd {
                rows.push(Row {
                    work: format!(
                        "{}: the same cold `build` with `compression = \"zstd\"`",
                        ffmpeg.label
                    ),
                    debless: median_wall(zstd),
                    anchor: Some(("`mmdebstrap --variant=extract`".to_owned(), median_wall(mm))),
                    target: Target::Informational,
                });
            }
        }
        rows.push(rss_row(ffmpeg));
    }
    rows
}

fn cold_build_row(build: &BuildResult, mmdebstrap: &[super::measure::Sample]) -> Row {
    Row {
        work: format!("{}: cold `build` ({} debs)", build.label, build.debs),
        debless: median_wall(&build.cold),
        anchor: Some((
            "`mmdebstrap --variant=extract`".to_owned(),
            median_wall(mmdebstrap),
        )),
        target: Target::Ratio(0.3),
    }
}

/// Peak RSS of a build: the larger of the cold and warm medians.
fn peak_rss_mib(build: &BuildResult) -> f64 {
    median_rss_mib(&build.cold).max(median_rss_mib(&build.warm))
}

fn rss_row(build: &BuildResult) -> Row {
    Row {
        work: format!(
            "{}: peak RSS of `build` ({} debs, {:.0} MB of files)",
            build.label,
            build.debs,
            mb(build.unpacked_bytes)
        ),
        debless: peak_rss_mib(build),
        anchor: None,
        target: Target::Mib(RSS_LIMIT_MIB),
    }
}

#[expect(clippy::cast_precision_loss, reason = "byte counts of images fit f64")]
fn mb(bytes: u64) -> f64 {
    bytes as f64 / 1e6
}

/// The target table as markdown.
pub fn target_table(rows: &[Row]) -> String {
    let mut out =
        String::from("| work | debless | anchor | ratio | target | |\n|---|---|---|---|---|---|\n");
    for row in rows {
        let _ = writeln!(out, "| {} |", row.cells().join(" | "));
    }
    out
}

/// The scaling series as markdown: time and memory against closure size.
pub fn scale_table(builds: &[BuildResult]) -> String {
    let mut out = String::from(
        "| image | debs | .debs | files | cold build | mmdebstrap | cold ÷ mmdebstrap | rebuild | peak RSS |\n|---|---|---|---|---|---|---|---|---|\n",
    );
    for b in builds {
        let cold = median_wall(&b.cold);
        let (mm, ratio) = b.mmdebstrap.as_deref().map_or_else(
            || ("—".to_owned(), "—".to_owned()),
            |mm| {
                let secs = median_wall(mm);
                (seconds(secs), format!("{:.2}×", cold / secs))
            },
        );
        let _ = writeln!(
            out,
            "| {} | {} | {:.0} MB | {:.0} MB | {} | {mm} | {ratio} | {} | {:.0} MiB |",
            b.label,
            b.debs,
            mb(b.deb_bytes),
            mb(b.unpacked_bytes),
            seconds(cold),
            seconds(median_wall(&b.warm)),
            peak_rss_mib(b)
        );
    }
    out
}

/// Replaces the text between the markers in `readme` with `generated`, atomically.
pub fn rewrite_readme(readme: &Path, generated: &str) -> Result<()> {
    let text =
        std::fs::read_to_string(readme).with_context(|| format!("reading {}", readme.display()))?;
    let spliced = splice(&text, generated).with_context(|| {
        format!(
            "{} has no `{BEGIN}` … `{END}` section to regenerate",
            readme.display()
        )
    })?;
    let tmp = readme.with_extension("md.bench-tmp");
    std::fs::write(&tmp, spliced).with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, readme).with_context(|| format!("replacing {}", readme.display()))?;
    Ok(())
}

/// `text` with the part between the markers (exclusive) replaced by `generated`.
fn splice(text: &str, generated: &str) -> Option<String> {
    let start = text.find(BEGIN)? + BEGIN.len();
    let end = start + text[start..].find(END)?;
    Some(format!("{}\n{}{}", &text[..start], generated, &text[end..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splice_replaces_only_between_markers() {
        let text = format!("intro\n{BEGIN}\nold\ntable\n{END}\noutro\n");
        let out = splice(&text, "new\n").expect("markers present");
        assert_eq!(out, format!("intro\n{BEGIN}\nnew\n{END}\noutro\n"));
        assert!(splice("no markers", "x").is_none());
    }

    #[test]
    fn rows_pass_on_their_targets() {
        let row = Row {
            work: "w".to_owned(),
            debless: 0.5,
            anchor: Some(("a".to_owned(), 2.0)),
            target: Target::Ratio(0.25),
        };
        assert!(row.passes());
        assert_eq!(row.cells()[3], "0.25×");
        let rss = Row {
            work: "w".to_owned(),
            debless: 201.0,
            anchor: None,
            target: Target::Mib(200.0),
        };
        assert!(!rss.passes());
        assert_eq!(rss.cells()[5], "FAIL");
        let info = Row {
            work: "w".to_owned(),
            debless: 1.0,
            anchor: Some(("a".to_owned(), 4.0)),
            target: Target::Informational,
        };
        assert!(!info.has_target());
        assert_eq!(info.cells()[3..], ["0.25×", "—", ""]);
    }
}
