//! What `build`, `check`, `size` and `add --for` share: the lock's inputs read and verified
//! (manifest, lock, .debs, application files) and each architecture's files assembled in
//! memory (packages, essentials or the base under them, alternatives, ld.so.cache), before
//! any layer is written.

use anyhow::{Context as _, Result};

use super::build::BuildArgs;
use super::diagnostics::Diagnostic;
use super::{Globals, status};
use crate::debian::Arch;
use crate::fetch::{self, DebCache, DebRequest, FetchOptions, Progress};
use crate::lock::Lock;
use crate::manifest::{Manifest, MergedUsrSetting};
use crate::oci::{self, ImageSpec};
use crate::repo::{Http, Mirrors};
use crate::rootfs::accounts::Accounts;
use crate::rootfs::{self, MergedUsr, PackageDeb, PathFilter, PathRule, RootfsOptions};

/// What `build`, `check`, `size` and `add` read before assembling any architecture: the
/// manifest, its current lock, the verified .debs and the settings derived from them.
pub(super) struct Inputs {
    pub manifest: Manifest,
    pub lock: Lock,
    debs: DebCache,
    pub app: oci::files::AppInputs,
    essentials: rootfs::essentials::Essentials,
    pub spec: ImageSpec,
    pub epoch: i64,
}

impl Inputs {
    /// Loads the manifest and lock, reads the application's files (before any download, so a
    /// missing one fails fast) and fetches the locked .debs.
    pub fn prepare(globals: &Globals, args: &BuildArgs) -> Result<Self> {
        let manifest = Manifest::load(&globals.manifest)?;
        let lock = load_current_lock(globals, &manifest)?;
        let epoch = image_epoch(&lock)?;
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
        Ok(Self {
            manifest,
            lock,
            debs,
            app,
            essentials,
            spec,
            epoch,
        })
    }
}

/// One architecture's files as the image will hold them, before any layer is written.
pub(super) struct Assembled {
    pub arch: Arch,
    /// The locked packages' tree, with essentials, alternatives and ld.so.cache.
    pub rootfs: rootfs::Rootfs,
    /// The application layer's tree (`[[image.files]]`, `tars`), above the packages.
    pub app: rootfs::Tree,
    /// The pinned base image under both, if the manifest has one.
    pub base: Option<super::base::LoadedBase>,
}

impl Assembled {
    /// The shared-library check of this image: the application, the packages and the base's
    /// files, top first, and its entrypoint; fails with the missing names unless the manifest
    /// allows them, else returns notes to print.
    pub fn check(&self, manifest: &Manifest) -> Result<Vec<String>> {
        let base_tree = self.base_tree();
        let mut layers = vec![&self.app, self.rootfs.tree()];
        layers.extend(base_tree);
        super::check::check_built_layers(manifest, &self.arch, &layers)
    }

    /// The base image's files as one tree (contents included, read once with the base), for
    /// the check and the SBOM's licences.
    pub fn base_tree(&self) -> Option<&rootfs::Tree> {
        self.base.as_ref().map(|base| base.filesystem.tree())
    }
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
    crate::debian::release::of_suite(codename).to_owned()
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

/// Assembles one architecture's files from the verified .debs: the packages (merged /usr as
/// the base or the manifest decides), the essentials (none over a base, which brings its
/// own), the check that nothing overwrites the base, alternatives and ld.so.cache.
pub(super) fn assemble(
    globals: &Globals,
    inputs: &Inputs,
    arch: &Arch,
    spinner: &indicatif::ProgressBar,
) -> Result<Assembled> {
    let (manifest, lock, epoch) = (&inputs.manifest, &inputs.lock, inputs.epoch);
    let package_debs: Vec<PackageDeb> = lock
        .packages_for(arch)
        .map(|p| PackageDeb {
            name: p.name.clone(),
            version: p.version.to_string(),
            arch: p.architecture.clone(),
            path: inputs.debs.path_of(&p.sha256),
        })
        .collect();
    let base = super::base::load(globals, manifest, lock, arch)?;
    let options = RootfsOptions {
        merged_usr: match (&base, manifest.image.merged_usr) {
            // The base decides: never put `lib/` over its `lib -> usr/lib` (issue #5).
            (Some(base), _) if base.filesystem.merged_usr() => MergedUsr::Yes,
            (Some(_), _) => MergedUsr::No,
            (None, MergedUsrSetting::Yes) => MergedUsr::Yes,
            (None, MergedUsrSetting::No) => MergedUsr::No,
            (None, MergedUsrSetting::Auto) => {
                MergedUsr::auto_for_suites(manifest.sources.iter().map(|s| s.suite.as_str()))
            }
        },
        allow_overwrite: manifest.image.allow_overwrite.clone(),
        generated_mtime: epoch,
        path_filter: path_filter(manifest),
    };
    let mut tree = rootfs::assemble(&package_debs, &options)
        .with_context(|| format!("assembling the {arch} root filesystem"))?;
    let mut notices = Vec::new();
    if let Some(base) = &base {
        base.filesystem
            .check_overlay(tree.tree(), &|path| {
                tree.tree()
                    .get(path)
                    .and_then(|node| node.owner)
                    .and_then(|id| tree.packages().get(id))
                    .map_or_else(|| "debless".to_owned(), |p| p.name.clone())
            })
            .map_err(|err| {
                Diagnostic::new(
                    format!("base image `{}` ({arch}): {err}", base.name),
                    "remove the package from `packages` (the base may already have what it ships) or use another base",
                )
            })?;
    } else {
        notices = tree.add_essentials(&inputs.essentials).with_context(|| {
            format!("adding the image essentials to the {arch} root filesystem")
        })?;
    }
    if manifest.image.alternatives {
        notices.extend(
            tree.add_alternatives(epoch)
                .with_context(|| format!("writing the {arch} alternatives' links"))?,
        );
    }
    let libraries = tree
        .add_ld_cache(arch.multiarch_tuple(), epoch)
        .with_context(|| format!("writing the {arch} /etc/ld.so.cache"))?;
    if libraries > 0 {
        notices.push(format!("wrote /etc/ld.so.cache ({arch}, {libraries} libraries): a package adds a library directory in /etc/ld.so.conf.d"));
    }
    for notice in notices {
        spinner.suspend(|| status(globals, format_args!("Note: {notice}")));
    }
    let app = inputs.app.tree(tree.tree(), epoch)?;
    Ok(Assembled {
        arch: arch.clone(),
        rootfs: tree,
        app,
        base,
    })
}

/// The files `build` would put in each architecture's image, assembled in memory from the
/// lock and the cache (downloading what is missing unless `--offline`), without building an
/// image: `debless check` with no argument, `size` and `add --for`.
pub(super) fn assemble_all(
    globals: &Globals,
    args: &BuildArgs,
) -> Result<(Manifest, Vec<Assembled>)> {
    let inputs = Inputs::prepare(globals, args)?;
    let quiet = indicatif::ProgressBar::hidden();
    let assembled = inputs
        .manifest
        .architectures
        .iter()
        .map(|arch| assemble(globals, &inputs, arch, &quiet))
        .collect::<Result<Vec<_>>>()?;
    Ok((inputs.manifest, assembled))
}

/// A spinner with a message on a terminal (extraction and layer writing have no byte count
/// worth showing); hidden otherwise.
pub(super) fn spinner(globals: &Globals, message: String) -> indicatif::ProgressBar {
    if !interactive(globals) {
        return indicatif::ProgressBar::hidden();
    }
    let spinner = indicatif::ProgressBar::new_spinner().with_message(message);
    spinner.enable_steady_tick(std::time::Duration::from_millis(100));
    spinner
}
