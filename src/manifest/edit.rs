//! Editing debless.toml in place with `toml_edit`, so comments and layout survive
//! (`debless add`): new names go at the end of the top-level `packages` array, written in the
//! array's own style (one line, or one element per line with its indentation), and the result
//! is parsed again and compared before the caller writes it.

use toml_edit::{Array, DocumentMut, Item, Value};

/// Why debless.toml could not be edited.
#[derive(Debug, thiserror::Error)]
pub enum EditError {
    #[error("not valid TOML: {0}")]
    Parse(String),
    #[error("`packages` is not an array")]
    NotArray,
    #[error("`packages` holds a non-string")]
    NonString,
    #[error("the edited file does not parse to the expected package list")]
    Mismatch,
}

/// Appends `names` as strings to the top-level `packages = [...]` array of a TOML text,
/// keeping everything else as it was (comments, layout). A missing array is created with the
/// other top-level keys, before the first table. The result is parsed again and must hold
/// exactly the old names followed by the new ones.
pub fn append_packages(text: &str, names: &[&str]) -> Result<String, EditError> {
    let old = packages_of(text)?;
    let mut doc: DocumentMut = text
        .parse()
        .map_err(|e: toml_edit::TomlError| EditError::Parse(e.to_string()))?;
    match doc.get_mut("packages") {
        None => {
            let array: Array = names.iter().copied().collect();
            doc.insert("packages", Item::Value(Value::Array(array)));
            separate_first_table(&mut doc);
        }
        Some(item) => {
            let array = item.as_array_mut().ok_or(EditError::NotArray)?;
            append_in_style(array, names);
        }
    }
    let edited = doc.to_string();
    let now = packages_of(&edited)?;
    let expected: Vec<String> = old
        .iter()
        .cloned()
        .chain(names.iter().map(|n| (*n).to_owned()))
        .collect();
    if now != expected {
        return Err(EditError::Mismatch);
    }
    Ok(edited)
}

/// Appends to `array` as its author wrote it: on one line, or one element per line with the
/// last element's indentation, keeping a comment that followed the last element on its line
/// and comments before the `]` where they were.
fn append_in_style(array: &mut Array, names: &[&str]) {
    let last_prefix = array
        .iter()
        .last()
        .and_then(|v| v.decor().prefix())
        .and_then(|p| p.as_str())
        .unwrap_or("")
        .to_owned();
    // The text after the last element: its suffix, or, after a trailing comma, the array's
    // trailing text.
    let after = if array.trailing_comma() {
        array.trailing().as_str().unwrap_or("").to_owned()
    } else {
        array
            .iter()
            .last()
            .and_then(|v| v.decor().suffix())
            .and_then(|p| p.as_str())
            .unwrap_or("")
            .to_owned()
    };
    let multi_line = last_prefix.contains('\n') || after.contains('\n');
    if !multi_line {
        for name in names {
            let mut value = Value::from(*name);
            if !array.is_empty() {
                value.decor_mut().set_prefix(" ");
            }
            value.decor_mut().set_suffix("");
            array.push_formatted(value);
        }
        return;
    }
    let indent = last_prefix
        .rsplit_once('\n')
        .map_or("    ", |(_, indent)| indent)
        .to_owned();
    // What followed the last element on its own line (a comment) stays there; the rest of the
    // trailing text (comments on their own lines) stays before the `]`.
    let (same_line, rest) = after.split_once('\n').unwrap_or((after.as_str(), ""));
    if !array.trailing_comma()
        && let Some(last) = array.iter_mut().last()
    {
        last.decor_mut().set_suffix("");
    }
    for (i, name) in names.iter().enumerate() {
        let mut value = Value::from(*name);
        let prefix = if i == 0 {
            format!("{same_line}\n{indent}")
        } else {
            format!("\n{indent}")
        };
        value.decor_mut().set_prefix(prefix);
        value.decor_mut().set_suffix("");
        array.push_formatted(value);
    }
    array.set_trailing(format!("\n{rest}"));
}

/// A blank line between the top-level keys and the first table, as `debless init` writes.
fn separate_first_table(doc: &mut DocumentMut) {
    let first = doc
        .as_table_mut()
        .iter_mut()
        .filter_map(|(_, item)| match item {
            Item::Table(table) => table.position().map(|p| (p, item)),
            Item::ArrayOfTables(tables) => tables
                .iter()
                .filter_map(|t| t.position())
                .min()
                .map(|p| (p, item)),
            _ => None,
        })
        .min_by_key(|(position, _)| *position)
        .map(|(_, item)| item);
    let decor = match first {
        Some(Item::Table(table)) => table.decor_mut(),
        Some(Item::ArrayOfTables(tables)) => match tables.iter_mut().min_by_key(|t| t.position()) {
            Some(table) => table.decor_mut(),
            None => return,
        },
        _ => return,
    };
    let prefix = decor
        .prefix()
        .and_then(|p| p.as_str())
        .unwrap_or("")
        .to_owned();
    if !prefix.starts_with('\n') {
        decor.set_prefix(format!("\n{prefix}"));
    }
}

/// The top-level `packages` strings of a TOML text (empty when absent).
fn packages_of(text: &str) -> Result<Vec<String>, EditError> {
    let table: toml::Table = toml::from_str(text).map_err(|e| EditError::Parse(e.to_string()))?;
    match table.get("packages") {
        None => Ok(Vec::new()),
        Some(toml::Value::Array(items)) => items
            .iter()
            .map(|v| v.as_str().map(str::to_owned).ok_or(EditError::NonString))
            .collect(),
        Some(_) => Err(EditError::NotArray),
    }
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
        // A comment after the last element without a comma stays on that element's line.
        let commented = "packages = [\n  \"tzdata\" # zones\n]\n";
        let edited = append_packages(commented, &["libgmp10"]).expect("editable");
        assert_eq!(
            edited,
            "packages = [\n  \"tzdata\", # zones\n  \"libgmp10\"\n]\n"
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
