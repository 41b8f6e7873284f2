//! Prometheus metrics through `prometheus-client`, written in the Prometheus text format:
//! requests by route template and status class, transfer durations, content bytes in and
//! out, (read at scrape time) cache counters, transfers in flight and connections, the
//! background jobs (queued, running and dead per kind, the oldest queued one's wait,
//! attempts by outcome) and the workers' restarts, and the standard `process_*` metrics.

#[cfg(target_os = "linux")]
mod process;

use std::fmt;
use std::time::Duration;

use axum::http::{Method, StatusCode};
use drip_core::content::CacheStats;
use drip_core::jobs::model::{JobCount, JobState, TaskKind};
use drip_core::jobs::runner::Outcome as JobOutcome;
use prometheus_client::encoding::{EncodeLabelSet, prometheus_text};
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::{ConstGauge, Gauge};
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::{Registry, Unit};

use crate::middleware::method_label;

/// The `Content-Type` of what [`Metrics::render`] writes.
pub(crate) const CONTENT_TYPE: &str = prometheus_text::CONTENT_TYPE;

/// Bucket bounds (seconds) of request durations (the original widened its own to 20 s).
const REQUEST_BUCKETS: [f64; 12] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0];
/// Bucket bounds (seconds) of whole transfers.
const TRANSFER_BUCKETS: [f64; 11] = [0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0, 30.0, 60.0, 300.0, 1800.0];

/// How a transfer ended, as a label.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// Every byte went through.
    Ok,
    /// It failed.
    Error,
    /// The client went away before the end.
    Aborted,
}

impl Outcome {
    fn label(self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::Error => "error",
            Self::Aborted => "aborted",
        }
    }
}

/// The labels of a request: its method, route template (never the raw path) and status class.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct RequestLabels {
    method: &'static str,
    route: String,
    status: &'static str,
}

/// The label of a transfer: how it ended.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct OutcomeLabels {
    outcome: &'static str,
}

/// The labels of a job count: its kind and state.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct JobLabels {
    kind: &'static str,
    state: &'static str,
}

/// The labels of job attempts: the job's kind and how the attempt ended.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct AttemptLabels {
    kind: &'static str,
    outcome: &'static str,
}

/// The label of a background worker: its name.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct WorkerLabels {
    worker: &'static str,
}

/// The job queue at scrape time.
#[derive(Debug, Clone, Default)]
pub(crate) struct JobGauges {
    /// Jobs per kind and state (those left out are 0).
    pub(crate) counts: Vec<JobCount>,
    /// How long the oldest queued job has been due (0 when none is).
    pub(crate) oldest_queued_age: Duration,
}

/// What is read from elsewhere at scrape time.
#[derive(Debug, Clone, Default)]
pub(crate) struct Gauges {
    /// The content cache's counters.
    pub(crate) cache: CacheStats,
    /// Transfers holding a slot of the storage service.
    pub(crate) transfers_in_flight: usize,
    /// Open event connections.
    pub(crate) connections: usize,
    /// Users with at least one open event connection.
    pub(crate) online_users: usize,
    /// The job queue; `None` when it could not be read (its families are left out).
    pub(crate) jobs: Option<JobGauges>,
    /// Job attempts by kind and outcome since the start (those left out are 0).
    pub(crate) job_attempts: Vec<(TaskKind, JobOutcome, u64)>,
    /// Restarts of each background worker since the start.
    pub(crate) worker_restarts: Vec<(&'static str, u64)>,
}

type Histograms<L> = Family<L, Histogram, fn() -> Histogram>;

/// The registry of the metrics the HTTP layer records.
#[derive(Debug)]
pub(crate) struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    request_durations: Histograms<RequestLabels>,
    stores: Histograms<OutcomeLabels>,
    downloads: Histograms<OutcomeLabels>,
    bytes_in: Counter,
    bytes_out: Counter,
}

fn status_class(status: StatusCode) -> &'static str {
    match status.as_u16() {
        100..=199 => "1xx",
        200..=299 => "2xx",
        300..=399 => "3xx",
        400..=499 => "4xx",
        _ => "5xx",
    }
}

