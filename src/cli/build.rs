//! `debless build`: `debless.lock` → verified `.deb` files → rootfs → OCI image.
//!
//! The lock is the whole truth: no index is read and nothing is resolved here.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context as _, Result};

use super::assemble::{Assembled, Inputs, assemble, spinner};
use super::diagnostics::Diagnostic;
use super::size::SizeReport;
use super::{Globals, status};
use crate::debian::Arch;
use crate::lock::{Lock, RecordedImage};
use crate::manifest::{CompressionSetting, Manifest, SbomSetting};
use crate::oci::{self, BuiltImage, Compression, OciOptions};
use crate::sbom::{BaseInput, Sbom, SbomFormat};

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

/// Arguments of `debless build`.
#[derive(Debug, clap::Args)]
pub struct BuildArgs {
    /// Where to write the image (a directory for `oci`, a file for the archive formats).
    /// Without it the image is built and its digests recorded in debless.lock only.
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
    /// Rebuild and fail unless the image digests equal those recorded in debless.lock by the
    /// last build, naming the layers and files that differ (with `--output` of that build).
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
}

impl BuildArgs {
    /// `build`'s defaults (with `--offline` as asked), parsed by clap so every flag keeps its
    /// declared default: what `check`, `size` and `add --for` assemble the image with.
    pub fn defaults(offline: bool) -> Result<Self> {
        #[derive(clap::Parser)]
        struct Wrapper {
            #[command(flatten)]
            args: BuildArgs,
        }
        let argv: &[&str] = if offline {
            &["build", "--offline"]
        } else {
            &["build"]
        };
        Ok(<Wrapper as clap::Parser>::try_parse_from(argv)?.args)
    }
}

/// Runs `debless build`.
pub fn run(globals: &Globals, args: &BuildArgs) -> Result<()> {
    let started = Instant::now();
    let inputs = Inputs::prepare(globals, args)?;
    let Inputs { manifest, lock, .. } = &inputs;
    let plan = Plan {
        globals,
        args,
        inputs: &inputs,
        sbom_formats: sbom_formats(args, manifest),
        sbom_name: args
            .tag
            .clone()
            .or_else(|| manifest.image.tag.clone())
            .unwrap_or_else(|| "debless-image".to_owned()),
    };
    let images = manifest
        .architectures
        .iter()
        .map(|arch| plan.build(arch))
        .collect::<Result<Vec<_>>>()?;

    let built_digests: BTreeMap<String, RecordedImage> = images
        .iter()
        .map(|built| (built.arch.as_str().to_owned(), recorded_image(&built.image)))
        .collect();
    if args.verify {
        verify(lock, &built_digests, &images, args.output.as_deref())?;
    }

    let tag = args
        .tag
        .clone()
        .or_else(|| manifest.image.tag.clone())
        .unwrap_or_else(|| "latest".to_owned());
    let built: Vec<BuiltImage> = images.iter().map(|built| built.image.clone()).collect();
    let digest = match (&args.output, args.format) {
        (None, _) => None,
        (Some(path), OutputFormat::Oci) => Some(oci::write_oci_layout(path, &built, &tag)?),
        (Some(path), OutputFormat::OciArchive) => Some(oci::write_oci_archive(path, &built, &tag)?),
        (Some(path), OutputFormat::DockerArchive) => {
            Some(oci::write_docker_archive(path, &built, &tag)?)
        }
    };
    for ArchImage {
        arch,
        packages: count,
        image,
        ..
    } in &images
    {
        let bytes: u64 = image.layers.iter().map(|l| l.size).sum();
        let layers: Vec<&str> = image.layers.iter().map(|l| l.digest.as_str()).collect();
        status(
            globals,
            format_args!(
                "Built {arch}: {count} packages, {:.1} MB compressed, layer {}, manifest {}",
                bytes as f64 / 1e6,
                layers.join(" "),
                image.manifest.digest
            ),
        );
    }
    if args.verify {
        status(
            globals,
            format_args!("Verified: the rebuilt image matches the digests in debless.lock"),
        );
    } else if lock.images != built_digests {
        let mut recorded = lock.clone();
        recorded.images = built_digests;
        recorded.write_if_changed(&globals.lock_path())?;
        status(
            globals,
            format_args!(
                "Recorded the image digests in {}",
                globals.lock_path().display()
            ),
        );
    }
    if let (Some(path), Some(digest)) = (&args.output, &digest) {
        status(
            globals,
            format_args!(
                "Wrote {} ({}) {digest} in {:.2}s",
                path.display(),
                tag,
                started.elapsed().as_secs_f64()
            ),
        );
        if !args.json {
            println!("{digest}");
        }
    }
    if let Some(path) = &args.output {
        write_sboms_beside(globals, path, &images)?;
    }
    if let Some(target) = &args.push {
        let pushed = push_built(globals, lock, args, &built, &tag, target)?;
        if !args.json {
            println!("{pushed}");
        }
    }
    if args.report && !args.json {
        for report in images.iter().filter_map(|built| built.report.as_ref()) {
            print!("{}", report.render());
        }
    }
    if args.json {
        let images: Vec<_> = images
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
            "digest": digest.as_ref().map(|d| d.as_str()),
            "images": images,
        });
        println!("{}", serde_json::to_string_pretty(&summary)?);
    }
    Ok(())
}

