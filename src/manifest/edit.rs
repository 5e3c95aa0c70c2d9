//! Editing debless.toml as text, not re-serialising it, so comments and layout survive
//! (`debless add`): new names go at the end of the top-level `packages` array, and the result
//! is parsed again and compared before the caller writes it.

/// Appends `names` as strings to the top-level `packages = [...]` array of a TOML text,
/// keeping everything else byte for byte (comments, layout). A missing array is created
/// before the first table. The result is parsed again and must hold exactly the old names
/// followed by the new ones.
pub fn append_packages(text: &str, names: &[&str]) -> Result<String, String> {
    let old = packages_of(text)?;
    let quoted: Vec<String> = names
        .iter()
        .map(|n| toml::Value::String((*n).to_owned()).to_string())
        .collect();
    let edited = match find_packages_array(text)? {
        None => {
            let line = format!("packages = [{}]\n", quoted.join(", "));
            let table = top_level_table_start(text).unwrap_or(text.len());
            let mut out = text[..table].to_owned();
            if !out.is_empty() && !out.ends_with('\n') {
                out.push('\n');
            }
            out.push_str(&line);
            if table < text.len() {
                out.push('\n');
            }
            out.push_str(&text[table..]);
            out
        }
        Some(array) => insert_into_array(text, &array, &quoted),
    };
    let now = packages_of(&edited)?;
    let expected: Vec<String> = old
        .iter()
        .cloned()
        .chain(names.iter().map(|n| (*n).to_owned()))
        .collect();
    if now != expected {
        return Err("the edited file does not parse to the expected package list".into());
    }
    Ok(edited)
}

/// The top-level `packages` strings of a TOML text (empty when absent).
fn packages_of(text: &str) -> Result<Vec<String>, String> {
    let table: toml::Table = toml::from_str(text).map_err(|e| e.to_string())?;
    match table.get("packages") {
        None => Ok(Vec::new()),
        Some(toml::Value::Array(items)) => items
            .iter()
            .map(|v| {
                v.as_str()
                    .map(str::to_owned)
                    .ok_or_else(|| "`packages` holds a non-string".to_owned())
            })
            .collect(),
        Some(_) => Err("`packages` is not an array".into()),
    }
}

/// Byte positions in the array: the `[`, the `]`, and the last value or comma in between
/// (`None` for an empty array).
struct ArraySpan {
    open: usize,
    close: usize,
    last: Option<usize>,
}

/// Finds `packages = [` among the top-level keys (before any `[table]` header) and scans to
/// its matching `]`, skipping strings and comments.
fn find_packages_array(text: &str) -> Result<Option<ArraySpan>, String> {
    let mut offset = 0;
    for line in text.split_inclusive('\n') {
        let trimmed = line.trim_start();
        if trimmed.starts_with('[') {
            return Ok(None);
        }
        let key_end = trimmed
            .strip_prefix("packages")
            .map(str::trim_start)
            .and_then(|rest| rest.strip_prefix('='))
            .map(str::trim_start);
        if let Some(rest) = key_end
            && rest.starts_with('[')
        {
            let open = offset + (line.len() - rest.len());
            return scan_array(text, open).map(Some);
        }
        offset += line.len();
    }
    Ok(None)
}

fn scan_array(text: &str, open: usize) -> Result<ArraySpan, String> {
    let bytes = text.as_bytes();
    let mut i = open + 1;
    let mut depth = 0usize;
    let mut last = None;
    while i < bytes.len() {
        match bytes[i] {
            b'#' => {
                while i < bytes.len() && bytes[i] != b'\n' {
                    i += 1;
                }
                continue;
            }
            b'"' | b'\'' => {
                let quote = bytes[i];
                i += 1;
                while i < bytes.len() && bytes[i] != quote {
                    if quote == b'"' && bytes[i] == b'\\' {
                        i += 1;
                    }
                    i += 1;
                }
                last = Some(i);
            }
            b'[' => depth += 1,
            b']' if depth == 0 => {
                return Ok(ArraySpan {
                    open,
                    close: i,
                    last,
                });
            }
            b']' => {
                depth -= 1;
                last = Some(i);
            }
            b' ' | b'\t' | b'\r' | b'\n' => {}
            _ => last = Some(i),
        }
        i += 1;
    }
    Err("`packages` array is not closed".into())
}

