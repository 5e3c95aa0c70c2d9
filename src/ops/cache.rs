//! The cache operations: what the cache root holds ([`info`]) and bounding it ([`prune`]).
//!
//! Every bucket under the cache root is content-addressed or re-derivable (verified `.deb`s,
//! indices, base-image blobs, the layer cache), so any file may go: a later run fetches or
//! builds it again. Prune therefore treats the root as one pool of files, least recently used
//! first. "Used" is the later of a file's mtime and atime: the layer cache sets the mtime of
//! what a build takes from it, and other buckets' reads show in the atime where the file
//! system records it (relatime updates it at least daily). Files being written (`.tmp-*`)
//! and other dot files are never touched; a ref of the layer cache whose blob was pruned is
//! removed with it.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use super::Error;
use crate::env::Settings;

/// One top-level directory of the cache root.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Bucket {
    /// Its name (`debs`, `layers-v1`, …).
    pub name: String,
    /// Files in it (recursively).
    pub files: u64,
    /// Their bytes.
    pub bytes: u64,
}

/// What the cache root holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CacheInfo {
    pub root: PathBuf,
    /// In name order.
    pub buckets: Vec<Bucket>,
}

/// Lists the cache's buckets with their sizes (an absent root is an empty cache).
pub fn info(settings: &Settings) -> Result<CacheInfo, Error> {
    let root = &settings.cache_dir;
    let mut buckets = Vec::new();
    for file in files_under(root)? {
        let name = file
            .path
            .strip_prefix(root)
            .ok()
            .and_then(|rel| rel.components().next())
            .map(|c| c.as_os_str().to_string_lossy().into_owned())
            .unwrap_or_default();
        match buckets.iter_mut().find(|b: &&mut Bucket| b.name == name) {
            Some(bucket) => {
                bucket.files += 1;
                bucket.bytes += file.bytes;
            }
            None => buckets.push(Bucket {
                name,
                files: 1,
                bytes: file.bytes,
            }),
        }
    }
    buckets.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(CacheInfo {
        root: root.clone(),
        buckets,
    })
}

/// How far to prune; with neither bound nothing is removed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PruneOptions {
    /// Remove least recently used files until the cache holds at most this many bytes.
    pub max_size: Option<u64>,
    /// Remove files not used for this long.
    pub max_age: Option<Duration>,
    /// Only report what would go.
    pub dry_run: bool,
}

/// What a prune removed and kept.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Pruned {
    pub removed_files: u64,
    pub removed_bytes: u64,
    pub kept_files: u64,
    pub kept_bytes: u64,
}

/// Bounds the cache by age and size (see the module doc); `now` is the time ages are
/// measured from.
pub fn prune(
    settings: &Settings,
    options: &PruneOptions,
    now: SystemTime,
) -> Result<Pruned, Error> {
    let root = &settings.cache_dir;
    let mut files = files_under(root)?;
    // Oldest first; the path breaks ties so the order does not depend on the directory walk.
    files.sort_by(|a, b| a.used.cmp(&b.used).then_with(|| a.path.cmp(&b.path)));
    let mut total: u64 = files.iter().map(|f| f.bytes).sum();
    let mut pruned = Pruned::default();
    for file in files {
        let too_old = options
            .max_age
            .is_some_and(|age| now.duration_since(file.used).is_ok_and(|d| d > age));
        let too_big = options.max_size.is_some_and(|max| total > max);
        if too_old || too_big {
            if !options.dry_run {
                match fs_err::remove_file(&file.path) {
                    Ok(()) => {}
                    // A concurrent prune or eviction got there first.
                    Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
                    Err(err) => return Err(err.into()),
                }
            }
            total -= file.bytes;
            pruned.removed_files += 1;
            pruned.removed_bytes += file.bytes;
        } else {
            pruned.kept_files += 1;
            pruned.kept_bytes += file.bytes;
        }
    }
    if !options.dry_run {
        remove_dangling_refs(root, &mut pruned)?;
    }
    Ok(pruned)
}

/// Removes the layer cache's refs whose blob is gone (each would be a miss anyway).
fn remove_dangling_refs(root: &Path, pruned: &mut Pruned) -> Result<(), Error> {
    let layers = crate::oci::layer_cache::dir(root);
    let Ok(refs) = std::fs::read_dir(layers.join("refs")) else {
        return Ok(());
    };
    for entry in refs {
        let path = entry?.path();
        if is_hidden(&path) {
            continue;
        }
        let Ok(text) = std::fs::read_to_string(&path) else {
            continue;
        };
        let blob = text
            .split_whitespace()
            .next()
            .and_then(|d| d.strip_prefix("sha256:"))
            .map(|hex| layers.join("sha256").join(hex));
        if blob.is_some_and(|blob| !blob.exists()) {
            let bytes = text.len() as u64;
            if std::fs::remove_file(&path).is_ok() {
                pruned.removed_files += 1;
                pruned.removed_bytes += bytes;
                pruned.kept_files = pruned.kept_files.saturating_sub(1);
                pruned.kept_bytes = pruned.kept_bytes.saturating_sub(bytes);
            }
        }
    }
    Ok(())
}

