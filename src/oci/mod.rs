//! Stage `oci`: the rootfs tree as deterministic OCI layers, config and manifest, and the
//! writers for an OCI layout directory, an OCI archive and a `docker load` archive.
//!
//! [`build_image`] groups packages into `layers` layers (contiguous in package order, equal
//! counts, see [`plan_layers`]), writes each layer tar straight from the in-memory tree into a [`BlobStore`],
//! then the config and manifest. Nothing reads the clock: `created` and every mtime come from
//! [`OciOptions::epoch`]. A base image's layers can be put in front with
//! [`finish_image`], which takes any list of layer descriptors already in the store.

pub mod base;
pub mod blob;
pub mod config;
pub mod digest;
pub mod files;
pub mod inspect;
pub mod layer;
pub mod layer_cache;
pub mod layout;
pub mod model;
pub mod pgzip;
pub mod unpack;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use rayon::prelude::*;

pub use self::blob::BlobStore;
pub use self::config::{Descriptor, ImageSpec, Platform};
pub use self::digest::{Digest, DigestError};
pub use self::layer::{Compression, LayerDescriptor};
pub use self::layer_cache::LayerCache;
pub use self::layout::{fsck_layout, write_docker_archive, write_oci_archive, write_oci_layout};
use crate::debian::Arch;
use crate::rootfs::{PackageId, Rootfs};

/// How to build an image.
#[derive(Clone, Debug)]
pub struct OciOptions {
    /// `SOURCE_DATE_EPOCH`: mtime clamp and `created`.
    pub epoch: i64,
    /// Layer compression.
    pub compression: Compression,
    /// Image architecture.
    pub arch: Arch,
    /// Number of layers to split the packages into (at least 1; at most one per package).
    pub layers: usize,
}

/// Why an image could not be built or written.
#[derive(Debug, thiserror::Error)]
pub enum OciError {
    /// Writing a blob or output file failed.
    #[error("cannot write `{}`: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    /// Writing layer `index` (0 = bottom) into the blob store failed.
    #[error("cannot write layer {index}: {source}")]
    Layer {
        index: usize,
        source: std::io::Error,
    },
    /// Writing the config or manifest into the blob store failed.
    #[error("cannot store the image config or manifest: {0}")]
    Blob(std::io::Error),
    /// An OCI layout failed [`fsck_layout`].
    #[error("`{}` is not a valid OCI layout: {what}", path.display())]
    Corrupt { path: PathBuf, what: String },
    /// No image to write.
    #[error("no image to write")]
    NoImages,
    /// A docker archive holds one platform.
    #[error(
        "a docker archive holds one image, got {0} (use an OCI layout for several architectures)"
    )]
    DockerArchiveNeedsOneImage(usize),
    /// The output exists and is not something debless may replace.
    #[error("`{}` exists and is not an OCI layout; refusing to replace it", path.display())]
    TargetExists { path: PathBuf },
}

/// A built image: its descriptors and the store that holds its blobs.
#[derive(Clone, Debug)]
pub struct BuiltImage {
    /// Where the blobs are.
    pub store: Arc<BlobStore>,
    /// The manifest's descriptor (with platform).
    pub manifest: Descriptor,
    /// The config's descriptor.
    pub config: Descriptor,
    /// The layers, bottom first.
    pub layers: Vec<LayerDescriptor>,
    /// The epoch the image was built with (archives reuse it as their mtime).
    pub epoch: i64,
}

/// Builds the layers, config and manifest of an image from a rootfs.
pub fn build_image(
    rootfs: &Rootfs,
    spec: &ImageSpec,
    opts: &OciOptions,
) -> Result<BuiltImage, OciError> {
    let store = Arc::new(BlobStore::new().map_err(OciError::Blob)?);
    let layers = write_layers(&store, rootfs, opts, None)?;
    finish_image(store, layers, spec, opts)
}

/// Writes the rootfs's layers into `store`, one per package group, compressing them in
/// parallel (each layer's bytes depend only on its files, so the thread count changes nothing)
/// and taking those `cache` already holds from it.
pub fn write_layers(
    store: &BlobStore,
    rootfs: &Rootfs,
    opts: &OciOptions,
    cache: Option<&LayerCache>,
) -> Result<Vec<LayerDescriptor>, OciError> {
    let groups = plan_layers(rootfs.packages().len(), opts.layers);
    let tree = rootfs.tree();
    let mut layer_of = vec![0; rootfs.packages().len()];
    for (index, group) in groups.iter().enumerate() {
        for &package in group {
            layer_of[package] = index;
        }
    }
    let written: Vec<Result<LayerDescriptor, OciError>> = (0..groups.len())
        .into_par_iter()
        .map(|index| {
            // Paths debless made up (owner None) go into the bottom layer.
            let include =
                |node: &crate::rootfs::Node| node.owner.map_or(0, |owner| layer_of[owner]) == index;
            let entries = layer::select_entries(tree.iter(), include);
            write_layer(store, cache, &entries, |p| tree.get(p), opts)
                .map_err(|source| OciError::Layer { index, source })
        })
        .collect();
    // In layer order; the first failing layer in that order is the error.
    written.into_iter().collect()
}

