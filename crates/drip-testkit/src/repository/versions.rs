//! Conformance scenarios of a file's new version (`MediaRepository::replace_content`) and
//! of finding a file by its name (`find_named`), run by
//! [`repository_conformance!`](crate::repository_conformance) with the others.

use drip_core::jobs::model::{NewJob, Task};
use drip_core::storage::model::{Media, UploadedContent};
use drip_core::storage::ports::ReplaceContentError;
use drip_core::{JobId, Ksuid};
use tokio::sync::Barrier;

use super::trash::trash;
use super::{
    Arc, RACERS, Repos, add_file, add_pending, add_user, assert_same_media, at, content, folder, list, name,
    path, share, visible_to,
};

/// The removal of `media`'s object, as the service enqueues it with a new version.
fn old_object_removal(media: &Media) -> NewJob {
    NewJob {
        id: JobId::from_ksuid(Ksuid::generate(at(0))),
        task: Task::DeleteObject { key: media.storage_key().clone() },
        run_at: at(60),
        created_at: at(60),
    }
}

/// Content of a new version: `size` bytes uploaded at 60.
fn new_content(size: u64) -> UploadedContent {
    UploadedContent { uploaded_at: at(60), ..content(size) }
}

/// A file takes its version's object, envelope and type and keeps everything else (id,
/// name, folder, shares); the version's record and reservation go; usage and every
/// viewer's folder totals change by the difference; the old object's removal is queued.
pub async fn replace_content_gives_the_file_its_new_version(repos: Repos) {
    let alice = add_user(&repos, "alice").await;
    let bob = add_user(&repos, "bob").await;
    let file = add_file(&repos, alice.id, "$/d", "f.txt", 4).await;
    share(&repos, &file, &bob).await;
    let version = add_pending(&repos, alice.id, "$/d", ".version").await;
    repos.media.reserve(&version.id(), 10, None).await.expect("reserving");

    let job = old_object_removal(&file);
    let replaced = repos
        .media
        .replace_content(&file.id(), file.storage_key(), &version.id(), new_content(10), &job)
        .await
        .expect("a new version");
    let expected = file.clone().with_content_of(&version, new_content(10));
    assert_same_media(&replaced, &expected);
    assert_eq!(replaced.storage_key(), version.storage_key());
    assert_same_media(&repos.media.find(&file.id()).await.unwrap().expect("the file"), &expected);
    assert!(repos.media.find(&version.id()).await.unwrap().is_none(), "the version's record went");
    assert!(visible_to(&repos, &bob, &replaced).await, "the share stays");

    let usage = repos.media.usage(&alice.id).await.unwrap();
    assert_eq!((usage.media_count, usage.disk_usage), (1, 10));
    let allowance = repos.media.allowance(&alice.id, None).await.unwrap();
    assert_eq!(allowance.used, 10, "the version's reservation is given back");
    for user in [&alice, &bob] {
        assert_eq!(list(&repos, user, "$").await.folders, vec![folder("d", 1, 10)]);
    }
    let queued = repos.jobs.list(None, 10).await.unwrap();
    assert_eq!(queued.len(), 1, "{queued:?}");
    assert_eq!(queued[0].task, job.task);
}

