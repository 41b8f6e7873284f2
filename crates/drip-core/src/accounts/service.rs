//! `AccountService`: register, login, refresh (rotation with reuse detection), logout and
//! authenticate.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use tokio::sync::broadcast;

use super::error::{
    AuthError, ChangePasswordError, CloseAccountError, EndSessionError, LoginError, LogoutError,
    RefreshError, RegisterError, TicketError, hash_failure, signing_failure,
};
use super::model::{
    AttemptKey, Claims, ClientLabel, DownloadTarget, DownloadTicket, Owner, Password, RefreshToken,
    RefreshTokenRecord, RegisterRequest, Session, SessionSummary, TicketClaims, User, Username,
};
use super::ports::{
    AccountRepository, ConsumeOutcome, CreateUserError, DeleteUserError, PasswordHasher, TokenError,
    TokenIssuer,
};
use super::throttle::{Refused, ThrottleSettings};
use crate::clock::{Clock, ClockExt};
use crate::error::BackendError;
use crate::ids::{TokenFamilyId, UserId};
use crate::storage::StorageService;

/// Lifetimes of the tokens a session is made of.
#[derive(Debug, Clone, Copy)]
pub struct SessionSettings {
    /// How long an access token is valid.
    pub access_ttl: Duration,
    /// How long a refresh token is valid.
    pub refresh_ttl: Duration,
    /// How long an access token's session, once found open, is trusted without asking
    /// the repository again: a logout on another node ends the token within this time
    /// (on this node at once).
    pub session_check: Duration,
    /// Throttling of failed logins and refresh-token guesses.
    pub throttle: ThrottleSettings,
    /// How long a download ticket opens its download.
    pub ticket_ttl: Duration,
}

impl Default for SessionSettings {
    fn default() -> Self {
        Self {
            access_ttl: Duration::minutes(15),
            refresh_ttl: Duration::days(30),
            session_check: Duration::seconds(2),
            throttle: ThrottleSettings::default(),
            ticket_ttl: Duration::minutes(5),
        }
    }
}

/// Most sessions remembered as open; past it the expired entries go, then all.
const MAX_CACHED_SESSIONS: usize = 100_000;

/// Sessions found open recently: whose, and until when they are trusted.
#[derive(Debug, Default)]
struct OpenSessions(std::sync::Mutex<HashMap<TokenFamilyId, (UserId, DateTime<Utc>)>>);

impl OpenSessions {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<TokenFamilyId, (UserId, DateTime<Utc>)>> {
        // Plain timestamps: whole even if a holder panicked.
        self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn trusted(&self, session: &TokenFamilyId, now: DateTime<Utc>) -> bool {
        self.lock().get(session).is_some_and(|(_, until)| now < *until)
    }

    fn remember(&self, session: TokenFamilyId, user: UserId, until: DateTime<Utc>, now: DateTime<Utc>) {
        let mut open = self.lock();
        if open.len() >= MAX_CACHED_SESSIONS {
            open.retain(|_, (_, until)| now < *until);
            if open.len() >= MAX_CACHED_SESSIONS {
                open.clear();
            }
        }
        open.insert(session, (user, until));
    }

    fn forget(&self, session: &TokenFamilyId) {
        self.lock().remove(session);
    }

    /// Forgets every session of `user` known here; answers them.
    fn forget_user(&self, user: &UserId) -> Vec<TokenFamilyId> {
        let mut open = self.lock();
        let theirs: Vec<TokenFamilyId> =
            open.iter().filter(|(_, (owner, _))| owner == user).map(|(session, _)| *session).collect();
        for session in &theirs {
            open.remove(session);
        }
        theirs
    }
}

/// The ports the account service runs on.
#[derive(Clone)]
pub struct AccountPorts {
    /// Users and refresh tokens.
    pub accounts: Arc<dyn AccountRepository>,
    /// Password hashing.
    pub hasher: Arc<dyn PasswordHasher>,
    /// Access-token signing.
    pub tokens: Arc<dyn TokenIssuer>,
    /// Time and ids.
    pub clock: Arc<dyn Clock>,
}

/// The accounts use cases.
#[derive(Clone)]
pub struct AccountService {
    ports: AccountPorts,
    settings: SessionSettings,
    open_sessions: Arc<OpenSessions>,
    /// Every session end this node learns of: its own, and those of other nodes.
    ended: broadcast::Sender<TokenFamilyId>,
    /// The session ends this node made, for the other nodes.
    ended_here: broadcast::Sender<TokenFamilyId>,
}

impl std::fmt::Debug for AccountService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccountService").field("settings", &self.settings).finish_non_exhaustive()
    }
}

