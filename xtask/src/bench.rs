//! `cargo xtask bench [lock|build]`: debless side by side with apt and mmdebstrap on the same
//! work, printed as ratios against the targets of the issues. Timings live here, never in tests.
//!
//! - `lock`: cold and warm `debless lock` of the bookworm python3 example vs an isolated
//!   `apt-get update` + `apt-get -s install python3` (targets: cold ≤ 0.3× apt, warm ≤ 0.2 s).
//! - `build`: cold `debless build` of the same lock vs `mmdebstrap --variant=extract` of the
//!   same packages; warm build vs the physical floor (decompress every data.tar, gzip the
//!   layer once); peak RSS (targets: ≤ 0.5× mmdebstrap, ≤ 1.3× floor, ≤ 200 MiB).

use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail};

const EXAMPLE: &str = "lockfiles/bookworm-python3";

/// Runs the benchmarks named in `args` (all by default).
pub fn run(args: &[String]) -> Result<()> {
    let which: Vec<&str> = if args.is_empty() {
        vec!["lock", "build"]
    } else {
        args.iter().map(String::as_str).collect()
    };
    let root = workspace_root()?;
    std::env::set_current_dir(&root)?;
    let status = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args(["build", "--release", "--package", "debless"])
        .status()?;
    if !status.success() {
        bail!("cargo build --release failed");
    }
    let bin = root.join("target/release/debless");
    let mirrors = debless::env::Settings::from_env()
        .mirrors()
        .context("bench needs the Debian mirror (DEBLESS_MIRROR or the host's apt sources)")?;
    for name in which {
        match name {
            "lock" => bench_lock(&bin, &mirrors)?,
            "build" => bench_build(&bin, &mirrors)?,
            other => bail!("unknown benchmark `{other}` (lock, build)"),
        }
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

/// Wall time and peak resident memory of one command.
struct Measured {
    wall: Duration,
    peak_rss_kib: u64,
}

/// Runs `cmd` to completion, sampling its `VmHWM` (peak RSS) from /proc while it runs.
fn measure(cmd: &mut Command) -> Result<Measured> {
    let started = Instant::now();
    let mut child = cmd
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("cannot start {cmd:?}"))?;
    let status_path = format!("/proc/{}/status", child.id());
    let mut peak = 0;
    let status = loop {
        if let Ok(text) = std::fs::read_to_string(&status_path) {
            peak = peak.max(vm_hwm_kib(&text));
        }
        if let Some(status) = child.try_wait()? {
            break status;
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let wall = started.elapsed();
    if !status.success() {
        let mut stderr = String::new();
        if let Some(mut pipe) = child.stderr.take() {
            let _ = pipe.read_to_string(&mut stderr);
        }
        bail!("{cmd:?} failed with {status}: {}", stderr.trim());
    }
    Ok(Measured {
        wall,
        peak_rss_kib: peak,
    })
}

fn vm_hwm_kib(status: &str) -> u64 {
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

fn secs(d: Duration) -> f64 {
    d.as_secs_f64()
}

fn verdict(ok: bool) -> &'static str {
    if ok { "ok" } else { "MISSED" }
}

/// An apt configuration that sees only the bookworm suites and an empty dpkg status.
fn isolated_apt(dir: &Path, mirrors: &debless::repo::Mirrors) -> Result<PathBuf> {
    for sub in [
        "etc/sources.list.d",
        "state/lists/partial",
        "cache/archives/partial",
    ] {
        std::fs::create_dir_all(dir.join(sub))?;
    }
    std::fs::write(dir.join("status"), "")?;
    let security = mirrors.root_for("bookworm-security")?;
    std::fs::write(
        dir.join("etc/sources.list.d/debian.sources"),
        format!(
            "Types: deb\nURIs: {}\nSuites: bookworm bookworm-updates\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n\nTypes: deb\nURIs: {security}\nSuites: bookworm-security\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n",
            mirrors.debian
        ),
    )?;
    let d = dir.display();
    let config = dir.join("apt.conf");
    std::fs::write(
        &config,
        format!(
            "Dir \"/\";\nDir::State \"{d}/state\";\nDir::State::status \"{d}/status\";\nDir::Cache \"{d}/cache\";\nDir::Etc::SourceList \"/dev/null\";\nDir::Etc::SourceParts \"{d}/etc/sources.list.d\";\nDir::Etc::Preferences \"/dev/null\";\nDir::Etc::PreferencesParts \"/dev/null\";\nAPT::Install-Recommends \"false\";\nAPT::Architectures {{ \"amd64\"; }};\nAcquire::Languages \"none\";\n"
        ),
    )?;
    Ok(config)
}

fn bench_lock(bin: &Path, mirrors: &debless::repo::Mirrors) -> Result<()> {
    let tmp = tempfile::tempdir()?;
    let project = tmp.path().join("project");
    std::fs::create_dir_all(&project)?;
    std::fs::copy(
        Path::new(EXAMPLE).join("debless.toml"),
        project.join("debless.toml"),
    )?;
    let manifest = project.join("debless.toml");
    let cache = tmp.path().join("cache");
    let lock = |cache: &Path| {
        let mut cmd = Command::new(bin);
        cmd.arg("--manifest")
            .arg(&manifest)
            .arg("lock")
            .env("DEBLESS_CACHE_DIR", cache);
        cmd
    };
    let cold = measure(&mut lock(&cache))?;
    let warm = measure(&mut lock(&cache))?;

    let config = isolated_apt(&tmp.path().join("apt"), mirrors)?;
    let apt = |args: &[&str]| {
        let mut cmd = Command::new("apt-get");
        cmd.args(args).env("APT_CONFIG", &config);
        cmd
    };
    let update = measure(&mut apt(&["update", "-qq"]))?;
    let install = measure(&mut apt(&["-s", "install", "python3"]))?;
    let apt_cold = update.wall + install.wall;

    let ratio = secs(cold.wall) / secs(apt_cold);
    println!("bench lock ({EXAMPLE}: python3 on bookworm + updates + security)");
    println!(
        "  cold: debless {:.2}s   apt-get update + -s install {:.2}s   ratio {ratio:.2} (target <= 0.30: {})",
        secs(cold.wall),
        secs(apt_cold),
        verdict(ratio <= 0.30)
    );
    println!(
        "  warm: debless {:.3}s (target <= 0.200s: {})   apt-get -s install alone {:.2}s   ratio {:.2}",
        secs(warm.wall),
        verdict(secs(warm.wall) <= 0.2),
        secs(install.wall),
        secs(warm.wall) / secs(install.wall)
    );
    println!(
        "  peak RSS: debless cold {} MiB, warm {} MiB",
        cold.peak_rss_kib / 1024,
        warm.peak_rss_kib / 1024
    );
    Ok(())
}

/// Names of the packages a lock pins (for mmdebstrap's --include).
fn locked_names(lock_text: &str) -> Vec<String> {
    lock_text
        .lines()
        .filter_map(|l| l.strip_prefix("name = \""))
        .map(|n| n.trim_end_matches('"').to_owned())
        .collect()
}

fn locked_sha256s(lock_text: &str) -> Vec<String> {
    lock_text
        .lines()
        .filter_map(|l| l.strip_prefix("sha256 = \""))
        .map(|n| n.trim_end_matches('"').to_owned())
        .collect()
}

fn bench_build(bin: &Path, mirrors: &debless::repo::Mirrors) -> Result<()> {
    let tmp = tempfile::tempdir()?;
    let manifest = Path::new(EXAMPLE).join("debless.toml");
    let lock_text = std::fs::read_to_string(Path::new(EXAMPLE).join("debless.lock"))
        .context("the example's lock is checked in")?;
    let cache = tmp.path().join("cache");
    let build = |out: &str| {
        let mut cmd = Command::new(bin);
        cmd.arg("--manifest")
            .arg(&manifest)
            .args(["build", "--output"])
            .arg(tmp.path().join(out))
            .env("DEBLESS_CACHE_DIR", &cache);
        cmd
    };
    let cold = measure(&mut build("cold"))?;
    let warm = measure(&mut build("warm"))?;

    let names = locked_names(&lock_text);
    let security = mirrors.root_for("bookworm-security")?;
    let mm = measure(
        Command::new("mmdebstrap")
            .args(["--quiet", "--variant=extract", "--mode=root"])
            .arg(format!("--include={}", names.join(",")))
            .arg("bookworm")
            .arg(tmp.path().join("mmdebstrap-root"))
            .arg(format!(
                "deb {} bookworm bookworm-updates main",
                mirrors.debian
            ))
            .arg(format!("deb {security} bookworm-security main")),
    );

    let floor = physical_floor(&cache, &locked_sha256s(&lock_text))?;

    println!("bench build ({EXAMPLE}: {} packages)", names.len());
    match &mm {
        Ok(mm) => {
            let ratio = secs(cold.wall) / secs(mm.wall);
            println!(
                "  cold: debless {:.2}s   mmdebstrap --variant=extract {:.2}s   ratio {ratio:.2} (target <= 0.50: {})",
                secs(cold.wall),
                secs(mm.wall),
                verdict(ratio <= 0.5)
            );
        }
        Err(err) => println!(
            "  cold: debless {:.2}s   mmdebstrap unavailable: {err:#}",
            secs(cold.wall)
        ),
    }
    let ratio = secs(warm.wall) / secs(floor);
    println!(
        "  warm: debless {:.2}s   floor (decompress all data.tar + gzip -6 once) {:.2}s   ratio {ratio:.2} (target <= 1.30: {})",
        secs(warm.wall),
        secs(floor),
        verdict(ratio <= 1.3)
    );
    let peak = cold.peak_rss_kib.max(warm.peak_rss_kib) / 1024;
    println!(
        "  peak RSS: debless {peak} MiB (target <= 200 MiB: {})",
        verdict(peak <= 200)
    );
    Ok(())
}

/// The work no builder can skip: decompress every data.tar once and gzip the result once.
fn physical_floor(cache: &Path, sha256s: &[String]) -> Result<Duration> {
    let started = Instant::now();
    let mut gzip = flate2::write::GzEncoder::new(io::sink(), flate2::Compression::new(6));
    for sha in sha256s {
        let path = cache.join("debs/sha256").join(sha);
        let deb = debless::deb::Deb::open(&path)?;
        let mut data = deb.data_tar_reader()?;
        io::copy(&mut data, &mut gzip)?;
    }
    gzip.finish()?;
    Ok(started.elapsed())
}
