//! Conformance suite of `TokenIssuer` (access tokens and download tickets), run against
//! every adapter through [`token_issuer_conformance!`](crate::token_issuer_conformance):
//! round trips, expiry against the caller's clock, tampering, and that a ticket never
//! passes for an access token nor an access token for a ticket.
// Scenarios are test code shipped as a library: a failed expectation is a panic.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;

use chrono::{DateTime, TimeDelta, Utc};
use drip_core::accounts::model::{Claims, DownloadTarget, TicketClaims, Username};
use drip_core::accounts::ports::{TokenError, TokenIssuer};
use drip_core::{ArchiveId, MediaId, TokenFamilyId, UserId};

/// Expands to one `#[tokio::test]` per scenario, each calling `$make()` twice for two
/// issuers with different secrets.
#[macro_export]
macro_rules! token_issuer_conformance {
    ($make:path) => {
        $crate::token_issuer_conformance!(@scenarios $make;
            tickets_round_trip_for_files_and_archives,
            a_ticket_is_no_access_token_and_a_token_no_ticket,
            tickets_expire_against_the_callers_clock,
            altered_or_foreign_tickets_are_invalid,
        );
    };
    (@scenarios $make:path; $($scenario:ident),* $(,)?) => {
        $(
            #[tokio::test]
            async fn $scenario() {
                $crate::tokens::$scenario(std::sync::Arc::new($make()), std::sync::Arc::new($make())).await;
            }
        )*
    };
}

/// Whole seconds (a JWT's resolution).
fn at(seconds: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(seconds, 0).unwrap()
}

const ISSUED: i64 = 1_700_000_000;

fn ticket_claims(target: DownloadTarget) -> TicketClaims {
    TicketClaims {
        user_id: UserId::parse("0ujtsYcgvSTl8PAuAdqWYSMnLOv").unwrap(),
        session: TokenFamilyId::parse("0ujtsYcgvSTl8PAuAdqWYSMnLOw").unwrap(),
        target,
        issued_at: at(ISSUED),
        expires_at: at(ISSUED + 300),
    }
}

fn file_target() -> DownloadTarget {
    DownloadTarget::File(MediaId::parse("0ujtsYcgvSTl8PAuAdqWYSMnLOx").unwrap())
}

fn access_claims() -> Claims {
    let ticket = ticket_claims(file_target());
    Claims {
        user_id: ticket.user_id,
        username: Username::parse("alice").unwrap(),
        session: ticket.session,
        issued_at: ticket.issued_at,
        expires_at: ticket.expires_at,
    }
}

/// Both targets come back exactly, and the ticket is URL-safe text (one path segment).
pub async fn tickets_round_trip_for_files_and_archives(
    issuer: Arc<dyn TokenIssuer>,
    _other: Arc<dyn TokenIssuer>,
) {
    let archive = DownloadTarget::Archive(ArchiveId::parse("0ujtsYcgvSTl8PAuAdqWYSMnLOy").unwrap());
    for target in [file_target(), archive] {
        let claims = ticket_claims(target);
        let ticket = issuer.issue_ticket(&claims).await.unwrap();
        assert_eq!(ticket.expires_at(), claims.expires_at);
        assert!(
            ticket.as_str().bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b)),
            "a ticket is one URL path segment: {}",
            ticket.as_str()
        );
        let now = at(ISSUED + 10);
        assert_eq!(issuer.verify_ticket(ticket.as_str(), now).await.unwrap(), claims);
    }
}

/// Signed by the same issuer, neither kind is accepted as the other.
pub async fn a_ticket_is_no_access_token_and_a_token_no_ticket(
    issuer: Arc<dyn TokenIssuer>,
    _other: Arc<dyn TokenIssuer>,
) {
    let now = at(ISSUED + 10);
    let ticket = issuer.issue_ticket(&ticket_claims(file_target())).await.unwrap();
    assert!(matches!(issuer.verify(ticket.as_str(), now).await, Err(TokenError::Invalid)));
    let token = issuer.issue(&access_claims()).await.unwrap();
    assert_eq!(issuer.verify(token.as_str(), now).await.unwrap(), access_claims());
    assert!(matches!(issuer.verify_ticket(token.as_str(), now).await, Err(TokenError::Invalid)));
}

/// Valid until its expiry (exclusive), then expired; not valid well before its issue.
pub async fn tickets_expire_against_the_callers_clock(
    issuer: Arc<dyn TokenIssuer>,
    _other: Arc<dyn TokenIssuer>,
) {
    let ticket = issuer.issue_ticket(&ticket_claims(file_target())).await.unwrap();
    assert!(issuer.verify_ticket(ticket.as_str(), at(ISSUED + 299)).await.is_ok());
    for late in [at(ISSUED + 300), at(ISSUED + 301), at(ISSUED) + TimeDelta::days(400)] {
        assert!(
            matches!(issuer.verify_ticket(ticket.as_str(), late).await, Err(TokenError::Expired)),
            "at {late}"
        );
    }
    let early = at(ISSUED) - TimeDelta::hours(1);
    assert!(matches!(issuer.verify_ticket(ticket.as_str(), early).await, Err(TokenError::Invalid)));
}

/// Any changed character, a truncation, garbage, or another issuer's ticket is invalid.
pub async fn altered_or_foreign_tickets_are_invalid(
    issuer: Arc<dyn TokenIssuer>,
    other: Arc<dyn TokenIssuer>,
) {
    let now = at(ISSUED + 10);
    let ticket = issuer.issue_ticket(&ticket_claims(file_target())).await.unwrap();
    let text = ticket.as_str();
    let mut altered = Vec::new();
    for index in [0, text.len() / 3, text.len() / 2, text.len() - 2, text.len() - 1] {
        let mut bytes = text.as_bytes().to_vec();
        bytes[index] = if bytes[index] == b'A' { b'B' } else { b'A' };
        altered.push(String::from_utf8(bytes).unwrap());
    }
    altered.extend([text[..text.len() - 1].to_owned(), String::new(), "not-a-ticket".to_owned()]);
    for candidate in &altered {
        if candidate == text {
            continue;
        }
        assert!(
            matches!(issuer.verify_ticket(candidate, now).await, Err(TokenError::Invalid)),
            "{candidate} should be invalid"
        );
    }
    assert!(matches!(other.verify_ticket(text, now).await, Err(TokenError::Invalid)));
}
