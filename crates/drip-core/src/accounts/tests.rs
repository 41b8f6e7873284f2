//! Account service tests against mockall mocks of its ports.

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use mockall::predicate::eq;

use super::error::{EndSessionError, LoginError, RefreshError, RegisterError};
use super::model::*;
use super::ports::*;
use super::{AccountPorts, AccountService, Origin, SessionSettings};
use crate::clock::MockClock;
use crate::ids::{Ksuid, TokenFamilyId, UserId};

/// The fixed time of the service tests.
pub(crate) fn at() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2024-05-01T12:00:00Z").unwrap().with_timezone(&Utc)
}

/// A clock stopped at [`at`] that hands out `id` as every new id.
pub(crate) fn fixed_clock(id: Ksuid) -> MockClock {
    let mut clock = MockClock::new();
    clock.expect_now().returning(at);
    clock.expect_new_ksuid().returning(move || id);
    clock
}

fn uid() -> UserId {
    UserId::from_ksuid(Ksuid::from_parts(at(), [1; 16]))
}

fn family() -> TokenFamilyId {
    TokenFamilyId::from_ksuid(Ksuid::from_parts(at(), [9; 16]))
}

fn alice() -> User {
    User {
        owner: Owner {
            id: uid(),
            username: Username::parse("alice").unwrap(),
            email: Email::parse("alice@example.com").unwrap(),
        },
        password_hash: PasswordHash::parse("$fake$right").unwrap(),
        created_at: at(),
    }
}

struct Mocks {
    accounts: MockAccountRepository,
    hasher: MockPasswordHasher,
    tokens: MockTokenIssuer,
    clock: MockClock,
}

impl Mocks {
    fn new() -> Self {
        // No failures counted so far, unless a test says otherwise.
        let mut accounts = MockAccountRepository::new();
        accounts.expect_failures().returning(|_, _| Ok(None));
        accounts.expect_record_failure().returning(|_, _, _| Ok(1));
        accounts.expect_clear_failures().returning(|_| Ok(()));
        Self {
            accounts,
            hasher: MockPasswordHasher::new(),
            tokens: MockTokenIssuer::new(),
            clock: fixed_clock(Ksuid::from_parts(at(), [9; 16])),
        }
    }

    fn with_signing(mut self) -> Self {
        self.tokens.expect_issue().returning(|c| Ok(AccessToken::new(format!("jwt-for-{}", c.username))));
        self
    }

    fn service(self) -> AccountService {
        AccountService::new(
            AccountPorts {
                accounts: Arc::new(self.accounts),
                hasher: Arc::new(self.hasher),
                tokens: Arc::new(self.tokens),
                clock: Arc::new(self.clock),
            },
            SessionSettings::default(),
        )
    }
}

#[tokio::test]
async fn login_follows_the_workflow() {
    let mut m = Mocks::new().with_signing();
    m.accounts.expect_find_user_by_username().times(1).returning(|_| Ok(Some(alice())));
    m.hasher.expect_verify().times(1).returning(|p, _| Ok(p.expose() == "password1"));
    m.accounts
        .expect_insert_refresh_token()
        .withf(|r| r.user_id == uid() && r.expires_at == at() + Duration::days(30) && r.used_at.is_none())
        .times(1)
        .returning(|_| Ok(()));
    let session = m.service().login("alice", "password1").await.unwrap();
    assert_eq!(session.access_token.as_str(), "jwt-for-alice");
    assert_eq!(session.access_expires_at, at() + Duration::minutes(15));
    assert_eq!(session.owner, alice().owner);
}

