//! Stage `cli`: the commands users run. Each command is a thin file: its clap arguments (whose
//! doc comments are the `--help` text), one call into [`crate::ops`] and the rendering of its
//! outcome. The environment is read once, here ([`crate::env::Settings::from_env`]).

/// `print!` that stops quietly when stdout is closed (`debless search lib | head -1`): the
/// error travels up as `io::ErrorKind::BrokenPipe` and the process exits 0.
macro_rules! out {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        write!(std::io::stdout().lock(), $($arg)*)?
    }};
}

/// `println!` with [`out!`]'s handling of a closed stdout.
macro_rules! outln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        writeln!(std::io::stdout().lock(), $($arg)*)?
    }};
}

pub mod diagnostics;
mod ui;

pub use ui::Ui;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::env::Settings;
use crate::manifest;
use crate::ops::Project;

/// Compose reproducible container images from Debian packages, without apt, dpkg or Docker.
///
/// `debless lock` resolves the packages of `debless.toml` against signed Debian indices and
/// pins every .deb in `debless.lock`; `debless build` turns that lock into a deterministic OCI
/// image.
#[derive(Debug, Parser)]
#[command(
    name = "debless",
    version,
    max_term_width = 100,
    after_help = "Exit codes:\n  0  success\n  1  bad input, a failed verification or an unsatisfiable request\n  2  usage error or unexpected internal error\n  3  debless.lock is missing or does not match the manifest\n  4  the image lacks shared libraries its ELF files need"
)]
pub struct Cli {
    #[command(flatten)]
    pub globals: Globals,
    #[command(subcommand)]
    pub command: Command,
}

/// Options every command takes.
#[derive(Debug, clap::Args)]
pub struct Globals {
    /// The manifest to read; its lock lives beside it as `debless.lock`.
    #[arg(long, global = true, default_value = manifest::FILE_NAME, value_name = "PATH")]
    pub manifest: PathBuf,
    /// Where verified indices and .deb files are cached [default: $XDG_CACHE_HOME/debless].
    #[arg(long, global = true, env = crate::env::DEBLESS_CACHE_DIR, value_name = "DIR")]
    pub cache_dir: Option<PathBuf>,
    /// Print only errors.
    #[arg(short, long, global = true)]
    pub quiet: bool,
    /// Print more detail: every locked package and why, every package fetched.
    #[arg(short, long, global = true)]
    pub verbose: bool,
    /// What the environment says (read once at start-up; `--cache-dir` applied).
    #[arg(skip)]
    pub settings: Settings,
}

impl Globals {
    /// The cache root.
    pub fn cache_dir(&self) -> PathBuf {
        self.settings.cache_dir.clone()
    }

    /// The lock file beside the manifest.
    pub fn lock_path(&self) -> PathBuf {
        self.project().lock
    }

    /// The manifest and its lock, as the operations take them.
    pub fn project(&self) -> Project {
        Project::new(&self.manifest)
    }
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Resolve the manifest against signed Debian indices and write debless.lock.
    Lock(lock::LockArgs),
    /// Build an OCI image from debless.lock alone (never resolves).
    Build(build::BuildArgs),
    /// Push an OCI layout directory to a registry and print its digest.
    Push(push::PushArgs),
    /// Check that every ELF file of the image finds its shared libraries and loader.
    Check(check::CheckArgs),
    /// Show which packages of the manifest's suites ship a file or soname (Contents indices).
    Provides(provides::ProvidesArgs),
    /// Add packages to debless.toml and re-lock; with --for, those shipping the libraries
    /// the given ELF files need.
    Add(add::AddArgs),
    /// Show what each locked package adds to the image (after path filters), without building.
    Size(size::SizeArgs),
    /// Show every dependency chain from the manifest's roots to a locked package.
    Why(why::WhyArgs),
    /// Show the packages added, removed, upgraded or downgraded between two locks.
    Diff(diff::DiffArgs),
    /// Show the versions of a package the manifest's suites offer, and which one is locked.
    Show(show::ShowArgs),
    /// List packages (and virtual packages) whose name contains a word.
    Search(show::SearchArgs),
    /// Write a commented debless.toml for this host's Debian release.
    Init(init::InitArgs),
    /// Print a shell completion script.
    Completions(completions::CompletionsArgs),
    /// Print the lock as JSON for build systems (Bazel): every .deb with its URLs, the
    /// recorded image digests and the base pin.
    Export(export::ExportArgs),
    /// Show or prune the cache (.debs, indices, base blobs, built layers).
    Cache(cache::CacheArgs),
}

pub mod add;
pub mod build;
pub mod cache;
pub mod check;
pub mod completions;
pub mod diff;
pub mod export;
pub mod init;
pub mod lock;
pub mod provides;
pub mod push;
pub mod show;
pub mod size;
pub mod why;

/// Runs debless with the process's arguments and returns its exit code.
pub fn main() -> ExitCode {
    let mut cli = Cli::parse();
    cli.globals.settings = Settings::from_env();
    if let Some(dir) = &cli.globals.cache_dir {
        cli.globals.settings.cache_dir = dir.clone();
    }
    crate::cleanup::on_start(&cli.globals.settings.cache_dir);
    // A panic is a bug: its message is printed by the hook, and the exit code says
    // "unexpected" (2) rather than Rust's 101.
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| run(&cli)));
    match outcome {
        Ok(Ok(())) => ExitCode::SUCCESS,
        Ok(Err(err)) => diagnostics::report(&err),
        Err(_) => ExitCode::from(diagnostics::exit::USAGE),
    }
}

/// Runs the parsed command.
fn run(cli: &Cli) -> anyhow::Result<()> {
    let globals = &cli.globals;
    match &cli.command {
        Command::Lock(args) => lock::run(globals, args),
        Command::Build(args) => build::run(globals, args),
        Command::Why(args) => why::run(globals, args),
        Command::Diff(args) => diff::run(globals, args),
        Command::Show(args) => show::run(globals, args),
        Command::Search(args) => show::search(globals, args),
        Command::Init(args) => init::run(globals, args),
        Command::Completions(args) => completions::run(args),
        Command::Push(args) => push::run(globals, args),
        Command::Check(args) => check::run(globals, args),
        Command::Provides(args) => provides::run(globals, args),
        Command::Add(args) => add::run(globals, args),
        Command::Size(args) => size::run(globals, args),
        Command::Export(args) => export::run(globals, args),
        Command::Cache(args) => cache::run(globals, args),
    }
}

/// A status line on stderr unless `--quiet`.
pub fn status(globals: &Globals, message: std::fmt::Arguments<'_>) {
    if !globals.quiet {
        eprintln!("{message}");
    }
}
