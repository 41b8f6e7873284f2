//! Conformance suite of the `LinkRepository` port: one scenario per clause of its contract
//! (round trips, links going with their media and drops with their owner, listings, and
//! counters that hold their limits under concurrency), run against every adapter through
//! [`link_repository_conformance!`](crate::link_repository_conformance).
//!
//! Fixture times are whole seconds ([`at`]); ids are built so that `id(1) < id(2) < …`.
// Scenarios are test code shipped as a library: a failed expectation is a panic, and
// `expect` on fixtures says which fixture broke.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;

use drip_core::accounts::model::{Owner, PasswordHash};
use drip_core::accounts::ports::AccountRepository;
use drip_core::links::model::{DropLink, Guard, LinkToken, PublicLink};
use drip_core::links::ports::{InsertLinkError, LinkRepository};
use drip_core::storage::model::{FileName, FolderPath, Media};
use drip_core::storage::ports::MediaRepository;
use drip_core::{DropId, Ksuid, LinkId, MediaId, UserId};
use tokio::sync::Barrier;

use crate::workload::{add_users, at, content, held, new_media, object_deletion};

/// Fresh, empty repositories for one scenario (links, and the users and media they refer
/// to, over one store).
pub struct Links {
    /// The links under test.
    pub links: Arc<dyn LinkRepository>,
    /// Users (drop owners, link creators).
    pub accounts: Arc<dyn AccountRepository>,
    /// Media (what links point to).
    pub media: Arc<dyn MediaRepository>,
    /// Kept alive for the scenario, dropped after it (e.g. a throwaway database).
    pub guard: Option<Box<dyn std::any::Any + Send + Sync>>,
}

/// Expands to one `#[tokio::test(flavor = "multi_thread", worker_threads = 2)]` per link
/// repository scenario, each calling `$setup().await` for fresh, empty repositories.
///
/// `$setup` is the path of an `async fn() -> Links` (or `-> Option<Links>`, `None`
/// skipping the scenario when the backend is unavailable).
#[macro_export]
macro_rules! link_repository_conformance {
    ($setup:path) => {
        $crate::link_repository_conformance!(@scenarios $setup;
            links_round_trip_every_field_by_token_and_id,
            links_need_their_media_and_show_only_uploaded_ones,
            links_show_the_current_name_and_go_with_their_media,
            links_of_a_trashed_media_are_suspended_until_it_is_restored,
            links_list_by_creation_then_id_within_the_limit,
            delete_link_answers_whether_there_was_one,
            count_download_honours_expiry_and_the_maximum,
            concurrent_counts_never_pass_the_maximum,
            uncount_gives_back_one_and_never_goes_below_zero,
            drops_round_trip_every_field_and_need_their_owner,
            drops_list_by_creation_within_the_limit_and_go_with_their_owner,
            reserve_upload_honours_expiry_uploads_and_bytes,
            concurrent_reservations_never_pass_the_byte_limit,
            release_upload_gives_back_and_never_goes_below_zero,
        );
    };
    (@scenarios $setup:path; $($scenario:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $scenario() {
                if let Some(links) = $crate::MaybeFixture::<$crate::links::Links>::into_fixture($setup().await) {
                    $crate::links::$scenario(links).await;
                }
            }
        )*
    };
}

// ---------------------------------------------------------------------------------------
// Fixtures
// ---------------------------------------------------------------------------------------

fn ksuid(n: u8) -> Ksuid {
    Ksuid::from_parts(at(0), [n; 16])
}

fn link_id(n: u8) -> LinkId {
    LinkId::from_ksuid(ksuid(n))
}

fn drop_id(n: u8) -> DropId {
    DropId::from_ksuid(ksuid(n))
}

/// An uploaded media of `creator` named `name` in `$/docs`.
async fn uploaded(media: &dyn MediaRepository, creator: UserId, name: &str) -> Media {
    let file = new_media(creator, "$/docs", name);
    media.insert(&file, held()).await.unwrap();
    media.mark_uploaded(&file.id(), content(10)).await.unwrap().unwrap()
}

/// A plain public link `n` (ids order by `n`) to `media`, made at `at(created)`.
pub fn public_link(n: u8, media: &Media, created: i64) -> PublicLink {
    PublicLink {
        id: link_id(n),
        media: media.id(),
        creator: media.creator(),
        file_name: media.name().clone(),
        token: LinkToken::generate().hash(),
        guard: Guard { expires_at: None, password: None },
        max_downloads: None,
        downloads: 0,
        notify: false,
        created_at: at(created),
    }
}

