//! "Did you mean …?": the closest of a few known names to a mistyped one.

/// The edit distance between `a` and `b` counting insertions, deletions, substitutions and
/// swaps of two neighbours (`shpo` → `shop` is one edit), over characters.
pub fn distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    // rows[i][j]: distance between a[..i] and b[..j]; three rows are enough for the swaps.
    let width = b.len() + 1;
    let mut before: Vec<usize> = vec![0; width];
    let mut previous: Vec<usize> = (0..width).collect();
    let mut current: Vec<usize> = vec![0; width];
    for i in 1..=a.len() {
        current[0] = i;
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut best = (previous[j] + 1)
                .min(current[j - 1] + 1)
                .min(previous[j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(before[j - 2] + 1);
            }
            current[j] = best;
        }
        std::mem::swap(&mut before, &mut previous);
        std::mem::swap(&mut previous, &mut current);
    }
    previous[b.len()]
}

/// The candidate `given` was most likely meant to be: the closest one within a third of its
/// length in edits (at least one edit), or else the only one it is a prefix of (`prod` →
/// `production`). `None` when nothing is close.
pub fn closest<'a>(given: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let candidates: Vec<&str> = candidates.into_iter().collect();
    let near = candidates
        .iter()
        .map(|c| (distance(given, c), *c))
        .filter(|(d, c)| *d > 0 && *d <= (given.chars().count().max(c.chars().count()) / 3).max(1))
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c);
    near.or_else(|| {
        let mut prefixed = candidates
            .iter()
            .filter(|c| given.chars().count() >= 3 && c.starts_with(given) && **c != given);
        match (prefixed.next(), prefixed.next()) {
            (Some(only), None) => Some(*only),
            _ => None,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distance_counts_a_swap_as_one_edit() {
        assert_eq!(distance("shpo", "shop"), 1);
        assert_eq!(distance("stgae", "stage"), 1);
        assert_eq!(distance("kitten", "sitting"), 3);
        assert_eq!(distance("", "abc"), 3);
        assert_eq!(distance("same", "same"), 0);
        assert_eq!(distance("ünï", "uni"), 2);
    }

    #[test]
    fn closest_suggests_near_names_and_unique_prefixes_only() {
        let known = ["stage", "production", "qa"];
        assert_eq!(closest("stgae", known), Some("stage"));
        assert_eq!(closest("prodution", known), Some("production"));
        assert_eq!(closest("prod", known), Some("production"));
        assert_eq!(closest("qb", known), Some("qa"));
        assert_eq!(closest("staging-eu", known), None);
        assert_eq!(closest("x", known), None);
        assert_eq!(
            closest("stage", known),
            None,
            "an exact name needs no suggestion"
        );
        assert_eq!(
            closest("marathon_ulr", ["marathon_url", "consul_url"]),
            Some("marathon_url")
        );
    }
}