#[tokio::test]
async fn unknown_user_costs_a_dummy_verify_and_looks_like_a_wrong_password() {
    let mut m = Mocks::new();
    m.accounts.expect_find_user_by_username().returning(|_| Ok(None));
    m.hasher.expect_dummy_verify().times(1).returning(|_| ());
    m.hasher.expect_verify().never();
    m.accounts.expect_insert_refresh_token().never();
    let unknown = m.service().login("nobody", "password1").await.unwrap_err();

    let mut m = Mocks::new();
    m.accounts.expect_find_user_by_username().returning(|_| Ok(Some(alice())));
    m.hasher.expect_verify().times(1).returning(|_, _| Ok(false));
    m.accounts.expect_insert_refresh_token().never();
    let wrong = m.service().login("alice", "password2").await.unwrap_err();
    assert!(matches!(unknown, LoginError::InvalidCredentials));
    assert!(matches!(wrong, LoginError::InvalidCredentials));
    assert_eq!(unknown.to_string(), wrong.to_string());
}

#[tokio::test]
async fn malformed_credentials_also_cost_a_hash() {
    let mut m = Mocks::new();
    m.accounts.expect_find_user_by_username().never();
    m.hasher.expect_dummy_verify().times(2).returning(|_| ());
    let s = m.service();
    assert!(matches!(s.login("not a name!", "password1").await, Err(LoginError::InvalidCredentials)));
    let mut m = Mocks::new();
    m.accounts.expect_find_user_by_username().returning(|_| Ok(Some(alice())));
    m.hasher.expect_dummy_verify().times(1).returning(|_| ());
    m.hasher.expect_verify().never();
    assert!(matches!(m.service().login("alice", "short").await, Err(LoginError::InvalidCredentials)));
    assert!(matches!(s.login("", "").await, Err(LoginError::InvalidCredentials)));
}

#[tokio::test]
async fn register_maps_a_taken_name() {
    let mut m = Mocks::new();
    m.hasher.expect_hash().returning(|_| Ok(PasswordHash::parse("$fake$h").unwrap()));
    m.accounts.expect_create_user().returning(|_| Err(CreateUserError::UsernameTaken));
    m.tokens.expect_issue().never();
    let request = RegisterRequest::parse("alice", "alice@example.com", "password1").unwrap();
    assert!(matches!(m.service().register(request).await, Err(RegisterError::UsernameTaken)));
}

fn record(used: bool, revoked: bool, expires_in: Duration) -> RefreshTokenRecord {
    RefreshTokenRecord {
        hash: RefreshToken::from_client("t").hash(),
        user_id: uid(),
        family_id: family(),
        issued_at: at() - Duration::days(1),
        expires_at: at() + expires_in,
        used_at: used.then(at),
        revoked_at: revoked.then(at),
        client: None,
    }
}

fn firefox() -> ClientLabel {
    ClientLabel::describe("Mozilla/5.0 (X11; Linux x86_64; rv:140.0) Firefox/140.0").unwrap()
}

#[tokio::test]
async fn a_login_labels_its_session_and_every_renewal_keeps_the_label() {
    let mut m = Mocks::new().with_signing();
    m.accounts.expect_find_user_by_username().returning(|_| Ok(Some(alice())));
    m.hasher.expect_verify().returning(|_, _| Ok(true));
    m.accounts
        .expect_insert_refresh_token()
        .withf(|r| r.client == Some(firefox()))
        .times(1)
        .returning(|_| Ok(()));
    let origin = Origin { address: None, label: Some(firefox()) };
    m.service().login_from("alice", "password1", &origin).await.unwrap();

    let mut m = Mocks::new().with_signing();
    let spent = RefreshTokenRecord { client: Some(firefox()), ..record(true, false, Duration::days(1)) };
    m.accounts
        .expect_consume_refresh_token()
        .returning(move |_, _| Ok(ConsumeOutcome::Consumed(spent.clone())));
    m.accounts.expect_find_owner().returning(|_| Ok(Some(alice().owner)));
    m.accounts
        .expect_insert_refresh_token()
        .withf(|r| r.family_id == family() && r.client == Some(firefox()))
        .times(1)
        .returning(|_| Ok(()));
    m.service().refresh(&RefreshToken::from_client("t")).await.unwrap();
}

