//! Folder statistics a repository keeps per user (`folder_stats`): which (parent, name)
//! rows a write to one media changes, by how much, and for whom.

use drip_core::storage::model::FolderPath;
use drip_core::{MediaId, UserId};

/// Whose folder statistics a change applies to.
#[derive(Debug, Clone, Copy)]
pub enum Viewers<'a> {
    /// Everyone who sees the media now (its `media_owners` rows).
    OfMedia(&'a MediaId),
    /// One user.
    User(&'a UserId),
}

/// A change of one `folder_stats` row: the folder `parent/name` gains `count` files of
/// `size` bytes in total (negative to remove).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FolderDelta {
    /// The folder holding the subfolder (`$` for a top-level folder).
    pub parent: String,
    /// The subfolder's name.
    pub name: String,
    /// Change of the recursive file count.
    pub count: i64,
    /// Change of the recursive byte total.
    pub size: i64,
}

/// Every folder that holds `folder` (itself included), as (parent, name) pairs from the
/// top: `$/a/b` gives `($, a)` and `($/a, b)`; `$` gives nothing (files directly in the
/// root are no subfolder's).
fn ancestors(folder: &FolderPath) -> Vec<(String, String)> {
    let mut out = Vec::with_capacity(folder.depth());
    let mut parent = String::from("$");
    for segment in folder.segments() {
        out.push((parent.clone(), segment.to_owned()));
        parent.push('/');
        parent.push_str(segment);
    }
    out
}

/// The deltas of adding (`count = 1`) or removing (`count = -1`) one file of `size` bytes
/// in `folder`, or of changing its size (`count = 0`).
pub fn file_deltas(folder: &FolderPath, count: i64, size: i64) -> Vec<FolderDelta> {
    if count == 0 && size == 0 {
        return Vec::new();
    }
    ancestors(folder).into_iter().map(|(parent, name)| FolderDelta { parent, name, count, size }).collect()
}

/// The deltas of moving `count` files of `size` bytes in total from `from` to `to`:
/// folders that hold both are untouched. Sorted by (parent, name), the order in which rows
/// are locked.
pub fn move_deltas(from: &FolderPath, to: &FolderPath, count: i64, size: i64) -> Vec<FolderDelta> {
    let old = ancestors(from);
    let new = ancestors(to);
    let mut out: Vec<FolderDelta> = old
        .iter()
        .filter(|key| !new.contains(key))
        .map(|(parent, name)| FolderDelta {
            parent: parent.clone(),
            name: name.clone(),
            count: -count,
            size: -size,
        })
        .chain(new.iter().filter(|key| !old.contains(key)).map(|(parent, name)| FolderDelta {
            parent: parent.clone(),
            name: name.clone(),
            count,
            size,
        }))
        .collect();
    out.sort_by(|a, b| (&a.parent, &a.name).cmp(&(&b.parent, &b.name)));
    out
}

/// Deltas of several changes summed per folder, for one batch of statements.
#[derive(Debug, Default)]
pub struct MergedDeltas(std::collections::BTreeMap<(String, String), (i64, i64)>);

impl MergedDeltas {
    /// Adds these deltas to the sums.
    pub fn add(&mut self, deltas: Vec<FolderDelta>) {
        for delta in deltas {
            let sum = self.0.entry((delta.parent, delta.name)).or_default();
            sum.0 += delta.count;
            sum.1 += delta.size;
        }
    }

    /// The sums that change something, sorted by (parent, name).
    #[must_use]
    pub fn into_sorted(self) -> Vec<FolderDelta> {
        self.0
            .into_iter()
            .filter(|(_, (count, size))| *count != 0 || *size != 0)
            .map(|((parent, name), (count, size))| FolderDelta { parent, name, count, size })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn path(text: &str) -> FolderPath {
        FolderPath::parse(text).unwrap()
    }

    #[test]
    fn ancestors_from_the_top() {
        assert!(ancestors(&FolderPath::root()).is_empty());
        assert_eq!(
            ancestors(&path("$/a/b c/%_")),
            vec![
                ("$".to_owned(), "a".to_owned()),
                ("$/a".to_owned(), "b c".to_owned()),
                ("$/a/b c".to_owned(), "%_".to_owned())
            ]
        );
    }

    #[test]
    fn moves_touch_only_differing_folders() {
        let deltas = move_deltas(&path("$/a/b/c"), &path("$/a/x"), 1, 7);
        let keys: Vec<_> = deltas.iter().map(|d| (d.parent.as_str(), d.name.as_str(), d.count)).collect();
        assert_eq!(keys, vec![("$/a", "b", -1), ("$/a", "x", 1), ("$/a/b", "c", -1)]);
        assert!(move_deltas(&path("$/a"), &path("$/a"), 1, 7).is_empty());
        assert_eq!(move_deltas(&FolderPath::root(), &path("$/q"), 1, 3).len(), 1);
    }

    #[test]
    fn merged_deltas_add_up_per_folder_and_drop_what_cancels() {
        let mut merged = MergedDeltas::default();
        merged.add(move_deltas(&path("$/a/x"), &path("$/b/x"), 2, 10));
        merged.add(move_deltas(&path("$/a"), &path("$/b"), 1, 5));
        merged.add(file_deltas(&path("$/c"), 1, 1));
        merged.add(file_deltas(&path("$/c"), -1, -1));
        let keys: Vec<_> =
            merged.into_sorted().into_iter().map(|d| (d.parent, d.name, d.count, d.size)).collect();
        assert_eq!(
            keys,
            vec![
                ("$".to_owned(), "a".to_owned(), -3, -15),
                ("$".to_owned(), "b".to_owned(), 3, 15),
                ("$/a".to_owned(), "x".to_owned(), -2, -10),
                ("$/b".to_owned(), "x".to_owned(), 2, 10),
            ]
        );
    }

    #[test]
    fn no_change_no_delta() {
        assert!(file_deltas(&path("$/a"), 0, 0).is_empty());
        assert_eq!(file_deltas(&path("$/a"), 0, 5)[0].size, 5);
    }
}
