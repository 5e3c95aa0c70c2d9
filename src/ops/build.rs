//! The build operation: `debless.lock` → verified `.deb` files → rootfs → OCI image.
//!
//! The lock is the whole truth: no index is read and nothing is resolved here. The lock is
//! written only when asked ([`BuildOptions::record`]): a plain build compares its digests with
//! the recorded ones and reports the layers that differ, so the reference moves only when a
//! person or a pipeline says so.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::assemble::{AssembleOptions, Assembled, Inputs, assemble, load_current_lock};
use super::error::Context as _;
use super::image_cache::{self, ImageEntry, RecipeOptions, Recorder};
use super::output::{Output, OutputFormat, check_destinations};
use super::size::SizeReport;
use super::{Error, Progress, Project};
use crate::debian::Arch;
use crate::env::Settings;
use crate::lock::{Lock, RecordedImage};
use crate::manifest::{CompressionSetting, Manifest, SbomSetting};
use crate::oci::{self, BuiltImage, Compression, LayerCache, OciOptions};
use crate::sbom::{BaseInput, Sbom, SbomFormat};

/// How to build.
#[derive(Clone, Debug, Default)]
pub struct BuildOptions {
    /// Where the `.deb` files come from.
    pub fetch: AssembleOptions,
    /// Where to write the image; `None` builds it in a temporary store only.
    pub output: Option<Output>,
    /// Replace an existing archive at `output`.
    pub force: bool,
    /// Also write the image's files as a directory tree (one subdirectory per architecture
    /// when the manifest has several).
    pub rootfs: Option<PathBuf>,
    /// The image reference recorded in the layout or archive [default: `image.tag`, else
    /// `latest`].
    pub tag: Option<String>,
    /// Fail unless the digests equal those recorded in the lock.
    pub verify: bool,
    /// Record the built digests in the lock's image section.
    pub record: bool,
    /// Measure what each package adds (`BuiltArch::report`).
    pub report: bool,
    /// SBOM formats [default: the manifest's `image.sbom`].
    pub sbom: Option<SbomSetting>,
    /// Skip the shared-library check.
    pub no_check: bool,
    /// Push the image to this registry reference.
    pub push: Option<String>,
    /// Build without the layer cache (neither read nor written). `verify` never reads it.
    pub no_cache: bool,
    /// The layer format version the cache keys carry [default:
    /// [`oci::layer_cache::FORMAT_VERSION`]]; tests set another to see entries invalidated.
    pub cache_format: Option<u32>,
}

/// One architecture's image.
pub struct BuiltArch {
    pub arch: Arch,
    /// How many packages it holds.
    pub packages: usize,
    pub image: BuiltImage,
    /// With [`BuildOptions::report`].
    pub report: Option<SizeReport>,
    /// The SBOM documents stored in the image (copied beside `--output`).
    pub sboms: Vec<(SbomFormat, String)>,
    /// How the layer cache served this image.
    pub cache: CacheUse,
}

/// How the layer cache served one architecture's image.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CacheUse {
    /// The whole image came from the cache: no `.deb` was extracted, no layer compressed.
    pub image: bool,
    /// Layers taken from the cache (verified).
    pub reused: usize,
    /// Layers this build compressed.
    pub built: usize,
}

/// How the built digests compare with those recorded in the lock.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Recorded {
    /// The lock records no digests.
    Nothing,
    /// Every architecture's digest equals the recorded one.
    Same,
    /// Some architecture differs; one line each, naming the layers.
    Differs(Vec<String>),
}

/// What a build made.
pub struct Built {
    /// One image per architecture, in manifest order.
    pub images: Vec<BuiltArch>,
    /// The tag written into the layout or archive.
    pub tag: String,
    /// The top digest of what was written to `output` (the index for several architectures).
    pub digest: Option<String>,
    /// The comparison with the lock's recorded digests (before recording).
    pub recorded: Recorded,
    /// Whether the lock was rewritten with the new digests ([`BuildOptions::record`]).
    pub lock_written: bool,
    /// SBOM files written beside `output`.
    pub sbom_files: Vec<PathBuf>,
    /// What was pushed, with [`BuildOptions::push`].
    pub pushed: Option<super::push::Pushed>,
}

