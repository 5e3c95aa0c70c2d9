//! Error rendering: one line naming what failed and the culprit, then an optional hint with
//! the command that fixes it, and the exit code class.
//!
//! ```text
//! error: suite `sid`: Release file expired at 2026-11-06T09:15:44Z (Valid-Until)
//!
//! hint: the mirror has not refreshed this suite; use another mirror (DEBLESS_MIRROR) or suite
//! ```

use std::process::ExitCode;

/// Exit codes, documented in the README.
pub mod exit {
    /// Success.
    pub const OK: u8 = 0;
    /// Bad input, a repository that fails verification, an unsatisfiable request.
    pub const FAILURE: u8 = 1;
    /// Command-line usage errors (clap's own code) and unexpected internal errors (a bug: an
    /// error no stage declares, a panic).
    pub const USAGE: u8 = 2;
    /// The lock does not match the manifest (`lock --check`, `build`).
    pub const LOCK_OUTDATED: u8 = 3;
    /// An ELF file of the image needs a shared library or loader the image lacks
    /// (`debless check`, and `debless build` unless `--no-check`).
    pub const MISSING_LIBRARIES: u8 = 4;
}

/// Prints `err` on stderr in debless's style and returns the exit code to use: the class of
/// the innermost [`crate::ops::Error`], 1 for any other error of debless's
/// stages or the file system, 2 for anything unexpected. A closed stdout is no error (exit 0).
pub fn report(err: &anyhow::Error) -> ExitCode {
    if closed_stdout(err) {
        return ExitCode::SUCCESS;
    }
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
    eprintln!("error: {message}");
    if let Some(hint) = crate::ops::error::hint_of(err.as_ref()) {
        eprintln!("\nhint: {hint}");
    }
    ExitCode::from(exit_code(err))
}

/// The exit code of `err` (see [`exit`]).
pub fn exit_code(err: &anyhow::Error) -> u8 {
    use crate::ops::{Class, Error};
    // The innermost operation error decides: outer ones only add context.
    if let Some(op) = err.chain().filter_map(|e| e.downcast_ref::<Error>()).last() {
        return match op.class() {
            Class::Failure => exit::FAILURE,
            Class::LockOutdated => exit::LOCK_OUTDATED,
            Class::MissingLibraries => exit::MISSING_LIBRARIES,
            Class::Internal => exit::USAGE,
        };
    }
    if expected(err) {
        exit::FAILURE
    } else {
        exit::USAGE
    }
}

/// Whether `err` is one of the failures debless's stages report about their input (a typed
/// stage error, a file that cannot be read or written) rather than a bug.
fn expected(err: &anyhow::Error) -> bool {
    err.chain().any(|e| {
        e.is::<std::io::Error>()
            || e.is::<crate::manifest::ManifestError>()
            || e.is::<crate::lock::LockError>()
            || e.is::<crate::repo::RepoError>()
            || e.is::<crate::repo::suites::SuitesError>()
            || e.is::<crate::repo::MirrorError>()
            || e.is::<crate::repo::HttpError>()
            || e.is::<crate::fetch::FetchError>()
            || e.is::<crate::resolve::ResolveError>()
            || e.is::<crate::rootfs::RootfsError>()
            || e.is::<crate::oci::OciError>()
            || e.is::<crate::registry::RegistryError>()
            || e.is::<crate::check::load::LoadError>()
            || e.is::<crate::check::elf::ElfError>()
            || e.is::<crate::debian::version::VersionError>()
    })
}

/// Whether the error is a write to a stdout whose reader went away (`| head -1`).
fn closed_stdout(err: &anyhow::Error) -> bool {
    err.chain().any(|e| {
        e.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operation_errors_choose_the_exit_code_and_unknown_ones_exit_2() {
        let outdated =
            anyhow::Error::new(crate::ops::Error::outdated("stale", "relock")).context("building");
        assert_eq!(exit_code(&outdated), exit::LOCK_OUTDATED);
        let io = anyhow::Error::new(std::io::Error::other("disk full"));
        assert_eq!(exit_code(&io), exit::FAILURE);
        let unknown = anyhow::anyhow!("something nobody expected");
        assert_eq!(exit_code(&unknown), exit::USAGE);
        let pipe = anyhow::Error::new(std::io::Error::from(std::io::ErrorKind::BrokenPipe));
        assert!(closed_stdout(&pipe));
    }
}