impl AccountService {
    /// A service over `ports`.
    #[must_use]
    pub fn new(ports: AccountPorts, settings: SessionSettings) -> Self {
        let (ended, _) = broadcast::channel(256);
        let (ended_here, _) = broadcast::channel(256);
        Self { ports, settings, open_sessions: Arc::default(), ended, ended_here }
    }

    /// The sessions that end (logout, a detected token reuse, a closed account) as they
    /// end, on this node or — told through [`AccountService::session_ended_elsewhere`] — on
    /// another, e.g. to close their event connections at once.
    #[must_use]
    pub fn ended_sessions(&self) -> broadcast::Receiver<TokenFamilyId> {
        self.ended.subscribe()
    }

    /// The sessions this node ends, as they end: what the other nodes must be told.
    #[must_use]
    pub fn sessions_ended_here(&self) -> broadcast::Receiver<TokenFamilyId> {
        self.ended_here.subscribe()
    }

    /// Another node ended `session`: it is no longer trusted from this node's memory, and
    /// its event connections here close.
    pub fn session_ended_elsewhere(&self, session: &TokenFamilyId) {
        self.open_sessions.forget(session);
        let _ = self.ended.send(*session);
    }

    fn end_session(&self, session: &TokenFamilyId) {
        self.open_sessions.forget(session);
        // Nobody listening is fine.
        let _ = self.ended.send(*session);
        let _ = self.ended_here.send(*session);
    }

    /// Revokes every token of `session` (at `at`) and ends it: what logging out, a detected
    /// token reuse and ending a session from elsewhere have in common.
    async fn revoke_session(&self, session: &TokenFamilyId, at: DateTime<Utc>) -> Result<(), BackendError> {
        self.ports.accounts.revoke_token_family(session, at).await?;
        self.end_session(session);
        Ok(())
    }

    /// Registers a user and logs them in.
    ///
    /// # Errors
    /// [`RegisterError::UsernameTaken`] when the name is taken (case-insensitively);
    /// [`RegisterError::Backend`] for infrastructure failures.
    pub async fn register(&self, request: RegisterRequest) -> Result<Session, RegisterError> {
        self.register_from(request, None).await
    }

    /// [`AccountService::register`] from a client that describes itself: the session it
    /// opens is labelled so (see [`AccountService::sessions`]).
    ///
    /// # Errors
    /// As [`AccountService::register`].
    pub async fn register_from(
        &self,
        request: RegisterRequest,
        label: Option<ClientLabel>,
    ) -> Result<Session, RegisterError> {
        let password_hash = self.ports.hasher.hash(&request.password).await.map_err(hash_failure)?;
        let owner =
            Owner { id: self.ports.clock.new_user_id(), username: request.username, email: request.email };
        let user = User { owner: owner.clone(), password_hash, created_at: self.ports.clock.now() };
        self.ports.accounts.create_user(&user).await.map_err(|e| match e {
            CreateUserError::UsernameTaken => RegisterError::UsernameTaken,
            CreateUserError::IdTaken => RegisterError::Backend(BackendError::msg("user id collision")),
            CreateUserError::Backend(e) => RegisterError::Backend(e),
        })?;
        Ok(self.open_session(owner, Opening::New(label)).await?)
    }