fn drop_link(n: u8, owner: &Owner, created: i64) -> DropLink {
    DropLink {
        id: drop_id(n),
        owner: owner.id,
        folder: FolderPath::parse("$/inbox").unwrap(),
        token: LinkToken::generate().hash(),
        guard: Guard { expires_at: None, password: None },
        max_uploads: None,
        max_bytes: None,
        uploads: 0,
        bytes: 0,
        created_at: at(created),
    }
}

fn ids(links: &[PublicLink]) -> Vec<LinkId> {
    links.iter().map(|l| l.id).collect()
}

async fn alice(l: &Links) -> Owner {
    add_users(&*l.accounts, &["alice"]).await.remove(0)
}

async fn downloads(l: &Links, id: &LinkId) -> u32 {
    l.links.find_link(id).await.unwrap().unwrap().downloads
}

async fn counters(l: &Links, id: &DropId) -> (u32, u64) {
    let drop = l.links.find_drop(id).await.unwrap().unwrap();
    (drop.uploads, drop.bytes)
}

// ---------------------------------------------------------------------------------------
// Public links
// ---------------------------------------------------------------------------------------

/// Every field comes back as stored (downloads start at 0 whatever the record says).
pub async fn links_round_trip_every_field_by_token_and_id(l: Links) {
    let alice = alice(&l).await;
    let file = uploaded(&*l.media, alice.id, "a.txt").await;
    let link = PublicLink {
        guard: Guard {
            expires_at: Some(at(100)),
            password: Some(PasswordHash::parse("$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA").unwrap()),
        },
        max_downloads: Some(3),
        downloads: 7,
        notify: true,
        ..public_link(1, &file, 5)
    };
    l.links.insert_link(&link).await.unwrap();
    let expected = PublicLink { downloads: 0, ..link.clone() };
    assert_eq!(l.links.link_by_token(&link.token).await.unwrap(), Some(expected.clone()));
    assert_eq!(l.links.find_link(&link.id).await.unwrap(), Some(expected));
    assert_eq!(l.links.link_by_token(&LinkToken::generate().hash()).await.unwrap(), None);
    assert_eq!(l.links.find_link(&link_id(9)).await.unwrap(), None);
    let same_token = PublicLink { token: link.token, ..public_link(2, &file, 6) };
    assert!(
        matches!(l.links.insert_link(&same_token).await, Err(InsertLinkError::Backend(_))),
        "tokens are unique"
    );
}

/// A link to an unknown media is refused; one to a pending media is found by no query.
pub async fn links_need_their_media_and_show_only_uploaded_ones(l: Links) {
    let alice = alice(&l).await;
    let missing = new_media(alice.id, "$", "ghost.txt");
    assert!(matches!(l.links.insert_link(&public_link(1, &missing, 1)).await, Err(InsertLinkError::Gone)));
    let pending = new_media(alice.id, "$", "pending.txt");
    l.media.insert(&pending, held()).await.unwrap();
    let link = public_link(2, &pending, 1);
    l.links.insert_link(&link).await.unwrap();
    assert_eq!(l.links.link_by_token(&link.token).await.unwrap(), None);
    assert_eq!(l.links.find_link(&link.id).await.unwrap(), None);
    assert!(l.links.links_of(&alice.id, 10).await.unwrap().is_empty());
    assert!(!l.links.count_download(&link.id, at(2)).await.unwrap());
    l.media.mark_uploaded(&pending.id(), content(1)).await.unwrap();
    assert_eq!(ids(&l.links.links_of(&alice.id, 10).await.unwrap()), [link.id]);
}

/// A link reads its media's current name, and goes when the media is deleted.
pub async fn links_show_the_current_name_and_go_with_their_media(l: Links) {
    let alice = alice(&l).await;
    let file = uploaded(&*l.media, alice.id, "a.txt").await;
    let link = public_link(1, &file, 1);
    l.links.insert_link(&link).await.unwrap();
    let renamed = FileName::parse("b.txt").unwrap();
    l.media.relocate(&file.id(), file.folder(), &renamed, at(3)).await.unwrap();
    assert_eq!(l.links.find_link(&link.id).await.unwrap().unwrap().file_name, renamed);
    l.media.delete(&file.id(), &object_deletion(file.id())).await.unwrap();
    assert_eq!(l.links.link_by_token(&link.token).await.unwrap(), None);
    assert!(l.links.links_of_media(&file.id()).await.unwrap().is_empty());
    assert!(!l.links.delete_link(&link.id).await.unwrap(), "the link went with its media");
}

