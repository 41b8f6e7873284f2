//! The state every handler shares: the core services, the event hub, the background
//! workers (for metrics), readiness checks, the HTTP settings, the metrics registry and the
//! transfer counts per user and per client address.

use std::sync::Arc;
use std::time::Duration;

use axum::http::HeaderName;

use async_trait::async_trait;
use drip_core::accounts::AccountService;
use drip_core::archives::ArchiveService;
use drip_core::events::Hub;
use drip_core::events::cluster::{ClusterNode, NodeInfo};
use drip_core::jobs::ports::JobQueue;
use drip_core::jobs::runner::JobRunner;
use drip_core::links::LinkService;
use drip_core::storage::StorageService;
use drip_core::supervisor::Restarts;
use drip_core::uploads::UploadService;

use crate::metrics::Metrics;
use crate::transfers::TransferCounts;

/// One dependency `/ready` checks, e.g. the database or the object store. The facade
/// implements it over the adapters it wired.
#[async_trait]
pub trait Readiness: Send + Sync + 'static {
    /// The component's name as `/ready` reports it, e.g. `database` or `storage`.
    fn component(&self) -> &str;

    /// Checks that the component answers (a cheap round trip).
    ///
    /// # Errors
    /// A description of what is wrong; it is logged, never sent to the client.
    async fn check(&self) -> Result<(), String>;
}

/// The background work `/metrics` reports on: the durable job queue (its counts are read
/// at scrape time), the runner whose attempts are counted, and the restarts of the
/// supervised workers. The facade hands over its own (`Drip::queue`, `Drip::jobs`,
/// `Drip::restarts`).
#[derive(Clone)]
pub struct Workers {
    /// The job queue.
    pub queue: Arc<dyn JobQueue>,
    /// The job runner.
    pub runner: Arc<JobRunner>,
    /// How often each background worker was restarted.
    pub restarts: Restarts,
}

/// This node as `/health` reports it: its name and host, and the other nodes it sees when
/// it is part of a cluster.
#[derive(Debug, Clone)]
pub struct NodeView {
    info: NodeInfo,
    cluster: Option<ClusterNode>,
}

impl NodeView {
    /// A node on its own.
    #[must_use]
    pub fn alone(info: NodeInfo) -> Self {
        Self { info, cluster: None }
    }

    /// A node of `cluster`.
    #[must_use]
    pub fn of(cluster: ClusterNode) -> Self {
        Self { info: cluster.node().clone(), cluster: Some(cluster) }
    }

    /// The node.
    #[must_use]
    pub fn info(&self) -> &NodeInfo {
        &self.info
    }

    /// The other live nodes, by name (none for a node on its own).
    #[must_use]
    pub fn peers(&self) -> Vec<NodeInfo> {
        self.cluster.as_ref().map(ClusterNode::peers).unwrap_or_default()
    }
}

/// The session cookies of the original's endpoints (`POST /api/sessions`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CookieSettings {
    /// Name of the cookie carrying the access token (`Path=/`).
    pub access_name: String,
    /// Name of the cookie carrying the refresh token (`Path=/api/sessions`, so it only
    /// travels to the endpoint that revokes it).
    pub refresh_name: String,
    /// Whether the cookies are marked `Secure` (sent over HTTPS only).
    pub secure: bool,
    /// The `Domain` attribute, if any (host-only cookies otherwise).
    pub domain: Option<String>,
}

impl Default for CookieSettings {
    fn default() -> Self {
        Self {
            access_name: "drip_session".to_owned(),
            refresh_name: "drip_refresh".to_owned(),
            secure: true,
            domain: None,
        }
    }
}

/// Tunables of the HTTP layer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpSettings {
    /// Largest JSON (or form) request body, in bytes; larger ones answer 413.
    pub max_json_bytes: usize,
    /// Time allowed to produce a response on every route except the transfers (upload,
    /// download, events), which may run as long as their bytes keep moving.
    pub request_timeout: Duration,
    /// Origins allowed by CORS (e.g. `https://app.example.com`); empty turns CORS off.
    pub cors_origins: Vec<String>,
    /// The session cookies of the original's endpoints.
    pub cookies: CookieSettings,
    /// Uploads and downloads one user may run at once (0: no per-user limit); more
    /// answer 429.
    pub max_transfers_per_user: usize,
    /// Uploads and downloads one client address (an IPv6 /64) may run at once (0: no
    /// per-address limit); more answer 429.
    pub max_transfers_per_ip: usize,
    /// How long an upload may receive no byte before it is cut (408, and removed as after
    /// a disconnect).
    pub transfer_idle: Duration,
    /// The header a trusted reverse proxy names the client's address in (its last hop
    /// counts); `None`: the connection's peer address. Set it only behind such a proxy:
    /// otherwise clients pick their own address.
    pub client_ip_header: Option<HeaderName>,
    /// Time allowed to each readiness check.
    pub ready_timeout: Duration,
    /// How often a WebSocket connection is pinged and its token checked again (an
    /// expired token closes the connection with code 4001).
    pub ws_heartbeat: Duration,
    /// The `Retry-After` seconds sent with 429 and 503 answers.
    pub retry_after_secs: u64,
    /// When set, `/metrics` requires `Authorization: Bearer <token>`.
    pub metrics_token: Option<String>,
}

