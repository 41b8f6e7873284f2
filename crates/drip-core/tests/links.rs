//! Public links and drop links through the link service on the in-memory fakes of
//! `drip-mock`: every option alone and combined, the clock driving expiry, limits under
//! concurrency, and one answer for every way a visitor can be wrong.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a broken fixture fails the test

use bytes::Bytes;
use chrono::Duration;
use drip_core::accounts::model::{Owner, Password, RegisterRequest};
use drip_core::clock::Clock;
use drip_core::events::Event;
use drip_core::links::error::{
    CreateLinkError, DropUploadError, LinkDownloadError, ManageLinkError, VisitError,
};
use drip_core::links::model::{Credentials, DropRequest, LinkRequest};
use drip_core::links::{DropUpload, LinkService, LinkSettings};
use drip_core::storage::error::DownloadError;
use drip_core::storage::model::{FileName, FolderPath, Media, PageRequest};
use drip_core::storage::ports::ByteStream;
use drip_core::storage::{StorageService, StorageSettings, StoreRequest};
use drip_mock::FakePorts;
use futures::{StreamExt, TryStreamExt};
use zeroize::Zeroizing;

fn stream_of(data: &[u8]) -> ByteStream {
    let pieces: Vec<Result<Bytes, std::io::Error>> =
        data.chunks(1000).map(|c| Ok(Bytes::copy_from_slice(c))).collect();
    futures::stream::iter(pieces).boxed()
}

async fn read_all(stream: ByteStream) -> Vec<u8> {
    let chunks: Vec<Bytes> = stream.try_collect().await.unwrap();
    chunks.concat()
}

fn folder(p: &str) -> FolderPath {
    FolderPath::parse(p).unwrap()
}

struct World {
    fakes: FakePorts,
    storage: StorageService,
    links: LinkService,
    alice: Owner,
    bob: Owner,
    file: Media,
}

const CONTENT: &[u8] = b"the quarterly report, all of it";

async fn world() -> World {
    let fakes = drip_mock::fake_ports();
    let accounts = fakes.account_service();
    let register = |name: &str| {
        let accounts = accounts.clone();
        let name = name.to_owned();
        async move {
            let request = RegisterRequest::parse(&name, &format!("{name}@example.com"), "password1").unwrap();
            accounts.register(request).await.unwrap().owner
        }
    };
    let (alice, bob) = (register("alice").await, register("bob").await);
    let storage = fakes.storage_service(StorageSettings::default());
    let links = fakes.link_service(storage.clone(), LinkSettings::default());
    let file = storage
        .store(StoreRequest {
            user: alice.id,
            name: FileName::parse("report.txt").unwrap(),
            folder: folder("$/work"),
            content_type: None,
            length: None,
            content: stream_of(CONTENT),
        })
        .await
        .unwrap();
    fakes.notifier.take();
    World { fakes, storage, links, alice, bob, file }
}

fn none() -> Credentials {
    Credentials::default()
}

fn password(text: &str) -> Credentials {
    Credentials { password: Some(Zeroizing::new(text.to_owned())), ..Credentials::default() }
}

fn not_found<T: std::fmt::Debug>(result: Result<T, LinkDownloadError>) -> bool {
    matches!(result, Err(LinkDownloadError::Visit(VisitError::NotFound)))
}

impl World {
    async fn link(&self, request: LinkRequest) -> String {
        let created = self.links.create_link(&self.alice.id, &self.file.id(), request).await.unwrap();
        created.token.expose().to_owned()
    }

    async fn fetch(&self, token: &str, credentials: &Credentials) -> Result<Vec<u8>, LinkDownloadError> {
        let download = self.links.download_link(token, credentials, None).await?;
        Ok(read_all(download.download.content).await)
    }

    async fn downloads(&self) -> u32 {
        self.links.links_of_file(&self.alice.id, &self.file.id()).await.unwrap()[0].downloads
    }
}

#[tokio::test]
async fn a_plain_link_serves_the_file_to_anyone_and_counts_each_download() {
    let w = world().await;
    let token = w.link(LinkRequest::default()).await;
    assert_eq!(w.fetch(&token, &none()).await.unwrap(), CONTENT);
    assert_eq!(w.fetch(&token, &none()).await.unwrap(), CONTENT);
    assert_eq!(w.downloads().await, 2);
    let listed = w.links.my_links(&w.alice.id).await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].file_name.as_str(), "report.txt");
    assert!(w.fakes.notifier.events().is_empty(), "no notification unless asked for");
}

