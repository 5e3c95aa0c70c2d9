//! Whole images in the layer cache, keyed by their recipe, so an unchanged rebuild only
//! verifies the `.deb`s (as every build does): no decompression, no assembly, no compression.
//!
//! The recipe of one architecture's image is everything its bytes, and the build's other
//! outcomes (the shared-library check's report, the SBOM documents, the notes), are made
//! from. It is conservative: when unsure, a thing is in it.
//!
//! - the layer format version, debless's version and binary ([`LayerCache::key`]);
//! - the manifest file's bytes, and the contents (names, modes, link targets, bytes) of every
//!   file it points at that lands in the image: `[[image.files]]`, `tars`, `extra-ca-certs`;
//! - the lock as its canonical text without the recorded image digests (the packages'
//!   sha256s, the sources, the pinned base's digests and packages);
//! - `SOURCE_DATE_EPOCH`, the architecture, the SBOM formats and the name SBOMs carry,
//!   whether the shared-library check runs.
//!
//! The entry holds the epoch, the layers (blob digests, also the base's, whose blobs are kept
//! in the cache too), the config and manifest bytes, the check's and assembly's messages and
//! the SBOM texts. A hit copies every layer blob out through the hasher
//! ([`LayerCache::fetch_blob`]); one missing or damaged blob makes the whole entry a miss, and
//! the build runs in full (taking the other layers from the cache by diff_id).

use std::path::Path;
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use super::{Error, Progress, Project};
use crate::debian::Arch;
use crate::lock::Lock;
use crate::manifest::Manifest;
use crate::oci::config::{CONFIG_MEDIA_TYPE, MANIFEST_MEDIA_TYPE};
use crate::oci::{
    BlobStore, BuiltImage, Descriptor, Digest, LayerCache, LayerDescriptor, Platform,
};
use crate::sbom::SbomFormat;

/// What the recipe takes from the build's options.
pub(super) struct RecipeOptions<'a> {
    /// `SOURCE_DATE_EPOCH` as given.
    pub source_date_epoch: Option<&'a str>,
    pub sbom_formats: &'a [SbomFormat],
    pub sbom_name: &'a str,
    pub no_check: bool,
}

/// The key of `arch`'s image recipe (see the module doc).
pub(super) fn recipe_key(
    cache: &LayerCache,
    project: &Project,
    (manifest, lock): (&Manifest, &Lock),
    arch: &Arch,
    options: &RecipeOptions<'_>,
) -> Result<String, Error> {
    let manifest_bytes = fs_err::read(&project.manifest)?;
    let mut lock = lock.clone();
    lock.images.clear();
    let lock_text = lock.render();
    let mut files = Sha256::new();
    for file in &manifest.image.files {
        hash_tree(&mut files, &file.src)?;
    }
    for tar in &manifest.image.tars {
        hash_tree(&mut files, &tar.path)?;
    }
    for pem in &manifest.image.extra_ca_certs {
        hash_tree(&mut files, pem)?;
    }
    let files = files.finalize();
    let epoch = format!("{:?}", options.source_date_epoch);
    let formats = format!("{:?}", options.sbom_formats);
    let check = [u8::from(options.no_check)];
    Ok(cache.key(&[
        b"image",
        &manifest_bytes,
        lock_text.as_bytes(),
        &files,
        epoch.as_bytes(),
        arch.as_str().as_bytes(),
        formats.as_bytes(),
        options.sbom_name.as_bytes(),
        &check,
    ]))
}

/// Hashes a file or directory tree: each entry's relative name, type, mode and contents.
fn hash_tree(hasher: &mut Sha256, path: &Path) -> Result<(), Error> {
    use std::os::unix::fs::PermissionsExt as _;
    let meta = fs_err::symlink_metadata(path)?;
    let name = path.as_os_str().as_encoded_bytes();
    hasher.update((name.len() as u64).to_le_bytes());
    hasher.update(name);
    hasher.update(meta.permissions().mode().to_le_bytes());
    if meta.is_symlink() {
        hasher.update(b"l");
        hasher.update(fs_err::read_link(path)?.as_os_str().as_encoded_bytes());
    } else if meta.is_dir() {
        hasher.update(b"d");
        let mut children: Vec<_> = fs_err::read_dir(path)?
            .map(|entry| entry.map(|e| e.path()))
            .collect::<Result<_, _>>()?;
        children.sort();
        hasher.update((children.len() as u64).to_le_bytes());
        for child in children {
            hash_tree(hasher, &child)?;
        }
    } else {
        hasher.update(b"f");
        hasher.update(meta.len().to_le_bytes());
        std::io::copy(&mut fs_err::File::open(path)?, hasher)?;
    }
    Ok(())
}

/// One architecture's image as the cache keeps it.
#[derive(Serialize, Deserialize)]
pub(super) struct ImageEntry {
    pub epoch: i64,
    pub packages: usize,
    layers: Vec<CachedLayer>,
    config: String,
    manifest: String,
    platform: Platform,
    /// Notes of the assembly, then status lines of the check, in order.
    pub messages: Vec<Message>,
    /// The SBOM documents, in the order of the recipe's formats.
    pub sboms: Vec<String>,
}

