//! The measured work: `lock` of the python3 example (cold, then re-resolving with its indices
//! cached) beside an isolated apt, and `build` of an example (cold, then a rebuild of the same
//! lock) beside mmdebstrap and the floor. Every run of debless gets the cache state its name
//! says: "cold" is a new, empty cache directory (so no index, `.deb` or layer is reused),
//! "warm" is the cache the last cold run left behind.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context as _, Result, bail, ensure};
use debless::fetch::cache::DebCache;
use debless::lock::Lock;
use debless::repo::Mirrors;

use super::anchors::{self, AptSource, IsolatedApt};
use super::measure::{Sample, interleaved, measure, repeated};

/// A checked-in example under `lockfiles/`: its manifest, its lock, and what they say.
pub struct Example {
    /// The image's main package, as the tables name it.
    pub label: &'static str,
    pub dir: PathBuf,
    pub lock: Lock,
}

impl Example {
    /// Reads `lockfiles/<name>` under the workspace `root`.
    pub fn load(root: &Path, name: &str, label: &'static str) -> Result<Self> {
        let dir = root.join("lockfiles").join(name);
        let lock_path = dir.join("debless.lock");
        let lock = Lock::load(&lock_path)
            .with_context(|| format!("reading {}", lock_path.display()))?
            .with_context(|| format!("{} is checked in", lock_path.display()))?;
        ensure!(
            lock.architectures.len() == 1,
            "{}: the benchmark compares one architecture, the lock has {:?}",
            lock_path.display(),
            lock.architectures
        );
        Ok(Self { label, dir, lock })
    }

    fn arch(&self) -> &str {
        &self.lock.architectures[0]
    }

    /// The lock's suites as apt sources on the benchmark's mirrors.
    fn sources(&self, mirrors: &Mirrors) -> Result<Vec<AptSource>> {
        self.lock
            .sources
            .iter()
            .map(|s| {
                Ok(AptSource {
                    uri: mirrors.root_for(&s.suite)?.to_owned(),
                    suite: s.suite.clone(),
                    components: s.components.clone(),
                })
            })
            .collect()
    }

    fn package_names(&self) -> Vec<String> {
        self.lock.packages.iter().map(|p| p.name.clone()).collect()
    }

    /// Total size of the locked `.deb`s.
    fn deb_bytes(&self) -> u64 {
        self.lock.packages.iter().map(|p| p.size).sum()
    }

    /// Copies the example's files (without its lock when `with_lock` is false) into a new
    /// project directory, so nothing the benchmark runs writes into `lockfiles/`.
    fn project(&self, dir: &Path, with_lock: bool) -> Result<PathBuf> {
        if dir.exists() {
            std::fs::remove_dir_all(dir)?;
        }
        std::fs::create_dir_all(dir)?;
        for entry in std::fs::read_dir(&self.dir)? {
            let entry = entry?;
            if entry.file_name() == "debless.lock" && !with_lock {
                continue;
            }
            if entry.file_type()?.is_file() {
                std::fs::copy(entry.path(), dir.join(entry.file_name()))?;
            }
        }
        Ok(dir.join("debless.toml"))
    }
}

/// The debless binary under test, run with one cache directory per scenario.
pub struct Debless {
    pub bin: PathBuf,
}

impl Debless {
    /// `debless --manifest MANIFEST ARGS…` with every cache under `cache`.
    fn command(&self, manifest: &Path, cache: &Path, args: &[&str]) -> Command {
        let mut cmd = Command::new(&self.bin);
        cmd.arg("--manifest")
            .arg(manifest)
            .args(args)
            .env(debless::env::DEBLESS_CACHE_DIR, cache.join("debless"))
            // Anything keyed on the XDG cache stays inside the scenario too.
            .env("XDG_CACHE_HOME", cache.join("xdg"));
        cmd
    }
}

/// Removes `path` (a directory) if present, so a run starts from nothing.
fn fresh(path: &Path) -> Result<()> {
    if path.exists() {
        std::fs::remove_dir_all(path).with_context(|| format!("removing {}", path.display()))?;
    }
    Ok(())
}

/// `lock` beside apt.
pub struct LockResult {
    pub packages: usize,
    /// `debless lock` with an empty cache.
    pub cold: Vec<Sample>,
    /// `apt-get update` + `apt-get -s install ROOTS` with empty lists.
    pub apt_cold: Vec<Sample>,
    /// `rm debless.lock; debless lock` with the indices cached.
    pub warm: Vec<Sample>,
    /// `apt-get -s install ROOTS` with its lists and `pkgcache.bin`.
    pub apt_warm: Vec<Sample>,
}