/// Builds the project's locked image.
pub fn build(
    project: &Project,
    settings: &Settings,
    options: &BuildOptions,
    progress: &dyn Progress,
) -> Result<Built, Error> {
    // Before any download: a bad destination fails at once, naming the path as given.
    check_destinations(
        options.output.as_ref(),
        options.rootfs.as_deref(),
        options.force,
    )?;
    // The manifest and lock once before `Inputs::prepare`: whether the layer cache holds every
    // image decides whether the packages are read while they are verified.
    let manifest = project.load_manifest()?;
    let lock = load_current_lock(project, &manifest)?;
    let sbom_formats = sbom_formats(options, &manifest);
    let sbom_name = options
        .tag
        .clone()
        .or_else(|| manifest.image.tag.clone())
        .unwrap_or_else(|| "debless-image".to_owned());
    // `--verify` proves the .debs still give the recorded image: it never reads the cache.
    let cache = (!options.no_cache && !options.verify).then(|| {
        LayerCache::new(
            &settings.cache_dir,
            options
                .cache_format
                .unwrap_or(oci::layer_cache::FORMAT_VERSION),
        )
    });
    let recipe = RecipeOptions {
        source_date_epoch: settings.source_date_epoch.as_deref(),
        sbom_formats: &sbom_formats,
        sbom_name: &sbom_name,
        no_check: options.no_check,
    };
    let mut keys = Vec::new();
    let mut entries = Vec::new();
    for arch in &manifest.architectures {
        // A key that cannot be computed (an application file missing) only means no cache:
        // the build reports the problem itself.
        let key = cache.as_ref().and_then(|cache| {
            image_cache::recipe_key(cache, project, (&manifest, &lock), arch, &recipe).ok()
        });
        // `--rootfs` and `--report` need the files: those builds run in full.
        let entry = match (&cache, &key) {
            (Some(cache), Some(key)) if options.rootfs.is_none() && !options.report => {
                ImageEntry::load(cache, key).filter(|e| e.sboms.len() == sbom_formats.len())
            }
            _ => None,
        };
        keys.push(key);
        entries.push(entry);
    }
    let fetch = AssembleOptions {
        read_while_fetching: options.fetch.read_while_fetching
            && entries.iter().any(Option::is_none),
        ..options.fetch.clone()
    };
    let inputs = Inputs::prepare(project, settings, &fetch, progress)?;
    let plan = Plan {
        options,
        inputs: &inputs,
        sbom_formats,
        sbom_name,
        progress,
        cache: cache.as_ref(),
    };
    let manifest = &inputs.manifest;
    let images = manifest
        .architectures
        .iter()
        .zip(keys)
        .zip(entries)
        .map(|((arch, key), entry)| {
            let hit = match (plan.cache, entry) {
                (Some(cache), Some(entry)) => plan.take_cached(cache, entry, arch)?,
                _ => None,
            };
            match hit {
                Some(built) => Ok(built),
                None => plan.build(arch, key.as_deref()),
            }
        })
        .collect::<Result<Vec<_>, Error>>()?;

    let built_digests: BTreeMap<String, RecordedImage> = images
        .iter()
        .map(|built| (built.arch.as_str().to_owned(), recorded_image(&built.image)))
        .collect();
    let lock = &inputs.lock;
    let recorded = compare(
        lock,
        &built_digests,
        &images,
        options.output.as_ref().map(|o| o.path.as_path()),
    )?;
    if options.verify {
        match &recorded {
            Recorded::Same => {}
            Recorded::Nothing => {
                return Err(Error::input(
                    "--verify: debless.lock records no image digests yet",
                    "run `debless build --record` once, commit the lock, then verify",
                ));
            }
            Recorded::Differs(problems) => {
                let hint = if options
                    .output
                    .as_ref()
                    .is_some_and(|o| o.path.join("index.json").is_file())
                {
                    "the build is not reproducing the recorded image; compare the inputs named above"
                } else {
                    "pass `--output DIR` holding the recorded build to list the files that differ"
                };
                return Err(Error::input(
                    format!(
                        "the rebuilt image differs from debless.lock: {}",
                        problems.join("; ")
                    ),
                    hint,
                ));
            }
        }
    }

    let tag = options
        .tag
        .clone()
        .or_else(|| manifest.image.tag.clone())
        .unwrap_or_else(|| "latest".to_owned());
    let built: Vec<BuiltImage> = images.iter().map(|built| built.image.clone()).collect();
    let digest = match &options.output {
        None => None,
        Some(Output { path, format }) => Some(
            match format {
                OutputFormat::Oci => oci::write_oci_layout(path, &built, &tag)?,
                OutputFormat::OciArchive => oci::write_oci_archive(path, &built, &tag)?,
                OutputFormat::DockerArchive => oci::write_docker_archive(path, &built, &tag)?,
            }
            .as_str()
            .to_owned(),
        ),
    };
    let lock_written = if options.record && lock.images != built_digests {
        let mut recorded = lock.clone();
        recorded.images = built_digests;
        recorded.write_if_changed(&project.lock)?
    } else {
        false
    };
    let sbom_files = match &options.output {
        Some(output) => write_sboms_beside(&output.path, &images)?,
        None => Vec::new(),
    };
    let pushed = match &options.push {
        Some(target) => Some(push_built(
            settings, manifest, lock, options, &built, &tag, target,
        )?),
        None => None,
    };
    Ok(Built {
        images,
        tag,
        digest,
        recorded,
        lock_written,
        sbom_files,
        pushed,
    })
}

