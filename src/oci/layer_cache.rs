//! The layer cache: compressed layers and small documents kept across builds, so a rebuild
//! of unchanged inputs neither decompresses the `.deb`s nor compresses the layers again.
//!
//! Layout under the cache root (see [`crate::env::default_cache_dir`]):
//!
//! ```text
//! layers-v1/sha256/<64 hex>   a blob (compressed layer, base layer, image document), by digest
//! layers-v1/refs/<64 hex>     a key -> "sha256:<hex> <size>" of the blob it names
//!                             (a layer's adds " sha256:<diff_id hex>")
//! layers-v1/*/.tmp-*          writes in flight (never read; removed on drop or by a sweep)
//! ```
//!
//! Two kinds of key point into the blobs, both sha256 over length-prefixed parts that start
//! with [`FORMAT_VERSION`] (or a test's override), debless's version and the running binary's
//! path, size and mtime, so a debless whose layer bytes could differ never reads another's
//! entries:
//!
//! - A layer's key is its compression and its [`layer::tar_recipe`]: a digest of every entry's
//!   metadata and its content's sha256 (taken while the .debs were extracted), which names
//!   the uncompressed tar [`layer::write_tar`] writes without reading the contents again.
//!   The compressed blob is a pure function of those bytes and the pinned compressor, so a
//!   hit is exact by construction; it saves the compression, which is most of a build's
//!   time, and makes a one-package update recompress only its layer. The ref also records
//!   the layer's diff_id, which the config needs.
//! - A caller's key (`ops::build` keys a whole image by its recipe: lock, manifest, the
//!   application's files, epoch, options) names a document it stored with [`LayerCache::put_document`].
//!
//! Nothing is trusted by name: every blob is hashed when a build takes it ([`LayerCache::fetch_blob`]
//! copies it into the build's store through the hasher), and a blob that no longer matches its
//! digest is evicted with a warning and rebuilt. A ref or document that fails to parse is a
//! miss. Writes go to a temporary file renamed into place, so concurrent builds sharing the
//! cache see whole entries or none, and racing writers of one entry write the same bytes.
//! Hits touch the files' mtime, which `debless cache prune` reads as last use.
//!
//! What the digests cannot catch: someone with write access to the cache who writes a
//! consistent ref and blob. The cache is as trusted as the `.deb` cache's directory.

use std::io::{self, Read as _, Write as _};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::SystemTime;

use sha2::{Digest as _, Sha256};

use super::Digest;
use super::blob::{BlobStore, HashingWriter};
use super::layer::{self, Compression, LayerDescriptor};
use crate::rootfs::Node;

/// The layer format version: bump it whenever the bytes of a layer, config or manifest built
/// from the same inputs could change (tar writer, compressor, epoch rules, essentials, …), so
/// no build reuses entries written by a debless that built other bytes.
pub const FORMAT_VERSION: u32 = 4;

/// The cache's directory under a cache root.
pub fn dir(cache_root: &Path) -> PathBuf {
    cache_root.join("layers-v1")
}

/// What the cache did during a build (for progress and tests).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CacheStats {
    /// Layers taken from the cache (verified).
    pub reused: usize,
    /// Layers compressed because the cache did not have them.
    pub built: usize,
    /// Damaged entries evicted, entries that could not be stored: one line each.
    pub warnings: Vec<String>,
}

/// The layer cache of one cache root.
#[derive(Debug)]
pub struct LayerCache {
    blobs: PathBuf,
    refs: PathBuf,
    format: u32,
    program: String,
    stats: Mutex<CacheStats>,
}

impl LayerCache {
    /// The cache under `cache_root` (created on first write), with the layer format `format`
    /// (normally [`FORMAT_VERSION`]).
    pub fn new(cache_root: &Path, format: u32) -> Self {
        let dir = dir(cache_root);
        Self {
            blobs: dir.join("sha256"),
            refs: dir.join("refs"),
            format,
            program: program_identity(),
            stats: Mutex::new(CacheStats::default()),
        }
    }

    /// The key of `parts`: sha256 over the format version, debless's version, the running
    /// program's identity and each part (length-prefixed, so parts cannot run into each
    /// other), lower-case hex.
    pub fn key(&self, parts: &[&[u8]]) -> String {
        let mut hasher = Sha256::new();
        let version = env!("CARGO_PKG_VERSION");
        let head = format!(
            "debless-layer-cache\0{}\0{version}\0{}",
            self.format, self.program
        );
        for part in std::iter::once(head.as_bytes()).chain(parts.iter().copied()) {
            hasher.update((part.len() as u64).to_le_bytes());
            hasher.update(part);
        }
        hex::encode(hasher.finalize())
    }

    /// What happened since the last call.
    pub fn take_stats(&self) -> CacheStats {
        std::mem::take(&mut *self.stats.lock().unwrap_or_else(|e| e.into_inner()))
    }

