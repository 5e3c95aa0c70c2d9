//! Path filters with dpkg's `path-exclude` / `path-include` semantics (dpkg.cfg(5)).
//!
//! Each rule is a glob matched against the absolute path as the package ships it
//! (`/usr/share/doc/x/copyright`, before any merged-/usr mapping, as dpkg matches tar names);
//! `*` matches across `/` (fnmatch without `FNM_PATHNAME`). Rules are tried in order and the
//! last one that matches decides, so a later include wins over an earlier exclude.
//!
//! Directories follow dpkg too: an excluded directory (or symlink) is kept when some include
//! rule's literal prefix (the text before its first wildcard) is a prefix of its path, so
//! `/usr/share/doc/<pkg>/` survives to hold `copyright`, while `/usr/share/man/man1/` goes.
//! Unlike dpkg, a kept file whose parent directory entry was filtered still gets that parent
//! (the tree creates missing parents), so the result never depends on that subtlety.
//!
//! A hard link whose target file is filtered takes the target's content (it becomes the
//! regular file), and later links to the same target point at it: the link's path was asked
//! for, so it must not dangle.

use std::collections::BTreeMap;

use crate::deb::{Content, DataEntry, EntryKind};

/// One `path-exclude` or `path-include` rule.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PathRule {
    /// `true` for `path-include`, `false` for `path-exclude`.
    pub include: bool,
    /// The glob, matched against absolute paths (`/usr/share/doc/*`).
    pub pattern: String,
}

impl PathRule {
    /// A `path-exclude` rule.
    pub fn exclude(pattern: &str) -> Self {
        Self {
            include: false,
            pattern: pattern.to_owned(),
        }
    }

    /// A `path-include` rule.
    pub fn include(pattern: &str) -> Self {
        Self {
            include: true,
            pattern: pattern.to_owned(),
        }
    }
}

/// An ordered list of rules; empty keeps everything.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PathFilter {
    rules: Vec<PathRule>,
}

impl PathFilter {
    /// A filter applying `rules` in order (last match wins).
    pub fn new(rules: Vec<PathRule>) -> Self {
        Self { rules }
    }

    /// Whether the filter has no rules (and so keeps everything).
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// The rules, in the order they apply.
    pub fn rules(&self) -> &[PathRule] {
        &self.rules
    }

    /// Whether the last matching rule excludes `absolute` (a path starting with `/`).
    pub fn excludes(&self, absolute: &str) -> bool {
        let mut skip = false;
        for rule in &self.rules {
            if fnmatch(&rule.pattern, absolute) {
                skip = !rule.include;
            }
        }
        skip
    }

    /// Whether an entry at `absolute` is dropped; `container` is true for directories and
    /// symlinks, which dpkg keeps when an include rule may match something below them.
    pub fn drops(&self, absolute: &str, container: bool) -> bool {
        if !self.excludes(absolute) {
            return false;
        }
        if !container {
            return true;
        }
        let reincluded = self.rules.iter().filter(|r| r.include).any(|rule| {
            let literal_end = rule
                .pattern
                .find(['*', '?', '[', '\\'])
                .unwrap_or(rule.pattern.len());
            let prefix = rule.pattern[..literal_end].trim_end_matches('/');
            // dpkg compares the first `prefix.len()` bytes (strncmp).
            absolute.as_bytes().starts_with(prefix.as_bytes())
        });
        !reincluded
    }

    /// Removes filtered entries from one package's data.tar entry list (names as in the
    /// archive: `./usr/...`). Hard links to filtered files take over the file's content.
    pub fn apply(&self, entries: Vec<DataEntry>) -> Vec<DataEntry> {
        if self.is_empty() {
            return entries;
        }
        // Filtered files by archive name (normalised), so hard links to them can be resolved.
        let mut dropped_files: BTreeMap<String, Content> = BTreeMap::new();
        // Filtered hard-link targets that a kept link took over: old name -> new name.
        let mut moved: BTreeMap<String, String> = BTreeMap::new();
        let mut kept = Vec::with_capacity(entries.len());
        for mut entry in entries {
            let name = archive_name(&entry.path);
            let container = matches!(entry.kind, EntryKind::Dir | EntryKind::Symlink(_));
            if self.drops(&format!("/{name}"), container) {
                if let EntryKind::File(data) = entry.kind {
                    dropped_files.insert(name, data);
                }
                continue;
            }
            if let EntryKind::Hardlink(target) = &entry.kind {
                let target = archive_name(target);
                if let Some(new_name) = moved.get(&target) {
                    entry.kind = EntryKind::Hardlink(format!("./{new_name}"));
                } else if let Some(data) = dropped_files.remove(&target) {
                    entry.kind = EntryKind::File(data);
                    moved.insert(target, name);
                }
            }
            kept.push(entry);
        }
        kept
    }