/// A trashed media's links are found by no query and count no download, but are kept: a
/// restore brings them back as they were.
pub async fn links_of_a_trashed_media_are_suspended_until_it_is_restored(l: Links) {
    let alice = alice(&l).await;
    let file = uploaded(&*l.media, alice.id, "a.txt").await;
    let link = public_link(1, &file, 1);
    l.links.insert_link(&link).await.unwrap();
    let purge = object_deletion(file.id());
    l.media.trash(&file.id(), at(2), at(100), &purge).await.unwrap().expect("trashing an uploaded media");
    assert_eq!(l.links.link_by_token(&link.token).await.unwrap(), None);
    assert_eq!(l.links.find_link(&link.id).await.unwrap(), None);
    assert!(l.links.links_of(&alice.id, 10).await.unwrap().is_empty());
    assert!(l.links.links_of_media(&file.id()).await.unwrap().is_empty());
    assert!(!l.links.count_download(&link.id, at(3)).await.unwrap());

    l.media.restore(&file.id(), file.name(), at(4)).await.unwrap();
    let back = l.links.link_by_token(&link.token).await.unwrap().expect("the link is back");
    assert_eq!((back.id, back.downloads), (link.id, 0));
    assert!(l.links.count_download(&link.id, at(5)).await.unwrap());
}

/// Listings order by creation time then id, keep to their creator or media, and stop at
/// the limit.
pub async fn links_list_by_creation_then_id_within_the_limit(l: Links) {
    let users = add_users(&*l.accounts, &["alice", "bob"]).await;
    let (a, b) =
        (uploaded(&*l.media, users[0].id, "a.txt").await, uploaded(&*l.media, users[0].id, "b.txt").await);
    let bobs = uploaded(&*l.media, users[1].id, "c.txt").await;
    for link in
        [public_link(3, &a, 2), public_link(1, &b, 2), public_link(2, &a, 1), public_link(4, &bobs, 0)]
    {
        l.links.insert_link(&link).await.unwrap();
    }
    let alices = l.links.links_of(&users[0].id, 10).await.unwrap();
    assert_eq!(ids(&alices), [link_id(2), link_id(1), link_id(3)]);
    assert_eq!(ids(&l.links.links_of(&users[0].id, 2).await.unwrap()), [link_id(2), link_id(1)]);
    assert_eq!(ids(&l.links.links_of_media(&a.id()).await.unwrap()), [link_id(2), link_id(3)]);
    assert_eq!(ids(&l.links.links_of(&users[1].id, 10).await.unwrap()), [link_id(4)]);
    let unknown: MediaId = MediaId::from_ksuid(ksuid(77));
    assert!(l.links.links_of_media(&unknown).await.unwrap().is_empty());
}

/// Deleting answers whether there was a link, and a deleted one is gone everywhere.
pub async fn delete_link_answers_whether_there_was_one(l: Links) {
    let alice = alice(&l).await;
    let file = uploaded(&*l.media, alice.id, "a.txt").await;
    let link = public_link(1, &file, 1);
    l.links.insert_link(&link).await.unwrap();
    assert!(l.links.delete_link(&link.id).await.unwrap());
    assert!(!l.links.delete_link(&link.id).await.unwrap());
    assert_eq!(l.links.link_by_token(&link.token).await.unwrap(), None);
    assert!(!l.links.count_download(&link.id, at(2)).await.unwrap());
}

