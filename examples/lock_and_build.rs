//! debless as a library: lock a manifest and build its image into an OCI layout, with no CLI
//! types, no progress output and no environment beyond what [`Settings::from_env`] reads
//! (the mirror, the cache directory, `SOURCE_DATE_EPOCH`).
//!
//! ```text
//! cargo run --example lock_and_build -- path/to/debless.toml out-dir
//! ```
//!
//! Prints the image digest on stdout and nothing on stderr unless it fails.

use std::path::PathBuf;
use std::process::ExitCode;

use debless::env::Settings;
use debless::ops::build::{BuildOptions, build};
use debless::ops::lock::{LockOptions, lock};
use debless::ops::output::{Output, OutputFormat};
use debless::ops::{NoProgress, Project};

fn main() -> ExitCode {
    let mut args = std::env::args_os().skip(1);
    let (Some(manifest), Some(out_dir), None) = (args.next(), args.next(), args.next()) else {
        eprintln!("usage: lock_and_build MANIFEST OUT-DIR");
        return ExitCode::from(2);
    };
    match run(PathBuf::from(manifest), PathBuf::from(out_dir)) {
        Ok(digest) => {
            println!("{digest}");
            ExitCode::SUCCESS
        }
        Err(err) => {
            eprintln!("error: {err}");
            if let Some(hint) = err.hint() {
                eprintln!("hint: {hint}");
            }
            ExitCode::FAILURE
        }
    }
}

fn run(manifest: PathBuf, out_dir: PathBuf) -> Result<String, debless::ops::Error> {
    let project = Project::new(manifest);
    let settings = Settings::from_env();
    lock(&project, &settings, &LockOptions::default(), &NoProgress)?;
    let options = BuildOptions {
        output: Some(Output {
            path: out_dir,
            format: OutputFormat::Oci,
        }),
        ..BuildOptions::default()
    };
    let built = build(&project, &settings, &options, &NoProgress)?;
    Ok(built.digest.unwrap_or_default())
}
