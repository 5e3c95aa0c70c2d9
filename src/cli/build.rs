//! `debless build`: `debless.lock` → verified `.deb` files → rootfs → OCI image, through
//! [`crate::ops::build`]; this file parses the flags and renders the outcome.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::Result;

use super::{Globals, Ui, status};
use crate::manifest::SbomSetting;
use crate::ops::assemble::AssembleOptions;
use crate::ops::build::{BuildOptions, Built, Recorded, build};
use crate::ops::output::{self, Output};

/// The container formats `--output` can be written in.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum OutputFormat {
    /// An OCI image layout directory (`oci:DIR` for skopeo).
    #[default]
    Oci,
    /// The OCI layout as one tar file (`oci-archive:FILE`).
    OciArchive,
    /// A `docker load` tarball (`docker-archive:FILE`; one architecture).
    DockerArchive,
}

impl From<OutputFormat> for output::OutputFormat {
    fn from(format: OutputFormat) -> Self {
        match format {
            OutputFormat::Oci => output::OutputFormat::Oci,
            OutputFormat::OciArchive => output::OutputFormat::OciArchive,
            OutputFormat::DockerArchive => output::OutputFormat::DockerArchive,
        }
    }
}

/// Arguments of `debless build`.
#[derive(Debug, clap::Args)]
pub struct BuildArgs {
    /// Where to write the image (a directory for `oci`, a file for the archive formats).
    /// Without it the image is built and compared with the digests debless.lock records.
    #[arg(short, long, value_name = "PATH")]
    pub output: Option<PathBuf>,
    /// The output format.
    #[arg(long, value_enum, default_value_t)]
    pub format: OutputFormat,
    /// Also write the image's files as a directory tree (one subdirectory per architecture
    /// when the manifest has several).
    #[arg(long, value_name = "DIR")]
    pub rootfs: Option<PathBuf>,
    /// Use only the cache; fail listing the packages that are not in it.
    #[arg(long)]
    pub offline: bool,
    /// Archive roots to try, in order, after the manifest's mirror (e.g. a snapshot archive
    /// when the mirror no longer has an old version).
    #[arg(long = "mirror", value_name = "URL")]
    pub mirrors: Vec<String>,
    /// Downloads at once.
    #[arg(long, default_value_t = 8, value_name = "N")]
    pub jobs: usize,
    /// The image reference recorded in the layout or archive [default: the manifest's
    /// `image.tag`, else `latest`].
    #[arg(long)]
    pub tag: Option<String>,
    /// Replace an existing archive file at `--output`.
    #[arg(long)]
    pub force: bool,
    /// Record the built image's digests in debless.lock (the only way `build` writes the
    /// lock); commit it so `--verify` and later builds compare against it.
    #[arg(long, conflicts_with = "verify")]
    pub record: bool,
    /// Rebuild and fail unless the image digests equal those recorded in debless.lock by
    /// `build --record`, naming the layers and files that differ (with `--output` of that
    /// build).
    #[arg(long)]
    pub verify: bool,
    /// Print the image's digests as JSON on stdout (top digest, and per architecture the
    /// manifest, config and layers) instead of the bare digest.
    #[arg(long)]
    pub json: bool,
    /// Print per package the bytes it adds to the image (after path filters), largest first,
    /// with the total and the layers' compressed and uncompressed sizes (with `--json`, as
    /// `report` of each image).
    #[arg(long)]
    pub report: bool,
    /// Write an SBOM listing every locked package (purl, source, sha256, licences): SPDX 2.3
    /// JSON, CycloneDX 1.6 JSON or both. It is stored in the image as
    /// /usr/share/sbom/debless.spdx.json and /usr/share/sbom/debless.cdx.json, and beside
    /// `--output` as PATH.spdx.json and PATH.cdx.json (PATH.ARCH.… with several
    /// architectures) [default: the manifest's `image.sbom`, else none].
    #[arg(long, value_name = "FORMAT", value_parser = ["spdx", "cyclonedx", "both", "none"])]
    pub sbom: Option<String>,
    /// Push the image (an index for several architectures) to this registry reference
    /// (`HOST[:PORT]/REPO[:TAG]`) and print its digest.
    #[arg(long, value_name = "REF")]
    pub push: Option<String>,
    /// Skip the shared-library check (by default the build fails when an ELF file of the
    /// image needs a library or loader the image lacks; see `debless check`).
    #[arg(long)]
    pub no_check: bool,
    /// Build without the layer cache: decompress every package and compress every layer
    /// (the cache is neither read nor written; `--verify` never reads it).
    #[arg(long)]
    pub no_cache: bool,
}