#[tokio::test]
async fn only_the_creator_makes_lists_and_revokes_links() {
    let w = world().await;
    w.storage.share(&w.alice.id, &w.file.id(), &w.bob.username).await.unwrap();
    let by_sharee = w.links.create_link(&w.bob.id, &w.file.id(), LinkRequest::default()).await;
    assert!(matches!(by_sharee, Err(CreateLinkError::Forbidden)));
    let created = w.links.create_link(&w.alice.id, &w.file.id(), LinkRequest::default()).await.unwrap();
    assert!(matches!(w.links.links_of_file(&w.bob.id, &w.file.id()).await, Err(ManageLinkError::Forbidden)));
    assert!(matches!(w.links.revoke_link(&w.bob.id, &created.link.id).await, Err(ManageLinkError::NotFound)));
    assert!(w.links.my_links(&w.bob.id).await.unwrap().is_empty());

    w.links.revoke_link(&w.alice.id, &created.link.id).await.unwrap();
    assert!(not_found(w.fetch(created.token.expose(), &none()).await), "a revoked link is not found");
    assert!(matches!(
        w.links.revoke_link(&w.alice.id, &created.link.id).await,
        Err(ManageLinkError::NotFound)
    ));
}

#[tokio::test]
async fn options_out_of_range_are_refused() {
    let w = world().await;
    let now = w.fakes.clock.now();
    let past = LinkRequest { expires_at: Some(now), ..LinkRequest::default() };
    let zero = LinkRequest { max_downloads: Some(0), ..LinkRequest::default() };
    for request in [past, zero] {
        let refused = w.links.create_link(&w.alice.id, &w.file.id(), request).await;
        assert!(matches!(refused, Err(CreateLinkError::Invalid(_))), "{refused:?}");
    }
}

#[tokio::test]
async fn an_expired_link_is_not_found_from_its_expiry_on() {
    let w = world().await;
    let now = w.fakes.clock.now();
    let token =
        w.link(LinkRequest { expires_at: Some(now + Duration::hours(1)), ..LinkRequest::default() }).await;
    w.fakes.clock.advance(Duration::minutes(59));
    assert_eq!(w.fetch(&token, &none()).await.unwrap(), CONTENT);
    w.fakes.clock.advance(Duration::minutes(1));
    assert!(not_found(w.fetch(&token, &none()).await));
}

#[tokio::test]
async fn a_password_is_required_checked_and_granted_for_a_while() {
    let w = world().await;
    let token = w
        .link(LinkRequest {
            password: Some(Password::parse("open sesame").unwrap()),
            ..LinkRequest::default()
        })
        .await;
    assert!(matches!(
        w.links.download_link(&token, &none(), None).await,
        Err(LinkDownloadError::Visit(VisitError::PasswordRequired))
    ));
    assert!(not_found(w.fetch(&token, &password("open sesamE")).await), "a wrong password is not found");
    assert!(not_found(w.fetch(&token, &password("short")).await), "so is one no password could be");
    assert_eq!(w.fetch(&token, &password("open sesame")).await.unwrap(), CONTENT);

    let visit = w.links.visit_link(&token, &password("open sesame")).await.unwrap();
    let grant = visit.grant.expect("a correct password is granted");
    let with_grant = Credentials { grant: Some(grant.value.clone()), ..Credentials::default() };
    assert_eq!(w.fetch(&token, &with_grant).await.unwrap(), CONTENT);
    let forged = Credentials { grant: Some(format!("{}0", grant.value)), ..Credentials::default() };
    assert!(matches!(w.links.visit_link(&token, &forged).await, Err(VisitError::PasswordRequired)));
    w.fakes.clock.advance(Duration::minutes(15));
    assert!(
        matches!(w.links.visit_link(&token, &with_grant).await, Err(VisitError::PasswordRequired)),
        "grants expire"
    );

    // A grant of one link opens no other, even with the same password.
    let other = w
        .link(LinkRequest {
            password: Some(Password::parse("open sesame").unwrap()),
            ..LinkRequest::default()
        })
        .await;
    let fresh = w.links.visit_link(&token, &password("open sesame")).await.unwrap().grant.unwrap();
    let elsewhere = Credentials { grant: Some(fresh.value), ..Credentials::default() };
    assert!(matches!(w.links.visit_link(&other, &elsewhere).await, Err(VisitError::PasswordRequired)));
}