    fn record(&self, change: impl FnOnce(&mut CacheStats)) {
        change(&mut self.stats.lock().unwrap_or_else(|e| e.into_inner()));
    }

    fn warn(&self, text: String) {
        self.record(|stats| stats.warnings.push(text));
    }

    /// [`layer::write_layer`] through the cache: the layer is looked up by its
    /// [`layer::tar_recipe`] (metadata and content digests, no content read); when the cache
    /// holds a verified blob for it, that blob is copied into `store`, otherwise the layer is
    /// compressed and kept for next time.
    pub fn write_layer<'a>(
        &self,
        store: &BlobStore,
        entries: &std::collections::BTreeMap<&'a str, &'a Node>,
        lookup: impl Fn(&str) -> Option<&'a Node>,
        epoch: i64,
        compression: Compression,
    ) -> io::Result<LayerDescriptor> {
        let recipe = layer::tar_recipe(entries, &lookup, epoch)?;
        let key = self.key(&[
            b"layer",
            compression.media_type().as_bytes(),
            recipe.as_str().as_bytes(),
        ]);
        if let Some(Ref {
            digest,
            size,
            diff_id: Some(diff_id),
        }) = self.read_ref(&key)
            && self.fetch_blob(store, &digest, size)?
        {
            self.record(|stats| stats.reused += 1);
            return Ok(LayerDescriptor {
                media_type: compression.media_type().to_owned(),
                digest,
                diff_id,
                size,
            });
        }
        let layer = layer::write_layer(store, entries, lookup, epoch, compression)?;
        self.record(|stats| stats.built += 1);
        if let Err(err) = self.keep_blob(store, &layer.digest).and_then(|()| {
            self.write_ref(
                &key,
                &Ref {
                    digest: layer.digest.clone(),
                    size: layer.size,
                    diff_id: Some(layer.diff_id.clone()),
                },
            )
        }) {
            self.warn(format!(
                "cannot keep layer {} in the layer cache: {err}",
                layer.digest
            ));
        }
        Ok(layer)
    }

    /// Copies the cached blob `digest` into `store`, hashing it on the way. `Ok(false)` when
    /// the cache does not have it, or had it damaged (evicted, with a warning).
    pub fn fetch_blob(&self, store: &BlobStore, digest: &Digest, size: u64) -> io::Result<bool> {
        let path = self.blobs.join(digest.hex());
        let mut file = match std::fs::File::open(&path) {
            Ok(file) => file,
            Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(false),
            Err(err) => {
                self.warn(format!("cannot read `{}`: {err}", path.display()));
                return Ok(false);
            }
        };
        let mut writer = store.writer()?;
        io::copy(&mut file, &mut writer)?;
        let (actual, actual_size) = writer.commit()?;
        if actual == *digest && actual_size == size {
            touch(&path);
            return Ok(true);
        }
        if actual != *digest {
            // The store names blobs by content: this one is not the blob asked for.
            let _ = std::fs::remove_file(store.path(&actual));
        }
        self.warn(format!(
            "the layer cache's `{}` is damaged ({actual_size} bytes with digest {actual}, expected {size} bytes with {digest}); evicted, rebuilding it",
            path.display()
        ));
        if let Err(err) = std::fs::remove_file(&path)
            && err.kind() != io::ErrorKind::NotFound
        {
            self.warn(format!("cannot evict `{}`: {err}", path.display()));
        }
        Ok(false)
    }

    /// Puts `store`'s blob `digest` into the cache, unless the cache already has a file of
    /// that name and size: a hard link when both are on one filesystem (no copy of a layer
    /// that can be hundreds of MB, at the end of the build), else a copy hashed on the way.
    /// Either way a later build hashes the entry before using it.
    pub fn keep_blob(&self, store: &BlobStore, digest: &Digest) -> io::Result<()> {
        let target = self.blobs.join(digest.hex());
        let source = store.path(digest);
        let size = fs_err::metadata(&source)?.len();
        if std::fs::metadata(&target).is_ok_and(|meta| meta.len() == size) {
            touch(&target);
            return Ok(());
        }
        fs_err::create_dir_all(&self.blobs)?;
        // A link to a finished file publishes it whole, as a rename would. It fails across
        // filesystems, or over a damaged entry of another size, which the copy replaces.
        if std::fs::hard_link(&source, &target).is_ok() {
            return Ok(());
        }
        let temp = crate::cleanup::temp_file_in(&self.blobs, ".tmp-")?;
        let mut writer = HashingWriter::new(io::BufWriter::new(temp));
        io::copy(&mut fs_err::File::open(&source)?, &mut writer)?;
        let (buffered, actual, _) = writer.finish();
        if actual != *digest {
            return Err(io::Error::other(format!(
                "`{}` changed while it was copied: {actual}",
                source.display()
            )));
        }
        let temp = buffered
            .into_inner()
            .map_err(io::IntoInnerError::into_error)?;
        temp.persist(&target).map_err(|e| e.error)?;
        Ok(())
    }

    /// The document stored under `key`, verified, if the cache has it whole.
    pub fn document(&self, key: &str) -> Option<Vec<u8>> {
        let Ref { digest, size, .. } = self.read_ref(key)?;
        let path = self.blobs.join(digest.hex());
        let mut bytes = Vec::new();
        std::fs::File::open(&path)
            .and_then(|mut file| file.read_to_end(&mut bytes))
            .ok()?;
        if bytes.len() as u64 != size || Digest::of(&bytes) != digest {
            self.warn(format!(
                "the layer cache's `{}` is damaged; evicted",
                path.display()
            ));
            let _ = std::fs::remove_file(&path);
            return None;
        }
        touch(&path);
        Some(bytes)
    }

    /// Stores `bytes` under `key` (blob, then ref; each temp file + rename).
    pub fn put_document(&self, key: &str, bytes: &[u8]) -> io::Result<()> {
        let digest = Digest::of(bytes);
        let target = self.blobs.join(digest.hex());
        if !target.is_file() {
            fs_err::create_dir_all(&self.blobs)?;
            let mut temp = crate::cleanup::temp_file_in(&self.blobs, ".tmp-")?;
            temp.write_all(bytes)?;
            temp.persist(&target).map_err(|e| e.error)?;
        }
        self.write_ref(
            key,
            &Ref {
                digest,
                size: bytes.len() as u64,
                diff_id: None,
            },
        )
    }

    /// The blob a ref names; `None` when missing or unreadable (a miss).
    fn read_ref(&self, key: &str) -> Option<Ref> {
        let path = self.refs.join(key);
        let text = std::fs::read_to_string(&path).ok()?;
        let mut fields = text.trim_end().split(' ');
        let digest = Digest::parse(fields.next()?).ok()?;
        let size = fields.next()?.parse().ok()?;
        let diff_id = match fields.next() {
            Some(diff_id) => Some(Digest::parse(diff_id).ok()?),
            None => None,
        };
        if fields.next().is_some() {
            return None;
        }
        touch(&path);
        Some(Ref {
            digest,
            size,
            diff_id,
        })
    }

    fn write_ref(&self, key: &str, entry: &Ref) -> io::Result<()> {
        fs_err::create_dir_all(&self.refs)?;
        let mut temp = crate::cleanup::temp_file_in(&self.refs, ".tmp-")?;
        write!(temp, "{} {}", entry.digest, entry.size)?;
        if let Some(diff_id) = &entry.diff_id {
            write!(temp, " {diff_id}")?;
        }
        writeln!(temp)?;
        temp.persist(self.refs.join(key)).map_err(|e| e.error)?;
        Ok(())
    }
}

