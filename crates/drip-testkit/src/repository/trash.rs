//! Conformance scenarios of the trash methods of `MediaRepository` (`trash`, `restore`,
//! `trashed`, `list_trash`, `purge`) and of what trashing changes for every other query,
//! run by [`repository_conformance!`](crate::repository_conformance) with the others.

use drip_core::jobs::model::{JobState, NewJob, Task};
use drip_core::storage::model::{PageRequest, TrashedMedia, Usage};
use drip_core::storage::ports::{InsertMediaError, RelocateError, RestoreMediaError};
use drip_core::{JobId, Ksuid, MediaId};
use tokio::sync::Barrier;

use super::{
    Arc, Media, Owner, RACERS, Repos, add_file, add_pending, add_user, at, files_in, folder, list, media,
    micros, name, object_deletion, path, share, visible_to,
};

/// Trashed at 100, due to be purged at 200.
const TRASHED_AT: i64 = 100;
const PURGE_AT: i64 = 200;

/// The purge job of media `id`, due at [`PURGE_AT`].
fn purge_job(id: MediaId) -> NewJob {
    NewJob {
        id: JobId::from_ksuid(Ksuid::generate(at(0))),
        task: Task::PurgeTrashed { media: id },
        run_at: at(PURGE_AT),
        created_at: at(TRASHED_AT),
    }
}

/// Trashes `file` at [`TRASHED_AT`], to be purged at [`PURGE_AT`].
pub(super) async fn trash(repos: &Repos, file: &Media) -> TrashedMedia {
    let job = purge_job(file.id());
    repos
        .media
        .trash(&file.id(), at(TRASHED_AT), at(PURGE_AT), &job)
        .await
        .expect("trashing")
        .expect("the fixture is uploaded and not trashed")
}

/// Alice's `$/d/f.txt` (5 bytes, trashed) and `$/d/kept.txt` (7 bytes), both shared with
/// bob: (alice, bob, the trashed file, the kept one).
async fn one_of_two_shared_files_trashed(repos: &Repos) -> (Owner, Owner, Media, Media) {
    let alice = add_user(repos, "alice").await;
    let bob = add_user(repos, "bob").await;
    let file = add_file(repos, alice.id, "$/d", "f.txt", 5).await;
    let kept = add_file(repos, alice.id, "$/d", "kept.txt", 7).await;
    share(repos, &file, &bob).await;
    share(repos, &kept, &bob).await;
    trash(repos, &file).await;
    (alice, bob, file, kept)
}

async fn usage(repos: &Repos, user: &Owner) -> Usage {
    repos.media.usage(&user.id).await.expect("usage")
}

async fn trash_of(repos: &Repos, user: &Owner) -> Vec<MediaId> {
    let page = repos.media.list_trash(&user.id, &PageRequest::default()).await.expect("listing a trash");
    page.items.iter().map(|t| t.media.id()).collect()
}

/// A trashed media is visible to nobody (creator, sharees) in any query, leaves every
/// folder total, keeps its shares and its usage, and is in its creator's trash only.
pub async fn trashed_media_are_invisible_to_everyone_but_counted(repos: Repos) {
    let (alice, bob, file, kept) = one_of_two_shared_files_trashed(&repos).await;
    let trashed = repos.media.trashed(&alice.id, &file.id()).await.unwrap().expect("in alice's trash");
    super::assert_same_media(&trashed.media, &file);
    assert_eq!((micros(trashed.trashed_at), micros(trashed.purge_at)), (at(TRASHED_AT), at(PURGE_AT)));
    let queued = repos.jobs.list(None, 10).await.unwrap();
    assert_eq!(
        queued.iter().map(|j| (&j.task, j.state)).collect::<Vec<_>>(),
        [(&trashed_task(&file), JobState::Queued)]
    );
    assert_eq!(micros(queued[0].run_at), at(PURGE_AT), "the purge job is due at the purge time");

    for user in [&alice, &bob] {
        assert!(!visible_to(&repos, user, &file).await, "{} finds the trashed file", user.username);
        assert_eq!(files_in(&repos, user, "$/d").await, [kept.id()]);
        assert_eq!(list(&repos, user, "$").await.folders, [folder("d", 1, 7)], "totals leave the trash out");
        let all = repos.media.list_visible(&user.id, None, &PageRequest::default()).await.unwrap();
        assert_eq!(super::ids(&all.items), [kept.id()]);
    }
    assert_eq!(usage(&repos, &alice).await, Usage { media_count: 2, disk_usage: 12 }, "the trash counts");
    assert_eq!(repos.media.list_shares(&file.id()).await.unwrap().len(), 1, "its share is kept");
    assert!(repos.media.find(&file.id()).await.unwrap().is_some(), "find sees every state");

    assert_eq!(trash_of(&repos, &alice).await, [file.id()]);
    assert!(trash_of(&repos, &bob).await.is_empty(), "a sharee never sees another's trash");
    assert!(repos.media.trashed(&bob.id, &file.id()).await.unwrap().is_none());
    assert!(repos.media.trashed(&alice.id, &kept.id()).await.unwrap().is_none(), "not trashed");
}

