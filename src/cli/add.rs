//! `debless add [PKG…] [--for FILE…]`: add root packages to debless.toml and re-lock; with
//! `--for`, the packages that ship the shared libraries the given ELF files need and the
//! locked image lacks (issue #8), through [`crate::ops::add`]; this file parses the flags and
//! shows the operation's events as they come.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use anyhow::Result;

use super::{Globals, Ui, status};
use crate::ops::Progress;
use crate::ops::add::{AddOptions, AddProgress, add};
use crate::ops::lock::LockOutcome;

/// Arguments of `debless add`.
#[derive(Debug, clap::Args)]
pub struct AddArgs {
    /// Packages to add to the manifest's `packages` (as `name`, `name:arch`, …).
    #[arg(value_name = "PKG")]
    pub packages: Vec<String>,
    /// ELF files (say a Python extension built elsewhere, copied in with `[[image.files]]`)
    /// whose missing shared libraries should be added: each soname the locked image lacks is
    /// looked up in the suites' Contents index and its package added.
    #[arg(long = "for", value_name = "FILE", num_args = 1..)]
    pub for_files: Vec<PathBuf>,
    /// Use only the cache for the packages of the locked image.
    #[arg(long)]
    pub offline: bool,
}

/// Runs `debless add`.
pub fn run(globals: &Globals, args: &AddArgs) -> Result<()> {
    let options = AddOptions {
        packages: args.packages.clone(),
        for_files: args.for_files.clone(),
        offline: args.offline,
    };
    let shown = AddUi {
        globals,
        ui: Ui::new(globals),
        stdout_failed: Mutex::new(None),
    };
    let outcome = add(&globals.project(), &globals.settings, &options, &shown);
    if let Some(err) = shown
        .stdout_failed
        .into_inner()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
    {
        return Err(err.into());
    }
    let outcome = outcome?;
    if !outcome.examined_files {
        return Ok(());
    }
    if outcome.added_for_files.is_empty() {
        status(
            globals,
            format_args!("The locked image already has every library these files need"),
        );
    } else {
        status(
            globals,
            format_args!(
                "Added {} to {}; the image now has every library these files need",
                outcome.added_for_files.join(", "),
                globals.manifest.display()
            ),
        );
    }
    Ok(())
}

/// The terminal side of [`AddProgress`]: the operation's progress through [`Ui`], its events as
/// the status lines and (for each chosen package) the stdout line `debless add` always printed.
struct AddUi<'a> {
    globals: &'a Globals,
    ui: Ui,
    /// The first failed write to stdout, reported once the operation returns (a closed pipe
    /// exits 0 as everywhere else).
    stdout_failed: Mutex<Option<std::io::Error>>,
}

impl Progress for AddUi<'_> {
    fn step(&self, what: &str) {
        self.ui.step(what);
    }
    fn step_done(&self) {
        self.ui.step_done();
    }
    fn fetch_started(&self, total: u64) {
        self.ui.fetch_started(total);
    }
    fn fetched(&self, label: &str, bytes: u64, downloaded: bool) {
        self.ui.fetched(label, bytes, downloaded);
    }
    fn fetch_done(&self, packages: usize, bytes: u64, cache: &Path) {
        self.ui.fetch_done(packages, bytes, cache);
    }
    fn note(&self, text: &str) {
        self.ui.note(text);
    }
    fn status(&self, text: &str) {
        self.ui.status(text);
    }
}

impl AddProgress for AddUi<'_> {
    fn added(&self, names: &[&str], manifest: &Path) {
        self.ui.status(&format!(
            "Added {} to {}",
            names.join(", "),
            manifest.display()
        ));
    }

    fn locked(&self, outcome: &LockOutcome, elapsed: Duration) {
        super::lock::render(self.globals, &self.globals.project(), outcome, elapsed);
    }

    fn needs(&self, file: &Path, sonames: &[String]) {
        self.ui.status(&format!(
            "{} needs {} (not in the locked image)",
            file.display(),
            sonames.join(", ")
        ));
    }

    fn chose(&self, soname: &str, package: &str, why: &str) {
        use std::io::Write as _;
        let written = writeln!(std::io::stdout().lock(), "{soname}  {package}  ({why})");
        if let Err(err) = written {
            let mut failed = self
                .stdout_failed
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            failed.get_or_insert(err);
        }
    }
}
