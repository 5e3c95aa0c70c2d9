//! `debless build`: `debless.lock` → verified `.deb` files → rootfs → OCI image.
//!
//! The lock is the whole truth: no index is read and nothing is resolved here.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context as _, Result};

use super::diagnostics::Diagnostic;
use super::size::SizeReport;
use super::{Globals, status};
use crate::debian::Arch;
use crate::fetch::{self, DebCache, DebRequest, FetchOptions, Progress};
use crate::lock::{Lock, RecordedImage};
use crate::manifest::{CompressionSetting, Manifest, MergedUsrSetting};
use crate::oci::{self, BuiltImage, Compression, ImageSpec, OciOptions};
use crate::repo::{Http, Mirrors};
use crate::rootfs::accounts::Accounts;
use crate::rootfs::{self, MergedUsr, PackageDeb, PathFilter, PathRule, RootfsOptions};

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
    /// Skip the shared-library check (by default the build fails when an ELF file of the
    /// image needs a library or loader the image lacks; see `debless check`).
    #[arg(long)]
    pub no_check: bool,
}

/// Runs `debless build`.
pub fn run(globals: &Globals, args: &BuildArgs) -> Result<()> {
    let started = Instant::now();
    let manifest = Manifest::load(&globals.manifest)?;
    let lock = load_current_lock(globals, &manifest)?;
    let epoch = image_epoch(&lock)?;
    // Read the application's files before any download, so a missing one fails fast.
    let app = oci::files::AppInputs::load(&manifest.image.files, &manifest.image.tars, epoch)?;
    let debs = fetch_debs(globals, args, &manifest, &lock)?;
    let accounts = image_accounts(&manifest)?;
    let essentials = rootfs::essentials::Essentials {
        accounts: accounts.clone(),
        timezone: manifest.image.timezone.clone(),
        codename: lock.sources.first().map(|s| release_codename(&s.codename)),
        mtime: epoch,
    };
    let mut spec = image_spec(&manifest);
    if let Some(user) = &manifest.image.user {
        spec.user = Some(Accounts::resolve_user(accounts.as_ref(), user).map_err(|err| {
            Diagnostic::new(
                err.to_string(),
                "name a user from /etc/passwd (root, nobody, nonroot or an [[image.users]] entry) or give numeric ids",
            )
        })?);
    }

    let plan = Plan {
        globals,
        args,
        manifest: &manifest,
        lock: &lock,
        debs: &debs,
        app: &app,
        essentials: &essentials,
        spec: &spec,
        epoch,
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
        verify(&lock, &built_digests, &images, args.output.as_deref())?;
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
    manifest: &'a Manifest,
    lock: &'a Lock,
    debs: &'a DebCache,
    app: &'a oci::files::AppInputs,
    essentials: &'a rootfs::essentials::Essentials,
    spec: &'a ImageSpec,
    epoch: i64,
}

/// One architecture's image, with what the summary and `--report` say about it.
struct ArchImage {
    arch: Arch,
    packages: usize,
    image: BuiltImage,
    report: Option<SizeReport>,
}

impl Plan<'_> {
    /// Assembles one architecture's root filesystem (packages, essentials, filters), writes
    /// it to `--rootfs` when asked, and builds its image layers.
    fn build(&self, arch: &Arch) -> Result<ArchImage> {
        let (globals, args, manifest, epoch) = (self.globals, self.args, self.manifest, self.epoch);
        let package_debs: Vec<PackageDeb> = self
            .lock
            .packages_for(arch)
            .map(|p| PackageDeb {
                name: p.name.clone(),
                version: p.version.to_string(),
                arch: p.architecture.clone(),
                path: self.debs.path_of(&p.sha256),
            })
            .collect();
        let options = RootfsOptions {
            merged_usr: match manifest.image.merged_usr {
                MergedUsrSetting::Yes => MergedUsr::Yes,
                MergedUsrSetting::No => MergedUsr::No,
                MergedUsrSetting::Auto => MergedUsr::Auto,
            },
            allow_overwrite: manifest.image.allow_overwrite.clone(),
            generated_mtime: epoch,
            path_filter: path_filter(manifest),
        };
        let spinner = spinner(
            globals,
            format!("extracting {} packages ({arch})", package_debs.len()),
        );
        let mut tree = rootfs::assemble(&package_debs, &options)
            .with_context(|| format!("assembling the {arch} root filesystem"))?;
        let notices = tree.add_essentials(self.essentials).with_context(|| {
            format!("adding the image essentials to the {arch} root filesystem")
        })?;
        for notice in notices {
            spinner.suspend(|| status(globals, format_args!("Note: {notice}")));
        }
        if !args.no_check {
            spinner.set_message(format!("checking the {arch} shared libraries"));
            let app_tree = self.app.tree(tree.tree(), epoch)?;
            let allowed = super::check::check_built_tree(manifest, arch, tree.tree(), &app_tree)?;
            if !allowed.is_empty() {
                spinner.suspend(|| {
                    status(
                        globals,
                        format_args!(
                            "Note: {arch}: missing but allowed by `allow-missing-libraries`: {}",
                            allowed.join(", ")
                        ),
                    );
                });
            }
        }
        spinner.set_message(format!("writing the {arch} layers"));
        if let Some(dir) = &args.rootfs {
            let dir = if manifest.architectures.len() > 1 {
                dir.join(arch.as_str())
            } else {
                dir.clone()
            };
            tree.write_to_dir_with(&self.app.tree(tree.tree(), epoch)?, &dir)?;
        }
        let image = oci::files::build_image_with_app(
            &tree,
            self.app,
            self.spec,
            &oci_options(manifest, arch, epoch),
        )?;
        let report = if args.report {
            Some(
                SizeReport::measure(arch.as_str(), &tree, &image)
                    .with_context(|| format!("measuring the {arch} image"))?,
            )
        } else {
            None
        };
        spinner.finish_and_clear();
        Ok(ArchImage {
            arch: arch.clone(),
            packages: package_debs.len(),
            image,
            report,
        })
    }
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

/// The lock beside the manifest, refused when missing or out of date (exit 3).
fn load_current_lock(globals: &Globals, manifest: &Manifest) -> Result<Lock> {
    let lock_path = globals.lock_path();
    let Some(lock) = Lock::load(&lock_path)? else {
        return Err(Diagnostic::outdated(
            format!("`{}` does not exist", lock_path.display()),
            "run `debless lock` first: build reads only the lock",
        )
        .into());
    };
    if let Some(stale) = lock.staleness(manifest) {
        return Err(Diagnostic::outdated(
            format!(
                "`{}` does not match the manifest: {stale}",
                lock_path.display()
            ),
            "run `debless lock` to update the lock, then build again",
        )
        .into());
    }
    Ok(lock)
}

/// `SOURCE_DATE_EPOCH` if set, else the newest locked Release date: the same lock gives the
/// same image on any day.
fn image_epoch(lock: &Lock) -> Result<i64> {
    match crate::env::var(crate::env::SOURCE_DATE_EPOCH) {
        Some(text) => text.trim().parse().map_err(|_| {
            Diagnostic::new(
                format!("SOURCE_DATE_EPOCH=`{text}` is not a number of seconds"),
                "set it to a Unix timestamp such as `$(git log -1 --format=%ct)`",
            )
            .into()
        }),
        None => Ok(lock.newest_release_date()),
    }
}

/// Downloads (or finds in the cache) every locked `.deb` of every architecture.
fn fetch_debs(
    globals: &Globals,
    args: &BuildArgs,
    manifest: &Manifest,
    lock: &Lock,
) -> Result<DebCache> {
    let cache = DebCache::new(&globals.cache_dir());
    let mirrors = if args.offline || manifest.sources.iter().all(|s| s.url.is_some()) {
        None
    } else {
        match Mirrors::discover() {
            Ok(mirrors) => Some(mirrors),
            Err(_) if !args.mirrors.is_empty() => None,
            Err(err) => {
                return Err(Diagnostic::new(
                    err.to_string(),
                    "set DEBLESS_MIRROR=http://<host>/debian, pass --mirror URL, or build --offline from the cache",
                )
                .into());
            }
        }
    };
    let roots_for = |suite: &str| -> Vec<String> {
        let mut roots = Vec::new();
        if let Some(source) = manifest.sources.iter().find(|s| s.suite == suite) {
            if let Some(url) = &source.url {
                roots.push(url.clone());
            } else if let Some(root) = mirrors.as_ref().and_then(|m| m.root_for(suite).ok()) {
                roots.push(root.to_owned());
            }
        }
        roots.extend(
            args.mirrors
                .iter()
                .map(|m| m.trim_end_matches('/').to_owned()),
        );
        roots
    };
    let mut requests: Vec<DebRequest> = Vec::new();
    for package in &lock.packages {
        if requests.iter().any(|r| r.sha256 == package.sha256) {
            continue;
        }
        requests.push(DebRequest {
            label: format!(
                "{} {} {}",
                package.name, package.version, package.architecture
            ),
            path: package.path.clone(),
            size: package.size,
            sha256: package.sha256.clone(),
            roots: roots_for(&package.suite),
        });
    }
    let http = Http::new()?;
    let total: u64 = requests.iter().map(|r| r.size).sum();
    let bar = progress_bar(globals, total);
    let on_progress = |event: Progress<'_>| {
        let (verb, label, bytes) = match event {
            Progress::Cached { label, bytes } => ("cached", label, bytes),
            Progress::Downloaded { label, bytes } => ("downloaded", label, bytes),
        };
        bar.inc(bytes);
        if globals.verbose {
            bar.suspend(|| eprintln!("  {verb} {label} ({bytes} bytes)"));
        }
    };
    let options = FetchOptions {
        offline: args.offline,
        jobs: args.jobs,
    };
    let result = fetch::fetch_all(&requests, &cache, &http, options, &on_progress);
    bar.finish_and_clear();
    let paths = result.map_err(|err| match &err {
        fetch::FetchError::NotCached { .. } => anyhow::Error::new(Diagnostic::new(
            err.to_string(),
            "run `debless build` once without --offline to fill the cache",
        )),
        _ => anyhow::Error::new(err),
    })?;
    status(
        globals,
        format_args!(
            "Fetched {} packages ({:.1} MB) into {}",
            paths.len(),
            total as f64 / 1e6,
            globals.cache_dir().display()
        ),
    );
    Ok(cache)
}