fn trashed_task(file: &Media) -> Task {
    Task::PurgeTrashed { media: file.id() }
}

/// Only an uploaded media outside the trash can be trashed; anything else is `None` and
/// enqueues nothing.
pub async fn trash_takes_only_uploaded_media_once(repos: Repos) {
    let alice = add_user(&repos, "alice").await;
    let file = add_file(&repos, alice.id, "$/d", "f.txt", 5).await;
    let pending = add_pending(&repos, alice.id, "$/d", "p.txt").await;
    trash(&repos, &file).await;
    for id in [file.id(), pending.id(), media(alice.id, "$/d", "ghost").id()] {
        let again = repos.media.trash(&id, at(TRASHED_AT), at(PURGE_AT), &purge_job(id)).await.unwrap();
        assert!(again.is_none(), "trashing {id} again, pending or unknown");
    }
    assert_eq!(repos.jobs.list(None, 10).await.unwrap().len(), 1, "one job, from the one trashing");
}

/// A trashed media claims no name: a new upload, a move and a rename may take it.
pub async fn trashed_media_free_their_names(repos: Repos) {
    let alice = add_user(&repos, "alice").await;
    let file = add_file(&repos, alice.id, "$/d", "f.txt", 5).await;
    trash(&repos, &file).await;
    let newer = add_file(&repos, alice.id, "$/d", "f.txt", 6).await;
    assert_eq!(files_in(&repos, &alice, "$/d").await, [newer.id()]);
    let again = media(alice.id, "$/d", "f.txt");
    let taken = repos.media.insert(&again, super::held()).await;
    assert!(matches!(taken, Err(InsertMediaError::AlreadyExists)), "the new file claims it: {taken:?}");

    let other = add_file(&repos, alice.id, "$/o", "g.txt", 1).await;
    trash(&repos, &other).await;
    let moved = add_file(&repos, alice.id, "$/x", "y.txt", 1).await;
    repos
        .media
        .relocate(&moved.id(), &path("$/o"), &name("g.txt"), at(50))
        .await
        .expect("onto a trashed name");
    let result = repos.media.relocate(&newer.id(), &path("$/o"), &name("g.txt"), at(51)).await;
    assert!(matches!(result, Err(RelocateError::AlreadyExists)), "{result:?}");
}

