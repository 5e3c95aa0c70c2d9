//! Error rendering: one line naming what failed and the culprit, then an optional hint with
//! the command that fixes it, and the exit code class.
//!
//! ```text
//! error: suite `sid`: Release file expired at 2026-11-06T09:15:44Z (Valid-Until)
//!
//! hint: the mirror has not refreshed this suite; use another mirror (DEBLESS_MIRROR) or suite
//! ```

use std::fmt;
use std::process::ExitCode;

/// Exit codes, documented in the README.
pub mod exit {
    /// Success.
    pub const OK: u8 = 0;
    /// Bad input, a repository that fails verification, an unsatisfiable request.
    pub const FAILURE: u8 = 1;
    /// Command-line usage errors (clap's own code) and unexpected internal errors.
    pub const USAGE: u8 = 2;
    /// The lock does not match the manifest (`lock --check`, `build`).
    pub const LOCK_OUTDATED: u8 = 3;
    /// An ELF file of the image needs a shared library or loader the image lacks
    /// (`debless check`, and `debless build` unless `--no-check`).
    pub const MISSING_LIBRARIES: u8 = 4;
}

/// An error with a hint and an exit code, for failures the user can act on.
#[derive(Debug)]
pub struct Diagnostic {
    pub message: String,
    pub hint: Option<String>,
    pub code: u8,
}

impl Diagnostic {
    /// A failure (exit 1) with a hint.
    pub fn new(message: impl Into<String>, hint: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            hint: Some(hint.into()),
            code: exit::FAILURE,
        }
    }

    /// The lock is out of date (exit 3).
    pub fn outdated(message: impl Into<String>, hint: impl Into<String>) -> Self {
        Self {
            code: exit::LOCK_OUTDATED,
            ..Self::new(message, hint)
        }
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Diagnostic {}

/// Prints `err` on stderr in debless's style and returns the exit code to use.
pub fn report(err: &anyhow::Error) -> ExitCode {
    let mut message = String::new();
    for (i, cause) in err.chain().enumerate() {
        let text = cause.to_string();
        // Skip causes whose text is already part of the previous message (thiserror's
        // `transparent` and `{source}` spellings repeat them).
        if i > 0 && message.contains(&text) {
            continue;
        }
        if i > 0 {
            message.push_str(": ");
        }
        message.push_str(&text);
    }
    let diagnostic = err.chain().find_map(|e| e.downcast_ref::<Diagnostic>());
    eprintln!("error: {message}");
    if let Some(hint) = diagnostic.and_then(|d| d.hint.as_deref()) {
        eprintln!("\nhint: {hint}");
    }
    ExitCode::from(diagnostic.map_or(exit::FAILURE, |d| d.code))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn diagnostics_carry_their_exit_code() {
        let err = anyhow::Error::new(Diagnostic::outdated("stale", "run `debless lock`"))
            .context("checking debless.lock");
        let found = err
            .chain()
            .find_map(|e| e.downcast_ref::<Diagnostic>())
            .map(|d| d.code);
        assert_eq!(found, Some(exit::LOCK_OUTDATED));
    }
}
