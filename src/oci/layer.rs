//! Deterministic layer tarballs straight from the in-memory tree (no rootfs on disk).
//!
//! Byte-stable by construction (debian-notes §9.2): entries in byte-wise path order (parents
//! first), no `./` root entry, headers built here from the .deb's metadata (numeric uid/gid,
//! empty user/group names, mode with setuid/setgid/sticky, mtime clamped to the epoch), GNU
//! `././@LongLink` records only for names or targets over 100 bytes. tar-rs
//! `HeaderMode::Deterministic` is not used: it rewrites modes and mtimes.
//!
//! [`tar_recipe`] names a layer's tar without writing it (the layer cache's key).
//!
//! One pass computes both hashes: the tar stream goes through a hashing writer (diff_id) into
//! the compressor, whose output goes through another (blob digest) into the blob store. The
//! compressors are pinned (gzip: libdeflate level 4 in 1 MiB members through
//! [`super::pgzip`], mtime 0, no name; zstd level 3 in its multi-threaded mode, whose bytes do
//! not depend on the worker count) because compressed digests depend on the implementation
//! (§9.1).

use std::collections::BTreeMap;
use std::io::{self, Write};

use super::blob::{BlobStore, Digest, HashingWriter};
use crate::rootfs::tree::ancestors;
use crate::rootfs::{Node, NodeKind};

/// Layer compression.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Compression {
    /// gzip (every runtime supports it).
    #[default]
    Gzip,
    /// zstd (smaller, faster; image-spec SHOULD support).
    Zstd,
    /// Uncompressed tar.
    None,
}

/// libdeflate's gzip level: on real layers it is smaller than zlib's level 6 at half the CPU
/// (see [`super::pgzip`]); changing it (or [`super::pgzip::CHUNK`]) changes every layer digest.
const GZIP_LEVEL: i32 = 4;
/// zstd level; changing it changes every layer digest.
const ZSTD_LEVEL: i32 = 3;

impl Compression {
    /// The OCI media type of a layer compressed this way.
    pub fn media_type(self) -> &'static str {
        match self {
            Self::Gzip => "application/vnd.oci.image.layer.v1.tar+gzip",
            Self::Zstd => "application/vnd.oci.image.layer.v1.tar+zstd",
            Self::None => "application/vnd.oci.image.layer.v1.tar",
        }
    }
}

/// How to decompress a layer of `media_type` (OCI `+gzip`/`+zstd`, Docker's `tar.gzip`);
/// anything else is read as a plain tar.
pub fn decoding_of(media_type: &str) -> crate::debian::compression::Compression {
    use crate::debian::compression::Compression as C;
    if media_type.ends_with("+gzip") || media_type.ends_with(".tar.gzip") {
        C::Gzip
    } else if media_type.ends_with("+zstd") {
        C::Zstd
    } else {
        C::None
    }
}

/// A finished layer blob.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LayerDescriptor {
    /// OCI media type.
    pub media_type: String,
    /// Digest of the compressed blob (manifest).
    pub digest: Digest,
    /// Digest of the uncompressed tar (config `rootfs.diff_ids`).
    pub diff_id: Digest,
    /// Size of the compressed blob.
    pub size: u64,
}

/// The compressor in front of the blob file.
enum Encoder<W: Write> {
    Gzip(super::pgzip::ParallelGzip<W>),
    Zstd(zstd::stream::write::Encoder<'static, W>),
    Plain(W),
}

impl<W: Write> Encoder<W> {
    fn new(inner: W, compression: Compression) -> io::Result<Self> {
        Ok(match compression {
            Compression::Gzip => Self::Gzip(super::pgzip::ParallelGzip::new(inner, GZIP_LEVEL)?),
            Compression::Zstd => {
                let mut encoder = zstd::stream::write::Encoder::new(inner, ZSTD_LEVEL)?;
                // zstd's multi-threaded mode cuts the input into fixed jobs: its output is the
                // same for any number of workers (≥ 1), so it follows the machine's cores.
                let workers = u32::try_from(rayon::current_num_threads()).unwrap_or(1);
                encoder.multithread(workers.max(1))?;
                Self::Zstd(encoder)
            }
            Compression::None => Self::Plain(inner),
        })
    }

