//! Prometheus metrics, kept in memory and written in the text exposition format:
//! requests by route template and status class, transfer durations, content bytes in and
//! out, and (read at scrape time) cache counters, transfers in flight and connections.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use axum::http::{Method, StatusCode};
use drip_core::content::CacheStats;

use crate::middleware::method_label;

/// Bucket bounds (seconds) of request durations (the original widened its own to 20 s).
const REQUEST_BUCKETS: &[f64] = &[0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0];
/// Bucket bounds (seconds) of whole transfers.
const TRANSFER_BUCKETS: &[f64] = &[0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0, 30.0, 60.0, 300.0, 1800.0];

/// How a transfer ended, as a label.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
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

#[derive(Debug, Clone)]
struct Histogram {
    bounds: &'static [f64],
    buckets: Vec<u64>,
    sum: f64,
    count: u64,
}

impl Histogram {
    fn new(bounds: &'static [f64]) -> Self {
        Self { bounds, buckets: vec![0; bounds.len()], sum: 0.0, count: 0 }
    }

    fn observe(&mut self, seconds: f64) {
        if let Some(i) = self.bounds.iter().position(|b| seconds <= *b) {
            self.buckets[i] += 1;
        }
        self.sum += seconds;
        self.count += 1;
    }

    /// Writes `name_bucket`, `name_sum` and `name_count` with `labels` (already escaped,
    /// `k="v"` joined by commas, possibly empty).
    fn write(&self, out: &mut String, name: &str, labels: &str) {
        let sep = if labels.is_empty() { "" } else { "," };
        let mut cumulative = 0;
        for (bound, n) in self.bounds.iter().zip(&self.buckets) {
            cumulative += n;
            let _ = writeln!(out, "{name}_bucket{{{labels}{sep}le=\"{bound}\"}} {cumulative}");
        }
        let _ = writeln!(out, "{name}_bucket{{{labels}{sep}le=\"+Inf\"}} {}", self.count);
        let _ = writeln!(out, "{name}_sum{{{labels}}} {}", self.sum);
        let _ = writeln!(out, "{name}_count{{{labels}}} {}", self.count);
    }
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct RequestKey {
    method: &'static str,
    route: String,
    status: &'static str,
}

/// What is read from elsewhere at scrape time.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Gauges {
    /// The content cache's counters.
    pub(crate) cache: CacheStats,
    /// Transfers holding a slot of the storage service.
    pub(crate) transfers_in_flight: usize,
    /// Open event connections.
    pub(crate) connections: usize,
    /// Users with at least one open event connection.
    pub(crate) online_users: usize,
}

