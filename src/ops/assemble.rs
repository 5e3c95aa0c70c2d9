//! What `build`, `check`, `size` and `add --for` share: the lock's inputs read and verified
//! (manifest, lock, .debs, application files) and each architecture's files assembled in
//! memory (packages, essentials or the base under them, alternatives, ld.so.cache), before
//! any layer is written.
//!
//! The image epoch (every generated file's mtime, the config's `created`) is
//! `SOURCE_DATE_EPOCH` when set, else the newest mtime among the architecture's locked
//! packages' data.tar entries: it depends only on what goes into the image, so a re-lock that
//! moves no package keeps the digest.

use super::error::Context as _;
use super::{Error, Progress, Project};
use crate::deb::SpillFile;
use crate::debian::Arch;
use crate::env::Settings;
use crate::fetch::{self, DebCache, DebRequest, FetchOptions};
use crate::lock::Lock;
use crate::manifest::{Manifest, MergedUsrSetting};
use crate::oci::{self, ImageSpec};
use crate::repo::Http;
use crate::rootfs::accounts::Accounts;
use crate::rootfs::{
    self, ExtractedDeb, MergedUsr, PackageDeb, PathFilter, PathRule, RootfsOptions,
};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

/// How to get the locked `.deb` files.
#[derive(Clone, Debug)]
pub struct AssembleOptions {
    /// Use only the cache; fail listing the packages that are not in it.
    pub offline: bool,
    /// Archive roots to try, in order, after the manifest's mirror.
    pub mirrors: Vec<String>,
    /// Downloads at once.
    pub jobs: usize,
    /// Read each package as soon as it is verified, overlapping the downloads [default:
    /// true]; `build` turns it off when its layer cache holds every image, which reads none.
    pub read_while_fetching: bool,
}

impl Default for AssembleOptions {
    fn default() -> Self {
        AssembleOptions {
            offline: false,
            mirrors: Vec::new(),
            jobs: 8,
            read_while_fetching: true,
        }
    }
}

/// What `build`, `check`, `size` and `add` read before assembling any architecture: the
/// manifest, its current lock, the verified .debs and the settings derived from them.
pub struct Inputs {
    pub manifest: Manifest,
    pub lock: Lock,
    debs: DebCache,
    /// The build's scratch file for large files' bytes (`None` with no package to read).
    scratch: Option<Arc<SpillFile>>,
    /// The packages read while the others were downloading, by sha256 (see [`fetch_debs`]).
    extracted: Mutex<BTreeMap<String, ExtractedDeb>>,
    accounts: Option<Accounts>,
    pub spec: ImageSpec,
    /// `SOURCE_DATE_EPOCH`, parsed; `None`: each architecture's packages decide.
    pub source_date_epoch: Option<i64>,
    settings: Settings,
}

impl Inputs {
    /// Loads the manifest and lock, reads the application's files (before any download, so a
    /// missing one fails fast) and fetches the locked .debs.
    pub fn prepare(
        project: &Project,
        settings: &Settings,
        options: &AssembleOptions,
        progress: &dyn Progress,
    ) -> Result<Self, Error> {
        let manifest = project.load_manifest()?;
        let lock = load_current_lock(project, &manifest)?;
        let source_date_epoch = parse_epoch(settings.source_date_epoch.as_deref())?;
        oci::files::AppInputs::load(&manifest.image.files, &manifest.image.tars, 0)?;
        let (debs, scratch, extracted) = fetch_debs(settings, options, &manifest, &lock, progress)?;
        let accounts = image_accounts(&manifest)?;
        let mut spec = image_spec(&manifest);
        if let Some(user) = &manifest.image.user {
            spec.user = Some(Accounts::resolve_user(accounts.as_ref(), user).map_err(|err| {
                Error::input(
                    err.to_string(),
                    "name a user from /etc/passwd (root, nobody, nonroot or an [[image.users]] entry) or give numeric ids",
                )
            })?);
        }
        Ok(Self {
            manifest,
            lock,
            debs,
            scratch,
            extracted: Mutex::new(extracted),
            accounts,
            spec,
            source_date_epoch,
            settings: settings.clone(),
        })
    }
}