    /// Logs a user in: credentials → user → expiry from the clock → JWT → refresh token
    /// persisted → both returned.
    ///
    /// An unknown user, a malformed username or password, and a wrong password all answer
    /// [`LoginError::InvalidCredentials`] after the same password-hashing work.
    ///
    /// # Errors
    /// [`LoginError::InvalidCredentials`] as above; [`LoginError::Throttled`] after too
    /// many failures for the account; [`LoginError::Backend`] otherwise.
    pub async fn login(&self, username: &str, password: &str) -> Result<Session, LoginError> {
        self.login_from(username, password, &Origin::default()).await
    }

    /// [`AccountService::login`] from a client: failures are counted against the account
    /// and the client's address, and past the free ones an attempt is refused with
    /// [`LoginError::Throttled`] before anything is checked (the same for an unknown
    /// username, so throttling tells nothing about which exist). A success forgets the
    /// account's failures and opens a session labelled with the client's description.
    ///
    /// # Errors
    /// As [`AccountService::login`].
    pub async fn login_from(
        &self,
        username: &str,
        password: &str,
        origin: &Origin,
    ) -> Result<Session, LoginError> {
        let throttle = &self.settings.throttle;
        let keys = throttle.login_keys(username, origin.address);
        let now = self.ports.clock.now();
        throttle.check(&*self.ports.accounts, &keys, now).await?;
        match self.login_check(username, password).await? {
            Some(user) => {
                self.ports.accounts.clear_failures(&AttemptKey::account(username)).await?;
                Ok(self.open_session(user.owner, Opening::New(origin.label.clone())).await?)
            }
            None => {
                throttle.failed(&*self.ports.accounts, &keys, now).await?;
                Err(LoginError::InvalidCredentials)
            }
        }
    }

    /// The user whose credentials these are, `None` for an unknown user, a malformed
    /// username or password, or a wrong password, all after the same hashing work.
    async fn login_check(&self, username: &str, password: &str) -> Result<Option<User>, BackendError> {
        // A password too long or short for the rules still costs a hash, so it cannot be
        // told apart; it is cut to keep the hashing cost bounded.
        let candidate = Password::parse(password).ok();
        let user = match Username::parse(username) {
            Ok(name) => self.ports.accounts.find_user_by_username(&name).await?,
            Err(_) => None,
        };
        let verified = match (&user, &candidate) {
            (Some(user), Some(candidate)) => {
                self.ports.hasher.verify(candidate, &user.password_hash).await.map_err(hash_failure)?
            }
            _ => {
                let dummy = candidate.unwrap_or_else(filler_password);
                self.ports.hasher.dummy_verify(&dummy).await;
                false
            }
        };
        Ok(user.filter(|_| verified))
    }

    /// Trades a refresh token for a new session; the token is spent. Presenting a spent
    /// token again revokes every token of its family (a stolen token was used).
    ///
    /// # Errors
    /// [`RefreshError::Invalid`], [`RefreshError::Expired`], [`RefreshError::Revoked`],
    /// [`RefreshError::Reused`], or [`RefreshError::Backend`].
    pub async fn refresh(&self, token: &RefreshToken) -> Result<Session, RefreshError> {
        self.refresh_from(token, None).await
    }

    /// [`AccountService::refresh`] from a client address: unknown tokens are counted
    /// against the address, and past the free ones an attempt is refused with
    /// [`RefreshError::Throttled`] before the token is looked at.
    ///
    /// # Errors
    /// As [`AccountService::refresh`].
    pub async fn refresh_from(
        &self,
        token: &RefreshToken,
        client: Option<IpAddr>,
    ) -> Result<Session, RefreshError> {
        let throttle = &self.settings.throttle;
        let keys = throttle.client_keys(client);
        let now = self.ports.clock.now();
        throttle.check(&*self.ports.accounts, &keys, now).await?;
        match self.ports.accounts.consume_refresh_token(&token.hash(), now).await? {
            ConsumeOutcome::Unknown => {
                throttle.failed(&*self.ports.accounts, &keys, now).await?;
                Err(RefreshError::Invalid)
            }
            ConsumeOutcome::Rejected(record) => {
                if record.revoked_at.is_some() {
                    Err(RefreshError::Revoked)
                } else if record.used_at.is_some() {
                    self.revoke_session(&record.family_id, now).await?;
                    Err(RefreshError::Reused)
                } else {
                    Err(RefreshError::Expired)
                }
            }
            ConsumeOutcome::Consumed(record) => {
                let owner =
                    self.ports.accounts.find_owner(&record.user_id).await?.ok_or(RefreshError::Invalid)?;
                Ok(self.open_session(owner, Opening::Renewal(record)).await?)
            }
        }
    }

