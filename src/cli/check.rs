//! `debless check`: does every ELF file of the image find its shared libraries and loader?
//! Also run at the end of every `debless build` unless `--no-check`.

use std::path::PathBuf;

use anyhow::Result;

use super::{Globals, Ui, status};
use crate::check::{CheckReport, MissingKind, off_path_explanation, optional_explanation};
use crate::ops::check::{Target, check, failure};

/// Arguments of `debless check`.
#[derive(Debug, clap::Args)]
pub struct CheckArgs {
    /// An OCI image layout directory (what `build --output DIR` wrote) or `oci-archive` file
    /// to check. Without it and without `--rootfs`, the image of debless.lock is assembled in
    /// memory from the cache.
    #[arg(value_name = "OCI-DIR", conflicts_with = "rootfs")]
    pub image: Option<PathBuf>,
    /// Check a root filesystem directory (what `build --rootfs DIR` wrote) instead.
    #[arg(long, value_name = "DIR")]
    pub rootfs: Option<PathBuf>,
    /// Print the report as JSON on stdout.
    #[arg(long)]
    pub json: bool,
    /// Use only the cache when assembling the locked image.
    #[arg(long)]
    pub offline: bool,
}

/// Runs `debless check`; exits 4 when a library or loader is missing.
pub fn run(globals: &Globals, args: &CheckArgs) -> Result<()> {
    let target = match (&args.image, &args.rootfs) {
        (Some(image), _) => Target::Image(image.clone()),
        (None, Some(dir)) => Target::Rootfs(dir.clone()),
        (None, None) => Target::Locked {
            offline: args.offline,
        },
    };
    let ui = Ui::new(globals);
    let reports = check(&globals.project(), &globals.settings, &target, &ui)?;
    if args.json {
        let json: Vec<_> = reports
            .iter()
            .map(|(label, report)| {
                let mut value = serde_json::to_value(report)?;
                value["architecture"] = serde_json::Value::from(label.as_str());
                value["passed"] = serde_json::Value::from(report.passed());
                Ok(value)
            })
            .collect::<Result<_, serde_json::Error>>()?;
        outln!("{}", serde_json::to_string_pretty(&json)?);
    } else {
        for (label, report) in &reports {
            out!("{}", render(label, report));
        }
    }
    match failure(&reports, false) {
        Some(err) => Err(err.into()),
        None => {
            status(globals, format_args!("Check passed"));
            Ok(())
        }
    }
}

/// The report for people: a summary line per image, then each missing name with its users.
pub fn render(label: &str, report: &CheckReport) -> String {
    let mut out = format!(
        "{label}: {} ELF files, {} dynamic objects",
        report.elf_files, report.dynamic_objects
    );
    if report.foreign > 0 {
        out.push_str(&format!(
            " ({} of another machine not checked)",
            report.foreign
        ));
    }
    out.push_str(": ");
    if report.missing.is_empty() {
        out.push_str("every library and loader found\n");
    } else {
        out.push_str(&format!("{} missing\n", report.missing.len()));
    }
    for (heading, list) in [("missing", &report.missing), ("allowed", &report.allowed)] {
        for missing in list {
            let what = match missing.kind {
                MissingKind::Library => "library",
                MissingKind::Interpreter => "loader",
            };
            out.push_str(&format!("  {heading} {what} {}\n", missing.name));
            for user in &missing.needed_by {
                out.push_str(&format!("    needed by {user}\n"));
            }
            if let Some(usr_side) = &missing.only_under_usr {
                out.push_str(&format!(
                    "    (the image has it at {usr_side}, but /usr is not merged: set `merged-usr = true` in [image])\n"
                ));
            }
            if let Some(dir) = &missing.only_in_conf_dir {
                out.push_str(&format!(
                    "    (it is in {dir}, listed in /etc/ld.so.conf, but the image has no /etc/ld.so.cache)\n"
                ));
            }
        }
    }
    for warning in &report.off_path {
        out.push_str(&format!(
            "  warning library {} (not an error)\n",
            warning.name
        ));
        for user in &warning.needed_by {
            out.push_str(&format!("    needed by {user}\n"));
        }
        out.push_str(&format!(
            "    ({})\n",
            off_path_explanation(&warning.found_off_path)
        ));
    }
    for warning in &report.optional {
        out.push_str(&format!(
            "  warning library {} (not an error)\n",
            warning.name
        ));
        for user in &warning.needed_by {
            out.push_str(&format!("    needed by {user}\n"));
        }
        if let Some(why) = &warning.optional {
            out.push_str(&format!("    ({})\n", optional_explanation(why)));
        }
    }
    for (path, reason) in &report.unreadable {
        out.push_str(&format!("  unreadable ELF file {path}: {reason}\n"));
    }
    out
}