/// What every architecture's build shares.
struct Plan<'a> {
    options: &'a BuildOptions,
    inputs: &'a Inputs,
    /// SBOM documents to write into each image and beside `--output`.
    sbom_formats: Vec<SbomFormat>,
    /// The image name SBOMs carry (the tag, else `debless-image`).
    sbom_name: String,
    progress: &'a dyn Progress,
    /// The layer cache, unless disabled.
    cache: Option<&'a LayerCache>,
}

impl Plan<'_> {
    /// `arch`'s image from its cache entry (every layer blob verified), the entry's messages
    /// replayed; `None` when a blob is missing or damaged.
    fn take_cached(
        &self,
        cache: &LayerCache,
        entry: ImageEntry,
        arch: &Arch,
    ) -> Result<Option<BuiltArch>, Error> {
        let progress = self.progress;
        let image = entry.image(cache)?;
        for warning in &cache.take_stats().warnings {
            progress.status(&format!("warning: {warning}"));
        }
        let Some(image) = image else {
            return Ok(None);
        };
        progress.step(&format!("taking the {arch} image from the layer cache"));
        image_cache::replay(&entry.messages, progress);
        progress.step_done();
        Ok(Some(BuiltArch {
            arch: arch.clone(),
            packages: entry.packages,
            cache: CacheUse {
                image: true,
                reused: image.layers.len(),
                built: 0,
            },
            image,
            report: None,
            sboms: self.sbom_formats.iter().copied().zip(entry.sboms).collect(),
        }))
    }

    /// Assembles one architecture's files, checks its shared libraries, writes it to
    /// `--rootfs` when asked, and builds its image layers.
    /// With a cache and the recipe's `key`, takes unchanged layers from the cache and stores
    /// the image's entry.
    fn build(&self, arch: &Arch, key: Option<&str>) -> Result<BuiltArch, Error> {
        let (options, inputs) = (self.options, self.inputs);
        let recorder = Recorder {
            inner: self.progress,
            messages: std::sync::Mutex::new(Vec::new()),
        };
        let progress: &dyn Progress = &recorder;
        let manifest = &inputs.manifest;
        progress.step(&format!("extracting the {arch} packages"));
        let mut assembled = assemble(inputs, arch, progress)?;
        let epoch = assembled.epoch;
        if !options.no_check {
            progress.step(&format!("checking the {arch} shared libraries"));
            for line in super::check::check_built_layers(manifest, arch, &assembled.layers())? {
                progress.status(&line);
            }
        }
        let sboms = self.add_sboms(&mut assembled)?;
        let tree = &mut assembled.rootfs;
        progress.step(&format!("writing the {arch} layers"));
        if let Some(dir) = &options.rootfs {
            let dir = if manifest.architectures.len() > 1 {
                dir.join(arch.as_str())
            } else {
                dir.clone()
            };
            let app = assembled.app_inputs.tree(tree.tree(), epoch)?;
            match &assembled.base {
                // The whole image: the base's files under the packages and the application's.
                Some(base) => tree.write_to_dir_over(base.filesystem.tree(), &app, &dir)?,
                None => tree.write_to_dir_with(&app, &dir)?,
            }
        }
        let oci_options = oci_options(manifest, arch, epoch);
        let mut image = oci::files::build_image_with_app(
            tree,
            &assembled.app_inputs,
            &inputs.spec,
            &oci_options,
            self.cache,
        )?;
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
                &oci_options,
            )?;
        }
        let report = if options.report {
            Some(
                SizeReport::measure(arch.as_str(), tree, &image)
                    .context_with(|| format!("measuring the {arch} image"))?,
            )
        } else {
            None
        };
        progress.step_done();
        let packages = tree.packages().len();
        let cache = match (self.cache, key) {
            (Some(cache), Some(key)) => {
                let texts = sboms.iter().map(|(_, text)| text.clone()).collect();
                let entry = ImageEntry::new(&image, packages, recorder.take(), texts)?;
                if let Err(err) = entry.store(cache, key, &image) {
                    progress.status(&format!(
                        "warning: cannot keep the {arch} image in the layer cache: {err}"
                    ));
                }
                let stats = cache.take_stats();
                for warning in &stats.warnings {
                    progress.status(&format!("warning: {warning}"));
                }
                CacheUse {
                    image: false,
                    reused: stats.reused,
                    built: stats.built,
                }
            }
            _ => CacheUse::default(),
        };
        Ok(BuiltArch {
            arch: arch.clone(),
            packages,
            image,
            report,
            sboms,
            cache,
        })
    }

    /// Describes the image's packages in each asked SBOM format and stores the documents
    /// in the tree (after the essentials, so the licences are read from the final tree).
    fn add_sboms(&self, assembled: &mut Assembled) -> Result<Vec<(SbomFormat, String)>, Error> {
        if self.sbom_formats.is_empty() {
            return Ok(Vec::new());
        }
        let arch = &assembled.arch;
        let epoch = assembled.epoch;
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
            epoch,
            &archive_urls,
            base.as_ref(),
        );
        let tree = &mut assembled.rootfs;
        let mut documents = Vec::new();
        for &format in &self.sbom_formats {
            let text = format.render(&sbom);
            tree.add_generated_file(format.image_path(), text.clone().into_bytes(), epoch)
                .context_with(|| format!("storing the {arch} SBOM in the image"))?;
            documents.push((format, text));
        }
        Ok(documents)
    }
}

