//! The pre-parsed index cache (`packed-v<N>/` in the cache, src/repo/packed/) never changes a
//! lock: a warm lock, a lock over a damaged or other-version packed file, and two locks racing
//! on one cache all write the bytes a cold lock writes.

use std::path::{Path, PathBuf};

use crate::hermetic::{project, standard_repo};
use crate::support::context::TestContext;

const ROOTS: &[&str] = &["hello", "tzdata"];

/// The packed files under a cache, sorted.
fn packed_files(cache: &Path) -> Vec<PathBuf> {
    let dir = debless::repo::index::packed_dir(cache);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.expect("dir entry").path())
        .filter(|path| {
            !path
                .file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with('.'))
        })
        .collect();
    files.sort();
    files
}

/// Removes the lock and locks again; returns the new lock.
fn relock(project: &TestContext) -> String {
    std::fs::remove_file(project.path().join("debless.lock")).expect("remove the lock");
    let out = project.run(&["lock"]);
    assert!(out.status.success(), "{}", project.render(&out));
    project.read("debless.lock")
}

#[test]
fn cold_and_warm_locks_are_byte_identical() {
    let repo = standard_repo();
    let project = project(&repo, ROOTS);
    let out = project.run(&["lock"]);
    assert!(out.status.success(), "{}", project.render(&out));
    let cold = project.read("debless.lock");
    let packed = packed_files(&project.cache);
    assert!(!packed.is_empty(), "the first read stores a packed index");
    let index_fetches = |repo: &crate::support::signed_repo::TestRepo| {
        repo.requests()
            .iter()
            .filter(|r| r.contains("binary-amd64"))
            .count()
    };
    let fetched = index_fetches(&repo);
    assert_eq!(relock(&project), cold, "warm (packed) lock = cold lock");
    assert_eq!(
        index_fetches(&repo),
        fetched,
        "a warm lock fetches no index"
    );
    // Without the compressed indices the packed files alone are enough…
    std::fs::remove_dir_all(project.cache.join("indices-v1")).expect("remove indices");
    assert_eq!(relock(&project), cold);
    assert_eq!(index_fetches(&repo), fetched);
    // …and with no cache at all the lock is again the same.
    std::fs::remove_dir_all(&project.cache).expect("remove the cache");
    assert_eq!(relock(&project), cold);
}

#[test]
fn damaged_or_other_version_packed_files_are_rebuilt_and_the_lock_is_unchanged() {
    let repo = standard_repo();
    let project = project(&repo, ROOTS);
    let out = project.run(&["lock"]);
    assert!(out.status.success(), "{}", project.render(&out));
    let cold = project.read("debless.lock");
    let originals: Vec<(PathBuf, Vec<u8>)> = packed_files(&project.cache)
        .into_iter()
        .map(|path| {
            let bytes = std::fs::read(&path).expect("read packed");
            (path, bytes)
        })
        .collect();
    type Damage = fn(&mut Vec<u8>);
    let damages: [(&str, Damage); 5] = [
        ("truncated", |bytes| bytes.truncate(bytes.len() / 2)),
        ("empty", Vec::clear),
        ("a flipped bit", |bytes| {
            let middle = bytes.len() / 2;
            bytes[middle] ^= 0x04;
        }),
        ("a string reference moved", |bytes| {
            bytes[debless::repo::packed::HEADER_LEN + 48] ^= 0x40;
        }),
        // A later (or earlier) debless's format: the version field, checksum left stale or
        // not, is refused before anything else is read.
        ("another format version", |bytes| {
            bytes[8] = bytes[8].wrapping_add(1);
        }),
    ];
    for (what, damage) in damages {
        for (path, original) in &originals {
            let mut bytes = original.clone();
            damage(&mut bytes);
            std::fs::write(path, &bytes).expect("damage the packed file");
        }
        assert_eq!(relock(&project), cold, "lock over {what} packed files");
        for (path, original) in &originals {
            assert_eq!(
                &std::fs::read(path).expect("read packed"),
                original,
                "{what}: {} is rebuilt",
                path.display()
            );
        }
    }
}

#[test]
fn concurrent_locks_sharing_one_cache_agree() {
    let repo = standard_repo();
    let shared = tempfile::tempdir().expect("shared cache");
    let projects = [project(&repo, ROOTS), project(&repo, ROOTS)];
    for round in ["cold", "warm"] {
        let children: Vec<_> = projects
            .iter()
            .map(|project| {
                let _ = std::fs::remove_file(project.path().join("debless.lock"));
                project
                    .command(&["lock"])
                    .env("DEBLESS_CACHE_DIR", shared.path())
                    .stdout(std::process::Stdio::piped())
                    .stderr(std::process::Stdio::piped())
                    .spawn()
                    .expect("spawn debless lock")
            })
            .collect();
        for (project, child) in projects.iter().zip(children) {
            let out = child.wait_with_output().expect("debless lock ran");
            assert!(out.status.success(), "{round}: {}", project.render(&out));
        }
        assert_eq!(
            projects[0].read("debless.lock"),
            projects[1].read("debless.lock"),
            "{round}: both locks are the same"
        );
    }
    assert!(!packed_files(shared.path()).is_empty());
}
