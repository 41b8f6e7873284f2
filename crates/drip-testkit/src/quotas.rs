//! Conformance suite of the quota contracts of `MediaRepository` (`reserve`, `allowance`,
//! `set_quota`, and the reservations that `mark_uploaded`, `delete` and `reclaim` give
//! back), run against every adapter through [`quota_conformance!`](crate::quota_conformance).
// Scenarios are test code shipped as a library: a failed expectation is a panic.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;

use drip_core::storage::model::{Allowance, QuotaExceeded, QuotaSetting};
use drip_core::storage::ports::ReserveError;
use tokio::sync::Barrier;

use crate::repository::{Repos, add_file, add_pending, add_user, at, content, media, new_media_id, upload};
use crate::workload::object_deletion;

/// Expands to one `#[tokio::test(flavor = "multi_thread", worker_threads = 2)]` per quota
/// scenario, each calling `$setup().await` for fresh, empty repositories (as
/// [`repository_conformance!`](crate::repository_conformance)).
#[macro_export]
macro_rules! quota_conformance {
    ($setup:path) => {
        $crate::quota_conformance!(@scenarios $setup;
            reservations_hold_the_quota_to_the_byte,
            the_default_quota_applies_until_a_user_has_their_own,
            reservations_go_back_however_the_upload_ends,
            concurrent_reservations_never_pass_the_quota,
        );
    };
    (@scenarios $setup:path; $($scenario:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $scenario() {
                if let Some(repos) = $crate::MaybeFixture::<$crate::repository::Repos>::into_fixture($setup().await) {
                    $crate::quotas::$scenario(repos).await;
                }
            }
        )*
    };
}

async fn allowance(repos: &Repos, user: &drip_core::UserId, default: Option<u64>) -> Allowance {
    repos.media.allowance(user, default).await.expect("reading an allowance")
}

fn exceeded(outcome: Result<(), ReserveError>) -> QuotaExceeded {
    match outcome {
        Err(ReserveError::QuotaExceeded(q)) => q,
        other => panic!("expected QuotaExceeded, got {other:?}"),
    }
}

/// Quota − 1, quota and quota + 1 bytes: stored bytes plus reservations never pass it; an
/// uploaded file counts its size instead of its reservation.
pub async fn reservations_hold_the_quota_to_the_byte(repos: Repos) {
    let alice = add_user(&repos, "alice").await;
    assert!(repos.media.set_quota(&alice.id, QuotaSetting::Bytes(100)).await.unwrap());
    let first = add_pending(&repos, alice.id, "$", "first.bin").await;
    repos.media.reserve(&first.id(), 99, None).await.expect("99 of 100 fit");
    assert_eq!(allowance(&repos, &alice.id, None).await, Allowance { quota: Some(100), used: 99 });
    assert_eq!(
        exceeded(repos.media.reserve(&first.id(), 2, None).await),
        QuotaExceeded { quota: 100, used: 99 }
    );
    repos.media.reserve(&first.id(), 1, None).await.expect("the 100th byte fits");
    assert_eq!(
        exceeded(repos.media.reserve(&first.id(), 1, None).await),
        QuotaExceeded { quota: 100, used: 100 }
    );
    assert_eq!(allowance(&repos, &alice.id, None).await.available(), Some(0));

    upload(&repos, &first, 100).await;
    assert_eq!(allowance(&repos, &alice.id, None).await, Allowance { quota: Some(100), used: 100 });
    let second = add_pending(&repos, alice.id, "$", "second.bin").await;
    assert_eq!(
        exceeded(repos.media.reserve(&second.id(), 1, None).await),
        QuotaExceeded { quota: 100, used: 100 }
    );
    repos.media.reserve(&second.id(), 0, None).await.expect("nothing always fits");
    let usage = repos.media.usage(&alice.id).await.unwrap();
    assert_eq!((usage.media_count, usage.disk_usage), (1, 100), "usage counts uploaded files only");
}

/// A user without a quota of their own has the default one; their own, unlimited
/// included, wins; `Default` goes back to it. Unknown users.
pub async fn the_default_quota_applies_until_a_user_has_their_own(repos: Repos) {
    let bob = add_user(&repos, "bob").await;
    let pending = add_pending(&repos, bob.id, "$", "b.bin").await;
    assert_eq!(allowance(&repos, &bob.id, Some(10)).await, Allowance { quota: Some(10), used: 0 });
    assert_eq!(allowance(&repos, &bob.id, None).await, Allowance { quota: None, used: 0 });
    assert_eq!(
        exceeded(repos.media.reserve(&pending.id(), 11, Some(10)).await),
        QuotaExceeded { quota: 10, used: 0 }
    );

    assert!(repos.media.set_quota(&bob.id, QuotaSetting::Unlimited).await.unwrap());
    repos.media.reserve(&pending.id(), 11, Some(10)).await.expect("unlimited beats the default");
    assert_eq!(allowance(&repos, &bob.id, Some(10)).await, Allowance { quota: None, used: 11 });

    assert!(repos.media.set_quota(&bob.id, QuotaSetting::Bytes(5)).await.unwrap());
    assert_eq!(allowance(&repos, &bob.id, Some(10)).await, Allowance { quota: Some(5), used: 11 });
    assert_eq!(allowance(&repos, &bob.id, Some(10)).await.available(), Some(0), "lowered below use");
    assert!(repos.media.set_quota(&bob.id, QuotaSetting::Default).await.unwrap());
    assert_eq!(allowance(&repos, &bob.id, Some(10)).await, Allowance { quota: Some(10), used: 11 });

    let ghost = drip_core::UserId::from_ksuid(drip_core::Ksuid::generate(at(0)));
    assert!(!repos.media.set_quota(&ghost, QuotaSetting::Bytes(1)).await.unwrap());
    assert_eq!(allowance(&repos, &ghost, Some(7)).await, Allowance { quota: Some(7), used: 0 });
}