impl Metrics {
    pub(crate) fn new() -> Self {
        let requests = Family::default();
        let request_durations: Histograms<RequestLabels> =
            Family::new_with_constructor(|| Histogram::new(REQUEST_BUCKETS));
        let stores: Histograms<OutcomeLabels> =
            Family::new_with_constructor(|| Histogram::new(TRANSFER_BUCKETS));
        let downloads: Histograms<OutcomeLabels> =
            Family::new_with_constructor(|| Histogram::new(TRANSFER_BUCKETS));
        let bytes_in = Counter::default();
        let bytes_out = Counter::default();
        // The registry holds clones of the handles: what is recorded through one shows in both.
        let mut registry = Registry::default();
        registry.register(
            "drip_http_requests",
            "HTTP requests by method, route template and status class",
            requests.clone(),
        );
        registry.register_with_unit(
            "drip_http_request_duration",
            "Time to answer HTTP requests (until the response head)",
            Unit::Seconds,
            request_durations.clone(),
        );
        registry.register_with_unit(
            "drip_store_duration",
            "Time to store an uploaded file, by outcome",
            Unit::Seconds,
            stores.clone(),
        );
        registry.register_with_unit(
            "drip_download_duration",
            "Time to deliver a download to its last byte, by outcome",
            Unit::Seconds,
            downloads.clone(),
        );
        registry.register("drip_bytes_in", "File content bytes received by uploads", bytes_in.clone());
        registry.register("drip_bytes_out", "File content bytes sent by downloads", bytes_out.clone());
        #[cfg(target_os = "linux")]
        registry.register_collector(Box::new(process::ProcessCollector));
        Self { registry, requests, request_durations, stores, downloads, bytes_in, bytes_out }
    }

    /// Counts a request under its route template (never the raw path).
    pub(crate) fn record_request(&self, method: &Method, route: &str, status: StatusCode, elapsed: Duration) {
        let labels = RequestLabels {
            method: method_label(method),
            route: route.to_owned(),
            status: status_class(status),
        };
        self.requests.get_or_create(&labels).inc();
        self.request_durations.get_or_create(&labels).observe(elapsed.as_secs_f64());
    }

    /// Records how long a store took.
    pub(crate) fn record_store(&self, outcome: Outcome, elapsed: Duration) {
        let labels = OutcomeLabels { outcome: outcome.label() };
        self.stores.get_or_create(&labels).observe(elapsed.as_secs_f64());
    }

    /// Records how long a download took, from the request to its last byte.
    pub(crate) fn record_download(&self, outcome: Outcome, elapsed: Duration) {
        let labels = OutcomeLabels { outcome: outcome.label() };
        self.downloads.get_or_create(&labels).observe(elapsed.as_secs_f64());
    }

    /// Counts uploaded content bytes.
    pub(crate) fn add_bytes_in(&self, n: u64) {
        self.bytes_in.inc_by(n);
    }

    /// Counts downloaded content bytes.
    pub(crate) fn add_bytes_out(&self, n: u64) {
        self.bytes_out.inc_by(n);
    }

    /// The text exposition of every metric, with `gauges` as the values read at scrape time.
    ///
    /// # Errors
    /// What a metric's encoder reports; writing into a `String` itself never fails.
    pub(crate) fn render(&self, gauges: Gauges) -> Result<String, fmt::Error> {
        let mut scraped = Registry::default();
        let counters = [
            ("drip_cache_hits", "Content cache lookups answered from the cache", gauges.cache.hits),
            ("drip_cache_misses", "Content cache lookups that missed", gauges.cache.misses),
        ];
        for (name, help, value) in counters {
            scraped.register(name, help, ConstCounter::new(value));
        }
        let levels = [
            ("drip_cache_entries", "Files held in the content cache", gauges.cache.entries),
            ("drip_cache_bytes", "Bytes held in the content cache", gauges.cache.bytes),
            (
                "drip_transfers_in_flight",
                "Uploads and downloads running now",
                gauges.transfers_in_flight as u64,
            ),
            ("drip_event_connections", "Open real-time event connections", gauges.connections as u64),
            (
                "drip_online_users",
                "Users with at least one open event connection",
                gauges.online_users as u64,
            ),
        ];
        for (name, help, value) in levels {
            scraped.register(name, help, ConstGauge::new(value));
        }
        register_jobs(&mut scraped, &gauges);
        let mut out = String::with_capacity(8 * 1024);
        prometheus_text::encode(&mut out, &self.registry)?;
        prometheus_text::encode(&mut out, &scraped)?;
        Ok(out)
    }
}