/// Measures `lock` of `example` against apt, `runs` times each, in `scratch`.
pub fn bench_lock(
    debless: &Debless,
    example: &Example,
    mirrors: &Mirrors,
    runs: usize,
    scratch: &Path,
) -> Result<LockResult> {
    let sources = example.sources(mirrors)?;
    let roots: Vec<&str> = example.lock.roots.iter().map(String::as_str).collect();
    let install: Vec<&str> = ["-s", "install"].iter().copied().chain(roots).collect();
    let project = scratch.join("lock/project");
    let cache = scratch.join("lock/cache");
    let apt_dir = scratch.join("lock/apt");
    let logs = scratch.join("lock/logs");
    let mut manifest = PathBuf::new();

    eprintln!("  cold: `debless lock` (empty cache) vs `apt-get update` + `apt-get -s install`");
    let (cold, apt_cold) = interleaved(
        runs,
        ("debless", |_| {
            manifest = example.project(&project, false)?;
            fresh(&cache)?;
            measure(&debless.command(&manifest, &cache, &["lock"]), &logs)
        }),
        ("apt", |_| {
            fresh(&apt_dir)?;
            let apt = IsolatedApt::create(&apt_dir, &sources, example.arch())?;
            let update = measure(&apt.command(&["update", "-qq"]), &logs)?;
            Ok(update.then(&measure(&apt.command(&install), &logs)?))
        }),
    )?;
    let locked = Lock::load(&project.join("debless.lock"))?.context("debless lock wrote a lock")?;
    let ours: Vec<String> = {
        let mut names: Vec<String> = locked.packages.iter().map(|p| p.name.clone()).collect();
        names.sort();
        names
    };
    let theirs = anchors::simulated_installs(&apt_cold.last().context("runs ≥ 1")?.stdout);
    if ours != theirs {
        eprintln!(
            "  warning: debless locked {} packages, apt would install {}: the two did different work",
            ours.len(),
            theirs.len()
        );
    }

    eprintln!(
        "  re-resolve: `rm debless.lock; debless lock` (indices cached) vs `apt-get -s install` (pkgcache.bin)"
    );
    let apt = IsolatedApt::create(&apt_dir, &sources, example.arch())?;
    let lock_file = project.join("debless.lock");
    let relock = || -> Result<Sample> {
        std::fs::remove_file(&lock_file)?;
        measure(&debless.command(&manifest, &cache, &["lock"]), &logs)
    };
    // One untimed round each, so both read caches they have already written.
    relock()?;
    measure(&apt.command(&install), &logs)?;
    ensure!(
        apt.has_binary_cache(),
        "apt wrote no pkgcache.bin under {}: the warm anchor would not be what it claims",
        apt_dir.display()
    );
    let (warm, apt_warm) = interleaved(
        runs,
        ("debless", |_| relock()),
        ("apt", |_| measure(&apt.command(&install), &logs)),
    )?;
    let relocked = Lock::load(&lock_file)?.context("debless lock wrote a lock")?;
    if relocked.render() != locked.render() {
        eprintln!(
            "  warning: re-resolving with a warm cache gave another lock than the cold run (did the mirror move on?)"
        );
    }
    Ok(LockResult {
        packages: ours.len(),
        cold,
        apt_cold,
        warm,
        apt_warm,
    })
}

/// Which anchors a build scenario runs beside debless.
#[derive(Clone, Copy, Debug, Default)]
pub struct BuildPlan {
    pub mmdebstrap: bool,
    pub floor: bool,
    /// Also cold builds with `compression = "zstd"` (large images: zstd is the fast choice).
    pub zstd: bool,
}

/// `build` of one example.
pub struct BuildResult {
    pub label: &'static str,
    pub debs: usize,
    pub deb_bytes: u64,
    /// Bytes of the image's files after filters (`debless size`).
    pub unpacked_bytes: u64,
    /// With an empty cache.
    pub cold: Vec<Sample>,
    /// The same lock again, with the cache the cold build left.
    pub warm: Vec<Sample>,
    pub mmdebstrap: Option<Vec<Sample>>,
    pub floor: Option<Vec<Sample>>,
    /// Cold builds of the same lock with zstd layers.
    pub cold_zstd: Option<Vec<Sample>>,
}