    /// Drops the lines of a `md5sums` file (`<md5>  <path>`, paths relative to `/`) that
    /// name filtered files, so scanners do not report them missing. Other lines stay verbatim.
    pub fn filter_md5sums(&self, md5sums: &[u8]) -> Vec<u8> {
        if self.is_empty() {
            return md5sums.to_vec();
        }
        let mut out = Vec::with_capacity(md5sums.len());
        for line in md5sums.split_inclusive(|&b| b == b'\n') {
            let text = String::from_utf8_lossy(line);
            let path = text
                .trim_end_matches(['\n', '\r'])
                .split_once("  ")
                .map(|(_, path)| archive_name(path));
            match path {
                Some(path) if self.drops(&format!("/{path}"), false) => {}
                _ => out.extend_from_slice(line),
            }
        }
        out
    }
}

/// An archive or md5sums name without `./`, leading or trailing `/`.
fn archive_name(name: &str) -> String {
    let name = name.strip_prefix("./").unwrap_or(name);
    name.trim_start_matches('/')
        .trim_end_matches('/')
        .to_owned()
}

/// fnmatch(3) with flags 0: `*` and `?` match any character including `/` and a leading
/// `.`; `[...]` classes with ranges and `!`/`^` negation; `\` quotes the next character.
pub fn fnmatch(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    loop {
        if pi < p.len() {
            match p[pi] {
                '*' => {
                    star = Some((pi, ti));
                    pi += 1;
                    continue;
                }
                '?' if ti < t.len() => {
                    pi += 1;
                    ti += 1;
                    continue;
                }
                '[' if ti < t.len() => {
                    if let Some((matched, next)) = match_class(&p, pi, t[ti]) {
                        if matched {
                            pi = next;
                            ti += 1;
                            continue;
                        }
                    } else if t[ti] == '[' {
                        // An unterminated `[` is a literal.
                        pi += 1;
                        ti += 1;
                        continue;
                    }
                }
                '\\' if pi + 1 < p.len() && ti < t.len() && p[pi + 1] == t[ti] => {
                    pi += 2;
                    ti += 1;
                    continue;
                }
                // A literal (a trailing `\` included) matches itself.
                c if (c != '\\' || pi + 1 == p.len())
                    && !matches!(c, '?' | '[')
                    && t.get(ti) == Some(&c) =>
                {
                    pi += 1;
                    ti += 1;
                    continue;
                }
                _ => {}
            }
        } else if ti == t.len() {
            return true;
        }
        // Mismatch: let the last `*` swallow one more character.
        match star {
            Some((sp, st)) if st < t.len() => {
                star = Some((sp, st + 1));
                pi = sp + 1;
                ti = st + 1;
            }
            _ => return false,
        }
    }
}

