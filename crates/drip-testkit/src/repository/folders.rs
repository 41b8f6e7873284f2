//! Conformance scenarios of `MediaRepository::relocate_folder` (moving or renaming a
//! creator's whole folder), run by [`repository_conformance!`](crate::repository_conformance)
//! with the others.

use drip_core::storage::model::MAX_PATH_DEPTH;
use drip_core::storage::ports::RelocateFolderError;
use tokio::sync::Barrier;

use super::trash::trash;
use super::{
    Arc, Media, RACERS, Repos, add_file, add_pending, add_user, assert_same_media, at, files_in, folder,
    list, path, share,
};

/// Asserts that `file` is stored in `folder`, otherwise as it was.
async fn assert_in(repos: &Repos, file: &Media, folder: &str, updated: i64) {
    let found = repos.media.find(&file.id()).await.unwrap().expect("find");
    assert_same_media(&found, &file.clone().relocated(path(folder), file.name().clone(), at(updated)));
}

/// Every media the creator has in the folder or below it moves (pending ones too; trashed
/// ones stay to be restored where they were), shares follow, and every viewer's folder
/// totals move with them; a folder whose name only starts the same, and files shared with
/// the creator there, stay.
pub async fn relocate_folder_moves_own_media_with_shares_and_totals(repos: Repos) {
    let alice = add_user(&repos, "alice").await;
    let bob = add_user(&repos, "bob").await;
    let x = add_file(&repos, alice.id, "$/a", "x.txt", 4).await;
    let y = add_file(&repos, alice.id, "$/a/sub", "y.txt", 6).await;
    let z = add_file(&repos, alice.id, "$/a/sub/deep", "z", 1).await;
    let pending = add_pending(&repos, alice.id, "$/a", "p.bin").await;
    let trashed = add_file(&repos, alice.id, "$/a", "t.txt", 2).await;
    trash(&repos, &trashed).await;
    let near = add_file(&repos, alice.id, "$/ab", "keep.txt", 3).await;
    let bobs = add_file(&repos, bob.id, "$/a", "b.txt", 5).await;
    share(&repos, &bobs, &alice).await;
    share(&repos, &y, &bob).await;

    let moved = repos.media.relocate_folder(&alice.id, &path("$/a"), &path("$/n/m"), at(70)).await;
    assert_eq!(moved.expect("moving a folder"), 4);

    assert_in(&repos, &x, "$/n/m", 70).await;
    assert_in(&repos, &y, "$/n/m/sub", 70).await;
    assert_in(&repos, &z, "$/n/m/sub/deep", 70).await;
    assert_in(&repos, &pending, "$/n/m", 70).await;
    assert_same_media(&repos.media.find(&trashed.id()).await.unwrap().expect("find"), &trashed);
    assert_same_media(&repos.media.find(&near.id()).await.unwrap().expect("find"), &near);
    assert_same_media(&repos.media.find(&bobs.id()).await.unwrap().expect("find"), &bobs);

    assert_eq!(
        list(&repos, &alice, "$").await.folders,
        vec![folder("a", 1, 5), folder("ab", 1, 3), folder("n", 3, 11)]
    );
    assert_eq!(files_in(&repos, &alice, "$/a").await, vec![bobs.id()]);
    assert!(list(&repos, &alice, "$/a").await.folders.is_empty());
    assert_eq!(list(&repos, &alice, "$/n").await.folders, vec![folder("m", 3, 11)]);
    assert_eq!(files_in(&repos, &alice, "$/n/m").await, vec![x.id()]);
    assert_eq!(list(&repos, &alice, "$/n/m").await.folders, vec![folder("sub", 2, 7)]);
    assert_eq!(files_in(&repos, &alice, "$/n/m/sub/deep").await, vec![z.id()]);
    // The sharee sees the shared file at its new place, and their own where it was.
    assert_eq!(list(&repos, &bob, "$").await.folders, vec![folder("a", 1, 5), folder("n", 1, 6)]);
    assert_eq!(files_in(&repos, &bob, "$/n/m/sub").await, vec![y.id()]);
    assert!(files_in(&repos, &bob, "$/a/sub").await.is_empty());

    // Renaming back (a move within the same parent) restores every total.
    let back = repos.media.relocate_folder(&alice.id, &path("$/n/m"), &path("$/a"), at(71)).await;
    assert_eq!(back.expect("moving it back"), 4);
    assert_eq!(list(&repos, &alice, "$").await.folders, vec![folder("a", 4, 16), folder("ab", 1, 3)]);
    assert_eq!(list(&repos, &bob, "$").await.folders, vec![folder("a", 2, 11)]);
    assert_in(&repos, &y, "$/a/sub", 71).await;
}

