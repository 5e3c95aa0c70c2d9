//! Licences of a package, read from its `/usr/share/doc/<package>/copyright` in the image.
//!
//! Only machine-readable files (DEP-5, "copyright-format/1.0") are interpreted: the first
//! line of every `License:` field of the header and `Files:` paragraphs is a DEP-5 licence
//! expression (`GPL-2+ or Artistic-1.0, and BSD-3-clause`), which becomes an SPDX expression
//! when each short name maps to an SPDX licence id ([`spdx_id`]). Names without an SPDX id
//! (`public-domain`, `GPL-2+ with OpenSSL exception`) become `LicenseRef-…` ids, so the
//! expression stays valid and says exactly what the file said. A free-form copyright file
//! (glibc, gcc) gives no declared licence: the SBOM says NOASSERTION rather than guessing.
//!
//! Parsing is deliberately lenient (copyright files are hand-written): paragraphs are split
//! at blank lines, fields at `Name:` at the start of a line, continuation lines are ignored.

/// What a package's copyright file declares.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Licenses {
    /// No copyright file in the image (filtered out or never shipped).
    Missing,
    /// A copyright file that is not DEP-5, or DEP-5 without any `License:` field.
    NotMachineReadable,
    /// The licences the DEP-5 file declares.
    Declared(LicenseExpression),
}

/// An SPDX licence expression built from DEP-5 `License:` fields.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LicenseExpression {
    /// The SPDX expression text (`GPL-2.0-or-later AND (MIT OR Apache-2.0)`).
    pub spdx: String,
    /// The SPDX licence ids used, sorted and unique.
    pub spdx_ids: Vec<String>,
    /// The `LicenseRef-…` ids used, each with the DEP-5 name it stands for, sorted by id.
    pub references: Vec<(String, String)>,
}

impl Licenses {
    /// Reads the licences declared by a copyright file's text.
    pub fn from_copyright(text: &str) -> Self {
        let paragraphs = paragraphs(text);
        let is_dep5 = paragraphs
            .first()
            .and_then(|p| field(p, "Format"))
            .is_some_and(|format| format.contains("copyright-format"));
        if !is_dep5 {
            return Self::NotMachineReadable;
        }
        // Standalone `License:` paragraphs (no `Files:`, not the header) only carry the text
        // of a licence already named in a `Files:` paragraph.
        let mut terms: Vec<String> = Vec::new();
        for (index, paragraph) in paragraphs.iter().enumerate() {
            let is_header = index == 0;
            if !is_header && field(paragraph, "Files").is_none() {
                continue;
            }
            let Some(license) = field(paragraph, "License") else {
                continue;
            };
            if let Some(expression) = Dep5Expression::parse(license) {
                terms.push(expression.spdx);
            }
        }
        terms.sort();
        terms.dedup();
        if terms.is_empty() {
            return Self::NotMachineReadable;
        }
        let spdx = if terms.len() == 1 {
            terms.remove(0)
        } else {
            terms
                .iter()
                .map(|t| parenthesize(t))
                .collect::<Vec<_>>()
                .join(" AND ")
        };
        let mut spdx_ids = Vec::new();
        let mut references = Vec::new();
        for token in spdx.split(|c: char| c.is_whitespace() || c == '(' || c == ')') {
            if let Some(name) = token.strip_prefix("LicenseRef-") {
                references.push((
                    token.to_owned(),
                    dep5_name_of_reference(license_names(text), name),
                ));
            } else if !token.is_empty() && !matches!(token, "AND" | "OR" | "WITH") {
                spdx_ids.push(token.to_owned());
            }
        }
        spdx_ids.sort();
        spdx_ids.dedup();
        references.sort();
        references.dedup();
        Self::Declared(LicenseExpression {
            spdx,
            spdx_ids,
            references,
        })
    }
}

/// Wraps a compound expression in parentheses so it can be joined with `AND`.
fn parenthesize(term: &str) -> String {
    if term.contains(' ') && !(term.starts_with('(') && term.ends_with(')')) {
        format!("({term})")
    } else {
        term.to_owned()
    }
}

/// Every DEP-5 short name (first line of each `License:` field) of a copyright file.
fn license_names(text: &str) -> Vec<String> {
    paragraphs(text)
        .iter()
        .filter_map(|p| field(p, "License"))
        .flat_map(|license| {
            Dep5Expression::parse(license)
                .map(|e| e.names)
                .unwrap_or_default()
        })
        .collect()
}

/// The DEP-5 name a `LicenseRef-` suffix was made from (for the SBOM's licence text).
fn dep5_name_of_reference(names: Vec<String>, suffix: &str) -> String {
    names
        .into_iter()
        .find(|name| reference_suffix(name) == suffix)
        .unwrap_or_else(|| suffix.to_owned())
}

/// A paragraph: its lines, continuation lines included.
type Paragraph<'a> = Vec<&'a str>;