/// A byte progress bar on a terminal; hidden otherwise (the summary line says the rest).
fn progress_bar(globals: &Globals, total: u64) -> indicatif::ProgressBar {
    if !interactive(globals) {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::new(total);
    if let Ok(style) = indicatif::ProgressStyle::with_template(
        "{spinner} fetching {bytes}/{total_bytes} [{bar:30}] {bytes_per_sec}",
    ) {
        bar.set_style(style.progress_chars("=> "));
    }
    bar
}

/// Progress is drawn only for a person watching stderr.
fn interactive(globals: &Globals) -> bool {
    use std::io::IsTerminal as _;
    !globals.quiet && std::io::stderr().is_terminal()
}

/// A spinner with a message on a terminal (extraction and layer writing have no byte count
/// worth showing); hidden otherwise.
fn spinner(globals: &Globals, message: String) -> indicatif::ProgressBar {
    if !interactive(globals) {
        return indicatif::ProgressBar::hidden();
    }
    let spinner = indicatif::ProgressBar::new_spinner().with_message(message);
    spinner.enable_steady_tick(std::time::Duration::from_millis(100));
    spinner
}

/// The manifest's path rules (preset, excludes, includes) as the rootfs filter.
fn path_filter(manifest: &Manifest) -> PathFilter {
    let rules = manifest
        .image
        .path_rules()
        .into_iter()
        .map(|(include, pattern)| PathRule { include, pattern })
        .collect();
    PathFilter::new(rules)
}

/// The accounts `[image]` asks for, or `None` with `accounts = false`.
fn image_accounts(manifest: &Manifest) -> Result<Option<Accounts>> {
    let setting = &manifest.image.accounts;
    if !setting.enabled {
        return Ok(None);
    }
    let accounts = Accounts::with_manifest(&setting.users, &setting.groups).map_err(|err| {
        Diagnostic::new(
            err.to_string(),
            "distroless' accounts are root (0), nobody (65534) and nonroot (65532); pick other names and ids",
        )
    })?;
    Ok(Some(accounts))
}

/// `bookworm-security` -> `bookworm`: the release an os-release describes.
fn release_codename(codename: &str) -> String {
    codename
        .split_once('-')
        .map_or(codename, |(release, _)| release)
        .to_owned()
}

fn image_spec(manifest: &Manifest) -> ImageSpec {
    let image = &manifest.image;
    let mut spec = ImageSpec {
        entrypoint: image.entrypoint.clone(),
        cmd: image.cmd.clone(),
        user: image.user.clone(),
        workdir: image.workdir.clone(),
        labels: image.labels.clone(),
        annotations: image.annotations.clone(),
        ..ImageSpec::default()
    };
    for (key, value) in &image.env {
        spec.env
            .retain(|kv| kv.split('=').next() != Some(key.as_str()));
        spec.env.push(format!("{key}={value}"));
    }
    spec
}

fn oci_options(manifest: &Manifest, arch: &Arch, epoch: i64) -> OciOptions {
    OciOptions {
        epoch,
        compression: match manifest.image.compression {
            CompressionSetting::Gzip => Compression::Gzip,
            CompressionSetting::Zstd => Compression::Zstd,
        },
        arch: arch.clone(),
        layers: 1,
    }
}

/// One architecture's packages tree and the application layer's tree over it.
pub(super) type ArchTrees = (Arch, rootfs::Rootfs, rootfs::Tree);

/// The root filesystems `build` would write, one per architecture, with the application
/// layer's tree, assembled in memory from the lock and the cache (downloading what is missing
/// unless `--offline`), without building an image: `debless check` with no argument.
pub(super) fn assemble_trees(
    globals: &Globals,
    args: &BuildArgs,
) -> Result<(Manifest, Vec<ArchTrees>)> {
    let manifest = Manifest::load(&globals.manifest)?;
    let lock = load_current_lock(globals, &manifest)?;
    let epoch = image_epoch(&lock)?;
    let app = oci::files::AppInputs::load(&manifest.image.files, &manifest.image.tars, epoch)?;
    let debs = fetch_debs(globals, args, &manifest, &lock)?;
    let essentials = rootfs::essentials::Essentials {
        accounts: image_accounts(&manifest)?,
        timezone: manifest.image.timezone.clone(),
        codename: lock.sources.first().map(|s| release_codename(&s.codename)),
        mtime: epoch,
    };
    let options = RootfsOptions {
        merged_usr: match manifest.image.merged_usr {
            MergedUsrSetting::Yes => MergedUsr::Yes,
            MergedUsrSetting::No => MergedUsr::No,
            MergedUsrSetting::Auto => MergedUsr::Auto,
        },
        allow_overwrite: manifest.image.allow_overwrite.clone(),
        generated_mtime: epoch,
        path_filter: path_filter(&manifest),
    };
    let mut trees = Vec::new();
    for arch in &manifest.architectures {
        let package_debs: Vec<PackageDeb> = lock
            .packages_for(arch)
            .map(|p| PackageDeb {
                name: p.name.clone(),
                version: p.version.to_string(),
                arch: p.architecture.clone(),
                path: debs.path_of(&p.sha256),
            })
            .collect();
        let mut tree = rootfs::assemble(&package_debs, &options)
            .with_context(|| format!("assembling the {arch} root filesystem"))?;
        tree.add_essentials(&essentials).with_context(|| {
            format!("adding the image essentials to the {arch} root filesystem")
        })?;
        let app_tree = app.tree(tree.tree(), epoch)?;
        trees.push((arch.clone(), tree, app_tree));
    }
    Ok((manifest, trees))
}