struct CachedFile {
    path: PathBuf,
    bytes: u64,
    used: SystemTime,
}

fn is_hidden(path: &Path) -> bool {
    path.file_name()
        .is_some_and(|name| name.as_encoded_bytes().starts_with(b"."))
}

/// Every regular file under `root` except dot files (temporaries in flight).
fn files_under(root: &Path) -> Result<Vec<CachedFile>, Error> {
    let mut files = Vec::new();
    let mut dirs = vec![root.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        let entries = match fs_err::read_dir(&dir) {
            Ok(entries) => entries,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => continue,
            Err(err) => return Err(err.into()),
        };
        for entry in entries {
            let entry = entry?;
            let path = entry.path();
            if is_hidden(&path) {
                continue;
            }
            let meta = match entry.metadata() {
                Ok(meta) => meta,
                Err(err) if err.kind() == std::io::ErrorKind::NotFound => continue,
                Err(err) => return Err(err.into()),
            };
            if meta.is_dir() {
                dirs.push(path);
            } else if meta.is_file() {
                let modified = meta.modified().unwrap_or(SystemTime::UNIX_EPOCH);
                let accessed = meta.accessed().unwrap_or(modified);
                files.push(CachedFile {
                    path,
                    bytes: meta.len(),
                    used: modified.max(accessed),
                });
            }
        }
    }
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(root: &Path, name: &str, bytes: usize, days_ago: u64, now: SystemTime) {
        let path = root.join(name);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(&path, vec![0u8; bytes]).expect("write");
        let when = now - Duration::from_secs(days_ago * 86_400);
        let file = std::fs::File::options()
            .append(true)
            .open(&path)
            .expect("open");
        file.set_times(
            std::fs::FileTimes::new()
                .set_modified(when)
                .set_accessed(when),
        )
        .expect("times");
    }

    fn settings(root: &Path) -> Settings {
        Settings {
            cache_dir: root.to_path_buf(),
            ..Settings::default()
        }
    }

    #[test]
    fn prunes_by_age_then_least_recently_used_first() {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path();
        let now = SystemTime::now();
        file(root, "debs/sha256/old", 100, 40, now);
        file(root, "debs/sha256/mid", 100, 10, now);
        file(root, "layers-v1/sha256/new", 100, 1, now);
        file(root, "layers-v1/sha256/newest", 100, 0, now);
        file(root, "layers-v1/sha256/.tmp-1-x", 100, 90, now);
        let info = info(&settings(root)).expect("info");
        assert_eq!(
            info.buckets,
            [
                Bucket {
                    name: "debs".into(),
                    files: 2,
                    bytes: 200
                },
                Bucket {
                    name: "layers-v1".into(),
                    files: 2,
                    bytes: 200
                }
            ]
        );

        let by_age = PruneOptions {
            max_age: Some(Duration::from_secs(30 * 86_400)),
            ..PruneOptions::default()
        };
        let pruned = prune(&settings(root), &by_age, now).expect("prune");
        assert_eq!((pruned.removed_files, pruned.kept_files), (1, 3));
        assert!(!root.join("debs/sha256/old").exists());

        let by_size = PruneOptions {
            max_size: Some(150),
            ..PruneOptions::default()
        };
        let pruned = prune(&settings(root), &by_size, now).expect("prune");
        assert_eq!((pruned.removed_bytes, pruned.kept_bytes), (200, 100));
        assert!(root.join("layers-v1/sha256/newest").exists());
        assert!(!root.join("layers-v1/sha256/new").exists());
        assert!(
            root.join("layers-v1/sha256/.tmp-1-x").exists(),
            "writes in flight stay"
        );
    }

    #[test]
    fn a_ref_goes_with_its_blob() {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path();
        let now = SystemTime::now();
        let hex = "ab".repeat(32);
        file(root, &format!("layers-v1/sha256/{hex}"), 100, 5, now);
        file(root, "layers-v1/refs/k", 0, 0, now);
        std::fs::write(root.join("layers-v1/refs/k"), format!("sha256:{hex} 100\n")).expect("ref");
        let options = PruneOptions {
            max_age: Some(Duration::from_secs(86_400)),
            ..PruneOptions::default()
        };
        let pruned = prune(&settings(root), &options, now).expect("prune");
        assert_eq!(pruned.removed_files, 2);
        assert!(!root.join("layers-v1/refs/k").exists());
    }

    #[test]
    fn an_absent_cache_is_empty() {
        let dir = tempfile::tempdir().expect("tempdir");
        let settings = settings(&dir.path().join("none"));
        assert!(info(&settings).expect("info").buckets.is_empty());
        let pruned = prune(
            &settings,
            &PruneOptions {
                max_size: Some(0),
                ..PruneOptions::default()
            },
            SystemTime::now(),
        )
        .expect("prune");
        assert_eq!(pruned, Pruned::default());
    }
}
