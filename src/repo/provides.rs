//! Which packages of the manifest's suites ship a file or soname, from the signed
//! `Contents-<arch>` indices ([`super::contents`]): what `debless provides` and
//! `debless add --for` ask.

use std::path::Path;
use std::time::SystemTime;

use super::contents::{ContentsQuery, ContentsSource};
use super::suites::{SuiteSources, SuitesError};
use super::{Http, IndexCache, MirrorError, Mirrors};
use crate::debian::Arch;
use crate::manifest::Manifest;

/// A package of a suite shipping a path that matched a query.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
pub struct Provider {
    /// The path in the image (`/usr/lib/…`).
    pub path: String,
    pub package: String,
    /// The query as written.
    pub query: String,
    /// The suite whose Contents lists it.
    pub suite: String,
    pub section: String,
}

/// Every package of the manifest's suites whose `Contents-<arch>` lists a path matching one
/// of `queries`, sorted by path, package and suite. Suites and components are searched in
/// parallel; each Contents file is read once for all queries.
pub fn find(
    manifest: &Manifest,
    mirrors: impl FnOnce() -> Result<Mirrors, MirrorError>,
    cache_dir: &Path,
    http: &Http,
    arch: &Arch,
    queries: &[ContentsQuery],
) -> Result<Vec<Provider>, SuitesError> {
    let sources = SuiteSources::new(manifest, mirrors)?;
    let releases = sources.verify(manifest, http, SystemTime::now())?;
    let cache = IndexCache::new(cache_dir);
    let jobs: Vec<(usize, &String)> = manifest
        .sources
        .iter()
        .enumerate()
        .flat_map(|(i, source)| source.components.iter().map(move |c| (i, c)))
        .collect();
    let results: Vec<Result<Option<Vec<Provider>>, SuitesError>> = std::thread::scope(|scope| {
        let workers: Vec<_> = jobs
            .iter()
            .map(|&(i, component)| {
                let (release, http, cache) = (&releases[i], &http, &cache);
                scope.spawn(move || {
                    let source = ContentsSource {
                        http,
                        cache,
                        root: &release.root,
                        suite: &release.suite,
                        release: &release.release,
                    };
                    let Some(hits) = source.search(component, arch, queries)? else {
                        return Ok(None);
                    };
                    Ok(Some(
                        hits.into_iter()
                            .map(|hit| Provider {
                                path: hit.path,
                                package: hit.package,
                                query: queries[hit.query].text(),
                                suite: release.suite.clone(),
                                section: hit.section,
                            })
                            .collect(),
                    ))
                })
            })
            .collect();
        workers
            .into_iter()
            .map(|worker| worker.join().unwrap_or(Err(SuitesError::Panicked)))
            .collect()
    });
    let mut providers = Vec::new();
    let mut indices = 0;
    for result in results {
        if let Some(found) = result? {
            indices += 1;
            providers.extend(found);
        }
    }
    if indices == 0 {
        return Err(SuitesError::NoContents { arch: arch.clone() });
    }
    providers.sort();
    providers.dedup();
    Ok(providers)
}