/// Counting refuses an expired link (from its expiry on) and one at its maximum.
pub async fn count_download_honours_expiry_and_the_maximum(l: Links) {
    let alice = alice(&l).await;
    let file = uploaded(&*l.media, alice.id, "a.txt").await;
    let expiring =
        PublicLink { guard: Guard { expires_at: Some(at(10)), password: None }, ..public_link(1, &file, 1) };
    let limited = PublicLink { max_downloads: Some(2), ..public_link(2, &file, 1) };
    l.links.insert_link(&expiring).await.unwrap();
    l.links.insert_link(&limited).await.unwrap();
    assert!(l.links.count_download(&expiring.id, at(9)).await.unwrap());
    assert!(!l.links.count_download(&expiring.id, at(10)).await.unwrap());
    assert_eq!(downloads(&l, &expiring.id).await, 1);
    for _ in 0..2 {
        assert!(l.links.count_download(&limited.id, at(100)).await.unwrap());
    }
    assert!(!l.links.count_download(&limited.id, at(100)).await.unwrap());
    assert_eq!(downloads(&l, &limited.id).await, 2);
}

/// Of 20 concurrent counts on a link allowing 5, exactly 5 succeed.
pub async fn concurrent_counts_never_pass_the_maximum(l: Links) {
    let alice = alice(&l).await;
    let file = uploaded(&*l.media, alice.id, "a.txt").await;
    let link = PublicLink { max_downloads: Some(5), ..public_link(1, &file, 1) };
    l.links.insert_link(&link).await.unwrap();
    let barrier = Arc::new(Barrier::new(20));
    let counts = (0..20).map(|_| {
        let (links, barrier) = (Arc::clone(&l.links), Arc::clone(&barrier));
        tokio::spawn(async move {
            barrier.wait().await;
            links.count_download(&link.id, at(2)).await.unwrap()
        })
    });
    let results = futures::future::join_all(counts).await;
    assert_eq!(results.into_iter().filter(|r| *r.as_ref().unwrap()).count(), 5);
    assert_eq!(downloads(&l, &link.id).await, 5);
}

/// Giving back lowers the count by one, never below zero.
pub async fn uncount_gives_back_one_and_never_goes_below_zero(l: Links) {
    let alice = alice(&l).await;
    let file = uploaded(&*l.media, alice.id, "a.txt").await;
    let link = PublicLink { max_downloads: Some(1), ..public_link(1, &file, 1) };
    l.links.insert_link(&link).await.unwrap();
    assert!(l.links.count_download(&link.id, at(2)).await.unwrap());
    l.links.uncount_download(&link.id).await.unwrap();
    l.links.uncount_download(&link.id).await.unwrap();
    assert_eq!(downloads(&l, &link.id).await, 0);
    assert!(l.links.count_download(&link.id, at(2)).await.unwrap(), "the download is available again");
    l.links.uncount_download(&link_id(9)).await.unwrap();
}

// ---------------------------------------------------------------------------------------
// Drop links
// ---------------------------------------------------------------------------------------

/// Every field comes back as stored (counters start at 0); an unknown owner is refused.
pub async fn drops_round_trip_every_field_and_need_their_owner(l: Links) {
    let alice = alice(&l).await;
    let drop = DropLink {
        guard: Guard {
            expires_at: Some(at(50)),
            password: Some(PasswordHash::parse("$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA").unwrap()),
        },
        max_uploads: Some(4),
        max_bytes: Some(5_000_000_000),
        uploads: 3,
        bytes: 9,
        ..drop_link(1, &alice, 2)
    };
    l.links.insert_drop(&drop).await.unwrap();
    let expected = DropLink { uploads: 0, bytes: 0, ..drop.clone() };
    assert_eq!(l.links.drop_by_token(&drop.token).await.unwrap(), Some(expected.clone()));
    assert_eq!(l.links.find_drop(&drop.id).await.unwrap(), Some(expected));
    assert_eq!(l.links.drop_by_token(&LinkToken::generate().hash()).await.unwrap(), None);
    let stranger = Owner { id: UserId::from_ksuid(ksuid(99)), ..alice };
    assert!(matches!(l.links.insert_drop(&drop_link(2, &stranger, 1)).await, Err(InsertLinkError::Gone)));
}

/// Drops list by creation then id within the limit, are deleted once, and go with their
/// owner's account.
pub async fn drops_list_by_creation_within_the_limit_and_go_with_their_owner(l: Links) {
    let users = add_users(&*l.accounts, &["alice", "bob"]).await;
    for drop in [
        drop_link(2, &users[0], 5),
        drop_link(1, &users[0], 5),
        drop_link(3, &users[0], 1),
        drop_link(4, &users[1], 1),
    ] {
        l.links.insert_drop(&drop).await.unwrap();
    }
    let listed: Vec<_> = l.links.drops_of(&users[0].id, 10).await.unwrap().iter().map(|d| d.id).collect();
    assert_eq!(listed, [drop_id(3), drop_id(1), drop_id(2)]);
    assert_eq!(l.links.drops_of(&users[0].id, 1).await.unwrap().len(), 1);
    assert!(l.links.delete_drop(&drop_id(3)).await.unwrap());
    assert!(!l.links.delete_drop(&drop_id(3)).await.unwrap());
    assert!(l.accounts.delete_user(&users[1].id).await.unwrap());
    assert_eq!(l.links.find_drop(&drop_id(4)).await.unwrap(), None, "the drop went with its owner");
}