#[tokio::test]
async fn wrong_link_passwords_are_throttled_like_logins() {
    let w = world().await;
    let token = w
        .link(LinkRequest {
            password: Some(Password::parse("open sesame").unwrap()),
            ..LinkRequest::default()
        })
        .await;
    for _ in 0..5 {
        assert!(not_found(w.fetch(&token, &password("guess guess")).await));
    }
    let throttled = w.links.visit_link(&token, &password("open sesame")).await;
    assert!(matches!(throttled, Err(VisitError::Throttled(_))), "{throttled:?}");
    w.fakes.clock.advance(Duration::seconds(1));
    assert!(w.links.visit_link(&token, &password("open sesame")).await.is_ok(), "the wait is over");
}

#[tokio::test]
async fn unknown_and_malformed_tokens_are_not_found_and_cost_a_password_check_when_one_is_given() {
    let w = world().await;
    let before = w.fakes.hasher.dummy_verifications();
    for token in ["", "nope", &"A".repeat(43), &"A".repeat(500)] {
        assert!(not_found(w.fetch(token, &password("some password")).await));
    }
    assert_eq!(w.fakes.hasher.dummy_verifications() - before, 4);
}

#[tokio::test]
async fn max_downloads_hold_under_twenty_concurrent_requests() {
    let w = world().await;
    let token = w.link(LinkRequest { max_downloads: Some(3), ..LinkRequest::default() }).await;
    let nothing = none();
    let attempts = (0..20).map(|_| w.fetch(&token, &nothing));
    let results = futures::future::join_all(attempts).await;
    assert_eq!(results.iter().filter(|r| r.is_ok()).count(), 3);
    assert!(results.into_iter().filter(|r| r.is_err()).all(not_found));
    assert!(not_found(w.fetch(&token, &none()).await), "an exhausted link is not found");
}

#[tokio::test]
async fn ranges_from_the_first_byte_count_and_others_do_not() {
    let w = world().await;
    let token = w.link(LinkRequest { max_downloads: Some(2), ..LinkRequest::default() }).await;
    let tail = w.links.download_link(&token, &none(), Some(4..10)).await.unwrap();
    assert_eq!(read_all(tail.download.content).await, &CONTENT[4..10]);
    assert_eq!(w.downloads().await, 0);
    let head = w.links.download_link(&token, &none(), Some(0..4)).await.unwrap();
    assert_eq!(read_all(head.download.content).await, &CONTENT[..4]);
    assert_eq!(w.downloads().await, 1);
}

#[tokio::test]
async fn a_download_dropped_midway_is_given_back() {
    let w = world().await;
    let token = w.link(LinkRequest { max_downloads: Some(1), ..LinkRequest::default() }).await;
    let download = w.links.download_link(&token, &none(), None).await.unwrap();
    assert_eq!(w.downloads().await, 1, "counted before the first byte");
    drop(download);
    // The giveback runs on a spawned task: wait for it by yielding until it has.
    while w.downloads().await != 0 {
        tokio::task::yield_now().await;
    }
    assert_eq!(w.fetch(&token, &none()).await.unwrap(), CONTENT);
}

#[tokio::test]
async fn a_download_read_to_its_last_byte_counts_without_its_end_being_polled() {
    // An HTTP server stops reading a body once `Content-Length` bytes are out.
    let w = world().await;
    let token = w.link(LinkRequest { notify: true, ..LinkRequest::default() }).await;
    let mut download = w.links.download_link(&token, &none(), None).await.unwrap().download;
    let mut read = 0;
    while read < CONTENT.len() {
        read += download.content.next().await.unwrap().unwrap().len();
    }
    drop(download);
    while w.fakes.notifier.events().is_empty() {
        tokio::task::yield_now().await;
    }
    assert_eq!(w.downloads().await, 1, "a delivered download stays counted");
}

#[tokio::test]
async fn the_creator_is_told_of_downloads_when_the_link_asks_for_it() {
    let w = world().await;
    let token = w.link(LinkRequest { notify: true, ..LinkRequest::default() }).await;
    w.fetch(&token, &none()).await.unwrap();
    while w.fakes.notifier.events().is_empty() {
        tokio::task::yield_now().await;
    }
    let events = w.fakes.notifier.events_for(&w.alice.id);
    assert_eq!(events, [Event::LinkDownloaded { media_id: w.file.id(), name: w.file.name().clone() }]);
    assert_eq!(events[0].message(), "Your link to \"report.txt\" was downloaded.");
}