/// The asked SBOM setting, else `[image] sbom`, as the formats to write.
fn sbom_formats(options: &BuildOptions, manifest: &Manifest) -> Vec<SbomFormat> {
    match options.sbom.unwrap_or(manifest.image.sbom) {
        SbomSetting::None => vec![],
        SbomSetting::Spdx => vec![SbomFormat::Spdx],
        SbomSetting::CycloneDx => vec![SbomFormat::CycloneDx],
        SbomSetting::Both => vec![SbomFormat::Spdx, SbomFormat::CycloneDx],
    }
}

/// Copies each image's SBOMs beside `output`: `PATH.spdx.json`, `PATH.cdx.json`, with the
/// architecture before the suffix when the manifest has several.
fn write_sboms_beside(output: &Path, images: &[BuiltArch]) -> Result<Vec<PathBuf>, Error> {
    let several = images.len() > 1;
    let mut written = Vec::new();
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
            written.push(path);
        }
    }
    Ok(written)
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

/// Why an image whose layers hold the files recorded (same diff_ids) has another manifest:
/// its config differs, or its layers compress to other bytes (another `compression`, or a
/// debless whose compressor changed). The recorded build's layout, when given, tells which.
fn same_files_reason(
    recorded: Option<&[oci::inspect::LayerBlob]>,
    built: &[oci::LayerDescriptor],
) -> &'static str {
    match recorded {
        Some(old) if old.len() == built.len() => {
            let same_blobs = old
                .iter()
                .zip(built)
                .all(|(old, new)| old.path.ends_with(new.digest.hex()));
            if same_blobs {
                "; every layer is identical, so the image config differs (the [image] table or SOURCE_DATE_EPOCH)"
            } else {
                "; every layer holds the recorded files but compresses to other bytes (another `compression`, or a debless version whose compressor writes other bytes)"
            }
        }
        _ => {
            "; every layer holds the recorded files, so the image config differs (the [image] table or SOURCE_DATE_EPOCH) or the layers compress to other bytes (another `compression`, or another debless version)"
        }
    }
}