/// Reserving refuses an expired drop and one whose uploads or bytes would pass a limit.
pub async fn reserve_upload_honours_expiry_uploads_and_bytes(l: Links) {
    let alice = alice(&l).await;
    let expiring =
        DropLink { guard: Guard { expires_at: Some(at(10)), password: None }, ..drop_link(1, &alice, 1) };
    let counted = DropLink { max_uploads: Some(2), ..drop_link(2, &alice, 1) };
    let sized = DropLink { max_bytes: Some(100), ..drop_link(3, &alice, 1) };
    for drop in [&expiring, &counted, &sized] {
        l.links.insert_drop(drop).await.unwrap();
    }
    assert!(l.links.reserve_upload(&expiring.id, 5, at(9)).await.unwrap());
    assert!(!l.links.reserve_upload(&expiring.id, 5, at(10)).await.unwrap());
    assert_eq!(counters(&l, &expiring.id).await, (1, 5));
    assert!(l.links.reserve_upload(&counted.id, 0, at(1)).await.unwrap());
    assert!(l.links.reserve_upload(&counted.id, 0, at(1)).await.unwrap());
    assert!(!l.links.reserve_upload(&counted.id, 0, at(1)).await.unwrap());
    assert!(l.links.reserve_upload(&sized.id, 60, at(1)).await.unwrap());
    assert!(!l.links.reserve_upload(&sized.id, 41, at(1)).await.unwrap());
    assert!(l.links.reserve_upload(&sized.id, 40, at(1)).await.unwrap());
    assert_eq!(counters(&l, &sized.id).await, (2, 100));
    assert!(!l.links.reserve_upload(&drop_id(9), 1, at(1)).await.unwrap());
}

/// Of 20 concurrent reservations of 10 bytes on a drop of 50, exactly 5 succeed.
pub async fn concurrent_reservations_never_pass_the_byte_limit(l: Links) {
    let alice = alice(&l).await;
    let drop = DropLink { max_bytes: Some(50), ..drop_link(1, &alice, 1) };
    l.links.insert_drop(&drop).await.unwrap();
    let barrier = Arc::new(Barrier::new(20));
    let reservations = (0..20).map(|_| {
        let (links, barrier) = (Arc::clone(&l.links), Arc::clone(&barrier));
        tokio::spawn(async move {
            barrier.wait().await;
            links.reserve_upload(&drop.id, 10, at(2)).await.unwrap()
        })
    });
    let results = futures::future::join_all(reservations).await;
    assert_eq!(results.into_iter().filter(|r| *r.as_ref().unwrap()).count(), 5);
    assert_eq!(counters(&l, &drop.id).await, (5, 50));
}

/// Releasing gives back uploads and bytes, never below zero.
pub async fn release_upload_gives_back_and_never_goes_below_zero(l: Links) {
    let alice = alice(&l).await;
    let drop = DropLink { max_uploads: Some(1), ..drop_link(1, &alice, 1) };
    l.links.insert_drop(&drop).await.unwrap();
    assert!(l.links.reserve_upload(&drop.id, 30, at(2)).await.unwrap());
    l.links.release_upload(&drop.id, 1, 30).await.unwrap();
    assert_eq!(counters(&l, &drop.id).await, (0, 0));
    l.links.release_upload(&drop.id, 1, 30).await.unwrap();
    assert_eq!(counters(&l, &drop.id).await, (0, 0));
    assert!(l.links.reserve_upload(&drop.id, 30, at(2)).await.unwrap());
    l.links.release_upload(&drop_id(9), 1, 1).await.unwrap();
    l.links.release_upload(&drop.id, 0, 10).await.unwrap();
    assert_eq!(counters(&l, &drop.id).await, (1, 20), "a surplus is given back alone");
}
