//! "Did you mean": the closest name to a misspelled one, by edit distance. A leaf module: the
//! callers bring the names (attr.rs the table's keys, ties.rs the struct's fields).

/// The name closest to `name`, for "did you mean": within two edits, or one name an abbreviation
/// of the other (`encoder` for `enc`).
pub fn closest<'n>(name: &str, names: &'n [String]) -> Option<&'n String> {
    let abbreviates = |a: &str, b: &str| {
        let (a, b) = (a.to_lowercase(), b.to_lowercase());
        let (short, long) = if a.len() <= b.len() { (a, b) } else { (b, a) };
        short.len() >= 3 && long.starts_with(&short)
    };
    names
        .iter()
        .map(|n| (edit_distance(name, n), n))
        .filter(|&(d, n)| (d <= 2 && d < n.len()) || abbreviates(name, n))
        .min_by_key(|&(d, _)| d)
        .map(|(_, n)| n)
}

/// Levenshtein distance, case-insensitive: the number of one-character edits from `a` to `b`.
pub fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.to_lowercase().chars().collect();
    let b: Vec<char> = b.to_lowercase().chars().collect();
    // `row[j]`: the distance from the first `i` chars of `a` to the first `j` of `b`.
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.iter().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let substitute = diagonal + usize::from(ca != cb);
            diagonal = row[j + 1];
            row[j + 1] = substitute.min(row[j] + 1).min(diagonal + 1);
        }
    }
    row[b.len()]
}