/// Compares the built digests with the recorded ones, naming per architecture the layers
/// that differ (index and digest) and, when `previous` is the layout of the recorded build,
/// the files.
fn compare(
    lock: &Lock,
    built: &BTreeMap<String, RecordedImage>,
    images: &[BuiltArch],
    previous: Option<&Path>,
) -> Result<Recorded, Error> {
    if lock.images.is_empty() {
        return Ok(Recorded::Nothing);
    }
    let mut problems = Vec::new();
    for BuiltArch { arch, image, .. } in images {
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
        let old_layers =
            previous.and_then(|dir| oci::inspect::manifest_layers(dir, &recorded.manifest));
        if changed.is_empty() {
            what.push_str(same_files_reason(old_layers.as_deref(), &image.layers));
        }
        for i in changed {
            what.push_str(&format!(
                "; layer {} of {} differs",
                i + 1,
                now.layers.len()
            ));
            let digests = format!(
                " (recorded {}, built {})",
                recorded.layers.get(i).map_or("none", String::as_str),
                now.layers.get(i).map_or("none", String::as_str),
            );
            let (Some(old), Some(new)) = (
                old_layers.as_ref().and_then(|l| l.get(i)),
                image.layers.get(i),
            ) else {
                what.push_str(&digests);
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
            what.push_str(&format!(": {}{digests}", files.join(", ")));
        }
        problems.push(what);
    }
    Ok(if problems.is_empty() {
        Recorded::Same
    } else {
        Recorded::Differs(problems)
    })
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

/// `push`: the layout just written (or a temporary one) pushed to `target`.
fn push_built(
    settings: &Settings,
    manifest: &Manifest,
    lock: &Lock,
    options: &BuildOptions,
    built: &[BuiltImage],
    tag: &str,
    target: &str,
) -> Result<super::push::Pushed, Error> {
    let temp;
    let layout = match &options.output {
        Some(Output {
            path,
            format: OutputFormat::Oci,
        }) => path.clone(),
        _ => {
            temp = crate::cleanup::temp_dir("debless-push-")
                .context_with(|| "creating a temporary layout to push".to_owned())?;
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
    super::push::push(
        settings,
        Some(manifest),
        &layout,
        target,
        mount_from.as_ref(),
    )
}
