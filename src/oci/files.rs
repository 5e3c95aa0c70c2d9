//! The application's layer: the tree [`AppInputs`] places over the packages (see
//! `rootfs::app`), written as the image's top layer by the package layers' writer.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::{BlobStore, BuiltImage, ImageSpec, LayerCache, LayerDescriptor, OciError, OciOptions};
pub use crate::rootfs::app::{AppFilesError, AppInputs};
use crate::rootfs::{Node, Rootfs, Tree};

/// Writes the application tree as one layer with the package layers' writer.
pub fn write_app_layer(
    store: &BlobStore,
    tree: &Tree,
    index: usize,
    opts: &OciOptions,
    cache: Option<&LayerCache>,
) -> Result<LayerDescriptor, OciError> {
    let entries: BTreeMap<&str, &Node> = tree.iter().collect();
    super::write_layer(store, cache, &entries, |p| tree.get(p), opts)
        .map_err(|source| OciError::Layer { index, source })
}

/// Why an image with application files could not be built.
#[derive(Debug, thiserror::Error)]
pub enum AppImageError {
    #[error(transparent)]
    Files(#[from] AppFilesError),
    #[error(transparent)]
    Oci(#[from] OciError),
}

/// [`super::build_image`] plus, when `app` is not empty, its layer on top; layers `cache`
/// holds are taken from it.
pub fn build_image_with_app(
    rootfs: &Rootfs,
    app: &AppInputs,
    spec: &ImageSpec,
    opts: &OciOptions,
    cache: Option<&LayerCache>,
) -> Result<BuiltImage, AppImageError> {
    let store = Arc::new(BlobStore::new().map_err(OciError::Blob)?);
    let mut layers = super::write_layers(&store, rootfs, opts, cache)?;
    if !app.is_empty() {
        let tree = app.tree(rootfs.tree(), opts.epoch)?;
        layers.push(write_app_layer(&store, &tree, layers.len(), opts, cache)?);
    }
    Ok(super::finish_image(store, layers, spec, opts)?)
}