#[derive(Serialize, Deserialize)]
struct CachedLayer {
    media_type: String,
    digest: String,
    diff_id: String,
    size: u64,
}

/// A message the full build gave through [`Progress`], replayed on a hit.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(super) enum Message {
    Note(String),
    Status(String),
}

impl ImageEntry {
    /// The entry for a freshly built image (its blobs are in `image.store`).
    pub fn new(
        image: &BuiltImage,
        packages: usize,
        messages: Vec<Message>,
        sboms: Vec<String>,
    ) -> Result<Self, Error> {
        let read = |digest: &Digest| -> Result<String, Error> {
            let bytes = fs_err::read(image.store.path(digest))?;
            String::from_utf8(bytes)
                .map_err(|_| Error::internal(format!("blob {digest} is not UTF-8 JSON")))
        };
        Ok(Self {
            epoch: image.epoch,
            packages,
            layers: image
                .layers
                .iter()
                .map(|l| CachedLayer {
                    media_type: l.media_type.clone(),
                    digest: l.digest.as_str().to_owned(),
                    diff_id: l.diff_id.as_str().to_owned(),
                    size: l.size,
                })
                .collect(),
            config: read(&image.config.digest)?,
            manifest: read(&image.manifest.digest)?,
            platform: image
                .manifest
                .platform
                .clone()
                .ok_or_else(|| Error::internal("a built manifest has no platform"))?,
            messages,
            sboms,
        })
    }

    /// Keeps every layer blob of `image` in the cache (the image's own layers are there
    /// already, the base's are copied) and stores the entry under `key`.
    pub fn store(&self, cache: &LayerCache, key: &str, image: &BuiltImage) -> std::io::Result<()> {
        for layer in &image.layers {
            cache.keep_blob(&image.store, &layer.digest)?;
        }
        let bytes = serde_json::to_vec(self).map_err(std::io::Error::other)?;
        cache.put_document(key, &bytes)
    }

    /// The entry stored under `key`, if whole.
    pub fn load(cache: &LayerCache, key: &str) -> Option<Self> {
        serde_json::from_slice(&cache.document(key)?).ok()
    }

    /// The image again: each layer blob verified out of the cache, then the config and
    /// manifest bytes. `None` when a blob is missing or damaged.
    pub fn image(&self, cache: &LayerCache) -> Result<Option<BuiltImage>, Error> {
        let store = Arc::new(BlobStore::new()?);
        let mut layers = Vec::with_capacity(self.layers.len());
        for layer in &self.layers {
            let (Ok(digest), Ok(diff_id)) =
                (Digest::parse(&layer.digest), Digest::parse(&layer.diff_id))
            else {
                return Ok(None);
            };
            if !cache.fetch_blob(&store, &digest, layer.size)? {
                return Ok(None);
            }
            layers.push(LayerDescriptor {
                media_type: layer.media_type.clone(),
                digest,
                diff_id,
                size: layer.size,
            });
        }
        let (config_digest, config_size) = store.put(self.config.as_bytes())?;
        let (manifest_digest, manifest_size) = store.put(self.manifest.as_bytes())?;
        Ok(Some(BuiltImage {
            store,
            manifest: Descriptor {
                media_type: MANIFEST_MEDIA_TYPE.to_owned(),
                digest: manifest_digest,
                size: manifest_size,
                platform: Some(self.platform.clone()),
                annotations: Default::default(),
            },
            config: Descriptor {
                media_type: CONFIG_MEDIA_TYPE.to_owned(),
                digest: config_digest,
                size: config_size,
                platform: None,
                annotations: Default::default(),
            },
            layers,
            epoch: self.epoch,
        }))
    }
}

/// Passes everything on to `inner` and keeps the notes and status lines for the entry.
pub(super) struct Recorder<'a> {
    pub inner: &'a dyn Progress,
    pub messages: Mutex<Vec<Message>>,
}

impl Recorder<'_> {
    pub fn take(&self) -> Vec<Message> {
        std::mem::take(&mut *self.messages.lock().unwrap_or_else(|e| e.into_inner()))
    }

    fn keep(&self, message: Message) {
        self.messages
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(message);
    }
}

impl Progress for Recorder<'_> {
    fn step(&self, what: &str) {
        self.inner.step(what);
    }
    fn step_done(&self) {
        self.inner.step_done();
    }
    fn fetch_started(&self, total: u64) {
        self.inner.fetch_started(total);
    }
    fn fetched(&self, label: &str, bytes: u64, downloaded: bool) {
        self.inner.fetched(label, bytes, downloaded);
    }
    fn fetch_done(&self, packages: usize, bytes: u64, cache: &Path) {
        self.inner.fetch_done(packages, bytes, cache);
    }
    fn note(&self, text: &str) {
        self.keep(Message::Note(text.to_owned()));
        self.inner.note(text);
    }
    fn status(&self, text: &str) {
        self.keep(Message::Status(text.to_owned()));
        self.inner.status(text);
    }
}

/// Replays an entry's messages.
pub(super) fn replay(messages: &[Message], progress: &dyn Progress) {
    for message in messages {
        match message {
            Message::Note(text) => progress.note(text),
            Message::Status(text) => progress.status(text),
        }
    }
}