fn paragraphs(text: &str) -> Vec<Paragraph<'_>> {
    let mut out = Vec::new();
    let mut current = Vec::new();
    for line in text.lines() {
        if line.trim().is_empty() {
            if !current.is_empty() {
                out.push(std::mem::take(&mut current));
            }
        } else if !line.starts_with('#') {
            current.push(line);
        }
    }
    if !current.is_empty() {
        out.push(current);
    }
    out
}

/// The first line of a field (case-insensitive name), trimmed.
fn field<'a>(paragraph: &[&'a str], name: &str) -> Option<&'a str> {
    paragraph.iter().find_map(|line| {
        if line.starts_with([' ', '\t']) {
            return None;
        }
        let (key, value) = line.split_once(':')?;
        key.trim()
            .eq_ignore_ascii_case(name)
            .then(|| value.trim())
            .filter(|v| !v.is_empty())
    })
}

/// One DEP-5 licence expression converted to SPDX.
struct Dep5Expression {
    spdx: String,
    names: Vec<String>,
}

impl Dep5Expression {
    /// DEP-5: short names joined by `or` / `and`; commas group (`A or B, and C` is
    /// `(A OR B) AND C`); `NAME with X exception` is one name.
    fn parse(first_line: &str) -> Option<Self> {
        let mut groups: Vec<String> = Vec::new();
        let mut names = Vec::new();
        for (index, group) in first_line.split(',').enumerate() {
            let mut words: Vec<&str> = group.split_whitespace().collect();
            let mut joiner = "AND";
            if index > 0 {
                match words.first().map(|w| w.to_ascii_lowercase()) {
                    Some(w) if w == "and" => {
                        words.remove(0);
                    }
                    Some(w) if w == "or" => {
                        joiner = "OR";
                        words.remove(0);
                    }
                    _ => {}
                }
            }
            let mut parts: Vec<String> = Vec::new();
            let mut current: Vec<&str> = Vec::new();
            for word in words {
                let lower = word.to_ascii_lowercase();
                if (lower == "or" || lower == "and") && !current.is_empty() {
                    let name = current.join(" ");
                    parts.push(to_spdx(&name));
                    names.push(name);
                    current.clear();
                    parts.push(lower.to_ascii_uppercase());
                } else {
                    current.push(word);
                }
            }
            if current.is_empty() {
                // A dangling operator or an empty group: not an expression we can trust.
                if parts.is_empty() {
                    continue;
                }
                return None;
            }
            let name = current.join(" ");
            parts.push(to_spdx(&name));
            names.push(name);
            let text = parts.join(" ");
            match groups.last_mut() {
                None => groups.push(text),
                Some(previous) => {
                    *previous = format!(
                        "{} {joiner} {}",
                        parenthesize(previous),
                        parenthesize(&text)
                    );
                }
            }
        }
        let spdx = groups.pop()?;
        Some(Self { spdx, names })
    }
}

/// The SPDX form of one DEP-5 short name: its SPDX id, else a `LicenseRef-`.
fn to_spdx(name: &str) -> String {
    spdx_id(name).map_or_else(
        || format!("LicenseRef-{}", reference_suffix(name)),
        str::to_owned,
    )
}

/// A DEP-5 name as the idstring of a `LicenseRef-` (letters, digits, `.` and `-`).
fn reference_suffix(name: &str) -> String {
    name.replace('+', "-or-later")
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                c
            } else {
                '-'
            }
        })
        .collect()
}

