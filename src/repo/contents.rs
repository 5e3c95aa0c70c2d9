//! `Contents-<arch>` indices: which package ships a file (`debless provides`, `add --for`).
//!
//! A suite lists `<component>/Contents-<arch>.gz` in its signed Release like the `Packages`
//! indices, so the same trust applies (`listed`): fetched by its sha256 (by-hash
//! first), size and sha256 checked before decompression, kept compressed in the
//! [`IndexCache`] under that sha256.
//!
//! Each line is `PATH<whitespace>LOCATIONS` where PATH has no leading `/` (and may contain
//! spaces) and LOCATIONS is a comma-separated list of `[area/]section/package`. The files are
//! big (bookworm main amd64: 12 MB compressed, 150 MB of text), so they are streamed line by
//! line and only matching lines are kept; nothing decompressed is cached (gzip decodes it in
//! well under a second). `Contents-all` (arch-independent packages, 500 MB of text) is not
//! read: shared libraries are never `Architecture: all`.

use std::io::{BufRead, BufReader, Read};

use super::RepoError;
use super::http::Http;
use super::index::{IndexCache, decoder};
use super::listed::ListedFiles;
use super::release::{IndexFile, Release, component_name};
use crate::debian::Arch;

/// What to look for: a path in the image, or a file name (a soname) anywhere.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ContentsQuery {
    /// An absolute path, stored without its leading `/` (`usr/lib/x86_64-linux-gnu/libgmp.so.10`).
    Path(String),
    /// A bare file name (`libgmp.so.10`), matched against every path's last component.
    Name(String),
}

impl ContentsQuery {
    /// `/usr/lib/…/libgmp.so.10` (anything with a `/`) is a path; `libgmp.so.10` is a name.
    pub fn parse(text: &str) -> Self {
        if text.contains('/') {
            Self::Path(text.trim_start_matches('/').to_owned())
        } else {
            Self::Name(text.to_owned())
        }
    }

    /// The query as the user wrote it (a path gets its `/` back).
    pub fn text(&self) -> String {
        match self {
            Self::Path(path) => format!("/{path}"),
            Self::Name(name) => name.clone(),
        }
    }

    fn matches(&self, path: &[u8]) -> bool {
        match self {
            Self::Path(wanted) => path == wanted.as_bytes(),
            Self::Name(name) => {
                let name = name.as_bytes();
                path == name
                    || (path.len() > name.len()
                        && path.ends_with(name)
                        && path[path.len() - name.len() - 1] == b'/')
            }
        }
    }
}

/// One line that matched: a path and a package shipping it.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct ContentsHit {
    /// Index of the query in the list given to [`search`].
    pub query: usize,
    /// Absolute path (`/usr/lib/…`).
    pub path: String,
    /// Package name (the last part of `section/package`).
    pub package: String,
    /// Section as written (`libs`, `contrib/libs`).
    pub section: String,
}

/// One suite's Contents files to search.
#[derive(Clone, Copy, Debug)]
pub struct ContentsSource<'a> {
    pub http: &'a Http,
    pub cache: &'a IndexCache,
    /// Archive root, no trailing slash.
    pub root: &'a str,
    pub suite: &'a str,
    /// The suite's verified Release.
    pub release: &'a Release,
}

/// Gzip first (fast to decode), then xz, then plain: the formats a Release may list.
const FORMATS: [&str; 3] = [".gz", ".xz", ""];

impl ContentsSource<'_> {
    /// Every line of the component's `Contents-<arch>` that matches one of `queries`; `None`
    /// when the Release lists no Contents file for the component (not an error here: some
    /// archives publish none, and other suites may).
    pub fn search(
        &self,
        component: &str,
        arch: &Arch,
        queries: &[ContentsQuery],
    ) -> Result<Option<Vec<ContentsHit>>, RepoError> {
        let candidates = self.candidates(component, arch);
        if candidates.is_empty() {
            return Ok(None);
        }
        let listed = ListedFiles {
            http: self.http,
            cache: self.cache,
            root: self.root,
            suite: self.suite,
            release: self.release,
        };
        let (file, compressed) = listed.fetch(&candidates)?;
        scan(decoder(&file.path, compressed.as_slice()), queries)
            .map(Some)
            .map_err(|err| RepoError::BadIndex {
                suite: self.suite.to_owned(),
                path: file.path.clone(),
                reason: err.to_string(),
            })
    }

    /// The listed Contents files of a component (security suites list `main/…` for the
    /// `updates/main` component), in format preference order.
    fn candidates(&self, component: &str, arch: &Arch) -> Vec<&IndexFile> {
        let short = component_name(component);
        let mut found = Vec::new();
        for format in FORMATS {
            for prefix in [component, short] {
                let path = format!("{prefix}/Contents-{arch}{format}");
                if let Some(file) = self.release.file(&path)
                    && !found.contains(&file)
                {
                    found.push(file);
                }
            }
        }
        found
    }
}

