//! `Packages` indices: choosing the file to fetch from the verified `Release` (fetched, checked
//! and cached by `listed` in the [`IndexCache`]), and reading its stanzas while it downloads
//! ([`super::parse`]). The first read of an index also stores its pre-parsed form
//! ([`super::packed`]), which later runs read instead and which lookups read in place.

use super::RepoError;
pub use super::cache::{IndexCache, packed_dir, sha256_hex};
use super::listed::ListedFiles;
use super::packed::PackedIndex;
pub(super) use super::parse::decoder;
use super::release::{IndexFile, component_name};
use crate::debian::{Arch, BinaryPackage};

/// Index formats in preference order. gzip wins although xz is a quarter smaller: bookworm's
/// main `Packages` (12 MB as `.gz`, 8.8 MB as `.xz`, 50 MB of text) decompresses in about
/// 0.12 s from gzip and 0.5 s from xz, while the 3 MB more take a few milliseconds to download
/// from a mirror, and the decompression is what the parse waits for.
const FORMATS: [&str; 3] = ["Packages.gz", "Packages.xz", "Packages"];

/// Which index a suite's packages came from, for the lock and for messages.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IndexRef {
    pub component: String,
    pub arch: Arch,
    /// Relative to `dists/<suite>/` (`main/binary-amd64/Packages.gz`).
    pub path: String,
    /// sha256 of the file at `path`, as signed in the Release.
    pub sha256: String,
}

/// What is needed to fetch the indices of one verified suite.
pub(super) struct IndexSource<'a>(pub ListedFiles<'a>);

impl IndexSource<'_> {
    /// The listed index files for a component and arch, in preference order. Security suites
    /// list `main/…` paths for the `updates/main` component; both spellings are tried.
    fn candidates(&self, component: &str, arch: &Arch) -> Vec<&IndexFile> {
        let short = component_name(component);
        let prefixes: Vec<&str> = self
            .0
            .release
            .components
            .iter()
            .map(String::as_str)
            .filter(|listed| component_name(listed) == short)
            .chain([short])
            .collect();
        let mut found = Vec::new();
        for format in FORMATS {
            for prefix in &prefixes {
                let path = format!("{prefix}/binary-{arch}/{format}");
                match self.0.release.file(&path) {
                    Some(file) if !found.contains(&file) => found.push(file),
                    _ => {}
                }
            }
        }
        found
    }

    /// Fetches (or reads from the cache) the index of one component and arch: its packed
    /// form, read from the cache when present, else parsed from the verified index and stored.
    pub fn load(&self, component: &str, arch: &Arch) -> Result<(IndexRef, Loaded), RepoError> {
        let candidates = self.candidates(component, arch);
        if candidates.is_empty() {
            return Err(RepoError::NoIndex {
                suite: self.0.suite.to_owned(),
                component: component.to_owned(),
                arch: arch.clone(),
            });
        }
        // A packed file of any listed candidate means no decompression and no deb822 parse.
        let packed = candidates.iter().find_map(|file| {
            self.0.cache.packed(&file.sha256).map(|found| {
                let loaded = Loaded {
                    packed: found,
                    parsed: None,
                };
                (*file, loaded)
            })
        });
        let (file, loaded) = match packed {
            Some(hit) => hit,
            None => {
                let suite = self.0.suite;
                let (file, parsed) = self.0.stream(&candidates, |file, reader| {
                    super::parse::parse_stream(suite, file, reader)
                })?;
                let super::parse::Parsed { packages, encoder } = parsed?;
                let bytes = encoder.finish(&file.sha256);
                self.0.cache.put_packed(&file.sha256, &bytes)?;
                let packed =
                    PackedIndex::open(bytes, &file.sha256).map_err(|err| RepoError::BadIndex {
                        suite: self.0.suite.to_owned(),
                        path: file.path.clone(),
                        reason: format!("its packed form does not read back: {err}"),
                    })?;
                let loaded = Loaded {
                    packed,
                    parsed: Some(packages),
                };
                (file, loaded)
            }
        };
        let index = IndexRef {
            component: component.to_owned(),
            arch: arch.clone(),
            path: file.path.clone(),
            sha256: file.sha256.clone(),
        };
        Ok((index, loaded))
    }
}

/// One index as [`IndexSource::load`] found it.
pub(super) struct Loaded {
    /// Its packed form (read in place by lookups).
    pub packed: PackedIndex,
    /// Its stanzas, when it had to be parsed (a cache miss): callers that want every package
    /// take these instead of decoding the packed form again.
    pub parsed: Option<Vec<BinaryPackage>>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file_of(bytes: &[u8]) -> IndexFile {
        IndexFile {
            path: "main/binary-amd64/Packages".into(),
            size: bytes.len() as u64,
            sha256: sha256_hex(bytes),
        }
    }

    #[test]
    fn cache_round_trips_and_rejects_altered_files() {
        let root = tempfile::tempdir().expect("tempdir");
        let cache = IndexCache::new(root.path());
        let bytes = b"Package: a\nVersion: 1\n".to_vec();
        let file = file_of(&bytes);
        assert_eq!(cache.get(&file), None);
        let mut pending = cache.pending().expect("temporary file");
        std::io::Write::write_all(&mut pending, &bytes).expect("written");
        pending.persist(&file.sha256).expect("stored");
        assert_eq!(cache.get(&file), Some(bytes.clone()));
        let stored = root.path().join("indices-v1/sha256").join(&file.sha256);
        std::fs::write(&stored, b"Package: b\nVersion: 1\n").expect("overwrite");
        assert_eq!(
            cache.get(&file),
            None,
            "an altered cache file is not trusted"
        );
    }
}