/// What a ref file says: `<digest> <size>`, and for a layer ` <diff_id>` (the digest of its
/// uncompressed tar, which the image config lists and the blob alone does not give without
/// decompressing it).
struct Ref {
    digest: Digest,
    size: u64,
    diff_id: Option<Digest>,
}

/// The running program as a path, size and mtime. Layer bytes could change between two
/// builds of debless with the same version and format (a forgotten [`FORMAT_VERSION`] bump, a
/// compressor update): entries are only reused by the binary that wrote them, which costs one
/// cold build after an upgrade. Empty when the platform cannot say.
fn program_identity() -> String {
    std::env::current_exe()
        .and_then(|exe| {
            let meta = std::fs::metadata(&exe)?;
            Ok(format!(
                "{} {} {:?}",
                exe.display(),
                meta.len(),
                meta.modified()?
            ))
        })
        .unwrap_or_default()
}

/// Marks a file as just used (prune removes the least recently used first); a read-only cache
/// only loses that ordering.
fn touch(path: &Path) {
    if let Ok(file) = std::fs::OpenOptions::new().append(true).open(path) {
        let _ = file.set_modified(SystemTime::now());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn entries(nodes: &[(&'static str, Node)]) -> Vec<(&'static str, Node)> {
        nodes.to_vec()
    }

    fn file(content: &[u8]) -> Node {
        Node::test_file(content)
    }

    fn write(
        cache: &LayerCache,
        store: &BlobStore,
        nodes: &[(&'static str, Node)],
    ) -> LayerDescriptor {
        let map: BTreeMap<&str, &Node> = nodes.iter().map(|(p, n)| (*p, n)).collect();
        cache
            .write_layer(store, &map, |_| None, 100, Compression::Gzip)
            .expect("layer")
    }

    #[test]
    fn a_hit_is_the_cold_layer_and_a_damaged_blob_is_rebuilt() {
        let root = tempfile::tempdir().expect("tempdir");
        let nodes = entries(&[("etc", file(b"x")), ("usr", file(b"a file"))]);
        let cache = LayerCache::new(root.path(), FORMAT_VERSION);
        let store = BlobStore::new().expect("store");
        let cold = write(&cache, &store, &nodes);
        assert_eq!(cache.take_stats().built, 1);

        let warm_store = BlobStore::new().expect("store");
        let warm = write(&cache, &warm_store, &nodes);
        assert_eq!(warm, cold);
        let stats = cache.take_stats();
        assert_eq!((stats.reused, stats.built), (1, 0));
        assert_eq!(
            std::fs::read(warm_store.path(&warm.digest)).expect("blob"),
            std::fs::read(store.path(&cold.digest)).expect("blob")
        );

        // The cache keeps the cold build's blob as a hard link to it (one filesystem).
        let cached = dir(root.path()).join("sha256").join(cold.digest.hex());
        assert!(
            std::os::unix::fs::MetadataExt::nlink(&std::fs::metadata(&cached).expect("cached"))
                >= 2
        );

        // One flipped byte: detected, evicted, rebuilt, the same layer again. (A new file
        // with the damage: writing into the shared inode would damage the first store too.)
        let mut bytes = std::fs::read(&cached).expect("cached");
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        std::fs::remove_file(&cached).expect("unlink");
        std::fs::write(&cached, bytes).expect("damage");
        let third_store = BlobStore::new().expect("store");
        let again = write(&cache, &third_store, &nodes);
        assert_eq!(again, cold);
        let stats = cache.take_stats();
        assert_eq!((stats.reused, stats.built), (0, 1));
        assert!(stats.warnings[0].contains("damaged"), "{stats:?}");
        assert_eq!(
            std::fs::read(&cached).expect("rebuilt"),
            std::fs::read(store.path(&cold.digest)).expect("blob")
        );
    }

    #[test]
    fn a_layer_ref_without_its_diff_id_is_a_miss() {
        let root = tempfile::tempdir().expect("tempdir");
        let nodes = entries(&[("etc", file(b"x"))]);
        let cache = LayerCache::new(root.path(), FORMAT_VERSION);
        let cold = write(&cache, &BlobStore::new().expect("store"), &nodes);
        cache.take_stats();
        let refs: Vec<PathBuf> = std::fs::read_dir(dir(root.path()).join("refs"))
            .expect("refs")
            .map(|entry| entry.expect("entry").path())
            .collect();
        assert_eq!(refs.len(), 1);
        let text = std::fs::read_to_string(&refs[0]).expect("ref");
        assert_eq!(
            text,
            format!("{} {} {}\n", cold.digest, cold.size, cold.diff_id)
        );
        // A ref as documents write it (no diff_id) cannot give the config its diff_id.
        std::fs::write(&refs[0], format!("{} {}\n", cold.digest, cold.size)).expect("edit");
        assert_eq!(
            write(&cache, &BlobStore::new().expect("store"), &nodes),
            cold
        );
        assert_eq!(cache.take_stats().built, 1);
    }

    #[test]
    fn keys_depend_on_the_format_and_every_part() {
        let root = tempfile::tempdir().expect("tempdir");
        let one = LayerCache::new(root.path(), 1);
        let two = LayerCache::new(root.path(), 2);
        assert_ne!(one.key(&[b"a"]), two.key(&[b"a"]));
        assert_ne!(one.key(&[b"ab", b"c"]), one.key(&[b"a", b"bc"]));
        assert_eq!(
            one.key(&[b"a"]),
            LayerCache::new(root.path(), 1).key(&[b"a"])
        );
        let nodes = entries(&[("etc", file(b"x"))]);
        write(&one, &BlobStore::new().expect("store"), &nodes);
        write(&two, &BlobStore::new().expect("store"), &nodes);
        assert_eq!(two.take_stats().built, 1, "another format never reuses");
    }

    #[test]
    fn documents_round_trip_and_damage_is_a_miss() {
        let root = tempfile::tempdir().expect("tempdir");
        let cache = LayerCache::new(root.path(), FORMAT_VERSION);
        let key = cache.key(&[b"image"]);
        assert_eq!(cache.document(&key), None);
        cache.put_document(&key, b"{\"a\":1}").expect("put");
        assert_eq!(cache.document(&key).as_deref(), Some(&b"{\"a\":1}"[..]));
        let blob = dir(root.path())
            .join("sha256")
            .join(Digest::of(b"{\"a\":1}").hex());
        std::fs::write(&blob, b"{\"a\":2}").expect("damage");
        assert_eq!(cache.document(&key), None);
        assert!(!blob.exists(), "evicted");
    }
}