/// Streams Contents lines and keeps those whose path matches a query.
pub fn scan(reader: impl Read, queries: &[ContentsQuery]) -> std::io::Result<Vec<ContentsHit>> {
    let mut reader = BufReader::with_capacity(1 << 20, reader);
    let mut line = Vec::with_capacity(256);
    let mut hits = Vec::new();
    loop {
        line.clear();
        if reader.read_until(b'\n', &mut line)? == 0 {
            break;
        }
        let text = line.trim_ascii_end();
        // PATH and LOCATIONS are split at the last run of blanks: paths may hold spaces,
        // package lists never do.
        let Some(split) = text.iter().rposition(|b| *b == b' ' || *b == b'\t') else {
            continue;
        };
        let path = text[..split].trim_ascii_end();
        let path = path.strip_prefix(b"./").unwrap_or(path);
        for (index, query) in queries.iter().enumerate() {
            if !query.matches(path) {
                continue;
            }
            let locations = String::from_utf8_lossy(&text[split + 1..]);
            for location in locations.split(',').filter(|l| !l.is_empty()) {
                let (section, package) = location.rsplit_once('/').unwrap_or(("", location));
                hits.push(ContentsHit {
                    query: index,
                    path: format!("/{}", String::from_utf8_lossy(path)),
                    package: package.to_owned(),
                    section: section.to_owned(),
                });
            }
        }
    }
    Ok(hits)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "\
usr/bin/gmp tool                                        utils/gmp-tools
usr/lib/x86_64-linux-gnu/libgmp.so.10                   libs/libgmp10
usr/lib/x86_64-linux-gnu/libgmp.so.10.4.1               libs/libgmp10
usr/lib/i386-linux-gnu/libgmp.so.10                     libs/libgmp10,contrib/libs/libgmp10-compat
usr/share/doc/libgmp10/libgmp.so.10.txt                 doc/libgmp-doc
";

    #[test]
    fn matches_names_by_last_component_and_paths_exactly() {
        let queries = [
            ContentsQuery::parse("libgmp.so.10"),
            ContentsQuery::parse("/usr/lib/x86_64-linux-gnu/libgmp.so.10"),
            ContentsQuery::parse("/usr/bin/gmp tool"),
        ];
        let hits = scan(SAMPLE.as_bytes(), &queries).expect("in memory");
        let seen: Vec<(usize, &str, &str, &str)> = hits
            .iter()
            .map(|h| {
                (
                    h.query,
                    h.path.as_str(),
                    h.package.as_str(),
                    h.section.as_str(),
                )
            })
            .collect();
        assert_eq!(
            seen,
            vec![
                (2, "/usr/bin/gmp tool", "gmp-tools", "utils"),
                (
                    0,
                    "/usr/lib/x86_64-linux-gnu/libgmp.so.10",
                    "libgmp10",
                    "libs"
                ),
                (
                    1,
                    "/usr/lib/x86_64-linux-gnu/libgmp.so.10",
                    "libgmp10",
                    "libs"
                ),
                (
                    0,
                    "/usr/lib/i386-linux-gnu/libgmp.so.10",
                    "libgmp10",
                    "libs"
                ),
                (
                    0,
                    "/usr/lib/i386-linux-gnu/libgmp.so.10",
                    "libgmp10-compat",
                    "contrib/libs"
                ),
            ]
        );
        assert_eq!(queries[1].text(), "/usr/lib/x86_64-linux-gnu/libgmp.so.10");
    }

    #[test]
    fn security_suites_list_contents_under_the_short_component() {
        let release = Release::parse(&format!(
            "Suite: bookworm-security\nDate: Sat, 21 Nov 2026 09:15:44 UTC\n\
             Architectures: amd64\nComponents: updates/main\nSHA256:\n \
             {a} 10 main/Contents-amd64\n {b} 5 main/Contents-amd64.gz\n {c} 5 main/Contents-arm64.gz\n",
            a = "a".repeat(64),
            b = "b".repeat(64),
            c = "c".repeat(64),
        ))
        .expect("valid Release");
        let http = Http::new().expect("client");
        let cache = IndexCache::new(std::env::temp_dir());
        let source = ContentsSource {
            http: &http,
            cache: &cache,
            root: "http://127.0.0.1:9",
            suite: "bookworm-security",
            release: &release,
        };
        let amd64 = Arch::parse("amd64").expect("known");
        let paths: Vec<&str> = source
            .candidates("updates/main", &amd64)
            .iter()
            .map(|f| f.path.as_str())
            .collect();
        assert_eq!(paths, ["main/Contents-amd64.gz", "main/Contents-amd64"]);
        let riscv = Arch::parse("riscv64").expect("known");
        assert!(source.candidates("updates/main", &riscv).is_empty());
    }

    #[test]
    fn reads_gzip_streams() {
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        std::io::Write::write_all(&mut encoder, SAMPLE.as_bytes()).expect("in memory");
        let compressed = encoder.finish().expect("in memory");
        let hits = scan(
            decoder("main/Contents-amd64.gz", compressed.as_slice()),
            &[ContentsQuery::parse("libgmp.so.10.4.1")],
        )
        .expect("valid gzip");
        assert_eq!(hits.len(), 1);
        assert_eq!(hits[0].package, "libgmp10");
    }
}
