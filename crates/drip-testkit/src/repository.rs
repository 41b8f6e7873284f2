//! Conformance suite of `AccountRepository` and `MediaRepository`: one scenario per
//! contract in the ports' `# Errors` docs, run against every adapter (memory, SQLite,
//! PostgreSQL) through [`repository_conformance!`](crate::repository_conformance).
//!
//! Scenarios rely on the port contracts only. Adapters generate no ids: every id comes
//! from the fixtures. Fixture times are whole seconds, and timestamps are compared
//! truncated to microseconds (what SQL databases keep). Names and ids are ordered by
//! code point (Rust's `str` order; `COLLATE "C"` / `BINARY` in SQL); usernames by
//! [`Username::normalized`] where the ports say "case-insensitively".
// Scenarios are test code shipped as a library: a failed expectation is a panic, and
// `expect` on fixtures says which fixture broke.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use chrono::{DateTime, SubsecRound, Utc};
use drip_core::accounts::model::{
    ClientLabel, Email, Owner, PasswordHash, RefreshToken, RefreshTokenRecord, SessionSummary, User, Username,
};
use drip_core::accounts::ports::{AccountRepository, ConsumeOutcome, CreateUserError, DeleteUserError};
use drip_core::jobs::model::JobState;
use drip_core::jobs::ports::JobQueue;
use drip_core::storage::model::{
    ContentType, Digest, Envelope, FileName, FileOrder, FolderListing, FolderPath, FolderSummary,
    ListingOrder, Media, MediaParts, PageRequest, SortOrder, StorageKey, UploadedContent, Usage, UsageSort,
};
use drip_core::storage::ports::{AddShareError, InsertMediaError, MediaRepository, RelocateError};

use crate::workload::{held, object_deletion};

mod folders;
mod overview;
mod trash;
mod versions;
use drip_core::{Ksuid, MediaId, TokenFamilyId, UserId};
pub use folders::*;
pub use overview::*;
use tokio::sync::Barrier;
pub use trash::*;
pub use versions::*;

/// Fresh, empty repositories for one scenario.
pub struct Repos {
    /// Users and refresh tokens.
    pub accounts: Arc<dyn AccountRepository>,
    /// Media and shares (over the same store as `accounts`).
    pub media: Arc<dyn MediaRepository>,
    /// The job queue the media repository enqueues into (the same store).
    pub jobs: Arc<dyn JobQueue>,
    /// Kept alive for the scenario, dropped after it (e.g. a throwaway database).
    pub guard: Option<Box<dyn std::any::Any + Send + Sync>>,
}

/// Expands to one `#[tokio::test(flavor = "multi_thread", worker_threads = 2)]` per
/// repository scenario, each calling `$setup().await` for fresh, empty repositories.
///
/// `$setup` is the path of an `async fn() -> Repos` (or `-> Option<Repos>`, `None`
/// skipping the scenario when the backend is unavailable). The calling crate needs `tokio` (with
/// the `macros` and `rt-multi-thread` features) among its dev-dependencies.
#[macro_export]
macro_rules! repository_conformance {
    ($setup:path) => {
        $crate::repository_conformance!(@scenarios $setup;
            create_user_then_find_by_username_and_id,
            usernames_are_unique_case_insensitively,
            usernames_are_unique_case_insensitively_beyond_ascii,
            user_ids_are_unique,
            concurrent_creations_of_one_username_one_wins,
            list_owners_orders_by_username_case_insensitively,
            refresh_token_insert_rejects_duplicates_and_unknown_users,
            refresh_token_is_consumed_once,
            expired_refresh_token_is_rejected,
            revoked_refresh_token_is_rejected,
            revoke_token_family_counts_changed_tokens,
            find_token_family_in_any_state,
            sessions_are_active_until_revoked_or_their_user_is_gone,
            change_password_keeps_one_session_and_revokes_the_others,
            open_sessions_are_listed_newest_first_with_their_client,
            login_failures_count_per_key_and_are_forgotten,
            concurrent_login_failures_all_count,
            delete_user_refuses_while_files_remain_and_takes_tokens_and_received_shares,
            concurrent_consumes_of_one_token_one_wins,
            insert_then_find_round_trips_every_field,
            insert_with_unknown_creator_fails,
            insert_conflicts_with_own_media_in_any_state,
            shared_media_never_claim_the_sharees_names,
            concurrent_duplicate_inserts_one_wins,
            unknown_media_ids_are_none_or_not_found,
            media_are_invisible_until_uploaded,
            visibility_follows_shares,
            add_share_errors,
            concurrent_duplicate_shares_one_wins,
            list_shares_orders_by_username_without_the_creator,
            share_partners_go_both_ways_latest_first,
            the_sharing_overview_lists_both_directions,
            remove_share_never_removes_the_creator,
            delete_cascades_to_shares,
            pending_uploads_hold_their_name_while_their_lease_runs,
            renewing_a_lease_keeps_a_pending_upload,
            reclaim_removes_only_abandoned_uploads_with_their_job,
            relocate_moves_and_renames,
            relocate_conflicts,
            relocate_folder_moves_own_media_with_shares_and_totals,
            relocate_folder_conflicts_and_limits,
            concurrent_folder_moves_one_wins,
            replace_content_gives_the_file_its_new_version,
            replace_content_refuses_and_changes_nothing,
            concurrent_versions_of_one_file_one_wins,
            find_named_finds_own_media_in_any_state,
            list_folder_of_empty_or_unknown_folder_is_empty,
            list_folder_lists_files_and_immediate_subfolders_with_recursive_totals,
            list_folder_prefixes_match_whole_segments,
            list_folder_treats_percent_underscore_and_backslash_literally,
            list_folder_handles_unicode_and_spaces,
            list_folder_handles_deep_and_long_paths,
            list_folder_pages_are_complete_and_stable,
            list_folder_orders_by_size_and_upload_time_either_way,
            names_sort_by_code_point,
            listings_break_name_ties_by_id,
            list_visible_lists_everything_visible,
            list_visible_under_a_folder_includes_descendants_only,
            list_visible_pages_are_complete,
            usage_counts_uploaded_media_of_the_creator,
            top_users_counts_users_without_files,
            top_users_sorts_orders_and_limits,
            update_envelope_and_media_not_wrapped_with,
            trashed_media_are_invisible_to_everyone_but_counted,
            trash_takes_only_uploaded_media_once,
            trashed_media_free_their_names,
            restore_brings_back_the_media_and_its_shares,
            restore_onto_a_taken_name_conflicts_and_another_name_restores,
            concurrent_restores_onto_one_name_one_wins,
            purge_removes_a_trashed_media_when_due_only,
            delete_of_a_trashed_media_keeps_totals_right,
            list_trash_pages_by_name_then_id,
        );
    };
    (@scenarios $setup:path; $($scenario:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $scenario() {
                if let Some(repos) = $crate::MaybeFixture::<$crate::repository::Repos>::into_fixture($setup().await) {
                    $crate::repository::$scenario(repos).await;
                }
            }
        )*
    };
}

// ---------------------------------------------------------------------------------------
// Fixtures
// ---------------------------------------------------------------------------------------

/// 2024-03-01T00:00:00Z: fixture times are this plus whole seconds.
const BASE_SECS: i64 = 1_709_251_200;
/// How many concurrent callers the race scenarios start.
const RACERS: usize = 8;
/// Guard against adapters whose cursors never end.
const MAX_PAGES: usize = 200;

static SEQUENCE: AtomicU64 = AtomicU64::new(0);

pub(crate) fn at(secs: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(BASE_SECS + secs, 0).expect("fixture time")
}

fn micros(t: DateTime<Utc>) -> DateTime<Utc> {
    t.trunc_subsecs(6)
}

fn ksuid() -> Ksuid {
    Ksuid::generate(at(0))
}

fn new_user_id() -> UserId {
    UserId::from_ksuid(ksuid())
}

pub(crate) fn new_media_id() -> MediaId {
    MediaId::from_ksuid(ksuid())
}

fn new_family() -> TokenFamilyId {
    TokenFamilyId::from_ksuid(ksuid())
}

fn path(text: &str) -> FolderPath {
    FolderPath::parse(text).unwrap_or_else(|_| panic!("fixture path {text:?}"))
}

fn name(text: &str) -> FileName {
    FileName::parse(text).unwrap_or_else(|_| panic!("fixture name {text:?}"))
}

fn username(text: &str) -> Username {
    Username::parse(text).unwrap_or_else(|_| panic!("fixture username {text:?}"))
}

/// A user that is not stored yet.
fn user(name: &str) -> User {
    let n = SEQUENCE.fetch_add(1, Ordering::Relaxed);
    User {
        owner: Owner {
            id: new_user_id(),
            username: username(name),
            email: Email::parse(&format!("user{n}@example.com")).expect("fixture email"),
        },
        password_hash: PasswordHash::parse("$fake$c2FsdHNhbHQ$aGFzaGhhc2g").expect("fixture hash"),
        created_at: at(0),
    }
}

/// A user that is never stored.
fn unknown_owner() -> Owner {
    user("ghost").owner
}

/// Creates a user named `name`.
pub(crate) async fn add_user(repos: &Repos, name: &str) -> Owner {
    let user = user(name);
    repos.accounts.create_user(&user).await.unwrap_or_else(|e| panic!("creating user {name:?}: {e}"));
    user.owner
}

fn envelope(key_id: &str, byte: u8) -> Envelope {
    Envelope::new(drip_core::content::ALGORITHM, 65536, key_id, vec![byte; 60]).expect("fixture envelope")
}

/// A media that is not stored yet (not uploaded, data key wrapped with `k1`).
pub(crate) fn media(creator: UserId, folder: &str, file: &str) -> Media {
    let id = new_media_id();
    let file = name(file);
    Media::from_parts(MediaParts {
        id,
        creator,
        storage_key: StorageKey::new(id, at(1), &file),
        content_type: ContentType::guess(&file),
        name: file,
        folder: path(folder),
        envelope: envelope("k1", 1),
        metadata: Default::default(),
        uploaded: None,
        created_at: at(1),
        updated_at: at(1),
    })
}

pub(crate) fn content(size: u64) -> UploadedContent {
    let mut digest = [0u8; 32];
    digest[..8].copy_from_slice(&size.to_be_bytes());
    digest[31] = 0xd1;
    UploadedContent { size, digest: Digest::from_bytes(digest), uploaded_at: at(20) }
}

/// Inserts a media that is not uploaded yet.
pub(crate) async fn add_pending(repos: &Repos, creator: UserId, folder: &str, file: &str) -> Media {
    let media = media(creator, folder, file);
    repos.media.insert(&media, held()).await.unwrap_or_else(|e| panic!("inserting {folder}/{file}: {e}"));
    media
}

/// Inserts a media and marks it uploaded with `size` bytes; answers the stored media.
pub(crate) async fn add_file(repos: &Repos, creator: UserId, folder: &str, file: &str, size: u64) -> Media {
    let media = add_pending(repos, creator, folder, file).await;
    upload(repos, &media, size).await
}

pub(crate) async fn upload(repos: &Repos, media: &Media, size: u64) -> Media {
    repos
        .media
        .mark_uploaded(&media.id(), content(size))
        .await
        .expect("marking uploaded")
        .expect("the media just inserted exists")
}

async fn share(repos: &Repos, media: &Media, with: &Owner) {
    repos.media.add_share(&media.id(), &with.id, at(30)).await.expect("sharing a fixture media");
}

fn refresh_record(user: UserId, family: TokenFamilyId, expires_in: i64) -> RefreshTokenRecord {
    RefreshTokenRecord {
        hash: RefreshToken::generate().hash(),
        user_id: user,
        family_id: family,
        issued_at: at(0),
        expires_at: at(expires_in),
        used_at: None,
        revoked_at: None,
        client: None,
    }
}

async fn add_token(
    repos: &Repos,
    user: UserId,
    family: TokenFamilyId,
    expires_in: i64,
) -> RefreshTokenRecord {
    let record = refresh_record(user, family, expires_in);
    repos.accounts.insert_refresh_token(&record).await.expect("inserting a fixture refresh token");
    record
}

fn micros_record(mut record: RefreshTokenRecord) -> RefreshTokenRecord {
    record.issued_at = micros(record.issued_at);
    record.expires_at = micros(record.expires_at);
    record.used_at = record.used_at.map(micros);
    record.revoked_at = record.revoked_at.map(micros);
    record
}

