//! [`JobQueue`] in SQL: the `jobs` table, claimed with a lease in a write transaction (on
//! PostgreSQL the row is locked `FOR UPDATE SKIP LOCKED`, so concurrent claimers take
//! different jobs without waiting for each other).

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use drip_core::jobs::model::{Claim, Job};
use drip_core::jobs::model::{JobCount, JobState, JobStats, NewJob, TaskKind};
use drip_core::jobs::ports::JobQueue;
use drip_core::{BackendError, ClaimToken, JobId};
use sqlx::AssertSqlSafe;

use super::Repositories;
use crate::error::corrupt;
use crate::rows::Conn;
use crate::{Dialect, Param, Reads, job_columns};

/// Adds `job` to the queue, on `conn` (inside the caller's transaction when it has one).
pub(super) async fn insert_job<D: Dialect>(conn: &mut Conn<D>, job: &NewJob) -> Result<(), BackendError>
where
    String: Param<D::Db>,
{
    sqlx::query(
        "INSERT INTO jobs (id, kind, payload, state, attempts, run_at, created_at) \
         VALUES ($1, $2, $3, 'queued', 0, $4, $5)",
    )
    .bind(job.id.to_string())
    .bind(job.task.kind().as_str().to_owned())
    .bind(D::json(&job.task.payload()))
    .bind(D::time(job.run_at))
    .bind(D::time(job.created_at))
    .execute(D::on(conn))
    .await
    .map_err(|e| D::backend("enqueueing a job", e))?;
    Ok(())
}

#[async_trait]
impl<D: Dialect> JobQueue for Repositories<D>
where
    String: Param<D::Db>,
    i64: Param<D::Db>,
{
    async fn enqueue(&self, job: &NewJob) -> Result<(), BackendError> {
        let mut conn = self.pool.acquire().await.map_err(|e| D::backend("acquiring a connection", e))?;
        insert_job::<D>(&mut conn, job).await
    }

    async fn claim(
        &self,
        token: &ClaimToken,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
    ) -> Result<Option<Job>, BackendError> {
        let sql = format!(
            concat!(
                "UPDATE jobs SET state = 'running', attempts = attempts + 1, lease_until = $3, claim_token = $1 \
                 WHERE id = (SELECT id FROM jobs \
                     WHERE state <> 'dead' AND ((state = 'queued' AND run_at <= $2) OR (state = 'running' AND lease_until <= $2)) \
                     ORDER BY run_at, id LIMIT 1{}) \
                 RETURNING ",
                job_columns!()
            ),
            D::CLAIM_LOCK
        );
        let mut tx = self.write().await?;
        let row = sqlx::query(AssertSqlSafe(sql))
            .bind(token.to_string())
            .bind(D::time(now))
            .bind(D::time(lease_until))
            .fetch_optional(D::on(&mut tx))
            .await
            .map_err(|e| D::backend("claiming a job", e))?;
        tx.commit().await.map_err(|e| D::backend("committing a claim", e))?;
        row.as_ref().map(D::job).transpose()
    }

    async fn complete(&self, claim: &Claim) -> Result<bool, BackendError> {
        let query = sqlx::query(
            "DELETE FROM jobs WHERE id = $1 AND claim_token = $2 AND state = 'running' RETURNING id",
        )
        .bind(claim.job.to_string())
        .bind(claim.token.to_string());
        self.changed(query, "completing a job").await
    }

    async fn fail(
        &self,
        claim: &Claim,
        error: &str,
        retry_at: Option<DateTime<Utc>>,
    ) -> Result<bool, BackendError> {
        let state = if retry_at.is_some() { JobState::Queued } else { JobState::Dead };
        let query = sqlx::query(
            "UPDATE jobs SET state = $3, run_at = COALESCE($5, run_at), last_error = $4, lease_until = NULL, \
                 claim_token = NULL \
             WHERE id = $1 AND claim_token = $2 AND state = 'running' RETURNING id",
        )
        .bind(claim.job.to_string())
        .bind(claim.token.to_string())
        .bind(state.as_str().to_owned())
        .bind(error.to_owned())
        .bind(D::maybe_time(retry_at));
        self.changed(query, "recording a failed job").await
    }

    async fn list(&self, state: Option<JobState>, limit: u32) -> Result<Vec<Job>, BackendError> {
        let mut query = sqlx::QueryBuilder::new(concat!("SELECT ", job_columns!(), " FROM jobs"));
        if let Some(state) = state {
            query.push(" WHERE state = ").push_bind(state.as_str().to_owned());
        }
        query.push(" ORDER BY run_at, id LIMIT ").push_bind(i64::from(limit));
        let found = query
            .build()
            .fetch_all(D::on_pool(&self.reads))
            .await
            .map_err(|e| D::backend("listing jobs", e))?;
        found.iter().map(D::job).collect()
    }

    async fn retry(&self, id: &JobId, now: DateTime<Utc>) -> Result<bool, BackendError> {
        let query = sqlx::query(
            "UPDATE jobs SET state = 'queued', attempts = 0, run_at = $2 \
             WHERE id = $1 AND state = 'dead' RETURNING id",
        )
        .bind(id.to_string())
        .bind(D::time(now));
        self.changed(query, "retrying a job").await
    }

    async fn stats(&self) -> Result<JobStats, BackendError> {
        let rows = sqlx::query(
            "SELECT kind, state, count(*) AS jobs FROM jobs GROUP BY kind, state ORDER BY kind, state",
        )
        .fetch_all(D::on_pool(&self.reads))
        .await
        .map_err(|e| D::backend("counting jobs", e))?;
        let mut counts = Vec::with_capacity(rows.len());
        for row in &rows {
            let kind: String = row.read("jobs", "kind")?;
            let state: String = row.read("jobs", "state")?;
            let count: i64 = row.read("jobs", "jobs")?;
            counts.push(JobCount {
                kind: TaskKind::parse(&kind).map_err(|e| corrupt("jobs", "kind", e))?,
                state: JobState::parse(&state).map_err(|e| corrupt("jobs", "state", e))?,
                count: u64::try_from(count).map_err(|e| corrupt("jobs", "count", e))?,
            });
        }
        let oldest =
            sqlx::query("SELECT run_at FROM jobs WHERE state = 'queued' ORDER BY run_at, id LIMIT 1")
                .fetch_optional(D::on_pool(&self.reads))
                .await
                .map_err(|e| D::backend("finding the oldest queued job", e))?;
        let oldest_queued = oldest.as_ref().map(|row| D::read_time(row, "jobs", "run_at")).transpose()?;
        Ok(JobStats { counts, oldest_queued })
    }
}