/// A restore puts the media back where it was (under its name or another) with its shares,
/// for everyone, folder totals included.
pub async fn restore_brings_back_the_media_and_its_shares(repos: Repos) {
    let alice = add_user(&repos, "alice").await;
    let bob = add_user(&repos, "bob").await;
    let file = add_file(&repos, alice.id, "$/d/e", "f.txt", 5).await;
    share(&repos, &file, &bob).await;
    trash(&repos, &file).await;

    let restored = repos.media.restore(&file.id(), file.name(), at(150)).await.expect("restoring");
    assert_eq!((restored.folder(), restored.name()), (file.folder(), file.name()));
    assert_eq!(micros(restored.updated_at()), at(150));
    for user in [&alice, &bob] {
        assert!(visible_to(&repos, user, &file).await, "{} sees it again", user.username);
        assert_eq!(files_in(&repos, user, "$/d/e").await, [file.id()]);
        assert_eq!(list(&repos, user, "$/d").await.folders, [folder("e", 1, 5)]);
    }
    assert!(trash_of(&repos, &alice).await.is_empty());
    let again = repos.media.restore(&file.id(), file.name(), at(151)).await;
    assert!(matches!(again, Err(RestoreMediaError::NotTrashed)), "restoring twice: {again:?}");
    let unknown = media(alice.id, "$/d", "ghost");
    let result = repos.media.restore(&unknown.id(), unknown.name(), at(151)).await;
    assert!(matches!(result, Err(RestoreMediaError::NotTrashed)), "{result:?}");
    assert_eq!(usage(&repos, &alice).await, Usage { media_count: 1, disk_usage: 5 });
}

/// A restore onto a name taken again (by an upload, even a pending one) conflicts and
/// changes nothing; under another name it succeeds, for the sharees too.
pub async fn restore_onto_a_taken_name_conflicts_and_another_name_restores(repos: Repos) {
    let alice = add_user(&repos, "alice").await;
    let bob = add_user(&repos, "bob").await;
    let file = add_file(&repos, alice.id, "$/d", "f.txt", 5).await;
    share(&repos, &file, &bob).await;
    trash(&repos, &file).await;
    let newer = add_pending(&repos, alice.id, "$/d", "f.txt").await;

    let taken = repos.media.restore(&file.id(), file.name(), at(150)).await;
    assert!(matches!(taken, Err(RestoreMediaError::AlreadyExists)), "{taken:?}");
    assert_eq!(trash_of(&repos, &alice).await, [file.id()], "still in the trash");
    assert!(!visible_to(&repos, &bob, &file).await);

    let restored = repos.media.restore(&file.id(), &name("f (1).txt"), at(150)).await.expect("another name");
    assert_eq!((restored.folder().as_str(), restored.name().as_str()), ("$/d", "f (1).txt"));
    assert_eq!(files_in(&repos, &bob, "$/d").await, [file.id()], "the sharee sees it under its new name");
    let listed = list(&repos, &bob, "$/d").await;
    assert_eq!(listed.files[0].name().as_str(), "f (1).txt");
    assert!(repos.media.find(&newer.id()).await.unwrap().is_some(), "the upload holding the name stays");
}

/// Of concurrent restores of two trashed media onto one folder and name, exactly one wins.
pub async fn concurrent_restores_onto_one_name_one_wins(repos: Repos) {
    let alice = add_user(&repos, "alice").await;
    let mut trashed = Vec::new();
    for _ in 0..RACERS {
        let file = add_file(&repos, alice.id, "$/d", "f.txt", 5).await;
        trash(&repos, &file).await;
        trashed.push(file);
    }
    let repos = Arc::new(repos);
    let barrier = Arc::new(Barrier::new(RACERS));
    let racers: Vec<_> = trashed
        .iter()
        .map(|file| {
            let (repos, barrier, id) = (Arc::clone(&repos), Arc::clone(&barrier), file.id());
            tokio::spawn(async move {
                barrier.wait().await;
                repos.media.restore(&id, &name("f.txt"), at(150)).await
            })
        })
        .collect();
    let mut won = 0;
    for racer in racers {
        match racer.await.expect("a racer panicked") {
            Ok(_) => won += 1,
            Err(RestoreMediaError::AlreadyExists) => {}
            Err(e) => panic!("unexpected error: {e}"),
        }
    }
    assert_eq!(won, 1, "exactly one restore wins");
    assert_eq!(files_in(&repos, &alice, "$/d").await.len(), 1);
    assert_eq!(trash_of(&repos, &alice).await.len(), RACERS - 1);
}