/// Asserts that every field of `actual` equals `expected`'s (timestamps to the microsecond).
#[track_caller]
fn assert_same_media(actual: &Media, expected: &Media) {
    let (a, e) = (actual.parts(), expected.parts());
    let id = e.id;
    assert_eq!(a.id, e.id, "id");
    assert_eq!(a.creator, e.creator, "creator of {id}");
    assert_eq!(a.name, e.name, "name of {id}");
    assert_eq!(a.folder, e.folder, "folder of {id}");
    assert_eq!(a.content_type, e.content_type, "content type of {id}");
    assert_eq!(a.storage_key, e.storage_key, "storage key of {id}");
    assert_eq!(a.envelope, e.envelope, "envelope of {id}");
    assert_eq!(a.metadata, e.metadata, "metadata of {id}");
    let uploaded = |u: Option<UploadedContent>| u.map(|u| (u.size, u.digest, micros(u.uploaded_at)));
    assert_eq!(uploaded(a.uploaded), uploaded(e.uploaded), "uploaded content of {id}");
    assert_eq!(micros(a.created_at), micros(e.created_at), "created_at of {id}");
    assert_eq!(micros(a.updated_at), micros(e.updated_at), "updated_at of {id}");
}

fn ids(media: &[Media]) -> Vec<MediaId> {
    media.iter().map(Media::id).collect()
}

/// The ids of `media` in listing order: by name (code point order), then id.
fn in_listing_order(media: &[&Media]) -> Vec<MediaId> {
    let mut sorted: Vec<&Media> = media.to_vec();
    sorted.sort_by(|a, b| (a.name(), a.id()).cmp(&(b.name(), b.id())));
    sorted.iter().map(|m| m.id()).collect()
}

fn folder(name: &str, file_count: u64, total_size: u64) -> FolderSummary {
    FolderSummary { name: self::name(name), file_count, total_size }
}

/// The first page (of the largest size) of a folder.
async fn list(repos: &Repos, user: &Owner, folder: &str) -> FolderListing {
    repos.media.list_folder(&user.id, &path(folder), &PageRequest::default()).await.expect("listing a folder")
}

/// The files of a folder's first page.
async fn files_in(repos: &Repos, user: &Owner, folder: &str) -> Vec<MediaId> {
    ids(&list(repos, user, folder).await.files)
}

/// Every page of a folder with pages of `limit`: the files in order, and the folders of
/// the first page; asserts that later pages carry no folders.
async fn all_folder_pages(
    repos: &Repos,
    user: &Owner,
    folder: &str,
    limit: u32,
) -> (Vec<MediaId>, Vec<FolderSummary>) {
    all_folder_pages_in(repos, user, folder, limit, ListingOrder::default()).await
}

/// Every page of `folder` in `order`, `limit` at a time: the files' ids and the first
/// page's subfolders.
async fn all_folder_pages_in(
    repos: &Repos,
    user: &Owner,
    folder: &str,
    limit: u32,
    order: ListingOrder,
) -> (Vec<MediaId>, Vec<FolderSummary>) {
    let mut page = PageRequest::first_in(limit, order);
    let mut files = Vec::new();
    let mut folders = None;
    for _ in 0..MAX_PAGES {
        let listing = repos.media.list_folder(&user.id, &path(folder), &page).await.expect("listing a page");
        assert!(listing.files.len() <= limit as usize, "a page of {limit} held {}", listing.files.len());
        match &folders {
            None => folders = Some(listing.folders),
            Some(_) => assert!(listing.folders.is_empty(), "folders on a page after the first"),
        }
        files.extend(ids(&listing.files));
        match listing.next {
            Some(cursor) => {
                assert!(!listing.files.is_empty(), "an empty page pointed to a next page");
                page = PageRequest::after(limit, cursor);
            }
            None => return (files, folders.unwrap_or_default()),
        }
    }
    panic!("list_folder never ran out of pages");
}

/// Every page of `list_visible` with pages of `limit`, in order.
async fn all_visible_pages(repos: &Repos, user: &Owner, under: Option<&str>, limit: u32) -> Vec<MediaId> {
    let under = under.map(path);
    let mut page = PageRequest::first(limit);
    let mut items = Vec::new();
    for _ in 0..MAX_PAGES {
        let result =
            repos.media.list_visible(&user.id, under.as_ref(), &page).await.expect("listing visible");
        assert!(result.items.len() <= limit as usize, "a page of {limit} held {}", result.items.len());
        items.extend(ids(&result.items));
        match result.next {
            Some(cursor) => {
                assert!(!result.items.is_empty(), "an empty page pointed to a next page");
                page = PageRequest::after(limit, cursor);
            }
            None => return items,
        }
    }
    panic!("list_visible never ran out of pages");
}

/// Asserts there are no duplicates in `ids`.
#[track_caller]
fn assert_distinct(ids: &[MediaId]) {
    let distinct: BTreeSet<_> = ids.iter().collect();
    assert_eq!(distinct.len(), ids.len(), "duplicates across pages: {ids:?}");
}

async fn visible_to(repos: &Repos, user: &Owner, media: &Media) -> bool {
    repos.media.find_visible(&user.id, &media.id()).await.expect("find_visible").is_some()
}

// ---------------------------------------------------------------------------------------
// Accounts
// ---------------------------------------------------------------------------------------

/// A created user is found by username (as entered) and by id; unknown ones are `None`.
pub async fn create_user_then_find_by_username_and_id(repos: Repos) {
    let alice = user("Alice");
    repos.accounts.create_user(&alice).await.expect("creating alice");

    let found = repos.accounts.find_user_by_username(&username("Alice")).await.unwrap();
    assert_eq!(found, Some(alice.clone()));
    assert_eq!(found.unwrap().owner.username.as_str(), "Alice", "the username is kept as entered");
    assert_eq!(repos.accounts.find_owner(&alice.owner.id).await.unwrap(), Some(alice.owner.clone()));

    assert_eq!(repos.accounts.find_user_by_username(&username("nobody")).await.unwrap(), None);
    assert_eq!(repos.accounts.find_owner(&new_user_id()).await.unwrap(), None);
}

/// `UsernameTaken` for a username differing only in case; lookups ignore case.
pub async fn usernames_are_unique_case_insensitively(repos: Repos) {
    let alice = add_user(&repos, "alice").await;
    for variant in ["alice", "ALICE", "aLiCe"] {
        let result = repos.accounts.create_user(&user(variant)).await;
        assert!(matches!(result, Err(CreateUserError::UsernameTaken)), "{variant}: {result:?}");
    }
    for variant in ["ALICE", "Alice"] {
        let found = repos.accounts.find_user_by_username(&username(variant)).await.unwrap();
        assert_eq!(found.map(|u| u.owner), Some(alice.clone()), "lookup by {variant}");
    }
    assert_eq!(repos.accounts.list_owners().await.unwrap(), vec![alice]);
}

/// Case-insensitivity is [`Username::normalized`]'s (Unicode lowercase), not ASCII-only.
pub async fn usernames_are_unique_case_insensitively_beyond_ascii(repos: Repos) {
    let emile = add_user(&repos, "Émile").await;
    let result = repos.accounts.create_user(&user("éMILE")).await;
    assert!(matches!(result, Err(CreateUserError::UsernameTaken)), "{result:?}");
    let found = repos.accounts.find_user_by_username(&username("ÉMILE")).await.unwrap();
    assert_eq!(found.map(|u| u.owner), Some(emile));
}

/// `IdTaken` for a second user with an existing id.
pub async fn user_ids_are_unique(repos: Repos) {
    let alice = add_user(&repos, "alice").await;
    let mut bob = user("bob");
    bob.owner.id = alice.id;
    let result = repos.accounts.create_user(&bob).await;
    assert!(matches!(result, Err(CreateUserError::IdTaken)), "{result:?}");
    assert_eq!(repos.accounts.find_user_by_username(&username("bob")).await.unwrap(), None);
}

/// Of concurrent creations of one username (in various cases), exactly one succeeds.
pub async fn concurrent_creations_of_one_username_one_wins(repos: Repos) {
    let barrier = Arc::new(Barrier::new(RACERS));
    let spellings = ["racer", "RACER", "Racer", "rAcer", "raCer", "racEr", "raceR", "RaCeR"];
    let tasks: Vec<_> = spellings
        .iter()
        .map(|spelling| {
            let (accounts, barrier, user) =
                (Arc::clone(&repos.accounts), Arc::clone(&barrier), user(spelling));
            tokio::spawn(async move {
                barrier.wait().await;
                accounts.create_user(&user).await
            })
        })
        .collect();
    let mut won = 0;
    for task in tasks {
        match task.await.expect("racing task") {
            Ok(()) => won += 1,
            Err(CreateUserError::UsernameTaken) => {}
            Err(e) => panic!("a racing creation failed with {e:?}"),
        }
    }
    assert_eq!(won, 1, "exactly one creation wins");
    assert_eq!(repos.accounts.list_owners().await.unwrap().len(), 1);
}

/// `list_owners` orders every user by username, case-insensitively.
pub async fn list_owners_orders_by_username_case_insensitively(repos: Repos) {
    assert!(repos.accounts.list_owners().await.unwrap().is_empty());
    let bob = add_user(&repos, "bob").await;
    let dave = add_user(&repos, "Dave").await;
    let alice = add_user(&repos, "Alice").await;
    let carol = add_user(&repos, "carol").await;
    assert_eq!(repos.accounts.list_owners().await.unwrap(), vec![alice, bob, carol, dave]);
}

/// Inserting a refresh token fails for a duplicate hash and for an unknown user.
pub async fn refresh_token_insert_rejects_duplicates_and_unknown_users(repos: Repos) {
    let alice = add_user(&repos, "alice").await;
    let record = add_token(&repos, alice.id, new_family(), 3600).await;
    let mut duplicate = refresh_record(alice.id, new_family(), 7200);
    duplicate.hash = record.hash;
    assert!(repos.accounts.insert_refresh_token(&duplicate).await.is_err(), "duplicate hash accepted");
    let orphan = refresh_record(new_user_id(), new_family(), 3600);
    assert!(repos.accounts.insert_refresh_token(&orphan).await.is_err(), "token of an unknown user accepted");
    assert_eq!(repos.accounts.find_token_family(&orphan.hash).await.unwrap(), None);
}

/// A token is `Consumed` once (with `used_at = now`), then `Rejected` as stored; an
/// unknown hash is `Unknown`.
pub async fn refresh_token_is_consumed_once(repos: Repos) {
    let alice = add_user(&repos, "alice").await;
    let record = add_token(&repos, alice.id, new_family(), 3600).await;
    let spent = RefreshTokenRecord { used_at: Some(at(60)), ..record.clone() };

    match repos.accounts.consume_refresh_token(&record.hash, at(60)).await.unwrap() {
        ConsumeOutcome::Consumed(r) => assert_eq!(micros_record(r), spent),
        other => panic!("first use: {other:?}"),
    }
    match repos.accounts.consume_refresh_token(&record.hash, at(61)).await.unwrap() {
        ConsumeOutcome::Rejected(r) => assert_eq!(micros_record(r), spent, "second use changes nothing"),
        other => panic!("second use: {other:?}"),
    }
    let unknown = RefreshToken::generate().hash();
    assert_eq!(
        repos.accounts.consume_refresh_token(&unknown, at(60)).await.unwrap(),
        ConsumeOutcome::Unknown
    );
}

/// A token at or past `expires_at` is `Rejected` and left unchanged.
pub async fn expired_refresh_token_is_rejected(repos: Repos) {
    let alice = add_user(&repos, "alice").await;
    let record = add_token(&repos, alice.id, new_family(), 100).await;
    for now in [at(100), at(5000)] {
        match repos.accounts.consume_refresh_token(&record.hash, now).await.unwrap() {
            ConsumeOutcome::Rejected(r) => assert_eq!(micros_record(r), record, "at {now}"),
            other => panic!("expired token at {now}: {other:?}"),
        }
    }
    // Nothing was changed: just before expiry the token is still good.
    let outcome = repos.accounts.consume_refresh_token(&record.hash, at(99)).await.unwrap();
    assert!(matches!(outcome, ConsumeOutcome::Consumed(_)), "{outcome:?}");
}

/// A token of a revoked family is `Rejected`, with `revoked_at` and no `used_at`.
pub async fn revoked_refresh_token_is_rejected(repos: Repos) {
    let alice = add_user(&repos, "alice").await;
    let record = add_token(&repos, alice.id, new_family(), 3600).await;
    assert_eq!(repos.accounts.revoke_token_family(&record.family_id, at(10)).await.unwrap(), 1);
    match repos.accounts.consume_refresh_token(&record.hash, at(20)).await.unwrap() {
        ConsumeOutcome::Rejected(r) => {
            assert_eq!(micros_record(r), RefreshTokenRecord { revoked_at: Some(at(10)), ..record });
        }
        other => panic!("revoked token: {other:?}"),
    }
}

