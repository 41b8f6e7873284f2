//! The cluster ports on PostgreSQL: [`PgEventBus`] carries messages as `NOTIFY` payloads on
//! one channel (each listener on a connection of its own), and [`PgNodeRegistry`] keeps the
//! nodes' beats and presence in `cluster_nodes` / `cluster_presence`, timed by the server's
//! clock so that the nodes' clocks need not agree.

use std::time::Duration;

use async_trait::async_trait;
use drip_core::events::cluster::{
    self, ClusterMessage, EventBus, LocalCount, MessageStream, NodeInfo, NodeName, NodeRegistry, NodeReport,
    wire,
};
use drip_core::{BackendError, UserId};
use drip_sql::error::to_i64;
use futures::StreamExt as _;
use sqlx::postgres::{PgListener, PgPool, PgPoolOptions};
use sqlx::{Postgres as Pg, Row as _, Transaction};

use crate::Postgres;

/// The `LISTEN`/`NOTIFY` channel of the cluster messages.
pub const CHANNEL: &str = "drip_cluster";

fn backend(context: &str, error: sqlx::Error) -> BackendError {
    drip_sql::error::backend(context, error, <Postgres as drip_sql::Dialect>::is_transient_code)
}

/// An [`EventBus`] on PostgreSQL `LISTEN/NOTIFY`. Publishing takes a connection of the
/// shared pool for one statement; each listener holds a connection of its own, outside the
/// pool, for as long as it listens.
#[derive(Debug, Clone)]
pub struct PgEventBus {
    pool: PgPool,
}

impl PgEventBus {
    /// A bus over the database `pool` connects to.
    #[must_use]
    pub fn new(pool: PgPool) -> Self {
        Self { pool }
    }
}

#[async_trait]
impl EventBus for PgEventBus {
    async fn publish(&self, message: &ClusterMessage) -> Result<(), BackendError> {
        let payload = wire::encode(message);
        if payload.len() > wire::MAX_PAYLOAD {
            return Err(BackendError::msg(format!(
                "a cluster message of {} bytes is over NOTIFY's limit",
                payload.len()
            )));
        }
        sqlx::query("SELECT pg_notify($1, $2)")
            .bind(CHANNEL)
            .bind(payload)
            .execute(&self.pool)
            .await
            .map_err(|e| backend("cannot publish a cluster message", e))?;
        Ok(())
    }

    async fn listen(&self) -> Result<MessageStream, BackendError> {
        // A pool of one connection of its own: the listener holds it for good, and
        // reconnects through it.
        let options = (*self.pool.connect_options()).clone();
        let own = PgPoolOptions::new()
            .max_connections(1)
            .max_lifetime(None)
            .idle_timeout(None)
            .acquire_timeout(Duration::from_secs(10))
            .connect_lazy_with(options);
        let mut listener = PgListener::connect_with(&own)
            .await
            .map_err(|e| backend("cannot connect the cluster listener", e))?;
        listener.listen(CHANNEL).await.map_err(|e| backend("cannot listen for cluster messages", e))?;
        let stream = futures::stream::unfold(Some(listener), |listener| async move {
            let mut listener = listener?;
            loop {
                return match listener.try_recv().await {
                    Ok(Some(notification)) => match wire::decode(notification.payload()) {
                        Ok(message) => Some((Ok(message), Some(listener))),
                        Err(e) => {
                            tracing::warn!(error = %e, "ignored a cluster message this version does not know");
                            continue;
                        }
                    },
                    Ok(None) => Some((
                        Err(BackendError::msg("the cluster listener lost its connection").transient()),
                        None,
                    )),
                    Err(e) => Some((Err(backend("the cluster listener failed", e)), None)),
                };
            }
        });
        Ok(stream.boxed())
    }
}

/// A [`NodeRegistry`] in the database.
#[derive(Debug, Clone)]
pub struct PgNodeRegistry {
    pool: PgPool,
}

impl PgNodeRegistry {
    /// A registry in the database `pool` connects to (migrated: `cluster_nodes`).
    #[must_use]
    pub fn new(pool: PgPool) -> Self {
        Self { pool }
    }
}

/// A bound as seconds for `make_interval`.
fn seconds(within: Duration) -> f64 {
    within.as_secs_f64()
}