    /// Ends the session the refresh token belongs to (its whole family is revoked).
    /// Unknown tokens are accepted silently.
    ///
    /// # Errors
    /// [`LogoutError::Backend`] for infrastructure failures.
    pub async fn logout(&self, token: &RefreshToken) -> Result<(), LogoutError> {
        if let Some(family) = self.ports.accounts.find_token_family(&token.hash()).await? {
            self.revoke_session(&family, self.ports.clock.now()).await?;
        }
        Ok(())
    }

    /// The open sessions of `user` (see [`AccountRepository::list_sessions`]), the most
    /// recently active first.
    ///
    /// # Errors
    /// [`BackendError`] for infrastructure failures.
    pub async fn sessions(&self, user: &UserId) -> Result<Vec<SessionSummary>, BackendError> {
        self.ports.accounts.list_sessions(user, self.ports.clock.now()).await
    }

    /// Ends one of the user's own sessions, as logging out there would (the one asking
    /// included): its tokens are revoked, its access tokens and event connections stop at
    /// once on this node, within a session check on the others.
    ///
    /// # Errors
    /// [`EndSessionError::NotFound`] when `session` is no open session of `user`'s (another
    /// user's is not told apart from none); [`EndSessionError::Backend`].
    pub async fn end_own_session(
        &self,
        user: &UserId,
        session: &TokenFamilyId,
    ) -> Result<(), EndSessionError> {
        if !self.ports.accounts.session_active(user, session).await? {
            return Err(EndSessionError::NotFound);
        }
        Ok(self.revoke_session(session, self.ports.clock.now()).await?)
    }

    /// Checks an access token and answers its claims: its signature and times, then that
    /// its session is open (not logged out or revoked, its user not deleted), which is
    /// asked of the repository at most once per [`SessionSettings::session_check`].
    ///
    /// # Errors
    /// [`AuthError::Invalid`] (the session ended too) or [`AuthError::Expired`];
    /// [`AuthError::Backend`].
    pub async fn authenticate(&self, token: &str) -> Result<Claims, AuthError> {
        let now = self.ports.clock.now();
        let claims = self.ports.tokens.verify(token, now).await.map_err(|e| match e {
            TokenError::Invalid => AuthError::Invalid,
            TokenError::Expired => AuthError::Expired,
            TokenError::Backend(b) => AuthError::Backend(b),
        })?;
        if !self.session_open(&claims.user_id, &claims.session, now).await? {
            return Err(AuthError::Invalid);
        }
        Ok(claims)
    }

    /// Whether the user's session is open, asked of the repository at most once per
    /// [`SessionSettings::session_check`].
    async fn session_open(
        &self,
        user: &crate::UserId,
        session: &TokenFamilyId,
        now: DateTime<Utc>,
    ) -> Result<bool, BackendError> {
        if self.open_sessions.trusted(session, now) {
            return Ok(true);
        }
        if !self.ports.accounts.session_active(user, session).await? {
            return Ok(false);
        }
        self.open_sessions.remember(*session, *user, now + self.settings.session_check, now);
        Ok(true)
    }

    /// A download ticket for `target`, as `user` in `session`, valid for
    /// [`SessionSettings::ticket_ttl`]: whoever holds it may start that download (what
    /// the user may see is checked then) until it expires or the session ends.
    ///
    /// # Errors
    /// [`BackendError`] when signing fails.
    pub async fn grant_download(
        &self,
        user: &crate::UserId,
        session: &TokenFamilyId,
        target: DownloadTarget,
    ) -> Result<DownloadTicket, BackendError> {
        let now = self.ports.clock.now();
        let claims = TicketClaims {
            user_id: *user,
            session: *session,
            target,
            issued_at: now,
            expires_at: now + self.settings.ticket_ttl,
        };
        self.ports.tokens.issue_ticket(&claims).await.map_err(signing_failure)
    }