/// Revocation changes every not-yet-revoked token of the family (used ones too), answers
/// how many, keeps the first revocation time, and leaves other families alone.
pub async fn revoke_token_family_counts_changed_tokens(repos: Repos) {
    let alice = add_user(&repos, "alice").await;
    let family = new_family();
    let used = add_token(&repos, alice.id, family, 3600).await;
    let second = add_token(&repos, alice.id, family, 3600).await;
    add_token(&repos, alice.id, family, 3600).await;
    let other = add_token(&repos, alice.id, new_family(), 3600).await;
    let outcome = repos.accounts.consume_refresh_token(&used.hash, at(5)).await.unwrap();
    assert!(matches!(outcome, ConsumeOutcome::Consumed(_)), "{outcome:?}");

    assert_eq!(repos.accounts.revoke_token_family(&family, at(10)).await.unwrap(), 3);
    assert_eq!(repos.accounts.revoke_token_family(&family, at(20)).await.unwrap(), 0, "already revoked");
    assert_eq!(repos.accounts.revoke_token_family(&new_family(), at(20)).await.unwrap(), 0, "unknown family");

    match repos.accounts.consume_refresh_token(&second.hash, at(30)).await.unwrap() {
        ConsumeOutcome::Rejected(r) => assert_eq!(r.revoked_at.map(micros), Some(at(10))),
        other => panic!("revoked token: {other:?}"),
    }
    match repos.accounts.consume_refresh_token(&used.hash, at(30)).await.unwrap() {
        ConsumeOutcome::Rejected(r) => {
            assert_eq!((r.used_at.map(micros), r.revoked_at.map(micros)), (Some(at(5)), Some(at(10))));
        }
        other => panic!("used and revoked token: {other:?}"),
    }
    let outcome = repos.accounts.consume_refresh_token(&other.hash, at(30)).await.unwrap();
    assert!(matches!(outcome, ConsumeOutcome::Consumed(_)), "another family is untouched: {outcome:?}");
}

/// `find_token_family` answers the family of a token whatever its state.
pub async fn find_token_family_in_any_state(repos: Repos) {
    let alice = add_user(&repos, "alice").await;
    let family = new_family();
    let record = add_token(&repos, alice.id, family, 3600).await;
    assert_eq!(repos.accounts.find_token_family(&record.hash).await.unwrap(), Some(family));
    repos.accounts.consume_refresh_token(&record.hash, at(1)).await.unwrap();
    assert_eq!(repos.accounts.find_token_family(&record.hash).await.unwrap(), Some(family), "used");
    repos.accounts.revoke_token_family(&family, at(2)).await.unwrap();
    assert_eq!(repos.accounts.find_token_family(&record.hash).await.unwrap(), Some(family), "revoked");
    let unknown = RefreshToken::generate().hash();
    assert_eq!(repos.accounts.find_token_family(&unknown).await.unwrap(), None);
}

/// Of concurrent consumptions of one token, exactly one is `Consumed`; the others are
/// `Rejected`.
pub async fn concurrent_consumes_of_one_token_one_wins(repos: Repos) {
    let alice = add_user(&repos, "alice").await;
    let record = add_token(&repos, alice.id, new_family(), 3600).await;
    let barrier = Arc::new(Barrier::new(RACERS));
    let tasks: Vec<_> = (0..RACERS)
        .map(|_| {
            let (accounts, barrier, hash) = (Arc::clone(&repos.accounts), Arc::clone(&barrier), record.hash);
            tokio::spawn(async move {
                barrier.wait().await;
                accounts.consume_refresh_token(&hash, at(60)).await
            })
        })
        .collect();
    let mut consumed = 0;
    for task in tasks {
        match task.await.expect("racing task").expect("consume under contention") {
            ConsumeOutcome::Consumed(_) => consumed += 1,
            ConsumeOutcome::Rejected(r) => assert_eq!(r.used_at.map(micros), Some(at(60))),
            ConsumeOutcome::Unknown => panic!("the token vanished"),
        }
    }
    assert_eq!(consumed, 1, "exactly one consumption wins");
}

// ---------------------------------------------------------------------------------------
// Media: insert, find, conflicts
// ---------------------------------------------------------------------------------------

/// Every field survives insert → find and mark_uploaded → find (sizes beyond 32 bits too).
pub async fn insert_then_find_round_trips_every_field(repos: Repos) {
    let alice = add_user(&repos, "alice").await;
    let mut parts = media(alice.id, "$/docs/2024", "report.final.txt").parts().clone();
    parts.metadata.insert("origin".into(), "scanner".into());
    parts.metadata.insert("pages".into(), 3.into());
    parts.envelope = Envelope::new(drip_core::content::ALGORITHM, 4096, "master-2", (0..=59).collect())
        .expect("fixture envelope");
    parts.content_type = ContentType::parse("text/plain; charset=utf-8").expect("fixture content type");
    parts.updated_at = at(2);
    let pending = Media::from_parts(parts);
    repos.media.insert(&pending, held()).await.expect("insert");
    let found = repos.media.find(&pending.id()).await.unwrap().expect("find a pending media");
    assert_same_media(&found, &pending);
    assert_eq!(found.uploaded_at(), None);

    let big = 5 * 1024 * 1024 * 1024 + 7;
    let stored = upload(&repos, &pending, big).await;
    assert_eq!(stored.uploaded(), Some(content(big)));
    assert_eq!(stored.size(), big);
    let found = repos.media.find(&pending.id()).await.unwrap().expect("find an uploaded media");
    assert_same_media(&found, &stored);
    let visible =
        repos.media.find_visible(&alice.id, &pending.id()).await.unwrap().expect("visible to its creator");
    assert_same_media(&visible, &stored);
    // Everything but the upload is as inserted.
    assert_same_media(
        &Media::from_parts(MediaParts { uploaded: None, updated_at: at(2), ..stored.parts().clone() }),
        &pending,
    );
}

/// `UnknownCreator` when the creator is not a user.
pub async fn insert_with_unknown_creator_fails(repos: Repos) {
    let orphan = media(new_user_id(), "$", "a.txt");
    let result = repos.media.insert(&orphan, held()).await;
    assert!(matches!(result, Err(InsertMediaError::UnknownCreator)), "{result:?}");
    assert!(repos.media.find(&orphan.id()).await.unwrap().is_none());
}

/// `AlreadyExists` for the creator's own media at the same folder and name, uploaded or
/// not; another folder, another name (case matters) or another creator is fine.
pub async fn insert_conflicts_with_own_media_in_any_state(repos: Repos) {
    let alice = add_user(&repos, "alice").await;
    let bob = add_user(&repos, "bob").await;
    let first = add_pending(&repos, alice.id, "$/docs", "a.txt").await;

    let again = media(alice.id, "$/docs", "a.txt");
    let result = repos.media.insert(&again, held()).await;
    assert!(matches!(result, Err(InsertMediaError::AlreadyExists)), "while uploading: {result:?}");
    upload(&repos, &first, 3).await;
    let result = repos.media.insert(&again, held()).await;
    assert!(matches!(result, Err(InsertMediaError::AlreadyExists)), "once uploaded: {result:?}");
    assert!(repos.media.find(&again.id()).await.unwrap().is_none(), "the loser is not stored");

    add_pending(&repos, alice.id, "$", "a.txt").await;
    add_pending(&repos, alice.id, "$/docs/a.txt", "a.txt").await;
    add_pending(&repos, alice.id, "$/docs", "A.txt").await;
    add_pending(&repos, alice.id, "$/docs", "a.txt ").await;
    add_pending(&repos, bob.id, "$/docs", "a.txt").await;
}

/// `AlreadyExists` when an uploaded media shared with the creator sits at the same folder
/// and name; not when that media is still uploading, nor once the share is gone.
pub async fn shared_media_never_claim_the_sharees_names(repos: Repos) {
    let alice = add_user(&repos, "alice").await;
    let bob = add_user(&repos, "bob").await;
    // Alice pre-shares files at paths of bob's: his uploads there still go in.
    let report = add_file(&repos, alice.id, "$/x", "report.pdf", 10).await;
    share(&repos, &report, &bob).await;
    let draft = add_pending(&repos, alice.id, "$/x", "draft.txt").await;
    share(&repos, &draft, &bob).await;
    let own = add_pending(&repos, bob.id, "$/x", "report.pdf").await;
    add_pending(&repos, bob.id, "$/x", "draft.txt").await;
    let own = upload(&repos, &own, 3).await;
    // Bob sees both files of that name; he can move his away and back.
    let names: Vec<(UserId, String)> =
        list(&repos, &bob, "$/x").await.files.iter().map(|m| (m.creator(), m.name().to_string())).collect();
    assert!(
        names.contains(&(alice.id, "report.pdf".into())) && names.contains(&(bob.id, "report.pdf".into()))
    );
    repos.media.relocate(&own.id(), &path("$/y"), &name("report.pdf"), at(40)).await.expect("away");
    repos.media.relocate(&own.id(), &path("$/x"), &name("report.pdf"), at(41)).await.expect("and back");
    // His own names still conflict with each other.
    let again = repos.media.insert(&media(bob.id, "$/x", "report.pdf"), held()).await;
    assert!(matches!(again, Err(InsertMediaError::AlreadyExists)), "{again:?}");
}

/// Of concurrent inserts of one creator, folder and name, exactly one wins.
pub async fn concurrent_duplicate_inserts_one_wins(repos: Repos) {
    let alice = add_user(&repos, "alice").await;
    let barrier = Arc::new(Barrier::new(RACERS));
    let candidates: Vec<Media> = (0..RACERS).map(|_| media(alice.id, "$/race", "same.txt")).collect();
    let tasks: Vec<_> = candidates
        .iter()
        .map(|candidate| {
            let (repo, barrier, candidate) =
                (Arc::clone(&repos.media), Arc::clone(&barrier), candidate.clone());
            tokio::spawn(async move {
                barrier.wait().await;
                repo.insert(&candidate, held()).await
            })
        })
        .collect();
    let mut winners = Vec::new();
    for (task, candidate) in tasks.into_iter().zip(&candidates) {
        match task.await.expect("racing task") {
            Ok(()) => winners.push(candidate.id()),
            Err(InsertMediaError::AlreadyExists) => {}
            Err(e) => panic!("a racing insert failed with {e:?}"),
        }
    }
    assert_eq!(winners.len(), 1, "exactly one insert wins");
    for candidate in &candidates {
        let stored = repos.media.find(&candidate.id()).await.unwrap().is_some();
        assert_eq!(stored, winners.contains(&candidate.id()), "only the winner is stored");
    }
}

/// Unknown ids: `find`/`find_visible`/`mark_uploaded`/`delete` answer `None`, `relocate`
/// `NotFound`, `update_envelope` `false`, `add_share` `MediaNotFound`, `remove_share`
/// `false`, `list_shares` nothing.
pub async fn unknown_media_ids_are_none_or_not_found(repos: Repos) {
    let alice = add_user(&repos, "alice").await;
    add_file(&repos, alice.id, "$", "known.txt", 1).await;
    let unknown = new_media_id();
    assert!(repos.media.find(&unknown).await.unwrap().is_none());
    assert!(repos.media.find_visible(&alice.id, &unknown).await.unwrap().is_none());
    assert!(repos.media.mark_uploaded(&unknown, content(1)).await.unwrap().is_none());
    let result = repos.media.relocate(&unknown, &path("$"), &name("x"), at(40)).await;
    assert!(matches!(result, Err(RelocateError::NotFound)), "{result:?}");
    assert!(!repos.media.update_envelope(&unknown, &envelope("k2", 2), at(40)).await.unwrap());
    assert!(repos.media.delete(&unknown, &object_deletion(unknown)).await.unwrap().is_none());
    assert!(repos.jobs.list(None, 10).await.unwrap().is_empty(), "deleting nothing enqueues nothing");
    let result = repos.media.add_share(&unknown, &alice.id, at(40)).await;
    assert!(matches!(result, Err(AddShareError::MediaNotFound)), "{result:?}");
    assert!(!repos.media.remove_share(&unknown, &alice.id).await.unwrap());
    assert!(repos.media.list_shares(&unknown).await.unwrap().is_empty());
}

// ---------------------------------------------------------------------------------------
// Visibility and shares
// ---------------------------------------------------------------------------------------

/// A media still uploading is found by `find` only: no other query shows it, to its
/// creator or sharees, and it counts in no usage — until it is marked uploaded.
pub async fn media_are_invisible_until_uploaded(repos: Repos) {
    let alice = add_user(&repos, "alice").await;
    let bob = add_user(&repos, "bob").await;
    let pending = add_pending(&repos, alice.id, "$/a", "p.txt").await;
    share(&repos, &pending, &bob).await;

    assert!(repos.media.find(&pending.id()).await.unwrap().is_some());
    for user in [&alice, &bob] {
        assert!(!visible_to(&repos, user, &pending).await, "find_visible");
        let root = list(&repos, user, "$").await;
        assert!(root.files.is_empty() && root.folders.is_empty(), "root listing: {root:?}");
        assert!(files_in(&repos, user, "$/a").await.is_empty(), "folder listing");
        assert!(all_visible_pages(&repos, user, None, 10).await.is_empty(), "list_visible");
    }
    assert_eq!(repos.media.usage(&alice.id).await.unwrap(), Usage::default());
    let top = repos.media.top_users(UsageSort::MediaCount, SortOrder::Desc, 10).await.unwrap();
    assert!(top.iter().all(|row| row.usage == Usage::default()), "{top:?}");

    upload(&repos, &pending, 7).await;
    for user in [&alice, &bob] {
        assert!(visible_to(&repos, user, &pending).await);
        assert_eq!(list(&repos, user, "$").await.folders, vec![folder("a", 1, 7)]);
        assert_eq!(files_in(&repos, user, "$/a").await, vec![pending.id()]);
        assert_eq!(all_visible_pages(&repos, user, None, 10).await, vec![pending.id()]);
    }
    assert_eq!(repos.media.usage(&alice.id).await.unwrap(), Usage { media_count: 1, disk_usage: 7 });
}

