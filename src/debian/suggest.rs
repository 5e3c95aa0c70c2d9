//! "Did you mean" hints: one edit distance for every stage that names a near miss (suites in
//! the manifest, package names in the resolver, `why`, `search`).

/// Levenshtein distance over characters (insertions, deletions and substitutions cost 1).
pub fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let above = row[j + 1];
            row[j + 1] = (above + 1)
                .min(row[j] + 1)
                .min(diagonal + usize::from(ca != *cb));
            diagonal = above;
        }
    }
    row[b.len()]
}

/// Names of `names` within a small edit distance of `wanted` (a third of its length, at
/// least 2), closest first (ties by name), at most three.
pub fn suggestions(wanted: &str, names: &[&str]) -> Vec<String> {
    let limit = (wanted.len() / 3).max(2);
    let mut scored: Vec<(usize, &str)> = names
        .iter()
        .filter(|name| name.len().abs_diff(wanted.len()) <= limit)
        .map(|name| (edit_distance(wanted, name), *name))
        .filter(|(distance, _)| *distance <= limit)
        .collect();
    scored.sort();
    scored
        .into_iter()
        .take(3)
        .map(|(_, n)| n.to_owned())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_edits() {
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(edit_distance("bookworm", "bookwrom"), 2);
        assert_eq!(edit_distance("sid", "sid"), 0);
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("é", "e"), 1);
    }

    #[test]
    fn suggests_close_names() {
        let names = ["python3", "python3-minimal", "perl", "pythonx"];
        assert_eq!(suggestions("pyhton3", &names), ["python3"]);
        assert_eq!(suggestions("pythn3", &names), ["python3", "pythonx"]);
        assert!(suggestions("zzzzzzzz", &names).is_empty());
    }
}