    fn finish(self) -> io::Result<W> {
        match self {
            Self::Gzip(e) => e.finish(),
            Self::Zstd(e) => e.finish(),
            Self::Plain(w) => Ok(w),
        }
    }
}

impl<W: Write> Write for Encoder<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Self::Gzip(e) => e.write(buf),
            Self::Zstd(e) => e.write(buf),
            Self::Plain(w) => w.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Self::Gzip(e) => e.flush(),
            Self::Zstd(e) => e.flush(),
            Self::Plain(w) => w.flush(),
        }
    }
}

/// The entries of one layer: the chosen nodes plus every ancestor directory they need, in
/// path order. `all` is the whole tree, used to find ancestors and hard-link targets.
pub fn select_entries<'a>(
    all: impl Iterator<Item = (&'a str, &'a Node)> + Clone,
    include: impl Fn(&Node) -> bool,
) -> BTreeMap<&'a str, &'a Node> {
    let dirs: BTreeMap<&str, &Node> = all.clone().filter(|(_, n)| n.is_dir()).collect();
    let mut chosen = BTreeMap::new();
    for (path, node) in all.filter(|(_, n)| include(n)) {
        for parent in ancestors(path) {
            if let Some(dir) = dirs.get(parent) {
                chosen.entry(parent).or_insert(*dir);
            }
        }
        chosen.insert(path, node);
    }
    chosen
}

/// Writes one layer blob from path-ordered entries. A hard link whose target is not in
/// `entries` is written as a copy of the file (`lookup` finds it), so a layer never refers
/// to another layer's inode.
pub fn write_layer<'a>(
    store: &BlobStore,
    entries: &BTreeMap<&'a str, &'a Node>,
    lookup: impl Fn(&str) -> Option<&'a Node>,
    epoch: i64,
    compression: Compression,
) -> io::Result<LayerDescriptor> {
    let blob = store.writer()?;
    let tar_stream = HashingWriter::new(Encoder::new(blob, compression)?);
    let tar_stream = write_tar(tar_stream, entries, lookup, epoch)?;
    let (encoder, diff_id, _) = tar_stream.finish();
    let (digest, size) = encoder.finish()?.commit()?;
    Ok(LayerDescriptor {
        media_type: compression.media_type().to_owned(),
        digest,
        diff_id,
        size,
    })
}

/// Writes the uncompressed layer tar of `entries` (see [`write_layer`]) into `out`: the bytes
/// whose sha256 is the layer's diff_id.
pub fn write_tar<'a, W: Write>(
    out: W,
    entries: &BTreeMap<&'a str, &'a Node>,
    lookup: impl Fn(&str) -> Option<&'a Node>,
    epoch: i64,
) -> io::Result<W> {
    let mut builder = tar::Builder::new(out);
    for (path, node) in entries {
        let kind = written_kind(entries, &lookup, path, node)?;
        append_node(&mut builder, path, node, kind, epoch)?;
    }
    builder.into_inner()
}

/// A digest that names the tar [`write_tar`] would write, computed from the entries'
/// metadata and their contents' sha256 (taken at extraction) without reading any content:
/// the layer cache's key, so a cold build does not read and hash the whole tree once more
/// before compressing it. Every input of [`append_node`] is hashed here; the rest of the tar's
/// bytes are a function of the code, which the cache's key covers.
pub fn tar_recipe<'a>(
    entries: &BTreeMap<&'a str, &'a Node>,
    lookup: impl Fn(&str) -> Option<&'a Node>,
    epoch: i64,
) -> io::Result<Digest> {
    use sha2::Digest as _;
    let mut hasher = sha2::Sha256::new();
    let mut field = |bytes: &[u8]| {
        hasher.update((bytes.len() as u64).to_le_bytes());
        hasher.update(bytes);
    };
    for (path, node) in entries {
        let kind = written_kind(entries, &lookup, path, node)?;
        field(path.as_bytes());
        field(&(node.mode & 0o7777).to_le_bytes());
        field(&node.uid.to_le_bytes());
        field(&node.gid.to_le_bytes());
        field(&clamp_mtime(node.mtime, epoch).to_le_bytes());
        match kind {
            NodeKind::Dir => field(b"dir"),
            NodeKind::File(data) => {
                field(b"file");
                field(&data.len().to_le_bytes());
                field(&data.sha256());
            }
            NodeKind::Symlink(target) => {
                field(b"symlink");
                field(target.as_bytes());
            }
            NodeKind::Hardlink(target) => {
                field(b"hardlink");
                field(target.as_bytes());
            }
        }
    }
    Ok(Digest::from_sha256(hasher))
}