/// A user sees what they created and what is shared with them, in every query, and stops
/// seeing it when the share is removed.
pub async fn visibility_follows_shares(repos: Repos) {
    let alice = add_user(&repos, "alice").await;
    let bob = add_user(&repos, "bob").await;
    let carol = add_user(&repos, "carol").await;
    let file = add_file(&repos, alice.id, "$/s", "f.txt", 9).await;
    let sees_everywhere = |user: Owner| {
        let (repos, file) = (&repos, &file);
        async move {
            let found = visible_to(repos, &user, file).await;
            let listed = files_in(repos, &user, "$/s").await == vec![file.id()];
            let folders = list(repos, &user, "$").await.folders == vec![folder("s", 1, 9)];
            let all = all_visible_pages(repos, &user, None, 10).await == vec![file.id()];
            assert_eq!([found, listed, folders, all], [found; 4], "queries disagree for {}", user.username);
            found
        }
    };
    assert!(sees_everywhere(alice.clone()).await, "the creator sees it");
    assert!(!sees_everywhere(bob.clone()).await, "bob does not see it before the share");

    share(&repos, &file, &bob).await;
    assert!(sees_everywhere(bob.clone()).await, "bob sees it once shared");
    assert!(!sees_everywhere(carol.clone()).await, "carol never sees it");

    assert!(repos.media.remove_share(&file.id(), &bob.id).await.unwrap());
    assert!(!sees_everywhere(bob.clone()).await, "bob no longer sees it");
    assert!(!repos.media.remove_share(&file.id(), &bob.id).await.unwrap(), "no share left to remove");
    assert!(sees_everywhere(alice).await);
}

/// `add_share`: `MediaNotFound`, `UserNotFound`, `AlreadyShared` (twice, or with the
/// creator); a share answers the sharee and its time.
pub async fn add_share_errors(repos: Repos) {
    let alice = add_user(&repos, "alice").await;
    let bob = add_user(&repos, "bob").await;
    let file = add_file(&repos, alice.id, "$", "f.txt", 1).await;

    let result = repos.media.add_share(&new_media_id(), &bob.id, at(30)).await;
    assert!(matches!(result, Err(AddShareError::MediaNotFound)), "unknown media: {result:?}");
    let result = repos.media.add_share(&file.id(), &new_user_id(), at(30)).await;
    assert!(matches!(result, Err(AddShareError::UserNotFound)), "unknown user: {result:?}");
    let result = repos.media.add_share(&file.id(), &alice.id, at(30)).await;
    assert!(matches!(result, Err(AddShareError::AlreadyShared)), "with the creator: {result:?}");

    let shared = repos.media.add_share(&file.id(), &bob.id, at(30)).await.expect("sharing with bob");
    assert_eq!((shared.media_id, &shared.sharee, micros(shared.created_at)), (file.id(), &bob, at(30)));
    let result = repos.media.add_share(&file.id(), &bob.id, at(31)).await;
    assert!(matches!(result, Err(AddShareError::AlreadyShared)), "twice: {result:?}");
    let shares = repos.media.list_shares(&file.id()).await.unwrap();
    assert_eq!(shares.len(), 1);
    assert_eq!(micros(shares[0].created_at), at(30), "the first share is kept");
}

/// Of concurrent identical shares, exactly one wins.
pub async fn concurrent_duplicate_shares_one_wins(repos: Repos) {
    let alice = add_user(&repos, "alice").await;
    let bob = add_user(&repos, "bob").await;
    let file = add_file(&repos, alice.id, "$", "f.txt", 1).await;
    let barrier = Arc::new(Barrier::new(RACERS));
    let tasks: Vec<_> = (0..RACERS)
        .map(|_| {
            let (repo, barrier, id, bob) =
                (Arc::clone(&repos.media), Arc::clone(&barrier), file.id(), bob.id);
            tokio::spawn(async move {
                barrier.wait().await;
                repo.add_share(&id, &bob, at(30)).await
            })
        })
        .collect();
    let mut won = 0;
    for task in tasks {
        match task.await.expect("racing task") {
            Ok(_) => won += 1,
            Err(AddShareError::AlreadyShared) => {}
            Err(e) => panic!("a racing share failed with {e:?}"),
        }
    }
    assert_eq!(won, 1, "exactly one share wins");
    assert_eq!(repos.media.list_shares(&file.id()).await.unwrap().len(), 1);
}

/// `list_shares` lists the sharees of one media (never its creator), by username.
pub async fn list_shares_orders_by_username_without_the_creator(repos: Repos) {
    let owner = add_user(&repos, "owner").await;
    let carol = add_user(&repos, "carol").await;
    let alice = add_user(&repos, "alice").await;
    let bob = add_user(&repos, "bob").await;
    let file = add_file(&repos, owner.id, "$", "f.txt", 1).await;
    let other = add_file(&repos, owner.id, "$", "g.txt", 1).await;
    assert!(repos.media.list_shares(&file.id()).await.unwrap().is_empty());
    for (user, secs) in [(&carol, 31), (&alice, 32), (&bob, 33)] {
        repos.media.add_share(&file.id(), &user.id, at(secs)).await.expect("share");
    }
    repos.media.add_share(&other.id(), &carol.id, at(34)).await.expect("share");

    let shares = repos.media.list_shares(&file.id()).await.unwrap();
    let rows: Vec<_> = shares.iter().map(|s| (s.media_id, s.sharee.clone(), micros(s.created_at))).collect();
    assert_eq!(rows, vec![(file.id(), alice, at(32)), (file.id(), bob, at(33)), (file.id(), carol, at(31))]);
}

/// `share_partners` answers whom a user shares with and who shares with them, each once,
/// by their latest share between the two, then username; never the user; at most `limit`.
pub async fn share_partners_go_both_ways_latest_first(repos: Repos) {
    let alice = add_user(&repos, "alice").await;
    let bob = add_user(&repos, "bob").await;
    let carol = add_user(&repos, "carol").await;
    let dave = add_user(&repos, "dave").await;
    let erin = add_user(&repos, "erin").await;
    let stranger = add_user(&repos, "stranger").await;
    assert!(repos.media.share_partners(&alice.id, 10).await.unwrap().is_empty());
    let first = add_file(&repos, alice.id, "$", "a.txt", 1).await;
    let second = add_file(&repos, alice.id, "$/deep", "b.txt", 1).await;
    let from_dave = add_file(&repos, dave.id, "$", "d.txt", 1).await;
    let between_others = add_file(&repos, stranger.id, "$", "s.txt", 1).await;
    repos.media.add_share(&first.id(), &carol.id, at(40)).await.expect("share");
    repos.media.add_share(&first.id(), &bob.id, at(41)).await.expect("share");
    repos.media.add_share(&second.id(), &carol.id, at(43)).await.expect("share");
    repos.media.add_share(&from_dave.id(), &alice.id, at(42)).await.expect("share");
    repos.media.add_share(&from_dave.id(), &erin.id, at(44)).await.expect("share");
    repos.media.add_share(&between_others.id(), &bob.id, at(45)).await.expect("share");
    // Two shares at one time: the usernames decide.
    let third = add_file(&repos, alice.id, "$", "c.txt", 1).await;
    repos.media.add_share(&third.id(), &erin.id, at(41)).await.expect("share");

    let names = |owners: Vec<Owner>| owners.into_iter().map(|o| o.username.to_string()).collect::<Vec<_>>();
    assert_eq!(
        names(repos.media.share_partners(&alice.id, 10).await.unwrap()),
        ["carol", "dave", "bob", "erin"]
    );
    assert_eq!(names(repos.media.share_partners(&alice.id, 2).await.unwrap()), ["carol", "dave"]);
    assert_eq!(names(repos.media.share_partners(&dave.id, 10).await.unwrap()), ["erin", "alice"]);
    assert_eq!(names(repos.media.share_partners(&bob.id, 10).await.unwrap()), ["stranger", "alice"]);
    assert_eq!(
        repos.media.share_partners(&carol.id, 10).await.unwrap(),
        vec![alice.clone()],
        "each partner once, with every field"
    );
    assert!(repos.media.share_partners(&new_user_id(), 10).await.unwrap().is_empty(), "unknown user");

    // A withdrawn share is no tie any more.
    assert!(repos.media.remove_share(&first.id(), &bob.id).await.unwrap());
    assert_eq!(names(repos.media.share_partners(&bob.id, 10).await.unwrap()), ["stranger"]);
}

/// `remove_share` of the creator answers `false` and the creator keeps the media.
pub async fn remove_share_never_removes_the_creator(repos: Repos) {
    let alice = add_user(&repos, "alice").await;
    let bob = add_user(&repos, "bob").await;
    let file = add_file(&repos, alice.id, "$", "f.txt", 1).await;
    share(&repos, &file, &bob).await;
    assert!(!repos.media.remove_share(&file.id(), &alice.id).await.unwrap());
    assert!(visible_to(&repos, &alice, &file).await);
    assert_eq!(files_in(&repos, &alice, "$").await, vec![file.id()]);
    assert!(!repos.media.remove_share(&file.id(), &new_user_id()).await.unwrap(), "unknown user");
    assert!(visible_to(&repos, &bob, &file).await, "other shares are untouched");
}

/// `delete` answers the media and removes its shares; the name is free again.
pub async fn delete_cascades_to_shares(repos: Repos) {
    let alice = add_user(&repos, "alice").await;
    let bob = add_user(&repos, "bob").await;
    let carol = add_user(&repos, "carol").await;
    let file = add_file(&repos, alice.id, "$/d", "f.txt", 5).await;
    let kept = add_file(&repos, alice.id, "$/d", "kept.txt", 6).await;
    share(&repos, &file, &bob).await;
    share(&repos, &file, &carol).await;
    share(&repos, &kept, &bob).await;

    let removal = object_deletion(file.id());
    let deleted =
        repos.media.delete(&file.id(), &removal).await.unwrap().expect("deleting an existing media");
    assert_same_media(&deleted, &file);
    assert!(repos.media.find(&file.id()).await.unwrap().is_none());
    let again = object_deletion(file.id());
    assert!(repos.media.delete(&file.id(), &again).await.unwrap().is_none(), "deleting twice");
    let queued = repos.jobs.list(None, 10).await.unwrap();
    let queued: Vec<_> = queued.iter().map(|job| (job.id, &job.task, job.state)).collect();
    assert_eq!(queued, [(removal.id, &removal.task, JobState::Queued)], "the delete enqueued its job, once");
    assert!(repos.media.list_shares(&file.id()).await.unwrap().is_empty(), "shares are gone");
    for user in [&alice, &bob, &carol] {
        assert!(!visible_to(&repos, user, &file).await);
    }
    assert_eq!(files_in(&repos, &bob, "$/d").await, vec![kept.id()], "other shares stay");
    let result = repos.media.add_share(&file.id(), &carol.id, at(40)).await;
    assert!(matches!(result, Err(AddShareError::MediaNotFound)), "{result:?}");

    add_pending(&repos, bob.id, "$/d", "f.txt").await;
    add_pending(&repos, alice.id, "$/d", "f.txt").await;
    let pending = add_pending(&repos, alice.id, "$/p", "p.txt").await;
    let deleted = repos.media.delete(&pending.id(), &object_deletion(pending.id())).await.unwrap();
    assert!(deleted.is_some(), "deleting a media still uploading");
}

