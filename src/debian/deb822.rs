//! A zero-copy reader for deb822 stanzas (deb822(5), Policy §5.1): `Packages` indices,
//! `Release` files, control files and apt `.sources` files.
//!
//! Values are returned as written, continuation lines included, so that a caller can keep a
//! control stanza verbatim (status.d) or fold it (relationship fields). A `Packages` index of
//! 63,000 stanzas is read without copying a value.

/// One stanza: its fields in file order, names and values borrowed from the text.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Stanza<'a> {
    fields: Vec<(&'a str, &'a str)>,
    /// 1-based line of the stanza's first field, for error messages.
    pub line: usize,
}

/// Why a text is not deb822.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum Deb822Error {
    #[error("line {line}: expected `Field: value`, found `{text}`")]
    NotAField { line: usize, text: String },
    #[error("line {line}: continuation line before any field")]
    OrphanContinuation { line: usize },
    #[error("line {line}: field `{field}` appears twice in one stanza")]
    DuplicateField { line: usize, field: String },
}

impl<'a> Stanza<'a> {
    /// The value of `name` (case-insensitive), trimmed, continuation lines kept as written.
    pub fn get(&self, name: &str) -> Option<&'a str> {
        self.fields
            .iter()
            .find(|(field, _)| field.eq_ignore_ascii_case(name))
            .map(|(_, value)| *value)
    }

    /// The fields in file order.
    pub fn fields(&self) -> impl Iterator<Item = (&'a str, &'a str)> + '_ {
        self.fields.iter().copied()
    }

    /// Whether the stanza has no field at all.
    pub fn is_empty(&self) -> bool {
        self.fields.is_empty()
    }
}

/// Reads every stanza of `text`. Comment lines (`#` in column 0) are skipped, as apt does for
/// `.sources` files; Debian's own indices never contain them.
pub fn parse(text: &str) -> Result<Vec<Stanza<'_>>, Deb822Error> {
    Stanzas::new(text).collect()
}

/// An iterator over the stanzas of a text, for indices too large to collect twice.
pub struct Stanzas<'a> {
    text: &'a str,
    pos: usize,
    line: usize,
}

impl<'a> Stanzas<'a> {
    /// Starts reading `text` from its beginning.
    pub fn new(text: &'a str) -> Self {
        Self {
            text,
            pos: 0,
            line: 0,
        }
    }

    fn next_line(&mut self) -> Option<&'a str> {
        if self.pos >= self.text.len() {
            return None;
        }
        let rest = &self.text[self.pos..];
        let end = rest.find('\n').unwrap_or(rest.len());
        self.pos += (end + 1).min(rest.len());
        self.line += 1;
        let line = &rest[..end];
        Some(line.strip_suffix('\r').unwrap_or(line))
    }
}

impl<'a> Iterator for Stanzas<'a> {
    type Item = Result<Stanza<'a>, Deb822Error>;

    fn next(&mut self) -> Option<Self::Item> {
        let mut stanza = Stanza::default();
        // Start (byte offset into `text`) and end of the value being read.
        let mut open: Option<(&'a str, usize, usize)> = None;
        loop {
            let line_start = self.pos;
            let Some(line) = self.next_line() else { break };
            if line.starts_with('#') {
                continue;
            }
            if line.trim().is_empty() {
                if stanza.fields.is_empty() && open.is_none() {
                    continue;
                }
                break;
            }
            if line.starts_with([' ', '\t']) {
                match open.as_mut() {
                    Some((_, _, end)) => *end = line_start + line.len(),
                    None => return Some(Err(Deb822Error::OrphanContinuation { line: self.line })),
                }
                continue;
            }
            let Some(colon) = line.find(':') else {
                return Some(Err(Deb822Error::NotAField {
                    line: self.line,
                    text: line.to_owned(),
                }));
            };
            if let Some((name, start, end)) = open.take() {
                stanza.fields.push((name, self.text[start..end].trim()));
            }
            let name = &line[..colon];
            if name.is_empty() || name.contains(char::is_whitespace) {
                return Some(Err(Deb822Error::NotAField {
                    line: self.line,
                    text: line.to_owned(),
                }));
            }
            if stanza.get(name).is_some() {
                return Some(Err(Deb822Error::DuplicateField {
                    line: self.line,
                    field: name.to_owned(),
                }));
            }
            if stanza.fields.is_empty() {
                stanza.line = self.line;
            }
            let value_start = line_start + colon + 1;
            open = Some((name, value_start, line_start + line.len()));
        }
        if let Some((name, start, end)) = open.take() {
            if stanza.get(name).is_some() {
                return Some(Err(Deb822Error::DuplicateField {
                    line: self.line,
                    field: name.to_owned(),
                }));
            }
            stanza.fields.push((name, self.text[start..end].trim()));
        }
        if stanza.fields.is_empty() {
            None
        } else {
            Some(Ok(stanza))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_stanzas_and_continuations() {
        let text = "Package: a\nVersion: 1.0\nDescription: short\n long line\n .\n more\n\n\nPackage: b\nversion: 2\n";
        let stanzas = parse(text).expect("valid deb822");
        assert_eq!(stanzas.len(), 2);
        assert_eq!(stanzas[0].get("package"), Some("a"));
        assert_eq!(
            stanzas[0].get("Description"),
            Some("short\n long line\n .\n more")
        );
        assert_eq!(stanzas[1].get("Version"), Some("2"));
        assert_eq!(stanzas[1].line, 9);
    }

    #[test]
    fn skips_comments_and_crlf() {
        let text = "# comment\r\nTypes: deb\r\nURIs: http://x/debian\r\n";
        let stanzas = parse(text).expect("valid deb822");
        assert_eq!(stanzas[0].get("URIs"), Some("http://x/debian"));
    }

    #[test]
    fn rejects_malformed() {
        assert!(matches!(
            parse("Package a\n"),
            Err(Deb822Error::NotAField { line: 1, .. })
        ));
        assert!(matches!(
            parse(" orphan\n"),
            Err(Deb822Error::OrphanContinuation { line: 1 })
        ));
        assert!(matches!(
            parse("A: 1\nB: 2\nA: 3\n"),
            Err(Deb822Error::DuplicateField { .. })
        ));
    }
}