impl BuildArgs {
    /// The operation's options.
    fn options(&self) -> BuildOptions {
        BuildOptions {
            fetch: AssembleOptions {
                offline: self.offline,
                mirrors: self.mirrors.clone(),
                jobs: self.jobs,
                read_while_fetching: true,
            },
            output: self.output.as_ref().map(|path| Output {
                path: path.clone(),
                format: self.format.into(),
            }),
            force: self.force,
            rootfs: self.rootfs.clone(),
            tag: self.tag.clone(),
            verify: self.verify,
            record: self.record,
            report: self.report,
            sbom: self.sbom.as_deref().and_then(SbomSetting::parse),
            no_check: self.no_check,
            push: self.push.clone(),
            no_cache: self.no_cache,
            cache_format: crate::env::var(crate::env::DEBLESS_TEST_LAYER_FORMAT)
                .and_then(|v| v.parse().ok()),
        }
    }
}

/// Runs `debless build`.
pub fn run(globals: &Globals, args: &BuildArgs) -> Result<()> {
    let started = Instant::now();
    let ui = Ui::new(globals);
    let built = build(&globals.project(), &globals.settings, &args.options(), &ui)?;
    render(globals, args, &built, started)
}

fn render(globals: &Globals, args: &BuildArgs, built: &Built, started: Instant) -> Result<()> {
    for image in &built.images {
        let bytes: u64 = image.image.layers.iter().map(|l| l.size).sum();
        let layers: Vec<&str> = image
            .image
            .layers
            .iter()
            .map(|l| l.digest.as_str())
            .collect();
        status(
            globals,
            format_args!(
                "Built {}: {} packages, {:.1} MB compressed, layer {}, manifest {}",
                image.arch,
                image.packages,
                bytes as f64 / 1e6,
                layers.join(" "),
                image.image.manifest.digest
            ),
        );
        let cache = &image.cache;
        if cache.image {
            status(
                globals,
                format_args!(
                    "Layer cache ({}): whole image reused, layers verified: {}",
                    image.arch, cache.reused
                ),
            );
        } else if cache.reused > 0 {
            status(
                globals,
                format_args!(
                    "Layer cache ({}): layers reused: {}, built: {}",
                    image.arch, cache.reused, cache.built
                ),
            );
        }
    }
    let lock_path = globals.lock_path();
    match (&built.recorded, args.verify, args.record) {
        (_, true, _) => status(
            globals,
            format_args!("Verified: the rebuilt image matches the digests in debless.lock"),
        ),
        (_, _, true) if built.lock_written => status(
            globals,
            format_args!("Recorded the image digests in {}", lock_path.display()),
        ),
        (_, _, true) => status(
            globals,
            format_args!("{} already records these digests", lock_path.display()),
        ),
        // A warning, not an error: the reference moves only with `--record`.
        (Recorded::Differs(problems), false, false) if !globals.quiet => {
            eprintln!(
                "warning: the image differs from the digests {} records: {}",
                lock_path.display(),
                problems.join("; ")
            );
            eprintln!(
                "hint: `debless build --record` records the new digests; `--verify` fails on a difference"
            );
        }
        _ => {}
    }
    if let (Some(path), Some(digest)) = (&args.output, &built.digest) {
        status(
            globals,
            format_args!(
                "Wrote {} ({}) {digest} in {:.2}s",
                path.display(),
                built.tag,
                started.elapsed().as_secs_f64()
            ),
        );
        if !args.json {
            outln!("{digest}");
        }
    }
    for path in &built.sbom_files {
        status(globals, format_args!("Wrote {}", path.display()));
    }
    if let Some(pushed) = &built.pushed {
        super::push::pushed_status(globals, pushed);
        if !args.json {
            outln!("{}", pushed.report.digest);
        }
    }
    if args.report && !args.json {
        for report in built
            .images
            .iter()
            .filter_map(|built| built.report.as_ref())
        {
            out!("{}", report.render());
        }
    }
    if args.json {
        let images: Vec<_> = built
            .images
            .iter()
            .map(|built| {
                let (arch, count, image) = (&built.arch, built.packages, &built.image);
                let report = built
                    .report
                    .as_ref()
                    .map(serde_json::to_value)
                    .transpose()?;
                let mut json = serde_json::json!({
                    "architecture": arch.as_str(),
                    "packages": count,
                    "manifest": image.manifest.digest.as_str(),
                    "config": image.config.digest.as_str(),
                    "layers": image.layers.iter().map(|l| serde_json::json!({
                        "digest": l.digest.as_str(),
                        "diff-id": l.diff_id.as_str(),
                        "size": l.size,
                    })).collect::<Vec<_>>(),
                });
                if let Some(report) = report {
                    json["report"] = report;
                }
                Ok(json)
            })
            .collect::<Result<_, serde_json::Error>>()?;
        let summary = serde_json::json!({
            "digest": built.digest.as_deref(),
            "images": images,
        });
        outln!("{}", serde_json::to_string_pretty(&summary)?);
    }
    Ok(())
}