#[tokio::test]
async fn ending_an_own_session_revokes_it_and_ends_it_here_at_once() {
    let mut m = Mocks::new();
    m.accounts.expect_session_active().with(eq(uid()), eq(family())).times(1).returning(|_, _| Ok(true));
    m.accounts.expect_revoke_token_family().with(eq(family()), eq(at())).times(1).returning(|_, _| Ok(2));
    let service = m.service();
    let mut ended = service.ended_sessions();
    service.end_own_session(&uid(), &family()).await.unwrap();
    assert_eq!(ended.try_recv().unwrap(), family(), "its event connections close");
}

#[tokio::test]
async fn a_session_not_open_for_the_user_is_not_found_and_nothing_is_revoked() {
    let mut m = Mocks::new();
    m.accounts.expect_session_active().returning(|_, _| Ok(false));
    m.accounts.expect_revoke_token_family().never();
    let err = m.service().end_own_session(&uid(), &family()).await.unwrap_err();
    assert!(matches!(err, EndSessionError::NotFound));
}

#[tokio::test]
async fn refresh_rotates_within_the_family() {
    let mut m = Mocks::new().with_signing();
    m.accounts
        .expect_consume_refresh_token()
        .with(eq(RefreshToken::from_client("t").hash()), eq(at()))
        .returning(|_, _| Ok(ConsumeOutcome::Consumed(record(true, false, Duration::days(1)))));
    m.accounts.expect_find_owner().returning(|_| Ok(Some(alice().owner)));
    m.accounts
        .expect_insert_refresh_token()
        .withf(|r| r.family_id == family() && r.hash != RefreshToken::from_client("t").hash())
        .times(1)
        .returning(|_| Ok(()));
    let session = m.service().refresh(&RefreshToken::from_client("t")).await.unwrap();
    assert_ne!(session.refresh_token.expose(), "t");
}

#[tokio::test]
async fn reusing_a_spent_token_revokes_the_family() {
    let mut m = Mocks::new();
    m.accounts
        .expect_consume_refresh_token()
        .returning(|_, _| Ok(ConsumeOutcome::Rejected(record(true, false, Duration::days(1)))));
    m.accounts.expect_revoke_token_family().with(eq(family()), eq(at())).times(1).returning(|_, _| Ok(3));
    m.accounts.expect_insert_refresh_token().never();
    let err = m.service().refresh(&RefreshToken::from_client("t")).await.unwrap_err();
    assert!(matches!(err, RefreshError::Reused));
}

#[tokio::test]
async fn revoked_expired_and_unknown_tokens_are_refused() {
    let cases = [
        (ConsumeOutcome::Rejected(record(false, true, Duration::days(1))), "revoked"),
        (ConsumeOutcome::Rejected(record(false, false, -Duration::days(1))), "expired"),
        (ConsumeOutcome::Unknown, "unknown"),
    ];
    for (outcome, what) in cases {
        let mut m = Mocks::new();
        m.accounts.expect_consume_refresh_token().returning(move |_, _| Ok(outcome.clone()));
        m.accounts.expect_revoke_token_family().never();
        let err = m.service().refresh(&RefreshToken::from_client("t")).await.unwrap_err();
        let ok = match what {
            "revoked" => matches!(err, RefreshError::Revoked),
            "expired" => matches!(err, RefreshError::Expired),
            _ => matches!(err, RefreshError::Invalid),
        };
        assert!(ok, "{what}: {err:?}");
    }
}

#[tokio::test]
async fn logout_revokes_the_family_and_ignores_unknown_tokens() {
    let mut m = Mocks::new();
    m.accounts.expect_find_token_family().times(1).returning(|_| Ok(Some(family())));
    m.accounts.expect_revoke_token_family().with(eq(family()), eq(at())).times(1).returning(|_, _| Ok(1));
    m.service().logout(&RefreshToken::from_client("t")).await.unwrap();
    let mut m = Mocks::new();
    m.accounts.expect_find_token_family().returning(|_| Ok(None));
    m.accounts.expect_revoke_token_family().never();
    m.service().logout(&RefreshToken::from_client("zzz")).await.unwrap();
}

