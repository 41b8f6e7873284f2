//! Conformance suite of the `UploadRepository` port (resumable uploads and their parts):
//! round trips, the expiry job enqueued with the upload, offsets that move only from
//! themselves and once under concurrency, uploads going with their media while their parts
//! stay, run against every adapter through
//! [`upload_repository_conformance!`](crate::upload_repository_conformance).
// Scenarios are test code shipped as a library: a failed expectation is a panic.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;

use drip_core::accounts::ports::AccountRepository;
use drip_core::jobs::model::{NewJob, Task};
use drip_core::jobs::ports::JobQueue;
use drip_core::storage::model::{Envelope, FileName, Media, StorageKey};
use drip_core::storage::ports::MediaRepository;
use drip_core::uploads::model::{ResumableUpload, UploadPart};
use drip_core::uploads::ports::UploadRepository;
use drip_core::{JobId, Ksuid, MediaId, UploadId};
use tokio::sync::Barrier;

use crate::workload::{add_users, at, held, new_media, object_deletion};

/// Fresh, empty repositories for one scenario (uploads, and the users, media and job
/// queue they refer to, over one store).
pub struct Uploads {
    /// The uploads under test.
    pub uploads: Arc<dyn UploadRepository>,
    /// Users.
    pub accounts: Arc<dyn AccountRepository>,
    /// Media (the pending files uploads become).
    pub media: Arc<dyn MediaRepository>,
    /// The job queue the expiry jobs go to.
    pub jobs: Arc<dyn JobQueue>,
    /// Kept alive for the scenario, dropped after it (e.g. a throwaway database).
    pub guard: Option<Box<dyn std::any::Any + Send + Sync>>,
}

/// Expands to one `#[tokio::test(flavor = "multi_thread", worker_threads = 2)]` per
/// upload repository scenario, each calling `$setup().await` for fresh repositories
/// (`async fn() -> Uploads`, or `-> Option<Uploads>`, `None` skipping).
#[macro_export]
macro_rules! upload_repository_conformance {
    ($setup:path) => {
        $crate::upload_repository_conformance!(@scenarios $setup;
            uploads_round_trip_with_their_expiry_job,
            commits_move_the_offset_only_from_itself,
            concurrent_commits_at_one_offset_one_wins,
            uploads_go_with_their_media_and_parts_stay_until_removed,
        );
    };
    (@scenarios $setup:path; $($scenario:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $scenario() {
                if let Some(fixture) = $crate::MaybeFixture::<$crate::uploads::Uploads>::into_fixture($setup().await) {
                    $crate::uploads::$scenario(fixture).await;
                }
            }
        )*
    };
}

fn ksuid() -> Ksuid {
    Ksuid::generate(at(0))
}

/// A pending media of a new user, and an upload of `length` bytes of it (not stored).
async fn pending(u: &Uploads, name: &str, length: u64) -> (Media, ResumableUpload) {
    let owner = add_users(&*u.accounts, &[name]).await.remove(0);
    let media = new_media(owner.id, "$", "big.iso");
    u.media.insert(&media, held()).await.unwrap();
    let upload = ResumableUpload {
        id: UploadId::from_ksuid(ksuid()),
        creator: owner.id,
        media: media.id(),
        length,
        offset: 0,
        expires_at: at(86_400),
        created_at: at(5),
    };
    (media, upload)
}

fn expiry(upload: &ResumableUpload) -> NewJob {
    NewJob {
        id: JobId::from_ksuid(ksuid()),
        task: Task::ExpireUpload { upload: upload.id },
        run_at: upload.expires_at,
        created_at: at(5),
    }
}

fn part(upload: &ResumableUpload, start: u64) -> UploadPart {
    let key = StorageKey::new(MediaId::from_ksuid(ksuid()), at(6), &FileName::parse("part").unwrap());
    UploadPart {
        key,
        upload: upload.id,
        start,
        size: None,
        envelope: Envelope::new(drip_core::content::ALGORITHM, 65_536, "k1", vec![9; 60]).unwrap(),
        created_at: at(6),
    }
}

/// An upload reads back as inserted (offset 0), its expiry job is queued with it.
pub async fn uploads_round_trip_with_their_expiry_job(u: Uploads) {
    let (_, upload) = pending(&u, "alice", 100).await;
    let job = expiry(&upload);
    u.uploads.insert(&upload, &job).await.unwrap();
    assert_eq!(u.uploads.find(&upload.id).await.unwrap(), Some(upload.clone()));
    let queued = u.jobs.list(None, 10).await.unwrap();
    assert_eq!(queued.len(), 1);
    assert_eq!((queued[0].id, &queued[0].task, queued[0].run_at), (job.id, &job.task, job.run_at));
    assert!(u.uploads.find(&UploadId::from_ksuid(ksuid())).await.unwrap().is_none());
    assert!(u.uploads.parts(&upload.id).await.unwrap().is_empty());
}