/// The SPDX licence id of a DEP-5 short name (DEP-5 "License specification" table, plus
/// names that are already SPDX ids), or `None`.
pub fn spdx_id(name: &str) -> Option<&'static str> {
    let lower = name.to_ascii_lowercase();
    Some(match lower.as_str() {
        "apache-1.0" => "Apache-1.0",
        "apache-1.1" => "Apache-1.1",
        "apache-2.0" | "apache-2" => "Apache-2.0",
        "artistic-1.0" | "artistic" => "Artistic-1.0",
        "artistic-2.0" => "Artistic-2.0",
        "bsd-2-clause" => "BSD-2-Clause",
        "bsd-3-clause" => "BSD-3-Clause",
        "bsd-4-clause" => "BSD-4-Clause",
        "isc" => "ISC",
        "cc0-1.0" | "cc0" => "CC0-1.0",
        "cc-by-3.0" => "CC-BY-3.0",
        "cc-by-4.0" => "CC-BY-4.0",
        "cc-by-sa-3.0" => "CC-BY-SA-3.0",
        "cc-by-sa-4.0" => "CC-BY-SA-4.0",
        "expat" | "mit" => "MIT",
        "gpl-1" | "gpl-1.0" | "gpl-1.0-only" => "GPL-1.0-only",
        "gpl-1+" | "gpl-1.0+" | "gpl-1.0-or-later" => "GPL-1.0-or-later",
        "gpl-2" | "gpl-2.0" | "gpl-2.0-only" => "GPL-2.0-only",
        "gpl-2+" | "gpl-2.0+" | "gpl-2.0-or-later" => "GPL-2.0-or-later",
        "gpl-3" | "gpl-3.0" | "gpl-3.0-only" => "GPL-3.0-only",
        "gpl-3+" | "gpl-3.0+" | "gpl-3.0-or-later" => "GPL-3.0-or-later",
        "lgpl-2" | "lgpl-2.0" | "lgpl-2.0-only" => "LGPL-2.0-only",
        "lgpl-2+" | "lgpl-2.0+" | "lgpl-2.0-or-later" => "LGPL-2.0-or-later",
        "lgpl-2.1" | "lgpl-2.1-only" => "LGPL-2.1-only",
        "lgpl-2.1+" | "lgpl-2.1-or-later" => "LGPL-2.1-or-later",
        "lgpl-3" | "lgpl-3.0" | "lgpl-3.0-only" => "LGPL-3.0-only",
        "lgpl-3+" | "lgpl-3.0+" | "lgpl-3.0-or-later" => "LGPL-3.0-or-later",
        "agpl-3" | "agpl-3.0" | "agpl-3.0-only" => "AGPL-3.0-only",
        "agpl-3+" | "agpl-3.0+" | "agpl-3.0-or-later" => "AGPL-3.0-or-later",
        "gfdl-1.2" | "gfdl-1.2-only" => "GFDL-1.2-only",
        "gfdl-1.2+" | "gfdl-1.2-or-later" => "GFDL-1.2-or-later",
        "gfdl-1.3" | "gfdl-1.3-only" => "GFDL-1.3-only",
        "gfdl-1.3+" | "gfdl-1.3-or-later" => "GFDL-1.3-or-later",
        "mpl-1.1" => "MPL-1.1",
        "mpl-2.0" => "MPL-2.0",
        "epl-1.0" => "EPL-1.0",
        "epl-2.0" => "EPL-2.0",
        "zlib" => "Zlib",
        "zope-2.1" => "ZPL-2.1",
        "python-2.0" => "Python-2.0",
        "psf-2.0" => "PSF-2.0",
        "openssl" => "OpenSSL",
        "x11" => "X11",
        "bsl-1.0" => "BSL-1.0",
        "unicode-dfs-2016" => "Unicode-DFS-2016",
        "ofl-1.1" => "OFL-1.1",
        "0bsd" => "0BSD",
        "unlicense" => "Unlicense",
        "curl" => "curl",
        "wtfpl" => "WTFPL",
        "sleepycat" => "Sleepycat",
        "cc-by-sa-2.0" => "CC-BY-SA-2.0",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEP5: &str = "Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\n\
Upstream-Name: demo\n\
\n\
Files: *\n\
Copyright: 2020 Someone\n\
License: GPL-2+\n\
 This program is free software...\n\
\n\
Files: lib/*\n\
Copyright: 2021 Other\n\
License: Expat or Apache-2.0\n\
\n\
Files: data/*\n\
License: public-domain\n\
\n\
License: GPL-2+\n\
 On Debian systems, see /usr/share/common-licenses/GPL-2.\n";

    #[test]
    fn dep5_fields_become_one_spdx_expression() {
        let Licenses::Declared(expr) = Licenses::from_copyright(DEP5) else {
            panic!("DEP-5 file not recognised");
        };
        assert_eq!(
            expr.spdx,
            "GPL-2.0-or-later AND LicenseRef-public-domain AND (MIT OR Apache-2.0)"
        );
        assert_eq!(expr.spdx_ids, ["Apache-2.0", "GPL-2.0-or-later", "MIT"]);
        assert_eq!(
            expr.references,
            [(
                "LicenseRef-public-domain".to_owned(),
                "public-domain".to_owned()
            )]
        );
    }

    #[test]
    fn commas_group_and_exceptions_stay_one_name() {
        let e = Dep5Expression::parse("GPL-2+ or Artistic, and BSD-3-clause").expect("parses");
        assert_eq!(
            e.spdx,
            "(GPL-2.0-or-later OR Artistic-1.0) AND BSD-3-Clause"
        );
        let e = Dep5Expression::parse("GPL-2+ with OpenSSL exception").expect("parses");
        assert_eq!(e.spdx, "LicenseRef-GPL-2-or-later-with-OpenSSL-exception");
        assert!(Dep5Expression::parse("GPL-2 or").is_none());
    }

    #[test]
    fn free_form_files_are_not_guessed() {
        let glibc = "This is the Debian prepackaged version of the GNU C Library\n\
version 2.36.\n\nIt was put together by the GNU Libc Maintainers\n";
        assert_eq!(
            Licenses::from_copyright(glibc),
            Licenses::NotMachineReadable
        );
        let header_only = "Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\n\nFiles: *\nCopyright: x\n";
        assert_eq!(
            Licenses::from_copyright(header_only),
            Licenses::NotMachineReadable
        );
    }

    #[test]
    fn single_license_needs_no_parentheses() {
        let text = "Format: http://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\n\nFiles: *\nLicense: MPL-2.0 or GPL-2+\n";
        let Licenses::Declared(expr) = Licenses::from_copyright(text) else {
            panic!("DEP-5 file not recognised");
        };
        assert_eq!(expr.spdx, "MPL-2.0 OR GPL-2.0-or-later");
    }
}
