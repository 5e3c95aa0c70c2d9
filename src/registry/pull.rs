//! Pulling an image from any [`ImageSource`] into the blob cache, one architecture at a time.
//!
//! # Cache layout
//!
//! `<cache>/oci-blobs-v1/sha256/<hex>`: manifests, configs and layers by digest, shared by
//! every source (a blob pulled from a registry serves a layout of the same image). A blob is
//! written to a temporary file in the same directory, hashed while written, and renamed to its
//! digest only when the hash matches, like `fetch::cache`: a name in the cache is a promise
//! about its bytes.

use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use sha2::{Digest as _, Sha256};

use super::RegistryError;
use super::client::RegistryClient;
use super::reference::{ImageSource, Reference, is_sha256_digest};
pub use crate::oci::model::{Descriptor, ImageIndex, ImageManifest, Platform};
use crate::oci::model::{Digest, DigestError, Document, ImageConfig};

/// The cache directory's versioned name.
const CACHE_DIR: &str = "oci-blobs-v1";
/// `index.json`'s tag annotation.
const REF_NAME: &str = "org.opencontainers.image.ref.name";

/// Verified blobs by digest.
#[derive(Clone, Debug)]
pub struct BlobCache {
    dir: PathBuf,
}

impl BlobCache {
    /// The blob cache under the debless cache root.
    pub fn new(cache_root: &Path) -> Self {
        Self {
            dir: cache_root.join(CACHE_DIR).join("sha256"),
        }
    }

    /// Where blob `digest` is (or would be).
    pub fn path(&self, digest: &str) -> PathBuf {
        self.dir.join(digest.trim_start_matches("sha256:"))
    }

    /// Stores `digest`, filled by `fill`, unless already present; the bytes must hash to it.
    pub fn ensure(
        &self,
        digest: &str,
        fill: impl FnOnce(&mut dyn Write) -> Result<(), RegistryError>,
    ) -> Result<PathBuf, RegistryError> {
        let expected = Digest::parse(digest).map_err(|err| RegistryError::BadDocument {
            what: digest.to_owned(),
            reason: err.to_string(),
        })?;
        let path = self.path(digest);
        // A name in the cache is checked, not trusted: a damaged or edited blob is replaced.
        if path.is_file() {
            if crate::fetch::cache::sha256_file(&path)
                .is_ok_and(|hex| digest.strip_prefix("sha256:") == Some(hex.as_str()))
            {
                return Ok(path);
            }
            let _ = std::fs::remove_file(&path);
        }
        let io = |source| RegistryError::Write {
            what: self.dir.display().to_string(),
            source,
        };
        fs_err::create_dir_all(&self.dir).map_err(io)?;
        let temp = crate::cleanup::temp_file_in(&self.dir, ".tmp-").map_err(io)?;
        let mut writer = HashWriter {
            inner: BufWriter::new(temp),
            hasher: Sha256::new(),
        };
        fill(&mut writer)?;
        if let Err(DigestError::Mismatch { expected, actual }) =
            expected.check(&Digest::from_sha256(writer.hasher))
        {
            return Err(RegistryError::DigestMismatch {
                what: format!("blob {digest}"),
                expected: expected.to_string(),
                actual: actual.to_string(),
            });
        }
        let temp = writer.inner.into_inner().map_err(|e| io(e.into_error()))?;
        temp.persist(&path).map_err(|e| io(e.error))?;
        Ok(path)
    }
}

struct HashWriter<W> {
    inner: W,
    hasher: Sha256,
}

impl<W: Write> Write for HashWriter<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// One architecture's image, every blob in the cache.
#[derive(Clone, Debug)]
pub struct PulledImage {
    /// The image manifest's digest (what `org.opencontainers.image.base.digest` names).
    pub manifest_digest: String,
    pub manifest: ImageManifest,
    /// The config JSON.
    pub config: Vec<u8>,
    /// Cached layer blobs, bottom first, beside their descriptors.
    pub layers: Vec<(Descriptor, PathBuf)>,
}

/// An opened source: a registry connection, or a layout directory (an archive is unpacked
/// into a temporary one).
pub struct Puller {
    kind: PullerKind,
    cache: BlobCache,
    /// Written name of the source, for messages.
    name: String,
}

enum PullerKind {
    /// Only what the cache already holds.
    CacheOnly,
    Registry {
        client: Box<RegistryClient>,
        reference: Reference,
    },
    Layout {
        dir: PathBuf,
        tag: Option<String>,
        _unpacked: Option<tempfile::TempDir>,
    },
}