/// The reservation of a pending media goes back when it is uploaded (its size counts
/// instead: what it did not use is free again), deleted or reclaimed; uploaded and
/// unknown media cannot reserve.
pub async fn reservations_go_back_however_the_upload_ends(repos: Repos) {
    let carol = add_user(&repos, "carol").await;
    let used = |repos: &Repos| {
        let id = carol.id;
        let media = Arc::clone(&repos.media);
        async move { media.allowance(&id, None).await.unwrap().used }
    };

    let deleted = add_pending(&repos, carol.id, "$", "deleted.bin").await;
    repos.media.reserve(&deleted.id(), 40, None).await.unwrap();
    assert_eq!(used(&repos).await, 40);
    repos.media.delete(&deleted.id(), &object_deletion(deleted.id())).await.unwrap().expect("deleted");
    assert_eq!(used(&repos).await, 0, "a deleted upload gives its reservation back");

    let abandoned = media(carol.id, "$", "abandoned.bin");
    repos.media.insert(&abandoned, Some(at(100))).await.unwrap();
    repos.media.reserve(&abandoned.id(), 30, None).await.unwrap();
    assert!(
        repos
            .media
            .reclaim(&abandoned.id(), at(99), &object_deletion(abandoned.id()))
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(used(&repos).await, 30, "an upload under way keeps its reservation");
    repos
        .media
        .reclaim(&abandoned.id(), at(100), &object_deletion(abandoned.id()))
        .await
        .unwrap()
        .expect("reclaimed");
    assert_eq!(used(&repos).await, 0, "a reclaimed upload gives its reservation back");

    let stored = add_pending(&repos, carol.id, "$", "stored.bin").await;
    repos.media.reserve(&stored.id(), 50, None).await.unwrap();
    repos.media.reserve(&stored.id(), 25, None).await.unwrap();
    repos.media.mark_uploaded(&stored.id(), content(20)).await.unwrap().expect("uploaded");
    assert_eq!(used(&repos).await, 20, "an uploaded file counts its size, not its reservation");
    assert!(matches!(repos.media.reserve(&stored.id(), 1, None).await, Err(ReserveError::Gone)));
    assert!(matches!(repos.media.reserve(&new_media_id(), 1, None).await, Err(ReserveError::Gone)));

    let file = add_file(&repos, carol.id, "$", "file.bin", 7).await;
    assert_eq!(used(&repos).await, 27);
    repos.media.delete(&file.id(), &object_deletion(file.id())).await.unwrap().expect("deleted");
    repos.media.delete(&stored.id(), &object_deletion(stored.id())).await.unwrap().expect("deleted");
    assert_eq!(used(&repos).await, 0);
}

/// Twenty uploads racing for the last free bytes: exactly as many win as fit, and the
/// total never passes the quota.
pub async fn concurrent_reservations_never_pass_the_quota(repos: Repos) {
    const RACERS: u64 = 20;
    let dave = add_user(&repos, "dave").await;
    let resident = add_file(&repos, dave.id, "$", "resident.bin", 300).await;
    assert!(repos.media.set_quota(&dave.id, QuotaSetting::Bytes(1_000)).await.unwrap());
    let mut pending = Vec::new();
    for n in 0..RACERS {
        pending.push(add_pending(&repos, dave.id, "$/race", &format!("{n}.bin")).await);
    }
    let barrier = Arc::new(Barrier::new(pending.len()));
    let racers: Vec<_> = pending
        .iter()
        .map(|m| {
            let (media, barrier, id) = (Arc::clone(&repos.media), Arc::clone(&barrier), m.id());
            tokio::spawn(async move {
                barrier.wait().await;
                media.reserve(&id, 100, None).await
            })
        })
        .collect();
    let mut won = 0;
    for racer in racers {
        match racer.await.expect("racer") {
            Ok(()) => won += 1,
            Err(ReserveError::QuotaExceeded(q)) => assert!(q.used <= 1_000 && q.quota == 1_000, "{q:?}"),
            Err(e) => panic!("racer failed: {e}"),
        }
    }
    assert_eq!(won, 7, "700 free bytes hold seven reservations of 100");
    assert_eq!(allowance(&repos, &dave.id, None).await, Allowance { quota: Some(1_000), used: 1_000 });
    assert!(repos.media.find(&resident.id()).await.unwrap().is_some());
}