/// A target holding any media of the creator's (uploaded or still uploading) refuses the
/// whole move; trashed ones and media shared with them do not; a folder where the creator
/// has nothing moves nothing; a subfolder that would be too deep refuses the whole move.
pub async fn relocate_folder_conflicts_and_limits(repos: Repos) {
    let alice = add_user(&repos, "alice").await;
    let bob = add_user(&repos, "bob").await;
    let x = add_file(&repos, alice.id, "$/a", "x.txt", 1).await;
    add_file(&repos, alice.id, "$/b/in", "other.txt", 1).await;
    add_pending(&repos, alice.id, "$/p", "loading.bin").await;
    let gone = add_file(&repos, alice.id, "$/t", "gone.txt", 1).await;
    trash(&repos, &gone).await;
    let bobs = add_file(&repos, bob.id, "$/s", "b.txt", 1).await;
    share(&repos, &bobs, &alice).await;

    for (target, why) in [("$/b", "a folder holding own files below it"), ("$/p", "a pending upload")] {
        let result = repos.media.relocate_folder(&alice.id, &path("$/a"), &path(target), at(80)).await;
        assert!(matches!(result, Err(RelocateFolderError::AlreadyExists)), "{why}: {result:?}");
        assert_same_media(&repos.media.find(&x.id()).await.unwrap().expect("find"), &x);
    }
    assert_eq!(
        repos.media.relocate_folder(&alice.id, &path("$/s"), &path("$/mine"), at(80)).await.expect("nothing"),
        0,
        "a folder of files shared with her is not hers to move"
    );
    assert_same_media(&repos.media.find(&bobs.id()).await.unwrap().expect("find"), &bobs);
    assert_eq!(
        repos.media.relocate_folder(&alice.id, &path("$/none"), &path("$/z"), at(80)).await.unwrap(),
        0
    );

    let deep = format!("$/{}", vec!["d"; MAX_PATH_DEPTH].join("/"));
    let bottom = add_file(&repos, alice.id, &deep, "f", 1).await;
    add_file(&repos, alice.id, "$/d", "top", 1).await;
    let result = repos.media.relocate_folder(&alice.id, &path("$/d"), &path("$/e/d"), at(80)).await;
    assert!(matches!(result, Err(RelocateFolderError::TooDeep)), "{result:?}");
    assert_same_media(&repos.media.find(&bottom.id()).await.unwrap().expect("find"), &bottom);
    assert!(files_in(&repos, &alice, "$/e/d").await.is_empty());

    for target in ["$/s", "$/t"] {
        let moved = repos.media.relocate_folder(&alice.id, &path("$/a"), &path(target), at(81)).await;
        assert_eq!(moved.expect("moving onto shared or trashed files only"), 1, "{target}");
        assert_in(&repos, &x, target, 81).await;
        let mut files = files_in(&repos, &alice, target).await;
        files.retain(|id| *id == x.id());
        assert_eq!(files, vec![x.id()]);
        repos.media.relocate_folder(&alice.id, &path(target), &path("$/a"), at(81)).await.expect("back");
    }
    assert_eq!(list(&repos, &bob, "$").await.folders, vec![folder("s", 1, 1)], "bob's view is his own");
}

/// Of concurrent moves of one folder to different targets exactly one moves the files;
/// the others find nothing left to move, and the totals count each file once.
pub async fn concurrent_folder_moves_one_wins(repos: Repos) {
    let alice = add_user(&repos, "alice").await;
    for i in 0..5 {
        add_file(&repos, alice.id, "$/a/b", &format!("f{i}"), 2).await;
    }
    let repos = Arc::new(repos);
    let barrier = Arc::new(Barrier::new(RACERS));
    let racers: Vec<_> = (0..RACERS)
        .map(|i| {
            let (repos, barrier, creator) = (Arc::clone(&repos), Arc::clone(&barrier), alice.id);
            tokio::spawn(async move {
                barrier.wait().await;
                repos.media.relocate_folder(&creator, &path("$/a"), &path(&format!("$/t{i}")), at(90)).await
            })
        })
        .collect();
    let mut moved = Vec::new();
    for racer in racers {
        moved.push(racer.await.expect("a racer panicked").expect("a move"));
    }
    moved.sort_unstable();
    assert_eq!(moved.pop(), Some(5), "one move takes every file");
    assert!(moved.iter().all(|n| *n == 0), "the others find none: {moved:?}");
    let folders = list(&repos, &alice, "$").await.folders;
    assert_eq!(folders.len(), 1, "{folders:?}");
    assert_eq!((folders[0].file_count, folders[0].total_size), (5, 10));
}