/// One architecture's files as the image will hold them, before any layer is written.
pub struct Assembled {
    pub arch: Arch,
    /// The image epoch of this architecture (see the module doc).
    pub epoch: i64,
    /// The locked packages' tree, with essentials, alternatives and ld.so.cache.
    pub rootfs: rootfs::Rootfs,
    /// The application's files and tars, stamped with `epoch`.
    pub app_inputs: oci::files::AppInputs,
    /// The application layer's tree (`[[image.files]]`, `tars`), above the packages.
    pub app: rootfs::Tree,
    /// The pinned base image under both, if the manifest has one.
    pub base: Option<super::base::LoadedBase>,
}

impl Assembled {
    /// The image's trees top first: the application, the packages, the base's files.
    pub fn layers(&self) -> Vec<&rootfs::Tree> {
        let mut layers = vec![&self.app, self.rootfs.tree()];
        layers.extend(self.base_tree());
        layers
    }

    /// The base image's files as one tree (contents included, read once with the base), for
    /// the check and the SBOM's licences.
    pub fn base_tree(&self) -> Option<&rootfs::Tree> {
        self.base.as_ref().map(|base| base.filesystem.tree())
    }
}

/// The lock beside the manifest, refused when missing or out of date.
pub fn load_current_lock(project: &Project, manifest: &Manifest) -> Result<Lock, Error> {
    let lock_path = &project.lock;
    let Some(lock) = Lock::load(lock_path)? else {
        return Err(Error::outdated(
            format!("`{}` does not exist", lock_path.display()),
            "run `debless lock` first: build reads only the lock",
        ));
    };
    if let Some(stale) = lock.staleness(manifest) {
        return Err(Error::outdated(
            format!(
                "`{}` does not match the manifest: {stale}",
                lock_path.display()
            ),
            "run `debless lock` to update the lock, then build again",
        ));
    }
    Ok(lock)
}

/// `SOURCE_DATE_EPOCH`, when given, as seconds.
fn parse_epoch(text: Option<&str>) -> Result<Option<i64>, Error> {
    text.map(|text| {
        text.trim().parse().map_err(|_| {
            Error::input(
                format!("SOURCE_DATE_EPOCH=`{text}` is not a number of seconds"),
                "set it to a Unix timestamp such as `$(git log -1 --format=%ct)`",
            )
        })
    })
    .transpose()
}

/// What [`fetch_debs`] leaves: the cache, the build's scratch file and the packages already read.
type Fetched = (
    DebCache,
    Option<Arc<SpillFile>>,
    BTreeMap<String, ExtractedDeb>,
);