#[tokio::test]
async fn deleting_the_file_disables_its_links() {
    let w = world().await;
    let token = w.link(LinkRequest::default()).await;
    w.storage.delete(&w.alice.id, &w.file.id()).await.unwrap();
    assert!(not_found(w.fetch(&token, &none()).await));
    assert!(w.links.my_links(&w.alice.id).await.unwrap().is_empty());
}

#[tokio::test]
async fn every_option_combined() {
    let w = world().await;
    let now = w.fakes.clock.now();
    let token = w
        .link(LinkRequest {
            expires_at: Some(now + Duration::days(1)),
            password: Some(Password::parse("open sesame").unwrap()),
            max_downloads: Some(1),
            notify: true,
        })
        .await;
    assert!(not_found(w.fetch(&token, &password("wrong one")).await));
    assert_eq!(w.fetch(&token, &password("open sesame")).await.unwrap(), CONTENT);
    assert!(not_found(w.fetch(&token, &password("open sesame")).await), "used up");
    let range = w.links.download_link(&token, &password("open sesame"), Some(3..5)).await;
    assert!(
        matches!(range, Err(LinkDownloadError::Visit(VisitError::NotFound))),
        "no byte of a used-up link"
    );
    assert!(matches!(
        w.links.download_link(&token, &none(), Some(100..200)).await,
        Err(LinkDownloadError::Visit(VisitError::NotFound))
    ));
}

#[tokio::test]
async fn a_range_past_the_end_is_refused_without_counting() {
    let w = world().await;
    let token = w.link(LinkRequest::default()).await;
    let refused = w.links.download_link(&token, &none(), Some(0..0)).await.map(|_| ());
    assert!(refused.is_ok(), "an empty range from 0 is fine");
    let beyond = w.links.download_link(&token, &none(), Some(500..600)).await;
    assert!(matches!(beyond, Err(LinkDownloadError::Download(DownloadError::RangeNotSatisfiable { .. }))));
}

// --- drops ---------------------------------------------------------------------------------

fn drop_request(max_uploads: Option<u32>, max_bytes: Option<u64>) -> DropRequest {
    DropRequest { folder: folder("$/inbox"), expires_at: None, password: None, max_uploads, max_bytes }
}

fn upload(name: &str, content: &'static [u8]) -> DropUpload {
    DropUpload {
        name: FileName::parse(name).unwrap(),
        content_type: None,
        length: Some(content.len() as u64),
        content: stream_of(content),
    }
}

async fn names_in(w: &World, path: &str) -> Vec<String> {
    let listing = w.storage.list_folder(&w.alice.id, &folder(path), &PageRequest::first(100)).await.unwrap();
    listing.files.iter().map(|m| m.name().to_string()).collect()
}

#[tokio::test]
async fn a_drop_stores_uploads_as_the_owners_files_under_free_names() {
    let w = world().await;
    let created = w.links.create_drop(&w.alice.id, drop_request(None, None)).await.unwrap();
    let token = created.token.expose();
    let first = w.links.upload_to_drop(token, &none(), upload("scan.pdf", b"one")).await.unwrap();
    let second = w.links.upload_to_drop(token, &none(), upload("scan.pdf", b"two")).await.unwrap();
    assert_eq!(first.creator(), w.alice.id);
    assert_eq!(second.name().as_str(), "scan (1).pdf");
    assert_eq!(names_in(&w, "$/inbox").await, ["scan (1).pdf", "scan.pdf"]);
    let uploads: Vec<_> = w.fakes.notifier.events_for(&w.alice.id).iter().map(Event::kind).collect();
    assert_eq!(uploads, ["upload", "upload"], "the owner hears of each upload");
    let heard: Vec<String> = w.fakes.notifier.events_for(&w.alice.id).iter().map(Event::message).collect();
    assert_eq!(
        heard,
        [
            "\"scan.pdf\" was dropped into $/inbox through one of your drop links.",
            "\"scan (1).pdf\" was dropped into $/inbox through one of your drop links."
        ],
        "and that it came through a drop link"
    );
    let drops = w.links.my_drops(&w.alice.id).await.unwrap();
    assert_eq!((drops[0].uploads, drops[0].bytes), (2, 6));
}