/// A file gone, trashed, pending, another's, or holding another object than the one
/// expected is `TargetChanged`; a version that is no pending record is `VersionGone`;
/// nothing changes either way.
pub async fn replace_content_refuses_and_changes_nothing(repos: Repos) {
    let alice = add_user(&repos, "alice").await;
    let bob = add_user(&repos, "bob").await;
    let file = add_file(&repos, alice.id, "$", "f.txt", 4).await;
    let version = add_pending(&repos, alice.id, "$", ".version").await;
    let uploaded = add_file(&repos, alice.id, "$", "other.txt", 2).await;
    let pending = add_pending(&repos, alice.id, "$", "loading.txt").await;
    let gone = add_file(&repos, alice.id, "$", "gone.txt", 1).await;
    trash(&repos, &gone).await;
    let bobs = add_file(&repos, bob.id, "$", "b.txt", 1).await;
    let job = old_object_removal(&file);

    let cases: [(&Media, &Media, &Media, bool, &str); 7] = [
        (&file, &uploaded, &version, true, "the file holds another object"),
        (&gone, &gone, &version, true, "a trashed file"),
        (&pending, &pending, &version, true, "a pending file"),
        (&bobs, &bobs, &version, true, "another creator's file"),
        (&version, &version, &version, true, "the version itself"),
        (&file, &file, &uploaded, false, "an uploaded version"),
        (&file, &file, &bobs, false, "an uploaded version of another's"),
    ];
    for (target, expected_key, candidate, target_side, why) in cases {
        let result = repos
            .media
            .replace_content(&target.id(), expected_key.storage_key(), &candidate.id(), new_content(9), &job)
            .await;
        match (result, target_side) {
            (Err(ReplaceContentError::TargetChanged), true)
            | (Err(ReplaceContentError::VersionGone), false) => {}
            (other, _) => panic!("{why}: {other:?}"),
        }
    }
    let unknown = add_pending(&repos, alice.id, "$", ".unknown").await;
    repos.media.delete(&unknown.id(), &job).await.unwrap();
    let result = repos
        .media
        .replace_content(&file.id(), file.storage_key(), &unknown.id(), new_content(9), &job)
        .await;
    assert!(matches!(result, Err(ReplaceContentError::VersionGone)), "{result:?}");

    for media in [&file, &version, &uploaded, &pending, &bobs] {
        assert_same_media(&repos.media.find(&media.id()).await.unwrap().expect("unchanged"), media);
    }
    let usage = repos.media.usage(&alice.id).await.unwrap();
    assert_eq!(usage.disk_usage, 4 + 2 + 1, "the trash counts, nothing else changed");
    assert_eq!(repos.jobs.list(None, 10).await.unwrap().len(), 2, "only the trash's and the delete's jobs");
}

/// Of versions racing for one file (all expecting its first object) exactly one wins.
pub async fn concurrent_versions_of_one_file_one_wins(repos: Repos) {
    let alice = add_user(&repos, "alice").await;
    let file = add_file(&repos, alice.id, "$", "f.txt", 4).await;
    let mut versions = Vec::new();
    for i in 0..RACERS {
        versions.push(add_pending(&repos, alice.id, "$", &format!(".version-{i}")).await);
    }
    let repos = Arc::new(repos);
    let barrier = Arc::new(Barrier::new(RACERS));
    let racers: Vec<_> = versions
        .iter()
        .map(|version| {
            let (repos, barrier) = (Arc::clone(&repos), Arc::clone(&barrier));
            let (target, expected, version, job) =
                (file.id(), file.storage_key().clone(), version.id(), old_object_removal(&file));
            tokio::spawn(async move {
                barrier.wait().await;
                repos.media.replace_content(&target, &expected, &version, new_content(7), &job).await
            })
        })
        .collect();
    let mut won = 0;
    for racer in racers {
        match racer.await.expect("a racer panicked") {
            Ok(_) => won += 1,
            Err(ReplaceContentError::TargetChanged) => {}
            Err(e) => panic!("unexpected error: {e}"),
        }
    }
    assert_eq!(won, 1);
    assert_eq!(repos.jobs.list(None, 100).await.unwrap().len(), 1, "one old object to remove");
    assert_eq!(repos.media.usage(&alice.id).await.unwrap().disk_usage, 7);
}

/// `find_named` finds the creator's media at a folder and name in any state, never a
/// trashed one nor one shared with them.
pub async fn find_named_finds_own_media_in_any_state(repos: Repos) {
    let alice = add_user(&repos, "alice").await;
    let bob = add_user(&repos, "bob").await;
    let file = add_file(&repos, alice.id, "$/a", "f.txt", 1).await;
    let pending = add_pending(&repos, alice.id, "$/a", "p.txt").await;
    let gone = add_file(&repos, alice.id, "$/a", "gone.txt", 1).await;
    trash(&repos, &gone).await;
    let bobs = add_file(&repos, bob.id, "$/a", "b.txt", 1).await;
    share(&repos, &bobs, &alice).await;
    let find = |folder: &str, file: &str| {
        let repos = &repos;
        let (folder, file) = (path(folder), name(file));
        async move { repos.media.find_named(&alice.id, &folder, &file).await.unwrap().map(|m| m.id()) }
    };
    assert_eq!(find("$/a", "f.txt").await, Some(file.id()));
    assert_eq!(find("$/a", "p.txt").await, Some(pending.id()));
    assert_eq!(find("$/a", "gone.txt").await, None, "trashed");
    assert_eq!(find("$/a", "b.txt").await, None, "shared with her, not hers");
    assert_eq!(find("$", "f.txt").await, None, "another folder");
    assert_eq!(find("$/a", "F.TXT").await, None, "names are exact");
}
