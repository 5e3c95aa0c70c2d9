//! How the CLI shows an operation's progress: indicatif bars and spinners on a terminal,
//! status and note lines on stderr unless `--quiet`, each fetched package with `--verbose`.

use std::io::IsTerminal as _;
use std::path::Path;
use std::sync::Mutex;

use indicatif::{ProgressBar, ProgressStyle};

use super::Globals;
use crate::ops::Progress;

/// The terminal side of [`Progress`].
pub struct Ui {
    quiet: bool,
    verbose: bool,
    /// Drawn only for a person watching stderr.
    interactive: bool,
    bar: Mutex<Option<ProgressBar>>,
}

impl Ui {
    /// A UI following `--quiet` and `--verbose`.
    pub fn new(globals: &Globals) -> Self {
        Ui {
            quiet: globals.quiet,
            verbose: globals.verbose,
            interactive: !globals.quiet && std::io::stderr().is_terminal(),
            bar: Mutex::new(None),
        }
    }

    /// Runs `print` with the bar out of the way.
    fn line(&self, print: impl FnOnce()) {
        let bar = self
            .bar
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        match bar.as_ref() {
            Some(bar) => bar.suspend(print),
            None => print(),
        }
    }

    fn replace(&self, new: Option<ProgressBar>) {
        let mut bar = self
            .bar
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(old) = bar.take() {
            old.finish_and_clear();
        }
        *bar = new;
    }
}

impl Progress for Ui {
    fn step(&self, what: &str) {
        if !self.interactive {
            return;
        }
        let mut bar = self
            .bar
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        match bar.as_ref() {
            Some(spinner) if spinner.length().is_none() => spinner.set_message(what.to_owned()),
            _ => {
                if let Some(old) = bar.take() {
                    old.finish_and_clear();
                }
                let spinner = ProgressBar::new_spinner().with_message(what.to_owned());
                spinner.enable_steady_tick(std::time::Duration::from_millis(100));
                *bar = Some(spinner);
            }
        }
    }

    fn step_done(&self) {
        self.replace(None);
    }

    fn fetch_started(&self, total: u64) {
        if !self.interactive {
            return;
        }
        let bar = ProgressBar::new(total);
        if let Ok(style) = ProgressStyle::with_template(
            "{spinner} fetching {bytes}/{total_bytes} [{bar:30}] {bytes_per_sec}",
        ) {
            bar.set_style(style.progress_chars("=> "));
        }
        self.replace(Some(bar));
    }

    fn fetched(&self, label: &str, bytes: u64, downloaded: bool) {
        if let Some(bar) = self
            .bar
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .as_ref()
        {
            bar.inc(bytes);
        }
        if self.verbose {
            let verb = if downloaded { "downloaded" } else { "cached" };
            self.line(|| eprintln!("  {verb} {label} ({bytes} bytes)"));
        }
    }

    fn fetch_done(&self, packages: usize, bytes: u64, cache: &Path) {
        self.replace(None);
        self.status(&format!(
            "Fetched {packages} packages ({:.1} MB) into {}",
            bytes as f64 / 1e6,
            cache.display()
        ));
    }

    fn note(&self, text: &str) {
        self.status(&format!("Note: {text}"));
    }

    fn status(&self, text: &str) {
        if !self.quiet {
            self.line(|| eprintln!("{text}"));
        }
    }
}