/// A pending upload is abandoned once its lease lapsed (at `lease_until` exactly) or when
/// it has none; an uploaded media never is.
pub async fn pending_uploads_hold_their_name_while_their_lease_runs(repos: Repos) {
    let alice = add_user(&repos, "alice").await;
    let leased = media(alice.id, "$/u", "leased.bin");
    repos.media.insert(&leased, Some(at(100))).await.expect("insert");
    let unleased = media(alice.id, "$/u", "unleased.bin");
    repos.media.insert(&unleased, None).await.expect("insert");
    let done = add_file(&repos, alice.id, "$/u", "done.bin", 3).await;

    let abandoned_at = |name: &'static str, now| {
        let repos = &repos;
        async move { repos.media.abandoned_upload(&alice.id, &path("$/u"), &self::name(name), now).await.unwrap() }
    };
    assert!(abandoned_at("leased.bin", at(99)).await.is_none(), "its lease runs");
    assert_eq!(
        abandoned_at("leased.bin", at(100)).await.map(|m| m.id()),
        Some(leased.id()),
        "lapsed at its end"
    );
    assert_eq!(abandoned_at("unleased.bin", at(0)).await.map(|m| m.id()), Some(unleased.id()), "no lease");
    assert!(abandoned_at("done.bin", at(10_000)).await.is_none(), "uploaded");
    assert!(abandoned_at("other.bin", at(10_000)).await.is_none());
    let bob = add_user(&repos, "bob").await;
    let by_bob =
        repos.media.abandoned_upload(&bob.id, &path("$/u"), &name("unleased.bin"), at(0)).await.unwrap();
    assert!(by_bob.is_none(), "another creator's name");

    let ids = |found: Vec<Media>| found.iter().map(Media::id).collect::<BTreeSet<_>>();
    assert_eq!(
        ids(repos.media.abandoned_uploads(at(99), 10).await.unwrap()),
        BTreeSet::from([unleased.id()])
    );
    assert_eq!(
        ids(repos.media.abandoned_uploads(at(100), 10).await.unwrap()),
        BTreeSet::from([unleased.id(), leased.id()])
    );
    assert_eq!(repos.media.abandoned_uploads(at(100), 1).await.unwrap().len(), 1, "the limit holds");
    // Abandoned, it still claims its name until reclaimed.
    let result = repos.media.insert(&media(alice.id, "$/u", "leased.bin"), held()).await;
    assert!(matches!(result, Err(InsertMediaError::AlreadyExists)), "{result:?}");
    assert!(repos.media.find(&done.id()).await.unwrap().is_some());
}

/// Renewing extends a pending upload's lease; an uploaded or unknown media has none to
/// renew, and uploading ends the lease.
pub async fn renewing_a_lease_keeps_a_pending_upload(repos: Repos) {
    let alice = add_user(&repos, "alice").await;
    let pending = media(alice.id, "$", "p.bin");
    repos.media.insert(&pending, Some(at(100))).await.expect("insert");
    assert!(repos.media.renew_lease(&pending.id(), at(200)).await.unwrap());
    assert!(repos.media.abandoned_uploads(at(150), 10).await.unwrap().is_empty(), "renewed until 200");
    assert_eq!(repos.media.abandoned_uploads(at(200), 10).await.unwrap().len(), 1);
    assert!(!repos.media.renew_lease(&new_media_id(), at(300)).await.unwrap(), "unknown");
    upload(&repos, &pending, 4).await;
    assert!(!repos.media.renew_lease(&pending.id(), at(300)).await.unwrap(), "uploaded: nothing to renew");
    assert!(repos.media.abandoned_uploads(at(10_000), 10).await.unwrap().is_empty(), "the lease ended");
}

/// `reclaim` removes an abandoned upload and enqueues its job in the same transaction; a
/// live, uploaded or unknown media is left alone and nothing is enqueued. The name is free.
pub async fn reclaim_removes_only_abandoned_uploads_with_their_job(repos: Repos) {
    let alice = add_user(&repos, "alice").await;
    let pending = media(alice.id, "$/r", "r.bin");
    repos.media.insert(&pending, Some(at(100))).await.expect("insert");
    let done = add_file(&repos, alice.id, "$/r", "done.bin", 2).await;

    assert!(
        repos.media.reclaim(&pending.id(), at(99), &object_deletion(pending.id())).await.unwrap().is_none()
    );
    assert!(
        repos.media.reclaim(&done.id(), at(10_000), &object_deletion(done.id())).await.unwrap().is_none()
    );
    let unknown = new_media_id();
    assert!(repos.media.reclaim(&unknown, at(10_000), &object_deletion(unknown)).await.unwrap().is_none());
    assert!(repos.jobs.list(None, 10).await.unwrap().is_empty(), "nothing reclaimed, nothing enqueued");

    let job = object_deletion(pending.id());
    let reclaimed =
        repos.media.reclaim(&pending.id(), at(100), &job).await.unwrap().expect("abandoned at 100");
    assert_eq!(reclaimed.id(), pending.id());
    assert!(repos.media.find(&pending.id()).await.unwrap().is_none());
    let queued: Vec<_> = repos.jobs.list(None, 10).await.unwrap().into_iter().map(|j| j.id).collect();
    assert_eq!(queued, [job.id], "its job, once");
    assert!(
        repos.media.reclaim(&pending.id(), at(200), &object_deletion(pending.id())).await.unwrap().is_none()
    );
    repos.media.insert(&media(alice.id, "$/r", "r.bin"), held()).await.expect("the name is free again");
    assert!(repos.media.find(&done.id()).await.unwrap().is_some());
}

// ---------------------------------------------------------------------------------------
// Relocation
// ---------------------------------------------------------------------------------------

/// `relocate` changes folder and/or name and `updated_at` only, whatever the state; shares
/// follow the media.
pub async fn relocate_moves_and_renames(repos: Repos) {
    let alice = add_user(&repos, "alice").await;
    let bob = add_user(&repos, "bob").await;
    let file = add_file(&repos, alice.id, "$/a", "old.txt", 4).await;
    share(&repos, &file, &bob).await;

    let moved =
        repos.media.relocate(&file.id(), &path("$/b/c"), &name("new.txt"), at(50)).await.expect("relocate");
    let expected = file.clone().relocated(path("$/b/c"), name("new.txt"), at(50));
    assert_same_media(&moved, &expected);
    assert_same_media(&repos.media.find(&file.id()).await.unwrap().expect("find"), &expected);
    for user in [&alice, &bob] {
        assert!(files_in(&repos, user, "$/a").await.is_empty());
        assert_eq!(files_in(&repos, user, "$/b/c").await, vec![file.id()]);
        assert_eq!(list(&repos, user, "$").await.folders, vec![folder("b", 1, 4)]);
    }

    let renamed = repos.media.relocate(&file.id(), &path("$/b/c"), &name("newer.txt"), at(51)).await.unwrap();
    assert_same_media(&renamed, &expected.clone().relocated(path("$/b/c"), name("newer.txt"), at(51)));
    let moved = repos.media.relocate(&file.id(), &path("$"), &name("newer.txt"), at(52)).await.unwrap();
    assert_same_media(&moved, &expected.relocated(path("$"), name("newer.txt"), at(52)));

    let pending = add_pending(&repos, alice.id, "$/up", "loading.bin").await;
    let moved =
        repos.media.relocate(&pending.id(), &path("$/elsewhere"), &name("x.bin"), at(53)).await.unwrap();
    assert_same_media(&moved, &pending.clone().relocated(path("$/elsewhere"), name("x.bin"), at(53)));
    assert!(!visible_to(&repos, &alice, &pending).await, "still invisible after relocation");
}

/// `AlreadyExists` when the creator has a media at the target (their own in any state, or
/// the media itself); the media is then unchanged. Media shared with them never block.
pub async fn relocate_conflicts(repos: Repos) {
    let alice = add_user(&repos, "alice").await;
    let bob = add_user(&repos, "bob").await;
    let file = add_file(&repos, alice.id, "$/f", "a.txt", 1).await;
    add_file(&repos, alice.id, "$/f", "b.txt", 1).await;
    add_pending(&repos, alice.id, "$/g", "a.txt").await;
    let shared = add_file(&repos, bob.id, "$/h", "s.txt", 1).await;
    share(&repos, &shared, &alice).await;
    let shared_pending = add_pending(&repos, bob.id, "$/h", "u.txt").await;
    share(&repos, &shared_pending, &alice).await;
    add_file(&repos, bob.id, "$/h", "t.txt", 1).await;

    for (folder, file_name, why) in [
        ("$/f", "a.txt", "onto itself"),
        ("$/f", "b.txt", "onto an own uploaded media"),
        ("$/g", "a.txt", "onto an own media still uploading"),
    ] {
        let result = repos.media.relocate(&file.id(), &path(folder), &name(file_name), at(60)).await;
        assert!(matches!(result, Err(RelocateError::AlreadyExists)), "{why}: {result:?}");
        let unchanged = repos.media.find(&file.id()).await.unwrap().expect("find");
        assert_same_media(&unchanged, &file);
    }
    repos
        .media
        .relocate(&file.id(), &path("$/h"), &name("u.txt"), at(61))
        .await
        .expect("onto a shared pending");
    repos
        .media
        .relocate(&file.id(), &path("$/h"), &name("s.txt"), at(61))
        .await
        .expect("onto an uploaded media shared with the creator");
    repos
        .media
        .relocate(&file.id(), &path("$/h"), &name("t.txt"), at(62))
        .await
        .expect("onto an unshared media");
}

// ---------------------------------------------------------------------------------------
// Folder listings
// ---------------------------------------------------------------------------------------

/// An empty root, an unknown folder, and a "folder" that is really a file name all list
/// as empty.
pub async fn list_folder_of_empty_or_unknown_folder_is_empty(repos: Repos) {
    let alice = add_user(&repos, "alice").await;
    let bob = add_user(&repos, "bob").await;
    for folder in ["$", "$/nothing"] {
        let listing = list(&repos, &alice, folder).await;
        assert!(listing.files.is_empty() && listing.folders.is_empty() && listing.next.is_none(), "{folder}");
    }
    add_file(&repos, alice.id, "$/a", "x", 1).await;
    for folder in ["$/zzz", "$/a/x", "$/a/x/y", "$/A"] {
        let listing = list(&repos, &alice, folder).await;
        assert!(listing.files.is_empty() && listing.folders.is_empty() && listing.next.is_none(), "{folder}");
    }
    let listing = list(&repos, &bob, "$").await;
    assert!(listing.files.is_empty() && listing.folders.is_empty(), "another user's root: {listing:?}");
    let listing = list(&repos, &unknown_owner(), "$/a").await;
    assert!(listing.files.is_empty() && listing.folders.is_empty(), "an unknown user: {listing:?}");
}

/// Files directly in the folder, and each immediate subfolder with the count and size of
/// every visible uploaded file anywhere below it.
pub async fn list_folder_lists_files_and_immediate_subfolders_with_recursive_totals(repos: Repos) {
    let alice = add_user(&repos, "alice").await;
    let bob = add_user(&repos, "bob").await;
    let a = add_file(&repos, alice.id, "$", "a.txt", 1).await;
    let b = add_file(&repos, alice.id, "$", "b.txt", 2).await;
    let x = add_file(&repos, alice.id, "$/docs", "x", 10).await;
    add_file(&repos, alice.id, "$/docs/2024", "y", 20).await;
    add_file(&repos, alice.id, "$/docs/2024", "z", 30).await;
    let w = add_file(&repos, alice.id, "$/docs/2024/deep", "w", 40).await;
    add_file(&repos, alice.id, "$/music", "m", 5).await;
    add_pending(&repos, alice.id, "$/docs/2024", "pending").await;
    add_pending(&repos, alice.id, "$/pending-only/sub", "p").await;
    add_file(&repos, bob.id, "$/docs", "bobs", 1000).await;
    add_file(&repos, bob.id, "$/bobs-folder", "q", 1000).await;

    let root = list(&repos, &alice, "$").await;
    assert_eq!(ids(&root.files), vec![a.id(), b.id()]);
    assert_eq!(root.folders, vec![folder("docs", 4, 100), folder("music", 1, 5)]);
    assert!(root.next.is_none());
    let docs = list(&repos, &alice, "$/docs").await;
    assert_eq!(ids(&docs.files), vec![x.id()]);
    assert_eq!(docs.folders, vec![folder("2024", 3, 90)], "only immediate subfolders");
    let deep = list(&repos, &alice, "$/docs/2024/deep").await;
    assert_eq!((ids(&deep.files), deep.folders), (vec![w.id()], vec![]));
    let pending = list(&repos, &alice, "$/pending-only").await;
    assert!(pending.files.is_empty() && pending.folders.is_empty(), "{pending:?}");
}

/// `$/a` holds `$/a/...` but never `$/ab`, `$/a b` or `$/a.b`.
pub async fn list_folder_prefixes_match_whole_segments(repos: Repos) {
    let alice = add_user(&repos, "alice").await;
    let in_a = add_file(&repos, alice.id, "$/a", "f1", 1).await;
    let in_ab = add_file(&repos, alice.id, "$/ab", "f2", 2).await;
    add_file(&repos, alice.id, "$/a/b", "f3", 4).await;
    add_file(&repos, alice.id, "$/a b", "f4", 8).await;
    add_file(&repos, alice.id, "$/a.b", "f5", 16).await;
    add_file(&repos, alice.id, "$/abc/d", "f6", 32).await;
    add_file(&repos, alice.id, "$/a/bc", "f7", 64).await;

    let a = list(&repos, &alice, "$/a").await;
    assert_eq!(ids(&a.files), vec![in_a.id()]);
    assert_eq!(a.folders, vec![folder("b", 1, 4), folder("bc", 1, 64)]);
    let ab = list(&repos, &alice, "$/ab").await;
    assert_eq!((ids(&ab.files), ab.folders), (vec![in_ab.id()], vec![]));
    let b = list(&repos, &alice, "$/a/b").await;
    assert_eq!(b.folders, vec![], "$/a/b does not hold $/a/bc");
    assert_eq!(
        list(&repos, &alice, "$").await.folders,
        vec![
            folder("a", 3, 69),
            folder("a b", 1, 8),
            folder("a.b", 1, 16),
            folder("ab", 1, 2),
            folder("abc", 1, 32)
        ]
    );
}