/// [`layer::write_layer`], through `cache` when there is one.
pub fn write_layer<'a>(
    store: &BlobStore,
    cache: Option<&LayerCache>,
    entries: &BTreeMap<&'a str, &'a crate::rootfs::Node>,
    lookup: impl Fn(&str) -> Option<&'a crate::rootfs::Node>,
    opts: &OciOptions,
) -> std::io::Result<LayerDescriptor> {
    match cache {
        Some(cache) => cache.write_layer(store, entries, lookup, opts.epoch, opts.compression),
        None => layer::write_layer(store, entries, lookup, opts.epoch, opts.compression),
    }
}

/// Splits `packages` packages (in lock order: sorted by name) into `count` contiguous groups
/// of equal count (at most one group per package). The grouping depends on the number of
/// packages only, never on versions or sizes: updating a package rewrites only the layer
/// that holds it, so registries and hosts keep the others (issue #5). Balancing by bytes
/// would move boundaries whenever a package grows.
pub fn plan_layers(packages: usize, count: usize) -> Vec<Vec<PackageId>> {
    let count = count.clamp(1, packages.max(1));
    let mut groups: Vec<Vec<PackageId>> = vec![Vec::new(); count];
    for id in 0..packages {
        groups[id * count / packages].push(id);
    }
    groups
}

/// Writes config and manifest for `layers` (already in `store`), e.g. a base image's layers
/// followed by the rootfs's.
pub fn finish_image(
    store: Arc<BlobStore>,
    layers: Vec<LayerDescriptor>,
    spec: &ImageSpec,
    opts: &OciOptions,
) -> Result<BuiltImage, OciError> {
    let (architecture, variant) = opts.arch.oci_platform();
    let platform = Platform {
        architecture: architecture.to_owned(),
        os: "linux".to_owned(),
        variant: variant.map(str::to_owned),
    };
    let diff_ids: Vec<Digest> = layers.iter().map(|l| l.diff_id.clone()).collect();
    let config_bytes = config::config_json(spec, &platform, &diff_ids, opts.epoch);
    finish_with_config(
        store,
        layers,
        &config_bytes,
        &spec.annotations,
        platform,
        opts.epoch,
    )
}

/// Stores `config_bytes` and writes the manifest for `layers` (already in `store`): the
/// common end of [`finish_image`] and [`base::rebase`].
pub fn finish_with_config(
    store: Arc<BlobStore>,
    layers: Vec<LayerDescriptor>,
    config_bytes: &[u8],
    annotations: &BTreeMap<String, String>,
    platform: Platform,
    epoch: i64,
) -> Result<BuiltImage, OciError> {
    let (config_digest, config_size) = store.put(config_bytes).map_err(OciError::Blob)?;
    let config = Descriptor {
        media_type: config::CONFIG_MEDIA_TYPE.to_owned(),
        digest: config_digest,
        size: config_size,
        platform: None,
        annotations: BTreeMap::new(),
    };
    let manifest_doc = config::Manifest {
        schema_version: 2,
        media_type: config::MANIFEST_MEDIA_TYPE,
        config: config.clone(),
        layers: layers
            .iter()
            .map(|l| Descriptor {
                media_type: l.media_type.clone(),
                digest: l.digest.clone(),
                size: l.size,
                platform: None,
                annotations: BTreeMap::new(),
            })
            .collect(),
        annotations,
    };
    let manifest_bytes =
        serde_json::to_vec(&manifest_doc).expect("serialising plain structs cannot fail");
    let (digest, size) = store.put(&manifest_bytes).map_err(OciError::Blob)?;
    let manifest = Descriptor {
        media_type: config::MANIFEST_MEDIA_TYPE.to_owned(),
        digest,
        size,
        platform: Some(platform),
        annotations: BTreeMap::new(),
    };
    Ok(BuiltImage {
        store,
        manifest,
        config,
        layers,
        epoch,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layer_plan_is_contiguous_and_even() {
        assert_eq!(plan_layers(4, 2), [vec![0, 1], vec![2, 3]]);
        assert_eq!(plan_layers(5, 3), [vec![0, 1], vec![2, 3], vec![4]]);
        assert_eq!(plan_layers(2, 8), [vec![0], vec![1]]);
        assert_eq!(plan_layers(0, 3), [Vec::<usize>::new()]);
        assert_eq!(plan_layers(3, 1), [vec![0, 1, 2]]);
        for (packages, count) in [(7, 3), (40, 6), (41, 6)] {
            let plan = plan_layers(packages, count);
            assert_eq!(plan.len(), count);
            let sizes: Vec<usize> = plan.iter().map(Vec::len).collect();
            let (min, max) = (sizes.iter().min(), sizes.iter().max());
            assert!(max.zip(min).is_some_and(|(a, b)| a - b <= 1), "{sizes:?}");
            let flat: Vec<usize> = plan.into_iter().flatten().collect();
            assert_eq!(flat, (0..packages).collect::<Vec<_>>());
        }
    }
}