/// A part commits only at the upload's offset, once; uncommitted parts are listed
/// without a size; parts list by start.
pub async fn commits_move_the_offset_only_from_itself(u: Uploads) {
    let (_, upload) = pending(&u, "bob", 100).await;
    u.uploads.insert(&upload, &expiry(&upload)).await.unwrap();
    let first = part(&upload, 0);
    u.uploads.add_part(&first).await.unwrap();
    assert!(!u.uploads.commit_part(&upload.id, &first.key, 5, 10).await.unwrap(), "not at the offset");
    assert!(u.uploads.commit_part(&upload.id, &first.key, 0, 40).await.unwrap());
    assert!(!u.uploads.commit_part(&upload.id, &first.key, 40, 40).await.unwrap(), "a part commits once");
    let stray = part(&upload, 0);
    u.uploads.add_part(&stray).await.unwrap();
    assert!(!u.uploads.commit_part(&upload.id, &stray.key, 0, 40).await.unwrap(), "the offset moved on");
    let second = part(&upload, 40);
    u.uploads.add_part(&second).await.unwrap();
    assert!(u.uploads.commit_part(&upload.id, &second.key, 40, 60).await.unwrap());
    assert_eq!(u.uploads.find(&upload.id).await.unwrap().unwrap().offset, 100);

    let parts = u.uploads.parts(&upload.id).await.unwrap();
    let seen: Vec<(u64, Option<u64>)> = parts.iter().map(|p| (p.start, p.size)).collect();
    assert_eq!(seen.len(), 3);
    assert!(
        seen.contains(&(0, Some(40))) && seen.contains(&(0, None)) && seen[2] == (40, Some(60)),
        "{seen:?}"
    );
    let back = parts.iter().find(|p| p.key == first.key).unwrap();
    assert_eq!(
        (&back.envelope, back.created_at, back.upload),
        (&first.envelope, first.created_at, upload.id)
    );
    u.uploads.remove_part(&stray.key).await.unwrap();
    u.uploads.remove_part(&stray.key).await.unwrap();
    assert_eq!(u.uploads.parts(&upload.id).await.unwrap().len(), 2);
}

/// Eight requests commit their parts at one offset at once: exactly one moves it.
pub async fn concurrent_commits_at_one_offset_one_wins(u: Uploads) {
    let (_, upload) = pending(&u, "carol", 1_000).await;
    u.uploads.insert(&upload, &expiry(&upload)).await.unwrap();
    let parts: Vec<UploadPart> = (0..8).map(|_| part(&upload, 0)).collect();
    for p in &parts {
        u.uploads.add_part(p).await.unwrap();
    }
    let barrier = Arc::new(Barrier::new(parts.len()));
    let racers: Vec<_> = parts
        .iter()
        .enumerate()
        .map(|(n, p)| {
            let (uploads, barrier, key, id) =
                (Arc::clone(&u.uploads), Arc::clone(&barrier), p.key.clone(), upload.id);
            tokio::spawn(async move {
                barrier.wait().await;
                uploads.commit_part(&id, &key, 0, 10 + n as u64).await.unwrap()
            })
        })
        .collect();
    let mut won = Vec::new();
    for (n, racer) in racers.into_iter().enumerate() {
        if racer.await.unwrap() {
            won.push(n as u64);
        }
    }
    assert_eq!(won.len(), 1, "{won:?}");
    assert_eq!(u.uploads.find(&upload.id).await.unwrap().unwrap().offset, 10 + won[0]);
    let committed =
        u.uploads.parts(&upload.id).await.unwrap().into_iter().filter(|p| p.size.is_some()).count();
    assert_eq!(committed, 1);
}

/// Deleting the pending media takes its upload along; the parts stay recorded until
/// removed; deleting an upload answers it once.
pub async fn uploads_go_with_their_media_and_parts_stay_until_removed(u: Uploads) {
    let (media, upload) = pending(&u, "dave", 50).await;
    u.uploads.insert(&upload, &expiry(&upload)).await.unwrap();
    let p = part(&upload, 0);
    u.uploads.add_part(&p).await.unwrap();
    u.media.delete(&media.id(), &object_deletion(media.id())).await.unwrap().expect("deleted");
    assert!(u.uploads.find(&upload.id).await.unwrap().is_none(), "the upload went with its media");
    assert_eq!(u.uploads.parts(&upload.id).await.unwrap().len(), 1, "its parts stay for the expiry job");
    assert!(!u.uploads.commit_part(&upload.id, &p.key, 0, 50).await.unwrap(), "no upload, no commit");
    u.uploads.remove_part(&p.key).await.unwrap();
    assert!(u.uploads.parts(&upload.id).await.unwrap().is_empty());

    let (_, other) = pending(&u, "erin", 10).await;
    u.uploads.insert(&other, &expiry(&other)).await.unwrap();
    assert_eq!(u.uploads.delete(&other.id).await.unwrap().map(|d| d.id), Some(other.id));
    assert!(u.uploads.delete(&other.id).await.unwrap().is_none());
}