/// `%`, `_` and `\` in folder and file names are plain characters, never wildcards or
/// escapes.
pub async fn list_folder_treats_percent_underscore_and_backslash_literally(repos: Repos) {
    let alice = add_user(&repos, "alice").await;
    let p = add_file(&repos, alice.id, "$/100%", "50%_off.txt", 1).await;
    add_file(&repos, alice.id, "$/100%/x", "r.txt", 2).await;
    add_file(&repos, alice.id, "$/1000", "q.txt", 4).await;
    add_file(&repos, alice.id, "$/1000/x", "q2.txt", 8).await;
    let s = add_file(&repos, alice.id, "$/a_c", "s.txt", 16).await;
    add_file(&repos, alice.id, "$/a_c/x/deeper", "v.txt", 32).await;
    add_file(&repos, alice.id, "$/abc", "t.txt", 64).await;
    add_file(&repos, alice.id, "$/abc/y", "u.txt", 128).await;
    let pct = add_file(&repos, alice.id, "$/%", "w.txt", 256).await;
    let under = add_file(&repos, alice.id, "$/_", "z.txt", 512).await;
    let esc = add_file(&repos, alice.id, "$/x\\%", "e1", 1024).await;
    add_file(&repos, alice.id, "$/x\\yz", "e2", 2048).await;
    add_file(&repos, alice.id, "$/x\\%/sub", "e3", 4096).await;
    add_file(&repos, alice.id, "$/x\\\\%", "e4", 8192).await;

    let listing = list(&repos, &alice, "$/100%").await;
    assert_eq!((ids(&listing.files), listing.folders), (vec![p.id()], vec![folder("x", 1, 2)]));
    let listing = list(&repos, &alice, "$/a_c").await;
    assert_eq!((ids(&listing.files), listing.folders), (vec![s.id()], vec![folder("x", 1, 32)]));
    let listing = list(&repos, &alice, "$/%").await;
    assert_eq!((ids(&listing.files), listing.folders), (vec![pct.id()], vec![]));
    let listing = list(&repos, &alice, "$/_").await;
    assert_eq!((ids(&listing.files), listing.folders), (vec![under.id()], vec![]));
    let listing = list(&repos, &alice, "$/x\\%").await;
    assert_eq!((ids(&listing.files), listing.folders), (vec![esc.id()], vec![folder("sub", 1, 4096)]));
    assert!(list(&repos, &alice, "$/1%").await.files.is_empty(), "no wildcard match");
    assert!(list(&repos, &alice, "$/a%").await.folders.is_empty(), "no wildcard match");
    assert!(list(&repos, &alice, "$/_bc").await.files.is_empty(), "no wildcard match");

    let root = list(&repos, &alice, "$").await;
    let names: Vec<_> = root.folders.iter().map(|f| (f.name.as_str().to_owned(), f.file_count)).collect();
    let mut expected = vec![
        ("%".to_owned(), 1),
        ("100%".to_owned(), 2),
        ("1000".to_owned(), 2),
        ("_".to_owned(), 1),
        ("a_c".to_owned(), 2),
        ("abc".to_owned(), 2),
        ("x\\%".to_owned(), 2),
        ("x\\\\%".to_owned(), 1),
        ("x\\yz".to_owned(), 1),
    ];
    expected.sort();
    assert_eq!(names, expected);
    let under_a_c = all_visible_pages(&repos, &alice, Some("$/a_c"), 100).await;
    assert_eq!(under_a_c.len(), 2, "list_visible under $/a_c: {under_a_c:?}");
    let under_pct = all_visible_pages(&repos, &alice, Some("$/100%"), 100).await;
    assert_eq!(under_pct.len(), 2, "list_visible under $/100%: {under_pct:?}");
}

/// Unicode, spaces and emoji in folder and file names list and sort like any other.
pub async fn list_folder_handles_unicode_and_spaces(repos: Repos) {
    let alice = add_user(&repos, "alice").await;
    let folder_path = "$/my docs/Ärger";
    let mut files = Vec::new();
    for file in
        ["ünï cødé.txt", "日本語.txt", " leading space", "trailing space ", "emoji 🎉.png", "Zebra", "zebra"]
    {
        files.push(add_file(&repos, alice.id, folder_path, file, 3).await);
    }
    add_file(&repos, alice.id, "$/my docs/Ärger/sous-dossier é", "x", 5).await;
    add_file(&repos, alice.id, "$/my docs/Ärger/ﬁ ligature", "y", 7).await;

    let listing = list(&repos, &alice, folder_path).await;
    assert_eq!(ids(&listing.files), in_listing_order(&files.iter().collect::<Vec<_>>()));
    assert_eq!(listing.folders, vec![folder("sous-dossier é", 1, 5), folder("ﬁ ligature", 1, 7)]);
    assert_eq!(list(&repos, &alice, "$/my docs").await.folders, vec![folder("Ärger", 9, 33)]);
    assert_eq!(list(&repos, &alice, "$").await.folders, vec![folder("my docs", 9, 33)]);
    assert!(list(&repos, &alice, "$/my docs/ärger").await.files.is_empty(), "folders are case-sensitive");
    let found = repos.media.find(&files[1].id()).await.unwrap().expect("find");
    assert_eq!(found.name().as_str(), "日本語.txt");
}

/// Paths 64 segments deep and paths near 1024 bytes with 255-byte names.
pub async fn list_folder_handles_deep_and_long_paths(repos: Repos) {
    let alice = add_user(&repos, "alice").await;
    let segments: Vec<String> =
        (1..=drip_core::storage::model::MAX_PATH_DEPTH).map(|i| format!("l{i:02}")).collect();
    let deepest = format!("$/{}", segments.join("/"));
    let deep = add_file(&repos, alice.id, &deepest, "bottom.txt", 11).await;
    assert_eq!(list(&repos, &alice, "$").await.folders, vec![folder("l01", 1, 11)]);
    let above = format!("$/{}", segments[..segments.len() - 1].join("/"));
    let listing = list(&repos, &alice, &above).await;
    assert_eq!(
        (listing.files.len(), listing.folders),
        (0, vec![folder(&segments[segments.len() - 1], 1, 11)])
    );
    assert_eq!(files_in(&repos, &alice, &deepest).await, vec![deep.id()]);

    let long_segment = "x".repeat(250);
    let long_path = format!("$/{}", [long_segment.as_str(); 4].join("/"));
    assert!(long_path.len() > 1000 && long_path.len() <= drip_core::storage::model::MAX_PATH_BYTES);
    let long_name = "n".repeat(drip_core::storage::model::MAX_NAME_BYTES);
    let long = add_file(&repos, alice.id, &long_path, &long_name, 13).await;
    assert_eq!(files_in(&repos, &alice, &long_path).await, vec![long.id()]);
    let found = repos.media.find(&long.id()).await.unwrap().expect("find");
    assert_same_media(&found, &long);
    let root: Vec<_> = list(&repos, &alice, "$").await.folders.into_iter().map(|f| f.name).collect();
    assert_eq!(root, vec![name("l01"), name(&long_segment)]);
    let under = all_visible_pages(&repos, &alice, Some(&format!("$/{long_segment}")), 10).await;
    assert_eq!(under, vec![long.id()]);
}

/// `list_folder` in another order: by size or upload time (ties by name, then id), either
/// way, in complete pages of any size whose cursors keep the order; subfolders as ever.
pub async fn list_folder_orders_by_size_and_upload_time_either_way(repos: Repos) {
    let alice = add_user(&repos, "alice").await;
    let late = at(3) + chrono::Duration::microseconds(250_000);
    let mut by_name = std::collections::HashMap::new();
    for (name, size, uploaded_at) in
        [("a", 5, late), ("b0", 1, at(1)), ("c", 5, at(2)), ("d", 3, late), ("e", 1, at(4)), ("f", 9, at(1))]
    {
        let pending = add_pending(&repos, alice.id, "$/p", name).await;
        let done = repos
            .media
            .mark_uploaded(&pending.id(), UploadedContent { uploaded_at, ..content(size) })
            .await
            .expect("marking uploaded")
            .expect("the media exists");
        by_name.insert(&name[..1], done.id());
    }
    add_file(&repos, alice.id, "$/p/sub", "inner", 2).await;
    // Renaming changes no upload time.
    let b = by_name["b"];
    repos
        .media
        .relocate(&b, &path("$/p"), &FileName::parse("b").unwrap(), at(9))
        .await
        .expect("rename b0 to b");

    let cases = [
        (FileOrder::Size, SortOrder::Asc, "bedacf"),
        (FileOrder::Size, SortOrder::Desc, "fcadeb"),
        (FileOrder::Modified, SortOrder::Asc, "bfcade"),
        (FileOrder::Modified, SortOrder::Desc, "edacfb"),
        (FileOrder::Name, SortOrder::Desc, "fedcba"),
        (FileOrder::Name, SortOrder::Asc, "abcdef"),
    ];
    for (by, direction, names) in cases {
        let expected: Vec<MediaId> = names.chars().map(|c| by_name[c.to_string().as_str()]).collect();
        for limit in [1, 2, 5, 6, 1000] {
            let order = ListingOrder { by, direction };
            let (listed, folders) = all_folder_pages_in(&repos, &alice, "$/p", limit, order).await;
            assert_eq!(listed, expected, "{by:?} {direction:?} in pages of {limit}");
            assert_eq!(folders, vec![folder("sub", 1, 2)], "{by:?} {direction:?} in pages of {limit}");
        }
    }
}

/// Keyset pages of files are complete, ordered, without duplicates; folders come on the
/// first page only; `next` is `None` exactly when nothing follows; and continuing from a
/// cursor after the data changed neither repeats nor skips what follows it.
pub async fn list_folder_pages_are_complete_and_stable(repos: Repos) {
    let alice = add_user(&repos, "alice").await;
    let mut files = Vec::new();
    for file in ["n3", "n0", "n6", "n1", "n5", "n2", "n4"] {
        files.push(add_file(&repos, alice.id, "$/p", file, 1).await);
    }
    add_file(&repos, alice.id, "$/p/sub", "inner", 1).await;
    let expected = in_listing_order(&files.iter().collect::<Vec<_>>());

    for limit in [1, 2, 3, 6, 7, 8, 1000] {
        let (listed, folders) = all_folder_pages(&repos, &alice, "$/p", limit).await;
        assert_eq!(listed, expected, "pages of {limit}");
        assert_distinct(&listed);
        assert_eq!(folders, vec![folder("sub", 1, 1)], "pages of {limit}");
    }
    let exact = repos.media.list_folder(&alice.id, &path("$/p"), &PageRequest::first(7)).await.unwrap();
    assert_eq!((exact.files.len(), exact.next), (7, None), "a page that holds the rest has no next");

    let first = repos.media.list_folder(&alice.id, &path("$/p"), &PageRequest::first(3)).await.unwrap();
    assert_eq!(ids(&first.files), expected[..3]);
    let cursor = first.next.expect("more pages");
    assert_eq!((cursor.name.as_str(), cursor.id), ("n2", expected[2]));
    // Meanwhile: a file sorting before the cursor and one after it arrive, the cursor's
    // own file and one on the next page go.
    add_file(&repos, alice.id, "$/p", "a-early", 1).await;
    let late = add_file(&repos, alice.id, "$/p", "z-late", 1).await;
    repos
        .media
        .delete(&expected[2], &object_deletion(expected[2]))
        .await
        .unwrap()
        .expect("delete the cursor's file");
    repos
        .media
        .delete(&expected[4], &object_deletion(expected[4]))
        .await
        .unwrap()
        .expect("delete a later file");
    let mut rest = Vec::new();
    let mut page = PageRequest::after(3, cursor);
    for _ in 0..MAX_PAGES {
        let listing = repos.media.list_folder(&alice.id, &path("$/p"), &page).await.unwrap();
        assert!(listing.folders.is_empty(), "folders on a later page");
        rest.extend(ids(&listing.files));
        match listing.next {
            Some(next) => page = PageRequest::after(3, next),
            None => break,
        }
    }
    assert_eq!(rest, vec![expected[3], expected[5], expected[6], late.id()]);
}

/// Names sort by code point (byte order of UTF-8): `B` before `a`, `Z` before `_`,
/// `10` before `9`, space and `.` before letters.
pub async fn names_sort_by_code_point(repos: Repos) {
    let alice = add_user(&repos, "alice").await;
    let names = ["b.txt", "B.txt", "a.txt", "_x", "Z", "é", "e", "10", "9", "a b", "a.b", "ab", "A"];
    let mut files = Vec::new();
    for file in names {
        files.push(add_file(&repos, alice.id, "$/sorted", file, 1).await);
    }
    let listed: Vec<String> =
        list(&repos, &alice, "$/sorted").await.files.iter().map(|m| m.name().as_str().to_owned()).collect();
    let mut expected: Vec<String> = names.iter().map(|n| (*n).to_owned()).collect();
    expected.sort();
    assert_eq!(listed, expected);
    let expected_ids = in_listing_order(&files.iter().collect::<Vec<_>>());
    assert_eq!(all_folder_pages(&repos, &alice, "$/sorted", 2).await.0, expected_ids);
    assert_eq!(all_visible_pages(&repos, &alice, None, 2).await, expected_ids);
}