    /// Checks a download ticket: its signature and times, then that its session is still
    /// open; answers what it lets its bearer download, and as whom.
    ///
    /// # Errors
    /// [`TicketError::Invalid`] (the session ended too), [`TicketError::Expired`];
    /// [`TicketError::Backend`].
    pub async fn redeem_download(&self, ticket: &str) -> Result<TicketClaims, TicketError> {
        let now = self.ports.clock.now();
        let claims = self.ports.tokens.verify_ticket(ticket, now).await.map_err(|e| match e {
            TokenError::Invalid => TicketError::Invalid,
            TokenError::Expired => TicketError::Expired,
            TokenError::Backend(b) => TicketError::Backend(b),
        })?;
        if !self.session_open(&claims.user_id, &claims.session, now).await? {
            return Err(TicketError::Invalid);
        }
        Ok(claims)
    }

    /// Checks `password` against the user's own, with the work of a login (so a wrong one
    /// costs as much as at login).
    ///
    /// # Errors
    /// [`CloseAccountError::InvalidCredentials`] for a wrong password or an unknown user;
    /// [`CloseAccountError::Backend`].
    async fn confirm(&self, user: &crate::UserId, password: &str) -> Result<(), CloseAccountError> {
        if self.password_matches(user, password).await? {
            Ok(())
        } else {
            Err(CloseAccountError::InvalidCredentials)
        }
    }

    /// Whether `password` is the user's (`false` for an unknown user too). Guesses count
    /// against the account like failed logins, and too many lately check nothing.
    async fn password_matches(&self, user: &crate::UserId, password: &str) -> Result<bool, Refused> {
        let Some(owner) = self.ports.accounts.find_owner(user).await? else {
            return Ok(false);
        };
        let throttle = &self.settings.throttle;
        let keys = throttle.login_keys(owner.username.as_str(), None);
        let now = self.ports.clock.now();
        throttle.check(&*self.ports.accounts, &keys, now).await?;
        if self.login_check(owner.username.as_str(), password).await?.is_some() {
            return Ok(true);
        }
        throttle.failed(&*self.ports.accounts, &keys, now).await?;
        Ok(false)
    }

    /// Changes the user's password: `current` must be theirs (guesses count like failed
    /// logins), `new` must follow the registration rules. Every other session of theirs
    /// ends (their tokens are revoked; this node's event connections close at once, other
    /// nodes' within a session check); `session`, the one asking, stays.
    ///
    /// # Errors
    /// [`ChangePasswordError::InvalidCredentials`] for a wrong `current`,
    /// [`ChangePasswordError::InvalidPassword`] for a `new` the rules refuse,
    /// [`ChangePasswordError::Throttled`], [`ChangePasswordError::NotFound`] when the user
    /// is gone, [`ChangePasswordError::Backend`].
    pub async fn change_password(
        &self,
        user: &crate::UserId,
        session: &TokenFamilyId,
        current: &str,
        new: &str,
    ) -> Result<(), ChangePasswordError> {
        let new = Password::parse(new).map_err(|_| ChangePasswordError::InvalidPassword)?;
        if !self.password_matches(user, current).await? {
            return Err(ChangePasswordError::InvalidCredentials);
        }
        let hash = self.ports.hasher.hash(&new).await.map_err(hash_failure)?;
        let ended = self
            .ports
            .accounts
            .change_password(user, &hash, session, self.ports.clock.now())
            .await?
            .ok_or(ChangePasswordError::NotFound)?;
        for other in ended {
            self.end_session(&other);
        }
        Ok(())
    }