/// Matches `c` against the class starting at `p[start] == '['`; returns whether it matched
/// and the index after the class, or `None` when the class is not terminated.
fn match_class(p: &[char], start: usize, c: char) -> Option<(bool, usize)> {
    let mut i = start + 1;
    let negated = matches!(p.get(i), Some('!' | '^'));
    if negated {
        i += 1;
    }
    let mut matched = false;
    let mut first = true;
    loop {
        let lo = *p.get(i)?;
        if lo == ']' && !first {
            return Some((matched != negated, i + 1));
        }
        first = false;
        let lo = if lo == '\\' {
            i += 1;
            *p.get(i)?
        } else {
            lo
        };
        if p.get(i + 1) == Some(&'-') && p.get(i + 2).is_some_and(|&hi| hi != ']') {
            let hi = p[i + 2];
            matched |= lo <= c && c <= hi;
            i += 3;
        } else {
            matched |= lo == c;
            i += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn docs_filter() -> PathFilter {
        PathFilter::new(vec![
            PathRule::exclude("/usr/share/doc/*"),
            PathRule::include("/usr/share/doc/*/copyright"),
            PathRule::exclude("/usr/share/man/*"),
            PathRule::exclude("/usr/share/locale/*"),
            PathRule::include("/usr/share/locale/locale.alias"),
        ])
    }

    #[test]
    fn star_crosses_slashes_like_fnmatch_without_pathname() {
        assert!(fnmatch(
            "/usr/share/doc/*",
            "/usr/share/doc/a/b/changelog.gz"
        ));
        assert!(fnmatch(
            "/usr/share/doc/*/copyright",
            "/usr/share/doc/a/copyright"
        ));
        assert!(fnmatch(
            "/usr/share/doc/*/copyright",
            "/usr/share/doc/a/b/copyright"
        ));
        assert!(!fnmatch(
            "/usr/share/doc/*/copyright",
            "/usr/share/doc/a/copyright.gz"
        ));
        assert!(fnmatch("*.mo", "/usr/share/locale/de/.hidden.mo"));
        assert!(fnmatch("/a/?", "/a/b"));
        assert!(!fnmatch("/a/?", "/a/bc"));
        assert!(fnmatch("*", ""));
        assert!(!fnmatch("/usr/share/doc/*", "/usr/share/doc"));
    }

    #[test]
    fn classes_and_escapes() {
        assert!(fnmatch("/x/[a-c]", "/x/b"));
        assert!(!fnmatch("/x/[!a-c]", "/x/b"));
        assert!(fnmatch("/x/[^a-c]", "/x/d"));
        assert!(fnmatch("/x/[]]", "/x/]"));
        assert!(fnmatch("/x/\\*", "/x/*"));
        assert!(!fnmatch("/x/\\*", "/x/y"));
        assert!(fnmatch("/x/[ab", "/x/[ab"));
    }

    #[test]
    fn last_matching_rule_wins() {
        let filter = docs_filter();
        assert!(filter.excludes("/usr/share/doc/a/changelog.gz"));
        assert!(!filter.excludes("/usr/share/doc/a/copyright"));
        assert!(!filter.excludes("/usr/share/locale/locale.alias"));
        assert!(filter.excludes("/usr/share/locale/de/LC_MESSAGES/x.mo"));
        assert!(!filter.excludes("/usr/bin/hello"));
        // An exclude after the include takes the copyright files away again.
        let mut rules = filter.rules().to_vec();
        rules.push(PathRule::exclude("/usr/share/doc/*"));
        assert!(PathFilter::new(rules).excludes("/usr/share/doc/a/copyright"));
        // Include before exclude: the exclude wins.
        let reversed = PathFilter::new(vec![
            PathRule::include("/usr/share/doc/*/copyright"),
            PathRule::exclude("/usr/share/doc/*"),
        ]);
        assert!(reversed.excludes("/usr/share/doc/a/copyright"));
    }

    #[test]
    fn directories_kept_under_include_prefixes() {
        let filter = docs_filter();
        assert!(!filter.drops("/usr/share/doc/a", true));
        assert!(filter.drops("/usr/share/doc/a", false));
        assert!(filter.drops("/usr/share/man/man1", true));
        // dpkg's strncmp needs the include's whole literal prefix: `locale.alias` saves no
        // language directory.
        assert!(filter.drops("/usr/share/locale/de", true));
        assert!(!filter.drops("/usr/share/man", true)); // not matched at all
        // Symlinks count as containers (dpkg keeps them for include prefixes); files do not.
        assert!(filter.drops("/usr/share/man/man1/y.1.gz", true));
        assert!(!filter.drops("/usr/share/doc/b", true));
    }

    fn entry(path: &str, kind: EntryKind) -> DataEntry {
        DataEntry {
            path: path.into(),
            kind,
            mode: 0o644,
            uid: 0,
            gid: 0,
            mtime: 0,
        }
    }

    #[test]
    fn apply_drops_files_and_promotes_hardlinks() {
        let filter = docs_filter();
        let entries = vec![
            entry("./usr/share/doc/a/", EntryKind::Dir),
            entry("./usr/share/doc/a/copyright", EntryKind::File(b"c".into())),
            entry("./usr/share/doc/a/NEWS", EntryKind::File(b"news".into())),
            entry("./usr/share/man/man1/", EntryKind::Dir),
            entry("./usr/share/man/man1/x.1.gz", EntryKind::File(b"m".into())),
            entry(
                "./usr/bin/news",
                EntryKind::Hardlink("./usr/share/doc/a/NEWS".into()),
            ),
            entry(
                "./usr/bin/news2",
                EntryKind::Hardlink("./usr/share/doc/a/NEWS".into()),
            ),
        ];
        let kept = filter.apply(entries);
        let names: Vec<&str> = kept.iter().map(|e| e.path.as_str()).collect();
        assert_eq!(
            names,
            [
                "./usr/share/doc/a/",
                "./usr/share/doc/a/copyright",
                "./usr/bin/news",
                "./usr/bin/news2"
            ]
        );
        assert_eq!(kept[2].kind, EntryKind::File(b"news".into()));
        assert_eq!(kept[3].kind, EntryKind::Hardlink("./usr/bin/news".into()));
    }

    #[test]
    fn md5sums_lose_filtered_lines_only() {
        let sums = b"aaa  usr/share/doc/a/copyright\nbbb  usr/share/doc/a/changelog.gz\nccc  usr/bin/x\nddd  usr/share/man/man1/x.1.gz\n";
        assert_eq!(
            docs_filter().filter_md5sums(sums),
            b"aaa  usr/share/doc/a/copyright\nccc  usr/bin/x\n"
        );
        assert_eq!(PathFilter::default().filter_md5sums(sums), sums);
    }
}