/// A session found open is trusted for `session_check`, then asked again: a logout on
/// another node (the repository says no) ends the token within that time.
#[tokio::test]
async fn an_open_session_is_trusted_for_the_session_check_then_asked_again() {
    use std::sync::Mutex;
    let now = Arc::new(Mutex::new(at()));
    let mut m = Mocks::new();
    let clock_now = Arc::clone(&now);
    m.clock = MockClock::new();
    m.clock.expect_now().returning(move || *clock_now.lock().unwrap());
    let claims = Claims {
        user_id: uid(),
        username: Username::parse("alice").unwrap(),
        session: family(),
        issued_at: at(),
        expires_at: at() + Duration::minutes(15),
    };
    m.tokens.expect_verify().returning(move |_, _| Ok(claims.clone()));
    let mut answers = mockall::Sequence::new();
    m.accounts
        .expect_session_active()
        .with(eq(uid()), eq(family()))
        .times(1)
        .in_sequence(&mut answers)
        .returning(|_, _| Ok(true));
    m.accounts.expect_session_active().times(1).in_sequence(&mut answers).returning(|_, _| Ok(false));
    let service = m.service();
    assert!(service.authenticate("t").await.is_ok(), "asked: open");
    *now.lock().unwrap() = at() + Duration::seconds(1);
    assert!(service.authenticate("t").await.is_ok(), "trusted without asking");
    *now.lock().unwrap() = at() + Duration::seconds(2);
    assert!(matches!(service.authenticate("t").await, Err(super::error::AuthError::Invalid)), "asked: ended");
}

fn file_ticket() -> TicketClaims {
    TicketClaims {
        user_id: uid(),
        session: family(),
        target: DownloadTarget::File(crate::MediaId::from_ksuid(Ksuid::from_parts(at(), [3; 16]))),
        issued_at: at(),
        expires_at: at() + Duration::minutes(5),
    }
}

/// A ticket is signed for the user, session and target, valid for `ticket_ttl` from now.
#[tokio::test]
async fn a_download_ticket_names_user_session_target_and_expires_after_its_ttl() {
    let mut m = Mocks::new();
    m.tokens
        .expect_issue_ticket()
        .with(eq(file_ticket()))
        .times(1)
        .returning(|c| Ok(DownloadTicket::new("ticket".to_owned(), c.expires_at)));
    let ticket = m.service().grant_download(&uid(), &family(), file_ticket().target).await.unwrap();
    assert_eq!((ticket.as_str(), ticket.expires_at()), ("ticket", at() + Duration::minutes(5)));
}

/// Redeeming checks the signature, then that the session is open: a logged-out session's
/// tickets are refused like forged ones; an expired ticket says so.
#[tokio::test]
async fn a_download_ticket_is_refused_once_its_session_ended_or_it_expired() {
    use super::error::TicketError;
    let mut m = Mocks::new();
    m.tokens.expect_verify_ticket().withf(|t, _| t == "good").returning(|_, _| Ok(file_ticket()));
    m.tokens.expect_verify_ticket().withf(|t, _| t == "old").returning(|_, _| Err(TokenError::Expired));
    m.tokens.expect_verify_ticket().returning(|_, _| Err(TokenError::Invalid));
    m.accounts.expect_session_active().with(eq(uid()), eq(family())).times(1).returning(|_, _| Ok(true));
    let service = m.service();
    assert_eq!(service.redeem_download("good").await.unwrap(), file_ticket());
    assert!(matches!(service.redeem_download("old").await, Err(TicketError::Expired)));
    assert!(matches!(service.redeem_download("forged").await, Err(TicketError::Invalid)));

    let mut m = Mocks::new();
    m.tokens.expect_verify_ticket().returning(|_, _| Ok(file_ticket()));
    m.accounts.expect_session_active().returning(|_, _| Ok(false));
    assert!(matches!(m.service().redeem_download("good").await, Err(TicketError::Invalid)));
}