/// The registry of the metrics the HTTP layer records.
#[derive(Debug)]
pub(crate) struct Metrics {
    requests: Mutex<BTreeMap<RequestKey, Histogram>>,
    stores: Mutex<BTreeMap<Outcome, Histogram>>,
    downloads: Mutex<BTreeMap<Outcome, Histogram>>,
    bytes_in: AtomicU64,
    bytes_out: AtomicU64,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // Counters stay meaningful even if a holder panicked mid-update.
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
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

/// Escapes a label value (`\`, `"` and new lines).
fn escape(value: &str) -> String {
    value.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

impl Metrics {
    pub(crate) fn new() -> Self {
        Self {
            requests: Mutex::new(BTreeMap::new()),
            stores: Mutex::new(BTreeMap::new()),
            downloads: Mutex::new(BTreeMap::new()),
            bytes_in: AtomicU64::new(0),
            bytes_out: AtomicU64::new(0),
        }
    }

    /// Counts a request under its route template (never the raw path).
    pub(crate) fn record_request(&self, method: &Method, route: &str, status: StatusCode, elapsed: Duration) {
        let key = RequestKey {
            method: method_label(method),
            route: route.to_owned(),
            status: status_class(status),
        };
        lock(&self.requests)
            .entry(key)
            .or_insert_with(|| Histogram::new(REQUEST_BUCKETS))
            .observe(elapsed.as_secs_f64());
    }

    /// Records how long a store took.
    pub(crate) fn record_store(&self, outcome: Outcome, elapsed: Duration) {
        lock(&self.stores)
            .entry(outcome)
            .or_insert_with(|| Histogram::new(TRANSFER_BUCKETS))
            .observe(elapsed.as_secs_f64());
    }

    /// Records how long a download took, from the request to its last byte.
    pub(crate) fn record_download(&self, outcome: Outcome, elapsed: Duration) {
        lock(&self.downloads)
            .entry(outcome)
            .or_insert_with(|| Histogram::new(TRANSFER_BUCKETS))
            .observe(elapsed.as_secs_f64());
    }

    /// Counts uploaded content bytes.
    pub(crate) fn add_bytes_in(&self, n: u64) {
        self.bytes_in.fetch_add(n, Ordering::Relaxed);
    }

    /// Counts downloaded content bytes.
    pub(crate) fn add_bytes_out(&self, n: u64) {
        self.bytes_out.fetch_add(n, Ordering::Relaxed);
    }

    /// The text exposition of every metric.
    pub(crate) fn render(&self, gauges: Gauges) -> String {
        let mut out = String::with_capacity(8 * 1024);
        let requests = lock(&self.requests).clone();
        out.push_str(
            "# HELP drip_http_requests_total HTTP requests by method, route template and status class.\n",
        );
        out.push_str("# TYPE drip_http_requests_total counter\n");
        for (key, histogram) in &requests {
            let _ = writeln!(
                out,
                "drip_http_requests_total{{method=\"{}\",route=\"{}\",status=\"{}\"}} {}",
                key.method,
                escape(&key.route),
                key.status,
                histogram.count
            );
        }
        out.push_str("# HELP drip_http_request_duration_seconds Time to answer HTTP requests (until the response head).\n");
        out.push_str("# TYPE drip_http_request_duration_seconds histogram\n");
        for (key, histogram) in &requests {
            let labels = format!(
                "method=\"{}\",route=\"{}\",status=\"{}\"",
                key.method,
                escape(&key.route),
                key.status
            );
            histogram.write(&mut out, "drip_http_request_duration_seconds", &labels);
        }
        let transfers = [
            ("drip_store_duration_seconds", "Time to store an uploaded file, by outcome.", &self.stores),
            (
                "drip_download_duration_seconds",
                "Time to deliver a download to its last byte, by outcome.",
                &self.downloads,
            ),
        ];
        for (name, help, histograms) in transfers {
            let _ = writeln!(out, "# HELP {name} {help}");
            let _ = writeln!(out, "# TYPE {name} histogram");
            for (outcome, histogram) in lock(histograms).iter() {
                histogram.write(&mut out, name, &format!("outcome=\"{}\"", outcome.label()));
            }
        }
        let counters = [
            (
                "drip_bytes_in_total",
                "File content bytes received by uploads.",
                self.bytes_in.load(Ordering::Relaxed),
            ),
            (
                "drip_bytes_out_total",
                "File content bytes sent by downloads.",
                self.bytes_out.load(Ordering::Relaxed),
            ),
            ("drip_cache_hits_total", "Content cache lookups answered from the cache.", gauges.cache.hits),
            ("drip_cache_misses_total", "Content cache lookups that missed.", gauges.cache.misses),
        ];
        for (name, help, value) in counters {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter\n{name} {value}");
        }
        let levels = [
            ("drip_cache_entries", "Files held in the content cache.", gauges.cache.entries),
            ("drip_cache_bytes", "Bytes held in the content cache.", gauges.cache.bytes),
            (
                "drip_transfers_in_flight",
                "Uploads and downloads running now.",
                gauges.transfers_in_flight as u64,
            ),
            ("drip_event_connections", "Open real-time event connections.", gauges.connections as u64),
            (
                "drip_online_users",
                "Users with at least one open event connection.",
                gauges.online_users as u64,
            ),
        ];
        for (name, help, value) in levels {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {value}");
        }
        out
    }
}

#[cfg(test)]
mod tests {
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
        let text = metrics.render(Gauges { transfers_in_flight: 2, ..Gauges::default() });
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
        assert_eq!(escape("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }
}