impl Puller {
    /// Opens `source`; `relative_to` anchors relative layout and archive paths; `auth` and
    /// `http` (credentials, trusted CAs) serve a registry.
    pub fn open(
        source: &ImageSource,
        relative_to: &Path,
        cache: BlobCache,
        name: &str,
        auth: &super::auth::RegistryAuth,
        http: &crate::net::HttpConfig,
    ) -> Result<Self, RegistryError> {
        let kind = match source {
            ImageSource::Registry(reference) => PullerKind::Registry {
                client: Box::new(RegistryClient::new(reference, auth, http)?),
                reference: reference.clone(),
            },
            ImageSource::Layout { path, tag } => {
                let dir = relative_to.join(path);
                if !dir.join("index.json").is_file() {
                    return Err(RegistryError::NotFound {
                        what: format!("OCI layout `{}` (no index.json)", dir.display()),
                    });
                }
                PullerKind::Layout {
                    dir,
                    tag: tag.clone(),
                    _unpacked: None,
                }
            }
            ImageSource::Archive { path } => {
                let file = relative_to.join(path);
                let unpacked = unpack_archive(&file)?;
                PullerKind::Layout {
                    dir: unpacked.path().to_owned(),
                    tag: None,
                    _unpacked: Some(unpacked),
                }
            }
        };
        Ok(Self {
            kind,
            cache,
            name: name.to_owned(),
        })
    }

    /// A puller that reads only the cache: a pinned image pulled before needs no source.
    pub fn cache_only(cache: BlobCache, name: &str) -> Self {
        Self {
            kind: PullerKind::CacheOnly,
            cache,
            name: name.to_owned(),
        }
    }

    /// The digest and bytes of what the source names (an index or a manifest), cached.
    pub fn top(&self) -> Result<(String, Vec<u8>), RegistryError> {
        match &self.kind {
            PullerKind::CacheOnly => Err(RegistryError::NotFound {
                what: format!("`{}` in the cache", self.name),
            }),
            PullerKind::Registry { client, reference } => {
                let fetched = client.manifest(reference)?;
                self.cache.ensure(&fetched.digest, |out| {
                    out.write_all(&fetched.bytes)
                        .map_err(|source| RegistryError::Write {
                            what: fetched.digest.clone(),
                            source,
                        })
                })?;
                Ok((fetched.digest, fetched.bytes))
            }
            PullerKind::Layout { dir, tag, .. } => {
                let index_path = dir.join("index.json");
                let text = fs_err::read(&index_path).map_err(|source| RegistryError::Write {
                    what: index_path.display().to_string(),
                    source,
                })?;
                let index = ImageIndex::parse(&text).map_err(|err| RegistryError::BadDocument {
                    what: index_path.display().to_string(),
                    reason: err.to_string(),
                })?;
                let chosen: Vec<&Descriptor> = index
                    .manifests
                    .iter()
                    .filter(|d| {
                        tag.as_ref()
                            .is_none_or(|tag| d.annotations.get(REF_NAME) == Some(tag))
                    })
                    .collect();
                let [top] = chosen.as_slice() else {
                    return Err(RegistryError::NotFound {
                        what: match tag {
                            Some(tag) => format!("tag `{tag}` in `{}`", self.name),
                            None => format!(
                                "a single image in `{}` ({} entries; add `:TAG`)",
                                self.name,
                                chosen.len()
                            ),
                        },
                    });
                };
                let digest = top.digest.to_string();
                let bytes = self.blob_bytes(&digest)?;
                Ok((digest, bytes))
            }
        }
    }

    /// Blob or manifest `digest`, from the cache or the source, verified.
    pub fn blob_path(&self, digest: &str) -> Result<PathBuf, RegistryError> {
        match &self.kind {
            PullerKind::CacheOnly => {
                let path = self.cache.path(digest);
                if is_sha256_digest(digest) && path.is_file() {
                    Ok(path)
                } else {
                    Err(RegistryError::NotFound {
                        what: format!("blob {digest} in the cache"),
                    })
                }
            }
            PullerKind::Registry { client, reference } => self.cache.ensure(digest, |out| {
                client
                    .blob_into(&reference.repository, digest, out)
                    .map(|_| ())
            }),
            PullerKind::Layout { dir, .. } => {
                let source = dir
                    .join("blobs/sha256")
                    .join(digest.trim_start_matches("sha256:"));
                self.cache.ensure(digest, |out| {
                    let mut file =
                        fs_err::File::open(&source).map_err(|_| RegistryError::NotFound {
                            what: format!("blob {digest} in `{}`", self.name),
                        })?;
                    std::io::copy(&mut file, out).map_err(|source_err| RegistryError::Write {
                        what: source.display().to_string(),
                        source: source_err,
                    })?;
                    Ok(())
                })
            }
        }
    }

    /// A manifest by digest (registries: via `/manifests/`, so Accept headers apply).
    fn manifest_bytes(&self, digest: &str) -> Result<Vec<u8>, RegistryError> {
        if let PullerKind::Registry { client, reference } = &self.kind
            && !self.cache.path(digest).is_file()
        {
            let fetched = client.manifest(&reference.with_digest(digest))?;
            self.cache.ensure(digest, |out| {
                out.write_all(&fetched.bytes)
                    .map_err(|source| RegistryError::Write {
                        what: digest.to_owned(),
                        source,
                    })
            })?;
        }
        self.blob_bytes(digest)
    }