/// The job and worker families: every kind × state and kind × outcome is written, 0 when
/// absent, so that series do not come and go; the queue's families are left out when it
/// could not be read.
fn register_jobs(scraped: &mut Registry, gauges: &Gauges) {
    if let Some(jobs) = &gauges.jobs {
        let counts = Family::<JobLabels, Gauge>::default();
        for kind in TaskKind::ALL {
            for state in JobState::ALL {
                let count =
                    jobs.counts.iter().find(|c| c.kind == kind && c.state == state).map_or(0, |c| c.count);
                let labels = JobLabels { kind: kind.as_str(), state: state.as_str() };
                counts.get_or_create(&labels).set(i64::try_from(count).unwrap_or(i64::MAX));
            }
        }
        scraped.register("drip_jobs", "Background jobs by kind and state", counts);
        scraped.register_with_unit(
            "drip_jobs_oldest_queued_age",
            "How long the oldest queued job has been due (0 when none is)",
            Unit::Seconds,
            ConstGauge::new(jobs.oldest_queued_age.as_secs_f64()),
        );
    }
    let attempts = Family::<AttemptLabels, Counter>::default();
    for kind in TaskKind::ALL {
        for outcome in JobOutcome::ALL {
            let labels = AttemptLabels { kind: kind.as_str(), outcome: outcome.as_str() };
            let n = gauges.job_attempts.iter().find(|a| a.0 == kind && a.1 == outcome).map_or(0, |a| a.2);
            attempts.get_or_create(&labels).inc_by(n);
        }
    }
    scraped.register("drip_job_attempts", "Job attempts by kind and outcome", attempts);
    let restarts = Family::<WorkerLabels, Counter>::default();
    for &(worker, n) in &gauges.worker_restarts {
        restarts.get_or_create(&WorkerLabels { worker }).inc_by(n);
    }
    scraped.register(
        "drip_worker_restarts",
        "Restarts of background workers after a failure or a panic",
        restarts,
    );
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn renders_counters_and_histograms() {
        let metrics = Metrics::new();
        metrics.record_request(
            &Method::GET,
            "/api/v1/files/{id}",
            StatusCode::NOT_FOUND,
            Duration::from_millis(3),
        );
        metrics.record_request(
            &Method::GET,
            "/api/v1/files/{id}",
            StatusCode::NOT_FOUND,
            Duration::from_secs(30),
        );
        metrics.record_store(Outcome::Ok, Duration::from_millis(20));
        metrics.add_bytes_in(5);
        let text = metrics.render(Gauges { transfers_in_flight: 2, ..Gauges::default() }).unwrap();
        assert!(text.contains(
            "drip_http_requests_total{method=\"GET\",route=\"/api/v1/files/{id}\",status=\"4xx\"} 2"
        ));
        assert!(text.contains(
            "drip_http_request_duration_seconds_bucket{method=\"GET\",route=\"/api/v1/files/{id}\",status=\"4xx\",le=\"0.005\"} 1"
        ));
        assert!(text.contains(
            "drip_http_request_duration_seconds_bucket{method=\"GET\",route=\"/api/v1/files/{id}\",status=\"4xx\",le=\"+Inf\"} 2"
        ));
        assert!(text.contains("drip_store_duration_seconds_count{outcome=\"ok\"} 1"));
        assert!(text.contains("drip_bytes_in_total 5"));
        assert!(text.contains("drip_transfers_in_flight 2"));
    }

    #[test]
    fn renders_the_jobs_and_the_workers() {
        let metrics = Metrics::new();
        let gauges = Gauges {
            jobs: Some(JobGauges {
                counts: vec![JobCount { kind: TaskKind::DeleteObject, state: JobState::Dead, count: 3 }],
                oldest_queued_age: Duration::from_millis(1500),
            }),
            job_attempts: vec![(TaskKind::ReclaimUpload, JobOutcome::Retried, 4)],
            worker_restarts: vec![("jobs", 2), ("reclaimer", 0)],
            ..Gauges::default()
        };
        let text = metrics.render(gauges.clone()).unwrap();
        for expected in [
            "drip_jobs{kind=\"delete_object\",state=\"dead\"} 3",
            "drip_jobs{kind=\"delete_object\",state=\"queued\"} 0",
            "drip_jobs_oldest_queued_age_seconds 1.5",
            "drip_job_attempts_total{kind=\"reclaim_upload\",outcome=\"retried\"} 4",
            "drip_job_attempts_total{kind=\"delete_object\",outcome=\"dead\"} 0",
            "drip_worker_restarts_total{worker=\"jobs\"} 2",
            "drip_worker_restarts_total{worker=\"reclaimer\"} 0",
        ] {
            assert!(text.contains(expected), "missing {expected:?} in\n{text}");
        }
        // A queue that could not be read: its families are left out, the rest stays.
        let text = metrics.render(Gauges { jobs: None, ..gauges }).unwrap();
        assert!(!text.contains("drip_jobs"), "{text}");
        assert!(text.contains("drip_worker_restarts_total{worker=\"jobs\"} 2"), "{text}");
    }

    #[test]
    fn label_values_are_escaped() {
        let metrics = Metrics::new();
        metrics.record_request(&Method::GET, "a\"b\\c\nd", StatusCode::OK, Duration::ZERO);
        let text = metrics.render(Gauges::default()).unwrap();
        assert!(text.contains(r#"route="a\"b\\c\nd""#), "{text}");
    }
}