/// Measures `build` of `example`, `runs` times each, with the anchors `plan` names.
pub fn bench_build(
    debless: &Debless,
    example: &Example,
    mirrors: &Mirrors,
    plan: BuildPlan,
    runs: usize,
    scratch: &Path,
) -> Result<BuildResult> {
    let base = scratch.join(example.label);
    let manifest = example.project(&base.join("project"), true)?;
    let cache = base.join("cache");
    let logs = base.join("logs");
    let mut digests = Vec::new();
    let mut build = |cache: &Path, out: &Path| -> Result<Sample> {
        fresh(out)?;
        let cmd = debless.command(
            &manifest,
            cache,
            &["build", "--output", &out.to_string_lossy()],
        );
        let sample = measure(&cmd, &logs)?;
        digests.push(image_digest(&sample.stdout)?);
        Ok(sample)
    };
    let out = base.join("image");

    eprintln!("  cold `debless build` (empty cache)");
    let cold_build = |_| {
        fresh(&cache)?;
        build(&cache, &out)
    };
    let (cold, mmdebstrap) = if plan.mmdebstrap {
        let sources = example.sources(mirrors)?;
        let codename = &example.lock.sources[0].codename;
        let names = example.package_names();
        let target = base.join("mmdebstrap");
        let (cold, mm) = interleaved(
            runs,
            ("debless", cold_build),
            ("mmdebstrap", |_| {
                fresh(&target)?;
                let cmd = anchors::mmdebstrap(&target, codename, example.arch(), &sources, &names);
                measure(&cmd, &logs)
            }),
        )?;
        fresh(&target)?;
        (cold, Some(mm))
    } else {
        (repeated(runs, ("debless", cold_build))?, None)
    };

    let cold_zstd = if plan.zstd {
        eprintln!("  cold `debless build` with `compression = \"zstd\"` (empty cache)");
        let zstd_manifest = example.project(&base.join("project-zstd"), true)?;
        set_zstd(&zstd_manifest)?;
        let zstd_cache = base.join("cache-zstd");
        let zstd_out = base.join("image-zstd");
        let samples = repeated(
            runs,
            ("debless", |_| {
                fresh(&zstd_cache)?;
                fresh(&zstd_out)?;
                let cmd = debless.command(
                    &zstd_manifest,
                    &zstd_cache,
                    &["build", "--output", &zstd_out.to_string_lossy()],
                );
                measure(&cmd, &logs)
            }),
        )?;
        fresh(&zstd_cache)?;
        fresh(&zstd_out)?;
        Some(samples)
    } else {
        None
    };

    eprintln!("  rebuild of the unchanged lock (warm cache)");
    let warm_build = |_| build(&cache, &out);
    let (warm, floor) = if plan.floor {
        let deb_cache = DebCache::new(&cache.join("debless"));
        let debs: Vec<(PathBuf, u64)> = example
            .lock
            .packages
            .iter()
            .map(|p| (deb_cache.path_of(&p.sha256), p.size))
            .collect();
        if let Some((missing, _)) = debs.iter().find(|(path, _)| !path.is_file()) {
            bail!(
                "the cold build left no `{}`: the floor reads the .debs from debless's cache",
                missing.display()
            );
        }
        let floor_out = base.join("floor");
        let (warm, floor) = interleaved(
            runs,
            ("debless", warm_build),
            ("floor", |_| {
                measure(&anchors::floor(&base, &floor_out, &debs)?, &logs)
            }),
        )?;
        fresh(&floor_out)?;
        (warm, Some(floor))
    } else {
        (repeated(runs, ("debless", warm_build))?, None)
    };

    digests.dedup();
    if digests.len() != 1 {
        bail!(
            "{}: the builds gave different images ({}): cold and warm builds of one lock must agree",
            example.label,
            digests.join(", ")
        );
    }
    if let Some(recorded) = example.lock.images.get(example.arch())
        && recorded.manifest != digests[0]
    {
        eprintln!(
            "  note: {} builds {}, its lock records {} (re-record with `debless build --record`)",
            example.label, digests[0], recorded.manifest
        );
    }
    let unpacked_bytes = unpacked_bytes(debless, &manifest, &cache, &logs)?;
    fresh(&out)?;
    Ok(BuildResult {
        label: example.label,
        debs: example.lock.packages.len(),
        deb_bytes: example.deb_bytes(),
        unpacked_bytes,
        cold,
        warm,
        mmdebstrap,
        floor,
        cold_zstd,
    })
}

/// Sets `[image] compression = "zstd"` in the manifest at `path`, keeping the rest.
fn set_zstd(path: &Path) -> Result<()> {
    let text = std::fs::read_to_string(path)?;
    let mut doc: toml_edit::DocumentMut = text
        .parse()
        .with_context(|| format!("parsing {}", path.display()))?;
    doc["image"]["compression"] = toml_edit::value("zstd");
    std::fs::write(path, doc.to_string())?;
    Ok(())
}

/// The image digest `debless build` prints as its last line on stdout.
fn image_digest(stdout: &str) -> Result<String> {
    stdout
        .lines()
        .rev()
        .map(str::trim)
        .find(|l| l.starts_with("sha256:"))
        .map(str::to_owned)
        .with_context(|| format!("`debless build` printed no digest: {stdout:?}"))
}

/// The bytes of the image's files: `debless size --json`'s totals (from the warm cache).
fn unpacked_bytes(debless: &Debless, manifest: &Path, cache: &Path, logs: &Path) -> Result<u64> {
    let out = measure(&debless.command(manifest, cache, &["size", "--json"]), logs)?;
    let value: serde_json::Value =
        serde_json::from_str(&out.stdout).context("`debless size --json` printed no JSON")?;
    value
        .as_array()
        .context("`debless size --json` prints an array")?
        .iter()
        .map(|image| image.get("total").and_then(serde_json::Value::as_u64))
        .sum::<Option<u64>>()
        .context("`debless size --json` gave no `total`")
}