fn insert_into_array(text: &str, array: &ArraySpan, quoted: &[String]) -> String {
    let inner = &text[array.open + 1..array.close];
    let multiline = inner.contains('\n');
    let mut out = String::with_capacity(text.len() + 64);
    match (multiline, array.last) {
        (false, None) => {
            out.push_str(&text[..array.close]);
            out.push_str(&quoted.join(", "));
            out.push_str(&text[array.close..]);
        }
        (false, Some(last)) => {
            let trailing_comma = text.as_bytes()[last] == b',';
            out.push_str(&text[..=last]);
            out.push_str(if trailing_comma { " " } else { ", " });
            out.push_str(&quoted.join(", "));
            out.push_str(&text[last + 1..]);
        }
        (true, None) => {
            out.push_str(&text[..=array.open]);
            for item in quoted {
                out.push_str(&format!("\n    {item},"));
            }
            out.push_str(&text[array.open + 1..]);
        }
        (true, Some(last)) => {
            // New lines go after the line of the last value (after its comment), indented
            // like it, with a comma after each unless the array had no trailing comma.
            let line_start = text[..last].rfind('\n').map_or(0, |n| n + 1);
            let indent: String = if line_start > array.open {
                text[line_start..]
                    .chars()
                    .take_while(|c| *c == ' ' || *c == '\t')
                    .collect()
            } else {
                "    ".to_owned()
            };
            let line_end = text[last..]
                .find('\n')
                .map_or(array.close, |n| last + n)
                .min(array.close);
            let had_trailing_comma = text.as_bytes()[last] == b',';
            out.push_str(&text[..=last]);
            if !had_trailing_comma {
                out.push(',');
            }
            out.push_str(&text[last + 1..line_end]);
            for (i, item) in quoted.iter().enumerate() {
                out.push('\n');
                out.push_str(&indent);
                out.push_str(item);
                if had_trailing_comma || i + 1 < quoted.len() {
                    out.push(',');
                }
            }
            if line_end == array.close {
                out.push('\n');
            }
            out.push_str(&text[line_end..]);
        }
    }
    out
}

/// Where the first `[table]` or `[[array]]` header starts, if any.
fn top_level_table_start(text: &str) -> Option<usize> {
    let mut offset = 0;
    for line in text.split_inclusive('\n') {
        if line.trim_start().starts_with('[') {
            return Some(offset);
        }
        offset += line.len();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn appends_to_a_one_line_array_keeping_comments() {
        let text = "# image\narchitectures = [\"amd64\"]\npackages = [\"python3\"] # roots\n\n[[source]]\nsuite = \"bookworm\"\n";
        let edited = append_packages(text, &["libgmp10", "libmpfr6"]).expect("editable");
        assert_eq!(
            edited,
            "# image\narchitectures = [\"amd64\"]\npackages = [\"python3\", \"libgmp10\", \"libmpfr6\"] # roots\n\n[[source]]\nsuite = \"bookworm\"\n"
        );
        let empty = append_packages("packages = []\n", &["a"]).expect("editable");
        assert_eq!(empty, "packages = [\"a\"]\n");
    }

    #[test]
    fn appends_to_a_multi_line_array_after_the_last_comment() {
        let text = "packages = [\n  \"python3\", # the runtime\n  \"tzdata\"\n]\n";
        let edited = append_packages(text, &["libgmp10"]).expect("editable");
        assert_eq!(
            edited,
            "packages = [\n  \"python3\", # the runtime\n  \"tzdata\",\n  \"libgmp10\"\n]\n"
        );
        let trailing = "packages = [\n    \"a\", # why\n    # more\n]\n";
        let edited = append_packages(trailing, &["b", "c"]).expect("editable");
        assert_eq!(
            edited,
            "packages = [\n    \"a\", # why\n    \"b\",\n    \"c\",\n    # more\n]\n"
        );
    }

    #[test]
    fn creates_the_array_before_the_first_table() {
        let text = "architectures = [\"amd64\"]\n[[source]]\nsuite = \"x\"\n";
        let edited = append_packages(text, &["libc6"]).expect("editable");
        assert_eq!(
            edited,
            "architectures = [\"amd64\"]\npackages = [\"libc6\"]\n\n[[source]]\nsuite = \"x\"\n"
        );
        // A `packages` key inside a table is not the root list.
        let text = "[image]\npackages = [\"no\"]\n";
        assert!(append_packages(text, &["x"]).is_ok_and(|t| t.starts_with("packages = [\"x\"]")));
    }
}