    fn blob_bytes(&self, digest: &str) -> Result<Vec<u8>, RegistryError> {
        let path = self.blob_path(digest)?;
        fs_err::read(&path).map_err(|source| RegistryError::Write {
            what: path.display().to_string(),
            source,
        })
    }

    /// The manifest digest for `architecture` (OCI name, e.g. `arm64`) of the top document:
    /// the entry of an index, or the manifest itself when it is one (then its config must
    /// say that architecture).
    pub fn resolve_platform(
        &self,
        top_digest: &str,
        top: &[u8],
        architecture: &str,
    ) -> Result<String, RegistryError> {
        let bad = |err: serde_json::Error| RegistryError::BadDocument {
            what: format!("{} ({top_digest})", self.name),
            reason: err.to_string(),
        };
        if let Document::Index(index) = Document::parse(top).map_err(bad)? {
            let found = index.manifests.iter().find(|d| {
                d.platform
                    .as_ref()
                    .is_some_and(|p| p.os == "linux" && p.architecture == architecture)
            });
            return match found {
                Some(entry) => Ok(entry.digest.to_string()),
                None => Err(RegistryError::NoPlatform {
                    image: self.name.clone(),
                    architecture: architecture.to_owned(),
                    available: index
                        .manifests
                        .iter()
                        .filter_map(|d| d.platform.as_ref())
                        .map(|p| format!("{}/{}", p.os, p.architecture))
                        .collect::<Vec<_>>()
                        .join(", "),
                }),
            };
        }
        let image = self.pull(top_digest)?;
        let found = ImageConfig::parse(&image.config)
            .map(|config| config.architecture)
            .unwrap_or_default();
        if found != architecture {
            return Err(RegistryError::NoPlatform {
                image: self.name.clone(),
                architecture: architecture.to_owned(),
                available: format!("linux/{found}"),
            });
        }
        Ok(top_digest.to_owned())
    }

    /// Pulls the image manifest `digest` with its config and layers into the cache.
    pub fn pull(&self, digest: &str) -> Result<PulledImage, RegistryError> {
        let bytes = self.manifest_bytes(digest)?;
        let manifest = ImageManifest::parse(&bytes).map_err(|err| RegistryError::BadDocument {
            what: format!("manifest {digest} of {}", self.name),
            reason: err.to_string(),
        })?;
        let config = self.blob_bytes(manifest.config.digest.as_str())?;
        let layers = manifest
            .layers
            .iter()
            .map(|layer| Ok((layer.clone(), self.blob_path(layer.digest.as_str())?)))
            .collect::<Result<Vec<_>, RegistryError>>()?;
        Ok(PulledImage {
            manifest_digest: digest.to_owned(),
            manifest,
            config,
            layers,
        })
    }
}

/// Unpacks an `oci-archive:` tar into a temporary layout directory.
fn unpack_archive(file: &Path) -> Result<tempfile::TempDir, RegistryError> {
    let io = |source| RegistryError::Write {
        what: file.display().to_string(),
        source,
    };
    let reader = fs_err::File::open(file).map_err(|_| RegistryError::NotFound {
        what: format!("OCI archive `{}`", file.display()),
    })?;
    let dir = crate::cleanup::temp_dir("debless-base-").map_err(io)?;
    let mut archive = tar::Archive::new(std::io::BufReader::new(reader));
    // `unpack` refuses paths escaping the directory.
    archive.unpack(dir.path()).map_err(io)?;
    Ok(dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cache_keeps_only_verified_blobs() {
        let root = tempfile::tempdir().expect("temp");
        let cache = BlobCache::new(root.path());
        let good = format!("sha256:{}", hex::encode(Sha256::digest(b"hello")));
        let path = cache
            .ensure(&good, |out| {
                out.write_all(b"hello")
                    .map_err(|source| RegistryError::Write {
                        what: String::new(),
                        source,
                    })
            })
            .expect("stored");
        assert_eq!(fs_err::read(&path).expect("readable"), b"hello");
        // A damaged entry is not a hit: it is fetched again.
        fs_err::write(&path, b"hellO").expect("damage");
        let refilled = cache
            .ensure(&good, |out| {
                out.write_all(b"hello")
                    .map_err(|source| RegistryError::Write {
                        what: String::new(),
                        source,
                    })
            })
            .expect("refetched");
        assert_eq!(fs_err::read(refilled).expect("readable"), b"hello");
        let wrong = format!("sha256:{}", "0".repeat(64));
        let err = cache
            .ensure(&wrong, |out| {
                out.write_all(b"hello")
                    .map_err(|source| RegistryError::Write {
                        what: String::new(),
                        source,
                    })
            })
            .expect_err("mismatch");
        assert!(err.to_string().contains(&good), "{err}");
        assert!(!cache.path(&wrong).exists());
        let names: Vec<_> = fs_err::read_dir(root.path().join(CACHE_DIR).join("sha256"))
            .expect("dir")
            .map(|e| e.expect("entry").file_name())
            .collect();
        assert_eq!(names.len(), 1, "no temporary file left: {names:?}");
    }
}