/// What `path` is written as: itself, except a hard link whose target is not in this layer,
/// which becomes a copy of the target file.
fn written_kind<'a>(
    entries: &BTreeMap<&'a str, &'a Node>,
    lookup: &impl Fn(&str) -> Option<&'a Node>,
    path: &str,
    node: &'a Node,
) -> io::Result<&'a NodeKind> {
    match &node.kind {
        NodeKind::Hardlink(target) if !entries.contains_key(target.as_str()) => {
            match lookup(target).map(|n| &n.kind) {
                Some(file @ NodeKind::File(_)) => Ok(file),
                _ => Err(io::Error::other(format!(
                    "hard link `{path}` -> `{target}`: target is not a file"
                ))),
            }
        }
        kind => Ok(kind),
    }
}

/// Appends one tree node with a header built from its own metadata.
fn append_node<W: Write>(
    builder: &mut tar::Builder<W>,
    path: &str,
    node: &Node,
    kind: &NodeKind,
    epoch: i64,
) -> io::Result<()> {
    let mut header = tar::Header::new_gnu();
    header.set_mode(node.mode & 0o7777);
    header.set_uid(node.uid);
    header.set_gid(node.gid);
    header.set_mtime(clamp_mtime(node.mtime, epoch));
    header.set_size(0);
    match kind {
        NodeKind::Dir => {
            header.set_entry_type(tar::EntryType::Directory);
            builder.append_data(&mut header, path, io::empty())
        }
        NodeKind::File(data) => {
            header.set_entry_type(tar::EntryType::Regular);
            header.set_size(data.len());
            builder.append_data(&mut header, path, data.reader())
        }
        NodeKind::Symlink(target) | NodeKind::Hardlink(target) => {
            let entry_type = if matches!(kind, NodeKind::Symlink(_)) {
                tar::EntryType::Symlink
            } else {
                tar::EntryType::Link
            };
            header.set_entry_type(entry_type);
            set_link_name_raw(builder, &mut header, target)?;
            builder.append_data(&mut header, path, io::empty())
        }
    }
}

/// Stores a link target byte for byte (tar-rs's `set_link_name` normalises `a/./b`), with a
/// GNU `K` record first when it does not fit in 100 bytes.
fn set_link_name_raw<W: Write>(
    builder: &mut tar::Builder<W>,
    header: &mut tar::Header,
    target: &str,
) -> io::Result<()> {
    let bytes = target.as_bytes();
    let slot = &mut header.as_old_mut().linkname;
    if bytes.len() > slot.len() {
        let mut long = tar::Header::new_gnu();
        long.set_path("././@LongLink")?;
        long.set_mode(0o644);
        long.set_uid(0);
        long.set_gid(0);
        long.set_mtime(0);
        long.set_size(bytes.len() as u64 + 1);
        long.set_entry_type(tar::EntryType::GNULongLink);
        long.set_cksum();
        builder.append(&long, io::Read::chain(bytes, &[0u8][..]))?;
    }
    let n = bytes.len().min(slot.len());
    slot.fill(0);
    slot[..n].copy_from_slice(&bytes[..n]);
    Ok(())
}