impl Default for HttpSettings {
    fn default() -> Self {
        Self {
            max_json_bytes: 64 * 1024,
            request_timeout: Duration::from_secs(30),
            cors_origins: Vec::new(),
            cookies: CookieSettings::default(),
            max_transfers_per_user: 4,
            max_transfers_per_ip: 16,
            transfer_idle: Duration::from_secs(30),
            client_ip_header: None,
            ready_timeout: Duration::from_secs(5),
            ws_heartbeat: Duration::from_secs(30),
            retry_after_secs: 1,
            metrics_token: None,
        }
    }
}

/// The use cases the handlers call.
#[derive(Clone)]
pub struct Services {
    /// Accounts.
    pub accounts: AccountService,
    /// Files, folders and shares.
    pub storage: StorageService,
    /// Public and drop links.
    pub links: LinkService,
    /// Prepared folder archives.
    pub archives: ArchiveService,
    /// Resumable (tus) uploads.
    pub uploads: UploadService,
}

/// Everything the handlers share; cheap to clone.
#[derive(Clone)]
pub struct AppState {
    inner: Arc<Shared>,
}

struct Shared {
    accounts: AccountService,
    storage: StorageService,
    links: LinkService,
    archives: ArchiveService,
    uploads: UploadService,
    hub: Hub,
    node: NodeView,
    workers: Workers,
    readiness: Vec<Arc<dyn Readiness>>,
    settings: HttpSettings,
    metrics: Metrics,
    transfers: TransferCounts,
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let components: Vec<&str> = self.inner.readiness.iter().map(|r| r.component()).collect();
        f.debug_struct("AppState")
            .field("settings", &self.inner.settings)
            .field("readiness", &components)
            .finish_non_exhaustive()
    }
}

impl AppState {
    /// The state of a router over these services. `readiness` lists what `/ready`
    /// checks (typically the database and the object store); `hub` must be the
    /// [`Hub`] the storage service's notifier delivers to, so that connections receive
    /// the events the services publish; `node` is this node as `/health` reports it;
    /// `workers` are the background workers `/metrics` reports on; `archives` reads files
    /// through `storage`.
    #[must_use]
    #[allow(clippy::too_many_arguments)] // one per shared part, each named at the call
    pub fn new(
        services: Services,
        hub: Hub,
        node: NodeView,
        workers: Workers,
        readiness: Vec<Arc<dyn Readiness>>,
        settings: HttpSettings,
    ) -> Self {
        let transfers = TransferCounts::new(settings.max_transfers_per_user, settings.max_transfers_per_ip);
        let Services { accounts, storage, links, archives, uploads } = services;
        Self {
            inner: Arc::new(Shared {
                accounts,
                storage,
                links,
                archives,
                uploads,
                hub,
                node,
                workers,
                readiness,
                settings,
                metrics: Metrics::new(),
                transfers,
            }),
        }
    }

    /// The accounts use cases.
    #[must_use]
    pub fn accounts(&self) -> &AccountService {
        &self.inner.accounts
    }

    /// The storage use cases.
    #[must_use]
    pub fn storage(&self) -> &StorageService {
        &self.inner.storage
    }

    /// The link use cases.
    #[must_use]
    pub fn links(&self) -> &LinkService {
        &self.inner.links
    }

    /// The prepared-archive use cases.
    #[must_use]
    pub fn archives(&self) -> &ArchiveService {
        &self.inner.archives
    }

    /// The resumable-upload use cases.
    #[must_use]
    pub fn uploads(&self) -> &UploadService {
        &self.inner.uploads
    }

    /// The event hub connections subscribe to.
    #[must_use]
    pub fn hub(&self) -> &Hub {
        &self.inner.hub
    }

    /// This node.
    #[must_use]
    pub fn node(&self) -> &NodeView {
        &self.inner.node
    }

    /// The settings in force.
    #[must_use]
    pub fn settings(&self) -> &HttpSettings {
        &self.inner.settings
    }

    pub(crate) fn workers(&self) -> &Workers {
        &self.inner.workers
    }

    pub(crate) fn readiness(&self) -> &[Arc<dyn Readiness>] {
        &self.inner.readiness
    }

    pub(crate) fn metrics(&self) -> &Metrics {
        &self.inner.metrics
    }

    pub(crate) fn transfers(&self) -> &TransferCounts {
        &self.inner.transfers
    }

    /// The upload limit, which the storage service's settings hold (the one source of
    /// truth: the service cuts a longer stream, this layer refuses a longer
    /// `Content-Length` before reading).
    pub(crate) fn upload_limit(&self) -> u64 {
        self.inner.storage.settings().max_upload_bytes
    }
}