/// What every architecture's build shares.
struct Plan<'a> {
    globals: &'a Globals,
    args: &'a BuildArgs,
    inputs: &'a Inputs,
    /// SBOM documents to write into each image and beside `--output`.
    sbom_formats: Vec<SbomFormat>,
    /// The image name SBOMs carry (the tag, else `debless-image`).
    sbom_name: String,
}

/// One architecture's image, with what the summary and `--report` say about it.
struct ArchImage {
    arch: Arch,
    packages: usize,
    image: BuiltImage,
    report: Option<SizeReport>,
    /// The SBOM documents stored in the image, to copy beside `--output`.
    sboms: Vec<(SbomFormat, String)>,
}

impl Plan<'_> {
    /// Assembles one architecture's files, checks its shared libraries, writes it to
    /// `--rootfs` when asked, and builds its image layers.
    fn build(&self, arch: &Arch) -> Result<ArchImage> {
        let (globals, args, inputs) = (self.globals, self.args, self.inputs);
        let (manifest, epoch) = (&inputs.manifest, inputs.epoch);
        let spinner = spinner(globals, format!("extracting the {arch} packages"));
        let mut assembled = assemble(globals, inputs, arch, &spinner)?;
        if !args.no_check {
            spinner.set_message(format!("checking the {arch} shared libraries"));
            for note in assembled.check(manifest)? {
                spinner.suspend(|| status(globals, format_args!("{note}")));
            }
        }
        let sboms = self.add_sboms(&mut assembled)?;
        let tree = &mut assembled.rootfs;
        spinner.set_message(format!("writing the {arch} layers"));
        if let Some(dir) = &args.rootfs {
            let dir = if manifest.architectures.len() > 1 {
                dir.join(arch.as_str())
            } else {
                dir.clone()
            };
            let app = inputs.app.tree(tree.tree(), epoch)?;
            match &assembled.base {
                // The whole image: the base's files under the packages and the application's.
                Some(base) => tree.write_to_dir_over(base.filesystem.tree(), &app, &dir)?,
                None => tree.write_to_dir_with(&app, &dir)?,
            }
        }
        let options = oci_options(manifest, arch, epoch);
        let mut image =
            oci::files::build_image_with_app(tree, &inputs.app, &inputs.spec, &options)?;
        if let Some(base) = &assembled.base {
            // The spec holds only what the manifest sets, which replaces the base's values.
            let overrides =
                oci::base::ConfigOverrides::from_spec(&inputs.spec, &manifest.image.env);
            image = oci::base::rebase(
                &image,
                &oci::base::Base {
                    name: &base.name,
                    image: &base.image,
                },
                &overrides,
                &options,
            )?;
        }
        let report = if args.report {
            Some(
                SizeReport::measure(arch.as_str(), tree, &image)
                    .with_context(|| format!("measuring the {arch} image"))?,
            )
        } else {
            None
        };
        spinner.finish_and_clear();
        Ok(ArchImage {
            arch: arch.clone(),
            packages: tree.packages().len(),
            image,
            report,
            sboms,
        })
    }

    /// Describes the image's packages in each asked SBOM format and stores the documents
    /// in the tree (after the essentials, so the licences are read from the final tree).
    fn add_sboms(&self, assembled: &mut Assembled) -> Result<Vec<(SbomFormat, String)>> {
        if self.sbom_formats.is_empty() {
            return Ok(Vec::new());
        }
        let arch = &assembled.arch;
        let lock = &self.inputs.lock;
        let base_tree = assembled.base_tree();
        let base = lock.base.as_ref().map(|base| BaseInput {
            image: &base.name,
            packages: base
                .provided
                .get(arch.as_str())
                .map_or(&[][..], Vec::as_slice),
            tree: base_tree,
        });
        let archive_urls: BTreeMap<String, String> = self
            .inputs
            .manifest
            .sources
            .iter()
            .filter_map(|s| Some((s.suite.clone(), s.url.clone()?)))
            .collect();
        let sbom = Sbom::describe(
            lock,
            arch,
            &assembled.rootfs,
            &self.sbom_name,
            self.inputs.epoch,
            &archive_urls,
            base.as_ref(),
        );
        let tree = &mut assembled.rootfs;
        let mut documents = Vec::new();
        for &format in &self.sbom_formats {
            let text = format.render(&sbom);
            tree.add_generated_file(
                format.image_path(),
                text.clone().into_bytes(),
                self.inputs.epoch,
            )
            .with_context(|| format!("storing the {arch} SBOM in the image"))?;
            documents.push((format, text));
        }
        Ok(documents)
    }
}