/// `min(mtime, epoch)`, and never before 1970.
pub fn clamp_mtime(mtime: i64, epoch: i64) -> u64 {
    mtime.min(epoch).max(0).unsigned_abs()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    fn node(kind: NodeKind, mode: u32, mtime: i64) -> Node {
        Node {
            kind,
            mode,
            uid: 0,
            gid: 0,
            mtime,
            owner: Some(0),
        }
    }

    fn list(store: &BlobStore, layer: &LayerDescriptor) -> Vec<(String, u32, u64, Option<String>)> {
        let file = std::fs::File::open(store.path(&layer.digest)).expect("blob");
        let mut archive = tar::Archive::new(flate2::read::MultiGzDecoder::new(file));
        archive
            .entries()
            .expect("tar")
            .map(|e| {
                let e = e.expect("entry");
                let link = e
                    .link_name()
                    .expect("link")
                    .map(|l| l.to_string_lossy().into_owned());
                let h = e.header();
                (
                    e.path().expect("path").to_string_lossy().into_owned(),
                    h.mode().expect("mode"),
                    h.mtime().expect("mtime"),
                    link,
                )
            })
            .collect()
    }

    #[test]
    fn writes_sorted_entries_with_raw_metadata() {
        let long_target = format!("../{}", "t".repeat(150));
        let nodes = [
            ("usr", node(NodeKind::Dir, 0o755, 50)),
            ("usr/bin", node(NodeKind::Dir, 0o755, 50)),
            (
                "usr/bin/mount",
                node(NodeKind::File(b"elf".into()), 0o4755, 5000),
            ),
            (
                "usr/bin/long",
                node(NodeKind::Symlink(long_target.clone()), 0o777, 10),
            ),
            ("tmp", node(NodeKind::Dir, 0o1777, 10)),
        ];
        let tree: Vec<(&str, &Node)> = nodes.iter().map(|(p, n)| (*p, n)).collect();
        let entries = select_entries(tree.iter().copied(), |_| true);
        let store = BlobStore::new().expect("temp");
        let layer =
            write_layer(&store, &entries, |_| None, 1000, Compression::Gzip).expect("layer");
        let listing = list(&store, &layer);
        assert_eq!(
            listing,
            [
                ("tmp".to_owned(), 0o1777, 10, None),
                ("usr".to_owned(), 0o755, 50, None),
                ("usr/bin".to_owned(), 0o755, 50, None),
                ("usr/bin/long".to_owned(), 0o777, 10, Some(long_target)),
                ("usr/bin/mount".to_owned(), 0o4755, 1000, None),
            ]
        );
        // The diff_id is the digest of the decompressed blob.
        let mut tar = Vec::new();
        flate2::read::MultiGzDecoder::new(
            std::fs::File::open(store.path(&layer.digest)).expect("blob"),
        )
        .read_to_end(&mut tar)
        .expect("gunzip");
        assert_eq!(Digest::of(&tar), layer.diff_id);
        let again =
            write_layer(&store, &entries, |_| None, 1000, Compression::Gzip).expect("layer");
        assert_eq!(again, layer);
    }

    #[test]
    fn compressions_share_the_diff_id() {
        let nodes = [
            ("etc", node(NodeKind::Dir, 0o755, 0)),
            (
                "etc/hostname",
                node(NodeKind::File(b"box\n".into()), 0o644, 0),
            ),
        ];
        let tree: Vec<(&str, &Node)> = nodes.iter().map(|(p, n)| (*p, n)).collect();
        let entries = select_entries(tree.iter().copied(), |_| true);
        let store = BlobStore::new().expect("temp");
        let layers: Vec<LayerDescriptor> =
            [Compression::Gzip, Compression::Zstd, Compression::None]
                .into_iter()
                .map(|c| write_layer(&store, &entries, |_| None, 0, c).expect("layer"))
                .collect();
        assert!(layers.iter().all(|l| l.diff_id == layers[0].diff_id));
        assert_eq!(
            layers[2].digest, layers[2].diff_id,
            "an uncompressed blob is its own tar"
        );
        assert_ne!(layers[0].digest, layers[1].digest);
        let zstd_blob = std::fs::read(store.path(&layers[1].digest)).expect("blob");
        let tar = zstd::decode_all(zstd_blob.as_slice()).expect("zstd");
        assert_eq!(Digest::of(&tar), layers[1].diff_id);
        // gzip header: no name, mtime 0.
        let gzip_blob = std::fs::read(store.path(&layers[0].digest)).expect("blob");
        assert_eq!(&gzip_blob[..8], &[0x1f, 0x8b, 8, 0, 0, 0, 0, 0]);
    }

    #[test]
    fn zstd_bytes_do_not_depend_on_the_thread_count() {
        // Larger than one zstd job, so several workers really split it.
        let mut state = 0x9e37_79b9_u32;
        let big: Vec<u8> = (0..24 << 20)
            .map(|i: u32| {
                state ^= state << 13;
                state ^= state >> 17;
                state ^= state << 5;
                if i.is_multiple_of(5) {
                    state as u8
                } else {
                    b"layer"[(i % 5) as usize]
                }
            })
            .collect();
        let nodes = [("blob", node(NodeKind::File(big.into()), 0o644, 0))];
        let tree: Vec<(&str, &Node)> = nodes.iter().map(|(p, n)| (*p, n)).collect();
        let entries = select_entries(tree.iter().copied(), |_| true);
        let digest_with = |threads: usize| {
            let store = BlobStore::new().expect("temp");
            rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .expect("pool")
                .install(|| write_layer(&store, &entries, |_| None, 0, Compression::Zstd))
                .expect("layer")
                .digest
        };
        assert_eq!(digest_with(1), digest_with(3));
    }

    #[test]
    fn the_recipe_names_the_tar() {
        let dir = tempfile::tempdir().expect("temp dir");
        let spill = crate::deb::SpillFile::new_in(dir.path()).expect("scratch file");
        let bytes: Vec<u8> = (0..10_000u32).map(|i| (i % 253) as u8).collect();
        let spilled = crate::deb::Content::from_reader(bytes.as_slice(), 10_000, Some(&spill))
            .expect("spilled");
        let recipe = |kind: NodeKind, mode: u32, mtime: i64| {
            let nodes = [
                ("usr", node(NodeKind::Dir, 0o755, 0)),
                ("usr/f", node(kind, mode, mtime)),
            ];
            let tree: Vec<(&str, &Node)> = nodes.iter().map(|(p, n)| (*p, n)).collect();
            let entries = select_entries(tree.iter().copied(), |_| true);
            tar_recipe(&entries, |_| None, 100).expect("recipe")
        };
        let reference = recipe(NodeKind::File(spilled), 0o644, 50);
        // The same bytes held in memory, and an mtime the epoch clamps to the same value.
        assert_eq!(
            recipe(NodeKind::File(bytes.clone().into()), 0o644, 50),
            reference
        );
        assert_eq!(
            recipe(NodeKind::File(bytes.clone().into()), 0o644, 100),
            recipe(NodeKind::File(bytes.clone().into()), 0o644, 200),
        );
        // Anything the tar would show differently names another tar.
        let mut flipped = bytes.clone();
        flipped[9_999] ^= 1;
        assert_ne!(recipe(NodeKind::File(flipped.into()), 0o644, 50), reference);
        assert_ne!(
            recipe(NodeKind::File(bytes.clone().into()), 0o755, 50),
            reference
        );
        assert_ne!(recipe(NodeKind::File(bytes.into()), 0o644, 51), reference);
        assert_ne!(recipe(NodeKind::Symlink("f".into()), 0o777, 50), reference);
    }

    #[test]
    fn selection_adds_parent_dirs() {
        let nodes = [
            ("a", node(NodeKind::Dir, 0o755, 0)),
            ("a/b", node(NodeKind::Dir, 0o700, 0)),
            (
                "a/b/f",
                Node {
                    owner: Some(1),
                    ..node(NodeKind::File(Vec::new().into()), 0o644, 0)
                },
            ),
            ("c", node(NodeKind::File(Vec::new().into()), 0o644, 0)),
        ];
        let tree: Vec<(&str, &Node)> = nodes.iter().map(|(p, n)| (*p, n)).collect();
        let chosen = select_entries(tree.iter().copied(), |n| n.owner == Some(1));
        assert_eq!(
            chosen.keys().copied().collect::<Vec<_>>(),
            ["a", "a/b", "a/b/f"]
        );
        assert_eq!(chosen["a/b"].mode, 0o700);
    }

    #[test]
    fn clamps() {
        assert_eq!(clamp_mtime(5, 10), 5);
        assert_eq!(clamp_mtime(50, 10), 10);
        assert_eq!(clamp_mtime(-3, 10), 0);
    }
}