    /// Closes an account: with `password` given it must be the user's (an administrator's
    /// tool passes `None`); then every file the user created is deleted (objects by queued
    /// jobs), and the user with their sessions, received shares and statistics. Their
    /// open sessions end at once on this node, within a session check elsewhere.
    ///
    /// # Errors
    /// [`CloseAccountError::InvalidCredentials`], [`CloseAccountError::NotFound`],
    /// [`CloseAccountError::StillUploading`] when new files kept arriving while closing,
    /// [`CloseAccountError::Backend`]. What was deleted before a failure stays deleted.
    pub async fn close_account(
        &self,
        storage: &StorageService,
        user: &crate::UserId,
        password: Option<&str>,
    ) -> Result<(), CloseAccountError> {
        if let Some(password) = password {
            self.confirm(user, password).await?;
        }
        // An upload that lands between the two steps keeps the user: a few more rounds.
        for _ in 0..3 {
            storage.delete_all_created_by(user).await?;
            match self.ports.accounts.delete_user(user).await {
                Ok(true) => {
                    // The sessions this node knows end at once (their event connections
                    // close); any other fails its next check, its user being gone.
                    for session in self.open_sessions.forget_user(user) {
                        self.end_session(&session);
                    }
                    return Ok(());
                }
                Ok(false) => return Err(CloseAccountError::NotFound),
                Err(DeleteUserError::HasFiles) => {}
                Err(DeleteUserError::Backend(e)) => return Err(e.into()),
            }
        }
        Err(CloseAccountError::StillUploading)
    }

    /// The user behind an id, if they exist.
    ///
    /// # Errors
    /// [`crate::BackendError`] for infrastructure failures.
    pub async fn owner(&self, id: &crate::UserId) -> Result<Option<Owner>, crate::BackendError> {
        self.ports.accounts.find_owner(id).await
    }

    /// The user with this username (compared case-insensitively), if they exist.
    ///
    /// # Errors
    /// [`crate::BackendError`] for infrastructure failures.
    pub async fn owner_named(&self, username: &Username) -> Result<Option<Owner>, crate::BackendError> {
        Ok(self.ports.accounts.find_user_by_username(username).await?.map(|user| user.owner))
    }

    /// When a token issued now would expire.
    #[must_use]
    pub fn access_expiry(&self, now: DateTime<Utc>) -> DateTime<Utc> {
        now + self.settings.access_ttl
    }

    async fn open_session(&self, owner: Owner, opening: Opening) -> Result<Session, BackendError> {
        let now = self.ports.clock.now();
        let (family, client) = match opening {
            Opening::New(client) => (self.ports.clock.new_family_id(), client),
            Opening::Renewal(spent) => (spent.family_id, spent.client),
        };
        let claims = Claims {
            user_id: owner.id,
            username: owner.username.clone(),
            session: family,
            issued_at: now,
            expires_at: now + self.settings.access_ttl,
        };
        let access_token = self.ports.tokens.issue(&claims).await.map_err(signing_failure)?;
        let refresh_token = RefreshToken::generate();
        let record = RefreshTokenRecord {
            hash: refresh_token.hash(),
            user_id: owner.id,
            family_id: family,
            issued_at: now,
            expires_at: now + self.settings.refresh_ttl,
            used_at: None,
            revoked_at: None,
            client,
        };
        self.ports.accounts.insert_refresh_token(&record).await?;
        Ok(Session {
            owner,
            issued_at: now,
            access_token,
            access_expires_at: claims.expires_at,
            refresh_token,
            refresh_expires_at: record.expires_at,
        })
    }
}

/// Where a login comes from: the client's address (failures are counted against it) and
/// its self-description (the label of the session it opens).
#[derive(Debug, Clone, Default)]
pub struct Origin {
    /// The client's address, if known.
    pub address: Option<IpAddr>,
    /// How the client describes itself, if it does.
    pub label: Option<ClientLabel>,
}

/// How a session's tokens come to be: a new session, or the renewal of one whose token
/// was just spent.
enum Opening {
    New(Option<ClientLabel>),
    Renewal(RefreshTokenRecord),
}

/// A stand-in password of valid length, hashed when the submitted one breaks the rules.
fn filler_password() -> Password {
    // Eight ASCII characters satisfy the length rule, so parsing cannot fail.
    #[allow(clippy::expect_used)]
    Password::parse("not-a-password").expect("valid filler password")
}