/// Downloads (or finds in the cache) every locked `.deb` of every architecture, reading each
/// one as soon as it is verified (on the rayon pool, while later downloads continue), so the
/// network and the decompressors overlap. A package that fails to read is simply not kept:
/// [`assemble`] reads it again in lock order and reports the first failure in that order,
/// whatever finished first.
fn fetch_debs(
    settings: &Settings,
    options: &AssembleOptions,
    manifest: &Manifest,
    lock: &Lock,
    progress: &dyn Progress,
) -> Result<Fetched, Error> {
    let cache = DebCache::new(&settings.cache_dir);
    let mirrors = if options.offline || manifest.sources.iter().all(|s| s.url.is_some()) {
        None
    } else {
        match settings.mirrors() {
            Ok(mirrors) => Some(mirrors),
            Err(_) if !options.mirrors.is_empty() => None,
            Err(err) => {
                return Err(Error::input(
                    err.to_string(),
                    "set DEBLESS_MIRROR=http://<host>/debian, pass --mirror URL, or build --offline from the cache",
                ));
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
            options
                .mirrors
                .iter()
                .map(|m| m.trim_end_matches('/').to_owned()),
        );
        roots.extend(fetch::snapshot::roots_for(manifest, lock, suite, settings));
        roots
    };
    let mut requests: Vec<DebRequest> = Vec::new();
    let mut identities: Vec<PackageDeb> = Vec::new();
    for package in &lock.packages {
        if requests.iter().any(|r| r.sha256 == package.sha256) {
            continue;
        }
        identities.push(PackageDeb {
            name: package.name.clone(),
            version: package.version.to_string(),
            arch: package.architecture.clone(),
            path: cache.path_of(&package.sha256),
        });
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
    let http = Http::from_config(&super::http_config(settings, Some(manifest)))?;
    let total: u64 = requests.iter().map(|r| r.size).sum();
    progress.fetch_started(total);
    let on_progress = |event: fetch::Progress<'_>| match event {
        fetch::Progress::Cached { label, bytes } => progress.fetched(label, bytes, false),
        fetch::Progress::Downloaded { label, bytes } => progress.fetched(label, bytes, true),
        other => progress.status(&other.to_string()),
    };
    let fetch_options = FetchOptions {
        offline: options.offline,
        jobs: options.jobs,
    };
    let scratch = if requests.is_empty() {
        None
    } else {
        // Beside the .debs: on a disk (not a tmpfs), and the scratch file has no name anyway.
        let dir = cache.dir();
        let made = std::fs::create_dir_all(dir).and_then(|()| SpillFile::new_in(dir));
        Some(made.map_err(|err| {
            Error::input(
                format!("cannot create a scratch file in `{}`: {err}", dir.display()),
                "make the cache directory writable (DEBLESS_CACHE_DIR) and check the free space",
            )
        })?)
    };
    let extracted = Mutex::new(BTreeMap::new());
    let fetched = rayon::in_place_scope(|scope| {
        let ready = |index: usize, _: &std::path::Path| {
            let (Some(deb), Some(request)) = (identities.get(index), requests.get(index)) else {
                return;
            };
            if !options.read_while_fetching {
                return;
            }
            let (scratch, extracted) = (scratch.as_ref(), &extracted);
            scope.spawn(move |_| {
                if let Ok(read) = rootfs::extract(deb, scratch) {
                    extracted
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner)
                        .insert(request.sha256.clone(), read);
                }
            });
        };
        fetch::fetch_all_then(
            &requests,
            &cache,
            &http,
            fetch_options,
            &on_progress,
            &ready,
        )
    });
    let paths = fetched?;
    progress.fetch_done(paths.len(), total, &settings.cache_dir);
    let extracted = extracted
        .into_inner()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    Ok((cache, scratch, extracted))
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
fn image_accounts(manifest: &Manifest) -> Result<Option<Accounts>, Error> {
    let setting = &manifest.image.accounts;
    if !setting.enabled {
        return Ok(None);
    }
    let accounts = Accounts::with_manifest(&setting.users, &setting.groups).map_err(|err| {
        Error::input(
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
pub fn assemble(inputs: &Inputs, arch: &Arch, progress: &dyn Progress) -> Result<Assembled, Error> {
    let (manifest, lock) = (&inputs.manifest, &inputs.lock);
    let package_debs: Vec<PackageDeb> = lock
        .packages_for(arch)
        .map(|p| PackageDeb {
            name: p.name.clone(),
            version: p.version.to_string(),
            arch: p.architecture.clone(),
            path: inputs.debs.path_of(&p.sha256),
        })
        .collect();
    let base = super::base::load(&inputs.settings, manifest, lock, arch)?;
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
        generated_mtime: inputs.source_date_epoch,
        path_filter: path_filter(manifest),
        // Large files' bytes wait on disk beside the .debs they came from, not in memory.
        scratch: inputs.scratch.clone(),
    };
    let ready = lock
        .packages_for(arch)
        .map(|p| {
            let mut extracted = inputs
                .extracted
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            // Taken when no other lock entry (another architecture) reads the same file, so
            // the metadata is not held twice.
            if lock
                .packages
                .iter()
                .filter(|q| q.sha256 == p.sha256)
                .count()
                == 1
            {
                extracted.remove(&p.sha256)
            } else {
                extracted.get(&p.sha256).cloned()
            }
        })
        .collect();
    let mut tree = rootfs::assemble_with(&package_debs, ready, &options)
        .context_with(|| format!("assembling the {arch} root filesystem"))?;
    // Stamped from here on: essentials, alternatives, ld.so.cache, application files.
    let epoch = tree.epoch();
    let mut notices = Vec::new();
    let extra_ca = rootfs::ca::load(&manifest.image.extra_ca_certs)?;
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
                Error::input(
                    format!("base image `{}` ({arch}): {err}", base.name),
                    "remove the package from `packages` (the base may already have what it ships) or use another base",
                )
            })?;
        // The base brings its own bundle: the extra CAs go after its certificates.
        if !extra_ca.is_empty() {
            let bundle_path = rootfs::essentials::CA_BUNDLE;
            let bundle = base
                .filesystem
                .tree()
                .file_bytes(bundle_path)
                .map(std::borrow::Cow::into_owned)
                .unwrap_or_default();
            tree.add_generated_file(
                bundle_path,
                rootfs::ca::append_to_bundle(bundle, &extra_ca),
                epoch,
            )
            .context_with(|| format!("adding `extra-ca-certs` to the {arch} CA bundle"))?;
        }
    } else {
        let essentials = rootfs::essentials::Essentials {
            accounts: inputs.accounts.clone(),
            timezone: manifest.image.timezone.clone(),
            codename: lock.sources.first().map(|s| release_codename(&s.codename)),
            mtime: epoch,
            extra_ca: extra_ca.clone(),
        };
        notices = tree.add_essentials(&essentials).context_with(|| {
            format!("adding the image essentials to the {arch} root filesystem")
        })?;
    }
    notices.extend(
        tree.add_java_trust_store(base.as_ref().map(|b| b.filesystem.tree()), &extra_ca, epoch)
            .context_with(|| format!("writing the {arch} Java trust store"))?,
    );
    if manifest.image.alternatives {
        tree.add_java_alternatives();
        notices.extend(
            tree.add_alternatives(epoch)
                .context_with(|| format!("writing the {arch} alternatives' links"))?,
        );
    }
    let libraries = tree
        .add_ld_cache(arch.multiarch_tuple(), epoch)
        .context_with(|| format!("writing the {arch} /etc/ld.so.cache"))?;
    if libraries > 0 {
        notices.push(format!("wrote /etc/ld.so.cache ({arch}, {libraries} libraries): a package adds a library directory in /etc/ld.so.conf.d"));
    }
    for notice in notices {
        progress.note(&notice);
    }
    let app_inputs =
        oci::files::AppInputs::load(&manifest.image.files, &manifest.image.tars, epoch)?;
    let app = app_inputs.tree(tree.tree(), epoch)?;
    Ok(Assembled {
        arch: arch.clone(),
        epoch,
        rootfs: tree,
        app_inputs,
        app,
        base,
    })
}

/// The files `build` would put in each architecture's image, assembled in memory from the
/// lock and the cache (downloading what is missing unless `offline`), without building an
/// image: `check` with no argument, `size` and `add --for`.
pub fn assemble_all(
    project: &Project,
    settings: &Settings,
    options: &AssembleOptions,
    progress: &dyn Progress,
) -> Result<(Manifest, Vec<Assembled>), Error> {
    let inputs = Inputs::prepare(project, settings, options, progress)?;
    let assembled = inputs
        .manifest
        .architectures
        .iter()
        .map(|arch| assemble(&inputs, arch, progress))
        .collect::<Result<Vec<_>, Error>>()?;
    Ok((inputs.manifest, assembled))
}