/// A purge removes a trashed media (row, shares, usage) with its job, only while it is
/// trashed and, with a due time, once its purge time has come.
pub async fn purge_removes_a_trashed_media_when_due_only(repos: Repos) {
    let (alice, bob, file, kept) = one_of_two_shared_files_trashed(&repos).await;

    let early = object_deletion(file.id());
    assert!(
        repos.media.purge(&file.id(), Some(at(PURGE_AT - 1)), &early).await.unwrap().is_none(),
        "not due"
    );
    assert!(
        repos.media.purge(&kept.id(), None, &object_deletion(kept.id())).await.unwrap().is_none(),
        "not trashed"
    );
    let removal = object_deletion(file.id());
    let purged = repos.media.purge(&file.id(), Some(at(PURGE_AT)), &removal).await.unwrap().expect("due");
    super::assert_same_media(&purged, &file);
    assert!(
        repos.media.purge(&file.id(), None, &object_deletion(file.id())).await.unwrap().is_none(),
        "twice"
    );

    assert!(repos.media.find(&file.id()).await.unwrap().is_none(), "the row is gone");
    assert!(repos.media.list_shares(&file.id()).await.unwrap().is_empty(), "its shares too");
    assert!(trash_of(&repos, &alice).await.is_empty());
    assert_eq!(
        usage(&repos, &alice).await,
        Usage { media_count: 1, disk_usage: 7 },
        "its usage is given back"
    );
    assert_eq!(list(&repos, &bob, "$").await.folders, [folder("d", 1, 7)], "the totals are right");
    let queued: Vec<_> = repos.jobs.list(None, 10).await.unwrap().into_iter().map(|j| j.id).collect();
    assert!(queued.contains(&removal.id), "the purge enqueued its job");
    assert!(!queued.contains(&early.id), "a refused purge enqueues nothing");
    assert_eq!(queued.len(), 2, "the purge job of the trashing and the removal of the object");

    let now = add_file(&repos, alice.id, "$/n", "n.txt", 3).await;
    trash(&repos, &now).await;
    assert!(
        repos.media.purge(&now.id(), None, &object_deletion(now.id())).await.unwrap().is_some(),
        "purge now"
    );
}

/// A permanent delete of a trashed media gives back its usage and leaves every folder total
/// as it was (the trashing already took the media out of them).
pub async fn delete_of_a_trashed_media_keeps_totals_right(repos: Repos) {
    let (alice, bob, file, _kept) = one_of_two_shared_files_trashed(&repos).await;
    repos
        .media
        .delete(&file.id(), &object_deletion(file.id()))
        .await
        .unwrap()
        .expect("deleting a trashed media");
    for user in [&alice, &bob] {
        assert_eq!(list(&repos, user, "$").await.folders, [folder("d", 1, 7)], "{}'s totals", user.username);
    }
    assert_eq!(usage(&repos, &alice).await, Usage { media_count: 1, disk_usage: 7 });
    assert!(trash_of(&repos, &alice).await.is_empty());
}

/// The trash lists by name then id, in pages that are complete and end.
pub async fn list_trash_pages_by_name_then_id(repos: Repos) {
    let alice = add_user(&repos, "alice").await;
    let mut expected = Vec::new();
    for (folder, file) in
        [("$/a", "b.txt"), ("$/b", "b.txt"), ("$/a", "a.txt"), ("$", "c.txt"), ("$/c", "a.txt")]
    {
        let media = add_file(&repos, alice.id, folder, file, 1).await;
        trash(&repos, &media).await;
        expected.push(media);
    }
    add_file(&repos, alice.id, "$/a", "listed.txt", 1).await;
    let refs: Vec<&Media> = expected.iter().collect();
    let expected = super::in_listing_order(&refs);
    let mut page = PageRequest::first(2);
    let mut seen = Vec::new();
    for _ in 0..super::MAX_PAGES {
        let batch = repos.media.list_trash(&alice.id, &page).await.unwrap();
        assert!(batch.items.len() <= 2);
        seen.extend(batch.items.iter().map(|t| t.media.id()));
        match batch.next {
            Some(cursor) => page = PageRequest::after(2, cursor),
            None => break,
        }
    }
    assert_eq!(seen, expected);
}
