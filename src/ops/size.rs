//! `build --report` and the `size` operation: what each package contributes to the image
//! after path filters, and (for a built image) what the layers weigh compressed and
//! uncompressed. [`size`] assembles the locked image in memory from the cache, without
//! writing layers.

use std::io;

use super::assemble::{self, AssembleOptions};
use super::{Error, Progress, Project};
use crate::env::Settings;

use crate::oci::BuiltImage;
use crate::rootfs::Rootfs;

/// One package's share of the image.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct PackageSize {
    /// Package name.
    pub name: String,
    /// Version.
    pub version: String,
    /// Architecture.
    pub architecture: String,
    /// Bytes of regular files it owns in the image (after filters, status.d included).
    pub bytes: u64,
}

/// One layer's sizes.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct LayerSize {
    /// The compressed blob's digest.
    pub digest: String,
    /// Size of the compressed blob.
    pub compressed: u64,
    /// Size of the uncompressed tar.
    pub uncompressed: u64,
}

/// The size report of one architecture's image.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct SizeReport {
    /// Debian architecture.
    pub architecture: String,
    /// Packages by bytes, largest first (ties by name, so the order is stable).
    pub packages: Vec<PackageSize>,
    /// Sum of the packages' bytes.
    pub total: u64,
    /// Layers, bottom first.
    pub layers: Vec<LayerSize>,
    /// Bytes of the application's own files (`[[image.files]]`, tars), when measured.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub application: Option<u64>,
}

impl SizeReport {
    /// Measures `rootfs` and the layers of `image` built from it.
    pub fn measure(architecture: &str, rootfs: &Rootfs, image: &BuiltImage) -> io::Result<Self> {
        let mut report = Self::of_rootfs(architecture, rootfs);
        report.layers = image
            .layers
            .iter()
            .map(|layer| {
                Ok(LayerSize {
                    digest: layer.digest.as_str().to_owned(),
                    compressed: layer.size,
                    uncompressed: uncompressed_size(
                        &image.store.path(&layer.digest),
                        &layer.media_type,
                    )?,
                })
            })
            .collect::<io::Result<Vec<_>>>()?;
        Ok(report)
    }

    /// Measures the packages of `rootfs` alone (no layers were written: `debless size`).
    pub fn of_rootfs(architecture: &str, rootfs: &Rootfs) -> Self {
        let mut packages: Vec<PackageSize> = rootfs
            .packages()
            .iter()
            .zip(rootfs.bytes_per_package())
            .map(|(info, bytes)| PackageSize {
                name: info.name.clone(),
                version: info.version.clone(),
                architecture: info.arch.clone(),
                bytes,
            })
            .collect();
        packages.sort_by(|a, b| {
            b.bytes
                .cmp(&a.bytes)
                .then_with(|| a.name.cmp(&b.name))
                .then_with(|| a.architecture.cmp(&b.architecture))
        });
        let total = packages.iter().map(|p| p.bytes).sum();
        Self {
            architecture: architecture.to_owned(),
            packages,
            total,
            layers: Vec::new(),
            application: None,
        }
    }

    /// The report as a table for people.
    pub fn render(&self) -> String {
        let mut out = format!(
            "{}: {} package{}, {} bytes after filters\n",
            self.architecture,
            self.packages.len(),
            if self.packages.len() == 1 { "" } else { "s" },
            self.total
        );
        let width = self.total.to_string().len().max(5);
        out.push_str(&format!("  {:>width$}  PACKAGE\n", "BYTES"));
        for package in &self.packages {
            out.push_str(&format!(
                "  {:>width$}  {} {} {}\n",
                package.bytes, package.name, package.version, package.architecture
            ));
        }
        out.push_str(&format!("  {:>width$}  total\n", self.total));
        if let Some(bytes) = self.application {
            out.push_str(&format!(
                "  {bytes:>width$}  application files ([[image.files]], tars)\n"
            ));
        }
        for (index, layer) in self.layers.iter().enumerate() {
            out.push_str(&format!(
                "layer {}: {} bytes compressed, {} bytes uncompressed ({})\n",
                index + 1,
                layer.compressed,
                layer.uncompressed,
                layer.digest
            ));
        }
        out
    }
}

/// Bytes of the tar inside a layer blob.
fn uncompressed_size(path: &std::path::Path, media_type: &str) -> io::Result<u64> {
    let file = io::BufReader::new(fs_err::File::open(path)?);
    let mut reader = crate::oci::layer::decoding_of(media_type).decoder(file)?;
    io::copy(&mut reader, &mut io::sink())
}

/// Measures the locked image assembled in memory (path filters and essentials included), per
/// package, one report per architecture.
pub fn size(
    project: &Project,
    settings: &Settings,
    options: &AssembleOptions,
    progress: &dyn Progress,
) -> Result<Vec<SizeReport>, Error> {
    let (_, images) = assemble::assemble_all(project, settings, options, progress)?;
    Ok(images
        .iter()
        .map(|image| {
            let mut report = SizeReport::of_rootfs(image.arch.as_str(), &image.rootfs);
            report.application = Some(app_bytes(&image.app));
            report
        })
        .collect())
}

/// Bytes of the regular files of the application layer's tree.
fn app_bytes(app: &crate::rootfs::Tree) -> u64 {
    app.iter()
        .map(|(_, node)| match &node.kind {
            crate::rootfs::NodeKind::File(bytes) => bytes.len(),
            _ => 0,
        })
        .sum()
}