/// `--sbom`, else `[image] sbom`, as the formats to write.
fn sbom_formats(args: &BuildArgs, manifest: &Manifest) -> Vec<SbomFormat> {
    let setting = args
        .sbom
        .as_deref()
        .and_then(SbomSetting::parse)
        .unwrap_or(manifest.image.sbom);
    match setting {
        SbomSetting::None => vec![],
        SbomSetting::Spdx => vec![SbomFormat::Spdx],
        SbomSetting::CycloneDx => vec![SbomFormat::CycloneDx],
        SbomSetting::Both => vec![SbomFormat::Spdx, SbomFormat::CycloneDx],
    }
}

/// Copies each image's SBOMs beside `--output`: `PATH.spdx.json`, `PATH.cdx.json`, with the
/// architecture before the suffix when the manifest has several.
fn write_sboms_beside(globals: &Globals, output: &Path, images: &[ArchImage]) -> Result<()> {
    let several = images.len() > 1;
    for image in images {
        for (format, text) in &image.sboms {
            let trimmed = output.to_string_lossy();
            let mut name = std::ffi::OsString::from(trimmed.trim_end_matches('/'));
            if several {
                name.push(format!(".{}", image.arch));
            }
            name.push(format.extension());
            let path = PathBuf::from(name);
            fs_err::write(&path, text)?;
            status(globals, format_args!("Wrote {}", path.display()));
        }
    }
    Ok(())
}

/// What the lock records of a built image.
fn recorded_image(image: &BuiltImage) -> RecordedImage {
    RecordedImage {
        manifest: image.manifest.digest.as_str().to_owned(),
        layers: image
            .layers
            .iter()
            .map(|l| l.diff_id.as_str().to_owned())
            .collect(),
    }
}