#[tokio::test]
async fn a_taken_name_at_the_length_limit_still_gets_a_number() {
    // Found by schemathesis: a 255-byte name had no room for " (1)" and the second upload
    // was refused as a conflict.
    let w = world().await;
    let created = w.links.create_drop(&w.alice.id, drop_request(None, None)).await.unwrap();
    let long = "0".repeat(255);
    let token = created.token.expose();
    let upload = |content: &'static [u8]| DropUpload {
        name: FileName::parse(&long).unwrap(),
        content_type: None,
        length: Some(content.len() as u64),
        content: stream_of(content),
    };
    w.links.upload_to_drop(token, &none(), upload(b"one")).await.unwrap();
    let second = w.links.upload_to_drop(token, &none(), upload(b"two")).await.unwrap();
    assert_eq!(second.name().as_str(), format!("{} (1)", "0".repeat(251)));
}

#[tokio::test]
async fn drop_limits_hold_and_a_failed_upload_gives_its_share_back() {
    let w = world().await;
    let created = w.links.create_drop(&w.alice.id, drop_request(Some(2), Some(10))).await.unwrap();
    let token = created.token.expose();
    let unknown_length = DropUpload { length: None, ..upload("a.txt", b"abc") };
    assert!(matches!(
        w.links.upload_to_drop(token, &none(), unknown_length).await,
        Err(DropUploadError::LengthRequired)
    ));
    assert!(matches!(
        w.links.upload_to_drop(token, &none(), upload("big.txt", b"eleven bytes")).await,
        Err(DropUploadError::LimitReached)
    ));
    let failing = DropUpload {
        content: futures::stream::iter([Err(std::io::Error::other("the client went away"))]).boxed(),
        ..upload("broken.txt", b"abcd")
    };
    assert!(w.links.upload_to_drop(token, &none(), failing).await.is_err());
    let drops = w.links.my_drops(&w.alice.id).await.unwrap();
    assert_eq!((drops[0].uploads, drops[0].bytes), (0, 0), "the failed upload was given back");
    w.links.upload_to_drop(token, &none(), upload("a.txt", b"12345")).await.unwrap();
    w.links.upload_to_drop(token, &none(), upload("b.txt", b"123")).await.unwrap();
    let third = w.links.upload_to_drop(token, &none(), upload("c.txt", b"1")).await;
    assert!(
        matches!(third, Err(DropUploadError::Visit(VisitError::NotFound))),
        "a used-up drop is not found"
    );
    assert_eq!(names_in(&w, "$/inbox").await, ["a.txt", "b.txt"]);
}

#[tokio::test]
async fn a_drop_expires_takes_passwords_and_is_revoked_by_its_owner_only() {
    let w = world().await;
    let now = w.fakes.clock.now();
    let request = DropRequest {
        expires_at: Some(now + Duration::hours(2)),
        password: Some(Password::parse("drop it here").unwrap()),
        ..drop_request(None, None)
    };
    let created = w.links.create_drop(&w.alice.id, request).await.unwrap();
    let token = created.token.expose();
    assert!(matches!(
        w.links.upload_to_drop(token, &none(), upload("a.txt", b"a")).await,
        Err(DropUploadError::Visit(VisitError::PasswordRequired))
    ));
    assert!(matches!(
        w.links.upload_to_drop(token, &password("wrong wrong"), upload("a.txt", b"a")).await,
        Err(DropUploadError::Visit(VisitError::NotFound))
    ));
    w.links.upload_to_drop(token, &password("drop it here"), upload("a.txt", b"a")).await.unwrap();
    assert!(matches!(w.links.revoke_drop(&w.bob.id, &created.link.id).await, Err(ManageLinkError::NotFound)));
    w.fakes.clock.advance(Duration::hours(2));
    assert!(matches!(w.links.visit_drop(token, &password("drop it here")).await, Err(VisitError::NotFound)));
    w.links.revoke_drop(&w.alice.id, &created.link.id).await.unwrap();
    assert!(w.links.my_drops(&w.alice.id).await.unwrap().is_empty());
}

#[tokio::test]
async fn a_drop_token_is_no_link_token_and_the_other_way_round() {
    let w = world().await;
    let drop = w.links.create_drop(&w.alice.id, drop_request(None, None)).await.unwrap();
    let link = w.link(LinkRequest::default()).await;
    assert!(not_found(w.fetch(drop.token.expose(), &none()).await));
    assert!(matches!(w.links.visit_drop(&link, &none()).await, Err(VisitError::NotFound)));
}
