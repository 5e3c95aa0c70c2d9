//! `debless provides`: which packages of the manifest's suites ship a file or soname, from
//! the signed `Contents-<arch>` indices (`repo::contents`).

use std::collections::BTreeSet;
use std::time::SystemTime;

use anyhow::Result;

use super::Globals;
use super::diagnostics::Diagnostic;
use super::suites::SuiteSources;
use crate::debian::Arch;
use crate::manifest::Manifest;
use crate::repo::contents::{ContentsQuery, ContentsSource};
use crate::repo::{Http, IndexCache};

/// Arguments of `debless provides`.
#[derive(Debug, clap::Args)]
pub struct ProvidesArgs {
    /// Sonames or file names (`libgmp.so.10`, matched against every path's last component)
    /// or absolute paths (`/usr/lib/x86_64-linux-gnu/libgmp.so.10`, matched exactly).
    #[arg(required = true, value_name = "NAME-OR-PATH")]
    pub names: Vec<String>,
    /// The architecture whose Contents index to read [default: the manifest's first].
    #[arg(long, value_name = "ARCH")]
    pub arch: Option<String>,
    /// Print the matches as JSON on stdout.
    #[arg(long)]
    pub json: bool,
}

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

/// Runs `debless provides`; fails (exit 1) when a name is shipped by no package.
pub fn run(globals: &Globals, args: &ProvidesArgs) -> Result<()> {
    let manifest = Manifest::load(&globals.manifest)?;
    let arch = match &args.arch {
        Some(name) => Arch::parse(name).map_err(|err| {
            Diagnostic::new(
                err.to_string(),
                "name a Debian architecture such as amd64 or arm64",
            )
        })?,
        None => manifest
            .architectures
            .first()
            .cloned()
            .expect("a validated manifest has an architecture"),
    };
    let queries: Vec<ContentsQuery> = args.names.iter().map(|n| ContentsQuery::parse(n)).collect();
    let providers = find(globals, &manifest, &arch, &queries)?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&providers)?);
    } else {
        // One line per path and package; the suites that list it do not change the answer.
        let lines: BTreeSet<(&str, &str)> = providers
            .iter()
            .map(|p| (p.path.as_str(), p.package.as_str()))
            .collect();
        let width = lines.iter().map(|(path, _)| path.len()).max().unwrap_or(0);
        for (path, package) in lines {
            println!("{path:<width$}  {package}");
        }
    }
    let missing: Vec<String> = queries
        .iter()
        .map(ContentsQuery::text)
        .filter(|text| !providers.iter().any(|p| &p.query == text))
        .collect();
    if !missing.is_empty() {
        return Err(Diagnostic::new(
            format!(
                "no package of the manifest's suites ships {} on {arch}",
                missing
                    .iter()
                    .map(|m| format!("`{m}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            "check the spelling; a path must be absolute and exact, a bare name matches any directory",
        )
        .into());
    }
    Ok(())
}

/// Every package of the manifest's suites whose `Contents-<arch>` lists a path matching one
/// of `queries`, sorted by path, package and suite. Suites and components are searched in
/// parallel; each Contents file is read once for all queries.
pub fn find(
    globals: &Globals,
    manifest: &Manifest,
    arch: &Arch,
    queries: &[ContentsQuery],
) -> Result<Vec<Provider>> {
    let sources = SuiteSources::new(manifest)?;
    let http = Http::new()?;
    let releases = sources.verify(manifest, &http, SystemTime::now())?;
    let cache = IndexCache::new(globals.cache_dir());
    let jobs: Vec<(usize, &String)> = manifest
        .sources
        .iter()
        .enumerate()
        .flat_map(|(i, source)| source.components.iter().map(move |c| (i, c)))
        .collect();
    let results: Vec<Result<Option<Vec<Provider>>>> = std::thread::scope(|scope| {
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
            .map(|worker| worker.join().expect("a Contents worker does not panic"))
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
        return Err(Diagnostic::new(
            format!("the manifest's suites publish no `Contents-{arch}` index"),
            "`provides` and `add --for` need an archive that publishes Contents indices (Debian's do)",
        )
        .into());
    }
    providers.sort();
    providers.dedup();
    Ok(providers)
}