/// Media with the same name in the same folder (one's own and shared ones) are ordered by
/// id, and a page boundary between them loses nothing.
pub async fn listings_break_name_ties_by_id(repos: Repos) {
    let alice = add_user(&repos, "alice").await;
    let mut same = vec![add_file(&repos, alice.id, "$/t", "same.txt", 1).await];
    for sharer in ["bob", "carol", "dave"] {
        let owner = add_user(&repos, sharer).await;
        let theirs = add_file(&repos, owner.id, "$/t", "same.txt", 2).await;
        share(&repos, &theirs, &alice).await;
        same.push(theirs);
    }
    let before = add_file(&repos, alice.id, "$/t", "a.txt", 4).await;
    let after = add_file(&repos, alice.id, "$/t", "z.txt", 8).await;
    let mut tied: Vec<MediaId> = same.iter().map(Media::id).collect();
    tied.sort();
    let expected: Vec<MediaId> = std::iter::once(before.id()).chain(tied).chain([after.id()]).collect();

    for limit in [1, 2, 3, 100] {
        assert_eq!(
            all_folder_pages(&repos, &alice, "$/t", limit).await.0,
            expected,
            "list_folder by {limit}"
        );
        assert_eq!(all_visible_pages(&repos, &alice, None, limit).await, expected, "list_visible by {limit}");
    }
    assert_eq!(list(&repos, &alice, "$").await.folders, vec![folder("t", 6, 19)]);
}

// ---------------------------------------------------------------------------------------
// list_visible
// ---------------------------------------------------------------------------------------

/// `list_visible` answers every uploaded media the user created or has shared with them,
/// from every folder, by name then id.
pub async fn list_visible_lists_everything_visible(repos: Repos) {
    let alice = add_user(&repos, "alice").await;
    let bob = add_user(&repos, "bob").await;
    let own = [
        add_file(&repos, alice.id, "$", "root.txt", 1).await,
        add_file(&repos, alice.id, "$/a", "deep.txt", 1).await,
        add_file(&repos, alice.id, "$/a/b/c", "deeper.txt", 1).await,
    ];
    add_pending(&repos, alice.id, "$", "pending.txt").await;
    let shared = add_file(&repos, bob.id, "$/bob", "shared.txt", 1).await;
    share(&repos, &shared, &alice).await;
    add_file(&repos, bob.id, "$/bob", "private.txt", 1).await;

    let expected = in_listing_order(&[&own[0], &own[1], &own[2], &shared]);
    assert_eq!(all_visible_pages(&repos, &alice, None, 100).await, expected);
    let page = repos.media.list_visible(&alice.id, None, &PageRequest::default()).await.unwrap();
    assert_same_media(&page.items[0], &own[1]);
    assert!(page.next.is_none());
    assert_eq!(all_visible_pages(&repos, &bob, None, 100).await.len(), 2);
}

/// With `under`, only media in that folder or below it: `$/a` holds `$/a/b/c` but not
/// `$/ab`; `$` holds everything; an unknown folder holds nothing.
pub async fn list_visible_under_a_folder_includes_descendants_only(repos: Repos) {
    let alice = add_user(&repos, "alice").await;
    let bob = add_user(&repos, "bob").await;
    let root = add_file(&repos, alice.id, "$", "r", 1).await;
    let a = add_file(&repos, alice.id, "$/a", "a1", 1).await;
    let abc = add_file(&repos, alice.id, "$/a/b/c", "a2", 1).await;
    let ab = add_file(&repos, alice.id, "$/ab", "a3", 1).await;
    let shared = add_file(&repos, bob.id, "$/a/from-bob", "a4", 1).await;
    share(&repos, &shared, &alice).await;
    add_file(&repos, bob.id, "$/a", "a5", 1).await;

    let under_a = all_visible_pages(&repos, &alice, Some("$/a"), 100).await;
    assert_eq!(under_a, in_listing_order(&[&a, &abc, &shared]));
    let under_abc = all_visible_pages(&repos, &alice, Some("$/a/b/c"), 100).await;
    assert_eq!(under_abc, vec![abc.id()]);
    let everything = all_visible_pages(&repos, &alice, Some("$"), 100).await;
    assert_eq!(everything, in_listing_order(&[&root, &a, &abc, &ab, &shared]));
    assert!(all_visible_pages(&repos, &alice, Some("$/unknown"), 100).await.is_empty());
    assert!(all_visible_pages(&repos, &alice, Some("$/a/b/c/d"), 100).await.is_empty());
}

/// `list_visible` pages are complete, ordered and without duplicates, with or without
/// `under`.
pub async fn list_visible_pages_are_complete(repos: Repos) {
    let alice = add_user(&repos, "alice").await;
    let mut inside = Vec::new();
    let mut all = Vec::new();
    for (i, folder) in ["$/in", "$/in/x", "$/out", "$/in", "$/in/y/z", "$/out/in", "$/in"].iter().enumerate()
    {
        let file = add_file(&repos, alice.id, folder, &format!("f{}", 7 - i), 1).await;
        if path("$/in").contains(file.folder()) {
            inside.push(file.clone());
        }
        all.push(file);
    }
    let expected_all = in_listing_order(&all.iter().collect::<Vec<_>>());
    let expected_inside = in_listing_order(&inside.iter().collect::<Vec<_>>());
    for limit in [1, 2, 3, 5, 7, 1000] {
        let listed = all_visible_pages(&repos, &alice, None, limit).await;
        assert_distinct(&listed);
        assert_eq!(listed, expected_all, "pages of {limit}");
        assert_eq!(
            all_visible_pages(&repos, &alice, Some("$/in"), limit).await,
            expected_inside,
            "under, {limit}"
        );
    }
    let exact = repos.media.list_visible(&alice.id, None, &PageRequest::first(7)).await.unwrap();
    assert_eq!((exact.items.len(), exact.next), (7, None), "a page that holds the rest has no next");
}

// ---------------------------------------------------------------------------------------
// Usage
// ---------------------------------------------------------------------------------------

/// `usage` counts the uploaded media a user created (not shared ones, not pending ones);
/// a user without files, or an unknown one, has zero.
pub async fn usage_counts_uploaded_media_of_the_creator(repos: Repos) {
    let alice = add_user(&repos, "alice").await;
    let bob = add_user(&repos, "bob").await;
    let carol = add_user(&repos, "carol").await;
    add_file(&repos, alice.id, "$", "a", 10).await;
    add_file(&repos, alice.id, "$/deep/er", "b", 20).await;
    let big = 6 * 1024 * 1024 * 1024;
    add_file(&repos, alice.id, "$", "big", big).await;
    add_pending(&repos, alice.id, "$", "pending").await;
    let shared = add_file(&repos, bob.id, "$", "bobs", 100).await;
    share(&repos, &shared, &alice).await;

    let usage = |media_count, disk_usage| Usage { media_count, disk_usage };
    assert_eq!(repos.media.usage(&alice.id).await.unwrap(), usage(3, 30 + big));
    assert_eq!(repos.media.usage(&bob.id).await.unwrap(), usage(1, 100));
    assert_eq!(repos.media.usage(&carol.id).await.unwrap(), usage(0, 0));
    assert_eq!(repos.media.usage(&new_user_id()).await.unwrap(), usage(0, 0));
}

/// Every user appears in `top_users`, those without (uploaded) files with zero.
pub async fn top_users_counts_users_without_files(repos: Repos) {
    assert!(repos.media.top_users(UsageSort::MediaCount, SortOrder::Desc, 10).await.unwrap().is_empty());
    let alice = add_user(&repos, "alice").await;
    let bob = add_user(&repos, "bob").await;
    add_pending(&repos, bob.id, "$", "pending").await;
    let top = repos.media.top_users(UsageSort::MediaCount, SortOrder::Desc, 10).await.unwrap();
    let rows: Vec<_> = top.iter().map(|r| (r.user_id, r.username.clone(), r.usage)).collect();
    assert_eq!(
        rows,
        vec![
            (alice.id, alice.username.clone(), Usage::default()),
            (bob.id, bob.username.clone(), Usage::default())
        ]
    );
}

/// `top_users` sorts by the chosen field in the chosen order, breaks ties by username
/// (case-insensitively, ascending) then id, and answers at most `limit` rows.
pub async fn top_users_sorts_orders_and_limits(repos: Repos) {
    let mut users = std::collections::HashMap::new();
    for name in ["alice", "bob", "Carol", "dave", "eve"] {
        users.insert(name, add_user(&repos, name).await);
    }
    for (owner, file, size) in
        [("alice", "a1", 10), ("alice", "a2", 20), ("bob", "b1", 100), ("dave", "d1", 2), ("dave", "d2", 3)]
    {
        add_file(&repos, users[owner].id, "$", file, size).await;
    }
    add_pending(&repos, users["eve"].id, "$", "pending").await;
    let deleted = add_file(&repos, users["bob"].id, "$", "b2", 1000).await;
    repos.media.delete(&deleted.id(), &object_deletion(deleted.id())).await.unwrap();

    let ranking = |sort, order, limit| {
        let repos = &repos;
        async move {
            let rows = repos.media.top_users(sort, order, limit).await.unwrap();
            rows.iter().map(|r| r.username.as_str().to_owned()).collect::<Vec<_>>()
        }
    };
    use SortOrder::{Asc, Desc};
    use UsageSort::{DiskUsage, MediaCount, Username as ByName};
    assert_eq!(ranking(MediaCount, Desc, 10).await, ["alice", "dave", "bob", "Carol", "eve"]);
    assert_eq!(ranking(MediaCount, Asc, 10).await, ["Carol", "eve", "bob", "alice", "dave"]);
    assert_eq!(ranking(DiskUsage, Desc, 10).await, ["bob", "alice", "dave", "Carol", "eve"]);
    assert_eq!(ranking(DiskUsage, Asc, 10).await, ["Carol", "eve", "dave", "alice", "bob"]);
    assert_eq!(ranking(ByName, Asc, 10).await, ["alice", "bob", "Carol", "dave", "eve"]);
    assert_eq!(ranking(ByName, Desc, 10).await, ["eve", "dave", "Carol", "bob", "alice"]);
    assert_eq!(ranking(MediaCount, Desc, 2).await, ["alice", "dave"]);
    assert_eq!(ranking(DiskUsage, Desc, 1).await, ["bob"]);

    let top = repos.media.top_users(DiskUsage, Desc, 3).await.unwrap();
    let rows: Vec<_> = top.iter().map(|r| (r.user_id, r.usage)).collect();
    assert_eq!(
        rows,
        vec![
            (users["bob"].id, Usage { media_count: 1, disk_usage: 100 }),
            (users["alice"].id, Usage { media_count: 2, disk_usage: 30 }),
            (users["dave"].id, Usage { media_count: 2, disk_usage: 5 }),
        ]
    );
}

// ---------------------------------------------------------------------------------------
// Key rotation
// ---------------------------------------------------------------------------------------

/// `media_not_wrapped_with` finds media under other master keys (at most `limit`);
/// `update_envelope` replaces one envelope and `updated_at` only; re-wrapping in batches
/// ends.
pub async fn update_envelope_and_media_not_wrapped_with(repos: Repos) {
    let alice = add_user(&repos, "alice").await;
    let mut old = BTreeSet::new();
    for file in ["m1", "m2", "m3"] {
        old.insert(add_file(&repos, alice.id, "$", file, 1).await.id());
    }
    let mut newer = media(alice.id, "$", "m4").parts().clone();
    newer.envelope = envelope("k2", 2);
    let newer = Media::from_parts(newer);
    repos.media.insert(&newer, held()).await.expect("insert");
    let newer = upload(&repos, &newer, 1).await;

    let not_k2: BTreeSet<_> =
        repos.media.media_not_wrapped_with("k2", 10).await.unwrap().into_iter().collect();
    assert_eq!(not_k2, old);
    let batch = repos.media.media_not_wrapped_with("k2", 2).await.unwrap();
    assert_eq!(batch.len(), 2, "{batch:?}");
    assert!(batch[0] != batch[1] && batch.iter().all(|id| old.contains(id)), "{batch:?}");
    assert_eq!(repos.media.media_not_wrapped_with("k1", 10).await.unwrap(), vec![newer.id()]);
    assert_eq!(repos.media.media_not_wrapped_with("k3", 10).await.unwrap().len(), 4);

    let first = *old.iter().next().expect("three media");
    let before = repos.media.find(&first).await.unwrap().expect("find");
    let rewrapped = envelope("k2", 7);
    assert!(repos.media.update_envelope(&first, &rewrapped, at(70)).await.unwrap());
    let after = repos.media.find(&first).await.unwrap().expect("find");
    assert_same_media(&after, &before.rewrapped(rewrapped.clone(), at(70)));
    let not_k2: BTreeSet<_> =
        repos.media.media_not_wrapped_with("k2", 10).await.unwrap().into_iter().collect();
    assert_eq!(not_k2.len(), 2);
    assert!(!not_k2.contains(&first));

    let mut rounds = 0;
    loop {
        let batch = repos.media.media_not_wrapped_with("k2", 1).await.unwrap();
        let Some(id) = batch.first() else { break };
        assert!(repos.media.update_envelope(id, &rewrapped, at(71)).await.unwrap());
        rounds += 1;
        assert!(rounds <= 2, "re-wrapping never ends");
    }
    assert_eq!(rounds, 2);
    assert!(repos.media.media_not_wrapped_with("k2", 10).await.unwrap().is_empty());
    assert!(!repos.media.update_envelope(&new_media_id(), &rewrapped, at(72)).await.unwrap());
}