async fn write_presence(
    tx: &mut Transaction<'_, Pg>,
    node: &NodeName,
    version: i64,
    (user, username, connections): &LocalCount,
) -> Result<(), BackendError> {
    let known = sqlx::query("UPDATE cluster_nodes SET version = GREATEST(version, $2) WHERE name = $1")
        .bind(node.as_str())
        .bind(version)
        .execute(&mut **tx)
        .await
        .map_err(|e| backend("cannot record presence", e))?;
    if known.rows_affected() == 0 {
        return Err(BackendError::msg(format!("the node registry does not know node {node}")));
    }
    if *connections == 0 {
        sqlx::query("DELETE FROM cluster_presence WHERE node = $1 AND user_id = $2")
            .bind(node.as_str())
            .bind(user.to_string())
            .execute(&mut **tx)
            .await
            .map_err(|e| backend("cannot record presence", e))?;
    } else {
        sqlx::query(
            "INSERT INTO cluster_presence (node, user_id, username, connections) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (node, user_id) DO UPDATE SET username = excluded.username, connections = excluded.connections",
        )
        .bind(node.as_str())
        .bind(user.to_string())
        .bind(username.as_str())
        .bind(to_i64(*connections as u64, "a connection count")?)
        .execute(&mut **tx)
        .await
        .map_err(|e| backend("cannot record presence", e))?;
    }
    Ok(())
}

#[async_trait]
impl NodeRegistry for PgNodeRegistry {
    async fn heartbeat(&self, node: &NodeInfo) -> Result<bool, BackendError> {
        // `xmax = 0` only on a row this statement inserted.
        let row = sqlx::query(
            "INSERT INTO cluster_nodes (name, hostname, seen_at) VALUES ($1, $2, now()) \
             ON CONFLICT (name) DO UPDATE SET hostname = excluded.hostname, seen_at = excluded.seen_at \
             RETURNING (xmax = 0) AS registered",
        )
        .bind(node.name.as_str())
        .bind(&node.hostname)
        .fetch_one(&self.pool)
        .await
        .map_err(|e| backend("cannot record a heartbeat", e))?;
        row.try_get("registered").map_err(|e| backend("cannot record a heartbeat", e))
    }

    async fn set_presence(
        &self,
        node: &NodeName,
        version: u64,
        count: &LocalCount,
    ) -> Result<(), BackendError> {
        let version = to_i64(version, "a presence version")?;
        let mut tx = self.pool.begin().await.map_err(|e| backend("cannot record presence", e))?;
        write_presence(&mut tx, node, version, count).await?;
        tx.commit().await.map_err(|e| backend("cannot record presence", e))
    }

    async fn live(&self, within: Duration) -> Result<Vec<NodeReport>, BackendError> {
        let rows = sqlx::query(
            "SELECT n.name, n.hostname, n.version, p.user_id, p.username, p.connections \
             FROM cluster_nodes n LEFT JOIN cluster_presence p ON p.node = n.name \
             WHERE n.seen_at > now() - make_interval(secs => $1) ORDER BY n.name",
        )
        .bind(seconds(within))
        .fetch_all(&self.pool)
        .await
        .map_err(|e| backend("cannot read the node registry", e))?;
        let mut reports: Vec<(NodeInfo, u64, Vec<LocalCount>)> = Vec::new();
        for row in rows {
            let read = |e| backend("cannot read the node registry", e);
            let name: String = row.try_get("name").map_err(read)?;
            if reports.last().is_none_or(|(info, _, _)| info.name.as_str() != name) {
                let node = NodeName::parse(&name)
                    .map_err(|e| drip_sql::error::corrupt("cluster_nodes", "name", e))?;
                let version: i64 = row.try_get("version").map_err(read)?;
                let hostname: String = row.try_get("hostname").map_err(read)?;
                let version = u64::try_from(version)
                    .map_err(|e| drip_sql::error::corrupt("cluster_nodes", "version", e))?;
                reports.push((NodeInfo { name: node, hostname }, version, Vec::new()));
            }
            let user: Option<String> = row.try_get("user_id").map_err(read)?;
            if let (Some(user), Some((_, _, users))) = (user, reports.last_mut()) {
                let user = UserId::parse(&user)
                    .map_err(|e| drip_sql::error::corrupt("cluster_presence", "user_id", e))?;
                let username: String = row.try_get("username").map_err(read)?;
                let connections: i64 = row.try_get("connections").map_err(read)?;
                let connections = usize::try_from(connections)
                    .map_err(|e| drip_sql::error::corrupt("cluster_presence", "connections", e))?;
                users.push((user, cluster::stored_username(&username)?, connections));
            }
        }
        Ok(reports
            .into_iter()
            .map(|(node, version, users)| NodeReport { node, presence: cluster::presence_of(version, users) })
            .collect())
    }

    async fn prune(&self, within: Duration) -> Result<u64, BackendError> {
        let done =
            sqlx::query("DELETE FROM cluster_nodes WHERE seen_at <= now() - make_interval(secs => $1)")
                .bind(seconds(within))
                .execute(&self.pool)
                .await
                .map_err(|e| backend("cannot prune the node registry", e))?;
        Ok(done.rows_affected())
    }

    async fn remove(&self, node: &NodeName) -> Result<(), BackendError> {
        sqlx::query("DELETE FROM cluster_nodes WHERE name = $1")
            .bind(node.as_str())
            .execute(&self.pool)
            .await
            .map_err(|e| backend("cannot remove a node from the registry", e))?;
        Ok(())
    }
}