/// `--verify`: the rebuilt digests must equal the recorded ones. On a mismatch, name the
/// layers that differ and, when `previous` is the layout of the recorded build, the files.
fn verify(
    lock: &Lock,
    built: &BTreeMap<String, RecordedImage>,
    images: &[ArchImage],
    previous: Option<&Path>,
) -> Result<()> {
    if lock.images.is_empty() {
        return Err(Diagnostic::new(
            "--verify: debless.lock records no image digests yet",
            "run `debless build` once (it records them), commit the lock, then verify",
        )
        .into());
    }
    let mut problems = Vec::new();
    for ArchImage { arch, image, .. } in images {
        let Some(recorded) = lock.images.get(arch.as_str()) else {
            problems.push(format!("{arch}: no recorded digest"));
            continue;
        };
        let now = &built[arch.as_str()];
        if recorded.manifest == now.manifest {
            continue;
        }
        let mut what = format!(
            "{arch}: manifest {} recorded, {} built",
            recorded.manifest, now.manifest
        );
        let changed: Vec<usize> = (0..recorded.layers.len().max(now.layers.len()))
            .filter(|&i| recorded.layers.get(i) != now.layers.get(i))
            .collect();
        if changed.is_empty() {
            what.push_str("; every layer is identical, so the image config differs (the [image] table or SOURCE_DATE_EPOCH)");
        }
        let old_layers =
            previous.and_then(|dir| oci::inspect::manifest_layers(dir, &recorded.manifest));
        for i in changed {
            what.push_str(&format!(
                "; layer {} of {} differs",
                i + 1,
                now.layers.len()
            ));
            let (Some(old), Some(new)) = (
                old_layers.as_ref().and_then(|l| l.get(i)),
                image.layers.get(i),
            ) else {
                continue;
            };
            let new = oci::inspect::LayerBlob {
                media_type: new.media_type.clone(),
                path: image.store.path(&new.digest),
            };
            let files = oci::inspect::differing_entries(
                &oci::inspect::layer_entries(old)?,
                &oci::inspect::layer_entries(&new)?,
                10,
            );
            what.push_str(&format!(": {}", files.join(", ")));
        }
        problems.push(what);
    }
    if problems.is_empty() {
        return Ok(());
    }
    let hint = if previous.is_some_and(|dir| dir.join("index.json").is_file()) {
        "the build is not reproducing the recorded image; compare the inputs named above"
    } else {
        "pass `--output DIR` holding the recorded build to list the files that differ"
    };
    Err(Diagnostic::new(
        format!(
            "the rebuilt image differs from debless.lock: {}",
            problems.join("; ")
        ),
        hint,
    )
    .into())
}

fn oci_options(manifest: &Manifest, arch: &Arch, epoch: i64) -> OciOptions {
    OciOptions {
        epoch,
        compression: match manifest.image.compression {
            CompressionSetting::Gzip => Compression::Gzip,
            CompressionSetting::Zstd => Compression::Zstd,
        },
        arch: arch.clone(),
        layers: manifest.image.layers,
    }
}

/// `build --push`: the layout just written (or a temporary one) pushed to `target`; returns
/// the pushed digest.
fn push_built(
    globals: &Globals,
    lock: &Lock,
    args: &BuildArgs,
    built: &[BuiltImage],
    tag: &str,
    target: &str,
) -> Result<String> {
    let temp;
    let layout = match (&args.output, args.format) {
        (Some(path), OutputFormat::Oci) => path.clone(),
        _ => {
            temp = tempfile::Builder::new()
                .prefix("debless-push-")
                .tempdir()
                .context("creating a temporary layout to push")?;
            let dir = temp.path().join("layout");
            oci::write_oci_layout(&dir, built, tag)?;
            dir
        }
    };
    let mount_from = match &lock.base {
        Some(base) => match super::base::source(&base.name)? {
            crate::registry::ImageSource::Registry(reference) => Some(reference),
            _ => None,
        },
        None => None,
    };
    super::push::push_dir(globals, &layout, target, mount_from.as_ref())
}
