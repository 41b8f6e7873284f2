//! `AccountService`: register, login, refresh (rotation with reuse detection), logout and
//! authenticate.

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};

use super::error::{
    AuthError, LoginError, LogoutError, RefreshError, RegisterError, hash_failure, signing_failure,
};
use super::model::{
    Claims, Owner, Password, RefreshToken, RefreshTokenRecord, RegisterRequest, Session, User, Username,
};
use super::ports::{
    AccountRepository, ConsumeOutcome, CreateUserError, PasswordHasher, TokenError, TokenIssuer,
};
use crate::clock::{Clock, ClockExt};
use crate::error::BackendError;
use crate::ids::TokenFamilyId;

/// Lifetimes of the tokens a session is made of.
#[derive(Debug, Clone, Copy)]
pub struct SessionSettings {
    /// How long an access token is valid.
    pub access_ttl: Duration,
    /// How long a refresh token is valid.
    pub refresh_ttl: Duration,
}

impl Default for SessionSettings {
    fn default() -> Self {
        Self { access_ttl: Duration::minutes(15), refresh_ttl: Duration::days(30) }
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
        Self { ports, settings }
    }

    /// Registers a user and logs them in.
    ///
    /// # Errors
    /// [`RegisterError::UsernameTaken`] when the name is taken (case-insensitively);
    /// [`RegisterError::Backend`] for infrastructure failures.
    pub async fn register(&self, request: RegisterRequest) -> Result<Session, RegisterError> {
        let password_hash = self.ports.hasher.hash(&request.password).await.map_err(hash_failure)?;
        let owner =
            Owner { id: self.ports.clock.new_user_id(), username: request.username, email: request.email };
        let user = User { owner: owner.clone(), password_hash, created_at: self.ports.clock.now() };
        self.ports.accounts.create_user(&user).await.map_err(|e| match e {
            CreateUserError::UsernameTaken => RegisterError::UsernameTaken,
            CreateUserError::IdTaken => RegisterError::Backend(BackendError::msg("user id collision")),
            CreateUserError::Backend(e) => RegisterError::Backend(e),
        })?;
        Ok(self.open_session(owner, None).await?)
    }

    /// Logs a user in: credentials → user → expiry from the clock → JWT → refresh token
    /// persisted → both returned.
    ///
    /// An unknown user, a malformed username or password, and a wrong password all answer
    /// [`LoginError::InvalidCredentials`] after the same password-hashing work.
    ///
    /// # Errors
    /// [`LoginError::InvalidCredentials`] as above; [`LoginError::Backend`] otherwise.
    pub async fn login(&self, username: &str, password: &str) -> Result<Session, LoginError> {
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
        match user {
            Some(user) if verified => Ok(self.open_session(user.owner, None).await?),
            _ => Err(LoginError::InvalidCredentials),
        }
    }

    /// Trades a refresh token for a new session; the token is spent. Presenting a spent
    /// token again revokes every token of its family (a stolen token was used).
    ///
    /// # Errors
    /// [`RefreshError::Invalid`], [`RefreshError::Expired`], [`RefreshError::Revoked`],
    /// [`RefreshError::Reused`], or [`RefreshError::Backend`].
    pub async fn refresh(&self, token: &RefreshToken) -> Result<Session, RefreshError> {
        let now = self.ports.clock.now();
        match self.ports.accounts.consume_refresh_token(&token.hash(), now).await? {
            ConsumeOutcome::Unknown => Err(RefreshError::Invalid),
            ConsumeOutcome::Rejected(record) => {
                if record.revoked_at.is_some() {
                    Err(RefreshError::Revoked)
                } else if record.used_at.is_some() {
                    self.ports.accounts.revoke_token_family(&record.family_id, now).await?;
                    Err(RefreshError::Reused)
                } else {
                    Err(RefreshError::Expired)
                }
            }
            ConsumeOutcome::Consumed(record) => {
                let owner =
                    self.ports.accounts.find_owner(&record.user_id).await?.ok_or(RefreshError::Invalid)?;
                Ok(self.open_session(owner, Some(record.family_id)).await?)
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
            self.ports.accounts.revoke_token_family(&family, self.ports.clock.now()).await?;
        }
        Ok(())
    }

    /// Checks an access token and answers its claims.
    ///
    /// # Errors
    /// [`AuthError::Invalid`] or [`AuthError::Expired`]; [`AuthError::Backend`].
    pub async fn authenticate(&self, token: &str) -> Result<Claims, AuthError> {
        self.ports.tokens.verify(token, self.ports.clock.now()).await.map_err(|e| match e {
            TokenError::Invalid => AuthError::Invalid,
            TokenError::Expired => AuthError::Expired,
            TokenError::Backend(b) => AuthError::Backend(b),
        })
    }

    /// The user behind an id, if they exist.
    ///
    /// # Errors
    /// [`crate::BackendError`] for infrastructure failures.
    pub async fn owner(&self, id: &crate::UserId) -> Result<Option<Owner>, crate::BackendError> {
        self.ports.accounts.find_owner(id).await
    }

    /// When a token issued now would expire.
    #[must_use]
    pub fn access_expiry(&self, now: DateTime<Utc>) -> DateTime<Utc> {
        now + self.settings.access_ttl
    }

    async fn open_session(
        &self,
        owner: Owner,
        family: Option<TokenFamilyId>,
    ) -> Result<Session, BackendError> {
        let now = self.ports.clock.now();
        let claims = Claims {
            user_id: owner.id,
            username: owner.username.clone(),
            issued_at: now,
            expires_at: now + self.settings.access_ttl,
        };
        let access_token = self.ports.tokens.issue(&claims).await.map_err(signing_failure)?;
        let refresh_token = RefreshToken::generate();
        let record = RefreshTokenRecord {
            hash: refresh_token.hash(),
            user_id: owner.id,
            family_id: family.unwrap_or_else(|| self.ports.clock.new_family_id()),
            issued_at: now,
            expires_at: now + self.settings.refresh_ttl,
            used_at: None,
            revoked_at: None,
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

/// A stand-in password of valid length, hashed when the submitted one breaks the rules.
fn filler_password() -> Password {
    // Eight ASCII characters satisfy the length rule, so parsing cannot fail.
    #[allow(clippy::expect_used)]
    Password::parse("not-a-password").expect("valid filler password")
}
