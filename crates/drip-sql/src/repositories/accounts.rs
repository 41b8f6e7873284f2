//! [`AccountRepository`] in SQL: users and hashed refresh tokens.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use drip_core::accounts::model::{
    AttemptKey, Failures, Owner, PasswordHash, RefreshTokenHash, RefreshTokenRecord, SessionSummary, User,
    Username,
};
use drip_core::accounts::ports::{AccountRepository, ConsumeOutcome, CreateUserError, DeleteUserError};
use drip_core::{BackendError, TokenFamilyId, UserId};

use super::Repositories;
use crate::error::{FOREIGN_KEY, corrupt, violated};
use crate::rows::Reads;
use crate::{Dialect, Param, constraint};

#[async_trait]
impl<D: Dialect> AccountRepository for Repositories<D>
where
    String: Param<D::Db>,
    Option<String>: Param<D::Db>,
    Vec<u8>: Param<D::Db>,
{
    async fn create_user(&self, user: &User) -> Result<(), CreateUserError> {
        sqlx::query(
            "INSERT INTO users (id, username, username_lower, email, password_hash, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $6)",
        )
        .bind(user.owner.id.to_string())
        .bind(user.owner.username.as_str().to_owned())
        .bind(user.owner.username.normalized())
        .bind(user.owner.email.as_str().to_owned())
        .bind(user.password_hash.as_str().to_owned())
        .bind(D::time(user.created_at))
        .execute(D::on_pool(&self.pool))
        .await
        .map_err(|e| match violated::<D>(&e) {
            Some(constraint::USERNAME_LOWER) => CreateUserError::UsernameTaken,
            Some(constraint::USERS_PKEY) => CreateUserError::IdTaken,
            _ => CreateUserError::Backend(D::backend("inserting a user", e)),
        })?;
        Ok(())
    }

    async fn find_user_by_username(&self, username: &Username) -> Result<Option<User>, BackendError> {
        let row = sqlx::query(
            "SELECT id, username, email, password_hash, created_at FROM users WHERE username_lower = $1",
        )
        .bind(username.normalized())
        .fetch_optional(D::on_pool(&self.reads))
        .await
        .map_err(|e| D::backend("finding a user by name", e))?;
        row.as_ref().map(D::user).transpose()
    }

    async fn find_owner(&self, id: &UserId) -> Result<Option<Owner>, BackendError> {
        let row = sqlx::query("SELECT id, username, email FROM users WHERE id = $1")
            .bind(id.to_string())
            .fetch_optional(D::on_pool(&self.reads))
            .await
            .map_err(|e| D::backend("finding a user", e))?;
        row.as_ref().map(D::owner).transpose()
    }

    async fn insert_refresh_token(&self, record: &RefreshTokenRecord) -> Result<(), BackendError> {
        sqlx::query(
            "INSERT INTO refresh_tokens \
             (token_hash, user_id, family_id, issued_at, expires_at, used_at, revoked_at, client) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(record.hash.as_bytes().to_vec())
        .bind(record.user_id.to_string())
        .bind(record.family_id.to_string())
        .bind(D::time(record.issued_at))
        .bind(D::time(record.expires_at))
        .bind(D::maybe_time(record.used_at))
        .bind(D::maybe_time(record.revoked_at))
        .bind(record.client.as_ref().map(|c| c.as_str().to_owned()))
        .execute(D::on_pool(&self.pool))
        .await
        .map_err(|e| {
            let context = match violated::<D>(&e) {
                Some(constraint::REFRESH_TOKENS_PKEY) => "inserting a refresh token: duplicate hash",
                Some(FOREIGN_KEY) => "inserting a refresh token: unknown user",
                _ => "inserting a refresh token",
            };
            D::backend(context, e)
        })?;
        Ok(())
    }

    async fn consume_refresh_token(
        &self,
        hash: &RefreshTokenHash,
        now: DateTime<Utc>,
    ) -> Result<ConsumeOutcome, BackendError> {
        // One conditional UPDATE: of concurrent calls exactly one sees the token unused
        // (PostgreSQL's row lock makes the others re-check the condition after it commits;
        // SQLite runs one write at a time).
        let consumed = sqlx::query(
            "UPDATE refresh_tokens SET used_at = $2 \
             WHERE token_hash = $1 AND used_at IS NULL AND revoked_at IS NULL AND expires_at > $2 \
             RETURNING token_hash, user_id, family_id, issued_at, expires_at, used_at, revoked_at, client",
        )
        .bind(hash.as_bytes().to_vec())
        .bind(D::time(now))
        .fetch_optional(D::on_pool(&self.pool))
        .await
        .map_err(|e| D::backend("consuming a refresh token", e))?;
        if let Some(row) = consumed {
            return Ok(ConsumeOutcome::Consumed(D::refresh_token(&row)?));
        }
        let stored = sqlx::query(
            "SELECT token_hash, user_id, family_id, issued_at, expires_at, used_at, revoked_at, client \
             FROM refresh_tokens WHERE token_hash = $1",
        )
        .bind(hash.as_bytes().to_vec())
        .fetch_optional(D::on_pool(&self.pool))
        .await
        .map_err(|e| D::backend("reading a refresh token", e))?;
        match stored {
            Some(row) => Ok(ConsumeOutcome::Rejected(D::refresh_token(&row)?)),
            None => Ok(ConsumeOutcome::Unknown),
        }
    }

    async fn revoke_token_family(
        &self,
        family: &TokenFamilyId,
        at: DateTime<Utc>,
    ) -> Result<u64, BackendError> {
        let revoked = sqlx::query(
            "UPDATE refresh_tokens SET revoked_at = $2 WHERE family_id = $1 AND revoked_at IS NULL \
             RETURNING token_hash",
        )
        .bind(family.to_string())
        .bind(D::time(at))
        .fetch_all(D::on_pool(&self.pool))
        .await
        .map_err(|e| D::backend("revoking a token family", e))?;
        Ok(revoked.len() as u64)
    }

    async fn change_password(
        &self,
        user: &UserId,
        hash: &PasswordHash,
        keep: &TokenFamilyId,
        at: DateTime<Utc>,
    ) -> Result<Option<Vec<TokenFamilyId>>, BackendError> {
        let mut tx = self.write().await?;
        let changed =
            sqlx::query("UPDATE users SET password_hash = $2, updated_at = $3 WHERE id = $1 RETURNING id")
                .bind(user.to_string())
                .bind(hash.as_str().to_owned())
                .bind(D::time(at))
                .fetch_optional(D::on(&mut tx))
                .await
                .map_err(|e| D::backend("changing a password", e))?;
        if changed.is_none() {
            return Ok(None);
        }
        let rows = sqlx::query(
            "UPDATE refresh_tokens SET revoked_at = $3 \
             WHERE user_id = $1 AND family_id <> $2 AND revoked_at IS NULL RETURNING family_id",
        )
        .bind(user.to_string())
        .bind(keep.to_string())
        .bind(D::time(at))
        .fetch_all(D::on(&mut tx))
        .await
        .map_err(|e| D::backend("revoking the other sessions", e))?;
        tx.commit().await.map_err(|e| D::backend("committing a password change", e))?;
        let mut revoked = std::collections::BTreeSet::new();
        for row in &rows {
            let family: String = row.read("refresh_tokens", "family_id")?;
            revoked.insert(
                TokenFamilyId::parse(&family).map_err(|e| corrupt("refresh_tokens", "family_id", e))?,
            );
        }
        Ok(Some(revoked.into_iter().collect()))
    }

    async fn find_token_family(
        &self,
        hash: &RefreshTokenHash,
    ) -> Result<Option<TokenFamilyId>, BackendError> {
        let row = sqlx::query("SELECT family_id FROM refresh_tokens WHERE token_hash = $1")
            .bind(hash.as_bytes().to_vec())
            .fetch_optional(D::on_pool(&self.reads))
            .await
            .map_err(|e| D::backend("finding a token family", e))?;
        row.as_ref().map(D::token_family).transpose()
    }

    async fn session_active(&self, user: &UserId, family: &TokenFamilyId) -> Result<bool, BackendError> {
        let row = sqlx::query(
            "SELECT 1 FROM refresh_tokens WHERE family_id = $1 AND user_id = $2 AND revoked_at IS NULL LIMIT 1",
        )
        .bind(family.to_string())
        .bind(user.to_string())
        .fetch_optional(D::on_pool(&self.reads))
        .await
        .map_err(|e| D::backend("checking a session", e))?;
        Ok(row.is_some())
    }

    async fn list_sessions(
        &self,
        user: &UserId,
        now: DateTime<Utc>,
    ) -> Result<Vec<SessionSummary>, BackendError> {
        let rows = sqlx::query(
            "SELECT family_id, MIN(issued_at) AS started_at, MAX(issued_at) AS last_active_at, \
                    MAX(expires_at) AS expires_at, MAX(client) AS client \
             FROM refresh_tokens WHERE user_id = $1 GROUP BY family_id \
             HAVING MAX(CASE WHEN revoked_at IS NULL AND expires_at > $2 THEN 1 ELSE 0 END) = 1 \
             ORDER BY last_active_at DESC, family_id",
        )
        .bind(user.to_string())
        .bind(D::time(now))
        .fetch_all(D::on_pool(&self.reads))
        .await
        .map_err(|e| D::backend("listing sessions", e))?;
        rows.iter().map(D::session_summary).collect()
    }

    async fn delete_user(&self, id: &UserId) -> Result<bool, DeleteUserError> {
        // Tokens, received shares and folder statistics go with the user (ON DELETE
        // CASCADE); the media they created do not, and their reference refuses this.
        let deleted = sqlx::query("DELETE FROM users WHERE id = $1 RETURNING id")
            .bind(id.to_string())
            .fetch_optional(D::on_pool(&self.pool))
            .await
            .map_err(|e| match violated::<D>(&e) {
                Some(FOREIGN_KEY) => DeleteUserError::HasFiles,
                _ => DeleteUserError::Backend(D::backend("deleting a user", e)),
            })?;
        Ok(deleted.is_some())
    }

    async fn failures(
        &self,
        key: &AttemptKey,
        since: DateTime<Utc>,
    ) -> Result<Option<Failures>, BackendError> {
        let row = sqlx::query(
            "SELECT failures, last_failure FROM login_failures WHERE key = $1 AND last_failure > $2",
        )
        .bind(key.as_str().to_owned())
        .bind(D::time(since))
        .fetch_optional(D::on_pool(&self.reads))
        .await
        .map_err(|e| D::backend("reading login failures", e))?;
        row.as_ref().map(D::failures).transpose()
    }

    async fn record_failure(
        &self,
        key: &AttemptKey,
        now: DateTime<Utc>,
        since: DateTime<Utc>,
    ) -> Result<u32, BackendError> {
        let mut tx = self.write().await?;
        sqlx::query("DELETE FROM login_failures WHERE last_failure <= $1 AND key <> $2")
            .bind(D::time(since))
            .bind(key.as_str().to_owned())
            .execute(D::on(&mut tx))
            .await
            .map_err(|e| D::backend("forgetting old login failures", e))?;
        let row = sqlx::query(
            "INSERT INTO login_failures (key, failures, last_failure) VALUES ($1, 1, $2) \
             ON CONFLICT (key) DO UPDATE SET \
             failures = CASE WHEN login_failures.last_failure <= $3 THEN 1 ELSE login_failures.failures + 1 END, \
             last_failure = $2 \
             RETURNING failures, last_failure",
        )
        .bind(key.as_str().to_owned())
        .bind(D::time(now))
        .bind(D::time(since))
        .fetch_one(D::on(&mut tx))
        .await
        .map_err(|e| D::backend("counting a login failure", e))?;
        let failures = D::failures(&row)?;
        tx.commit().await.map_err(|e| D::backend("committing a login failure", e))?;
        Ok(failures.count)
    }

    async fn clear_failures(&self, key: &AttemptKey) -> Result<(), BackendError> {
        sqlx::query("DELETE FROM login_failures WHERE key = $1")
            .bind(key.as_str().to_owned())
            .execute(D::on_pool(&self.pool))
            .await
            .map_err(|e| D::backend("clearing login failures", e))?;
        Ok(())
    }

    async fn list_owners(&self) -> Result<Vec<Owner>, BackendError> {
        let found = sqlx::query("SELECT id, username, email FROM users ORDER BY username_lower, id")
            .fetch_all(D::on_pool(&self.reads))
            .await
            .map_err(|e| D::backend("listing users", e))?;
        found.iter().map(D::owner).collect()
    }
}