/// `session_active`: a family with an unrevoked token of its user is open (a used token
/// too: rotation spends before it issues); revoking the family or deleting the user ends
/// it; another user's id never matches.
pub async fn sessions_are_active_until_revoked_or_their_user_is_gone(repos: Repos) {
    let alice = add_user(&repos, "alice").await;
    let bob = add_user(&repos, "bob").await;
    let family = new_family();
    let record = add_token(&repos, alice.id, family, 3600).await;
    assert!(repos.accounts.session_active(&alice.id, &family).await.unwrap());
    assert!(!repos.accounts.session_active(&bob.id, &family).await.unwrap(), "not bob's session");
    assert!(!repos.accounts.session_active(&alice.id, &new_family()).await.unwrap(), "unknown family");
    repos.accounts.consume_refresh_token(&record.hash, at(1)).await.unwrap();
    assert!(repos.accounts.session_active(&alice.id, &family).await.unwrap(), "spent, not revoked");
    let other = new_family();
    add_token(&repos, alice.id, other, 3600).await;
    repos.accounts.revoke_token_family(&family, at(2)).await.unwrap();
    assert!(!repos.accounts.session_active(&alice.id, &family).await.unwrap(), "revoked");
    assert!(repos.accounts.session_active(&alice.id, &other).await.unwrap(), "another session stays");
    assert!(repos.accounts.delete_user(&alice.id).await.unwrap());
    assert!(!repos.accounts.session_active(&alice.id, &other).await.unwrap(), "the user is gone");
}

/// `change_password` stores the new hash and revokes every other session of the user's
/// (not the kept one, not another user's), answering each revoked session once; an unknown
/// user changes nothing.
pub async fn change_password_keeps_one_session_and_revokes_the_others(repos: Repos) {
    let alice = add_user(&repos, "alice").await;
    let bob = add_user(&repos, "bob").await;
    let (kept, other, third, bobs) = (new_family(), new_family(), new_family(), new_family());
    add_token(&repos, alice.id, kept, 3600).await;
    let spent = add_token(&repos, alice.id, other, 3600).await;
    repos.accounts.consume_refresh_token(&spent.hash, at(1)).await.unwrap();
    add_token(&repos, alice.id, other, 3600).await;
    add_token(&repos, alice.id, third, 3600).await;
    add_token(&repos, bob.id, bobs, 3600).await;
    let hash = PasswordHash::parse("$fake$bmV3c2FsdA$bmV3aGFzaA").expect("fixture hash");

    let revoked = repos.accounts.change_password(&alice.id, &hash, &kept, at(5)).await.unwrap();
    let mut expected = vec![other, third];
    expected.sort();
    let mut revoked = revoked.expect("alice exists");
    revoked.sort();
    assert_eq!(revoked, expected, "each other session once");
    let stored = repos.accounts.find_user_by_username(&username("alice")).await.unwrap().expect("alice");
    assert_eq!(stored.password_hash, hash);
    assert!(
        repos.accounts.session_active(&alice.id, &kept).await.unwrap(),
        "the session that changed it stays"
    );
    for family in [other, third] {
        assert!(!repos.accounts.session_active(&alice.id, &family).await.unwrap(), "other sessions end");
    }
    assert!(repos.accounts.session_active(&bob.id, &bobs).await.unwrap(), "bob's session is his");
    let again = repos.accounts.change_password(&alice.id, &hash, &kept, at(6)).await.unwrap();
    assert_eq!(again, Some(Vec::new()), "nothing left to revoke");
    let ghost = unknown_owner();
    assert_eq!(repos.accounts.change_password(&ghost.id, &hash, &kept, at(6)).await.unwrap(), None);
}

/// `list_sessions` sums up each family of the user's with a token still unrevoked and
/// unexpired (first and newest issue, newest expiry, its client), newest activity first;
/// logged-out, expired and other users' sessions are not there; a label survives rotation.
pub async fn open_sessions_are_listed_newest_first_with_their_client(repos: Repos) {
    let alice = add_user(&repos, "alice").await;
    let bob = add_user(&repos, "bob").await;
    let (laptop, phone, gone, old, bobs) =
        (new_family(), new_family(), new_family(), new_family(), new_family());
    let label = ClientLabel::describe("Mozilla/5.0 (X11; Linux x86_64) Chrome/156").expect("a label");
    let first = RefreshTokenRecord { client: Some(label.clone()), ..refresh_record(alice.id, laptop, 3600) };
    repos.accounts.insert_refresh_token(&first).await.expect("inserting a labelled token");
    let ConsumeOutcome::Consumed(spent) =
        repos.accounts.consume_refresh_token(&first.hash, at(10)).await.unwrap()
    else {
        panic!("the first token is unspent");
    };
    assert_eq!(spent.client, Some(label.clone()), "the label is stored with the token");
    let renewed = RefreshTokenRecord {
        issued_at: at(100),
        expires_at: at(3700),
        ..refresh_record(alice.id, laptop, 0)
    };
    let renewed = RefreshTokenRecord { client: spent.client.clone(), ..renewed };
    repos.accounts.insert_refresh_token(&renewed).await.expect("inserting the renewed token");
    let on_phone = RefreshTokenRecord { issued_at: at(50), ..refresh_record(alice.id, phone, 3650) };
    repos.accounts.insert_refresh_token(&on_phone).await.expect("inserting the phone's token");
    add_token(&repos, alice.id, gone, 3600).await;
    repos.accounts.revoke_token_family(&gone, at(60)).await.unwrap();
    add_token(&repos, alice.id, old, 20).await;
    add_token(&repos, bob.id, bobs, 3600).await;

    let listed = repos.accounts.list_sessions(&alice.id, at(200)).await.unwrap();
    let expected = vec![
        SessionSummary {
            id: laptop,
            client: Some(label),
            started_at: at(0),
            last_active_at: at(100),
            expires_at: at(3700),
        },
        SessionSummary {
            id: phone,
            client: None,
            started_at: at(50),
            last_active_at: at(50),
            expires_at: at(3650),
        },
    ];
    assert_eq!(listed, expected, "open sessions, newest activity first");
    let in_a_while = repos.accounts.list_sessions(&alice.id, at(3650)).await.unwrap();
    assert_eq!(in_a_while.iter().map(|s| s.id).collect::<Vec<_>>(), vec![laptop], "the phone's expired");
    repos.accounts.revoke_token_family(&laptop, at(300)).await.unwrap();
    let left = repos.accounts.list_sessions(&alice.id, at(301)).await.unwrap();
    assert_eq!(left.iter().map(|s| s.id).collect::<Vec<_>>(), vec![phone], "a logout ends the listing");
    assert_eq!(repos.accounts.list_sessions(&bob.id, at(200)).await.unwrap().len(), 1, "bob's own");
    assert!(repos.accounts.list_sessions(&unknown_owner().id, at(200)).await.unwrap().is_empty());
}

/// `delete_user` refuses while media the user created remain (pending ones too), then
/// deletes the user with their tokens and the shares they received; the name is free and
/// `created_by` lists what is left to delete.
pub async fn delete_user_refuses_while_files_remain_and_takes_tokens_and_received_shares(repos: Repos) {
    let alice = add_user(&repos, "alice").await;
    let bob = add_user(&repos, "bob").await;
    let own = add_file(&repos, alice.id, "$/docs", "a.txt", 5).await;
    let pending = add_pending(&repos, alice.id, "$", "b.txt").await;
    let bobs = add_file(&repos, bob.id, "$", "shared.txt", 7).await;
    share(&repos, &bobs, &alice).await;
    add_token(&repos, alice.id, new_family(), 3600).await;

    let created: Vec<MediaId> =
        repos.media.created_by(&alice.id, 10).await.unwrap().iter().map(Media::id).collect();
    let mut expected = vec![own.id(), pending.id()];
    expected.sort();
    assert_eq!(created, expected, "every state, by id");
    assert_eq!(repos.media.created_by(&alice.id, 1).await.unwrap().len(), 1, "limited");
    assert!(matches!(repos.accounts.delete_user(&alice.id).await, Err(DeleteUserError::HasFiles)));
    assert!(repos.accounts.find_owner(&alice.id).await.unwrap().is_some(), "nothing changed");

    for media in [&own, &pending] {
        repos.media.delete(&media.id(), &object_deletion(media.id())).await.unwrap();
    }
    assert!(repos.media.created_by(&alice.id, 10).await.unwrap().is_empty());
    assert!(repos.accounts.delete_user(&alice.id).await.unwrap());
    assert!(!repos.accounts.delete_user(&alice.id).await.unwrap(), "already gone");
    assert!(repos.accounts.find_owner(&alice.id).await.unwrap().is_none());
    assert!(repos.accounts.find_user_by_username(&alice.username).await.unwrap().is_none());
    assert!(repos.media.list_shares(&bobs.id()).await.unwrap().is_empty(), "the received share went");
    assert!(repos.media.find_visible(&bob.id, &bobs.id()).await.unwrap().is_some(), "bob keeps his file");
    assert_eq!(repos.media.usage(&bob.id).await.unwrap().media_count, 1);
    add_user(&repos, "alice").await;
}

/// `record_failure` counts per key and answers the count; a failure after the window
/// starts again at 1; `failures` sees only failures after `since`; `clear_failures`
/// forgets one key.
pub async fn login_failures_count_per_key_and_are_forgotten(repos: Repos) {
    use drip_core::accounts::model::{AttemptKey, Failures};
    let accounts = &repos.accounts;
    let alice = AttemptKey::account("alice");
    let client = AttemptKey::client("192.0.2.7".parse().unwrap());
    assert_eq!(accounts.failures(&alice, at(0)).await.unwrap(), None);
    for n in 1..=3 {
        assert_eq!(accounts.record_failure(&alice, at(10 + n), at(0)).await.unwrap(), n as u32);
    }
    assert_eq!(accounts.record_failure(&client, at(60), at(0)).await.unwrap(), 1, "keys count apart");
    assert_eq!(accounts.failures(&alice, at(0)).await.unwrap(), Some(Failures { count: 3, last: at(13) }));
    assert_eq!(accounts.failures(&alice, at(13)).await.unwrap(), None, "the last failure is not after since");
    // A window that starts after the last failure: counting starts again.
    assert_eq!(accounts.record_failure(&alice, at(100), at(50)).await.unwrap(), 1);
    assert_eq!(accounts.failures(&alice, at(50)).await.unwrap(), Some(Failures { count: 1, last: at(100) }));
    accounts.clear_failures(&alice).await.unwrap();
    assert_eq!(accounts.failures(&alice, at(0)).await.unwrap(), None);
    assert_eq!(accounts.failures(&client, at(0)).await.unwrap().map(|f| f.count), Some(1), "untouched");
    accounts.clear_failures(&alice).await.unwrap(); // clearing nothing is fine
    let long = AttemptKey::account(&"x".repeat(10_000));
    assert_eq!(accounts.record_failure(&long, at(1), at(0)).await.unwrap(), 1, "long names are bounded keys");
}

/// Concurrent failures against one key all count.
pub async fn concurrent_login_failures_all_count(repos: Repos) {
    use drip_core::accounts::model::AttemptKey;
    let key = AttemptKey::account("target");
    let tasks: Vec<_> = (0..8)
        .map(|i| {
            let accounts = Arc::clone(&repos.accounts);
            let key = key.clone();
            tokio::spawn(async move { accounts.record_failure(&key, at(10 + i), at(0)).await.unwrap() })
        })
        .collect();
    let mut counts = Vec::new();
    for task in tasks {
        counts.push(task.await.unwrap());
    }
    counts.sort_unstable();
    assert_eq!(counts, (1..=8).collect::<Vec<u32>>(), "each failure counted once");
    assert_eq!(repos.accounts.failures(&key, at(0)).await.unwrap().map(|f| f.count), Some(8));
}
