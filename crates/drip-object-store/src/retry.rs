//! How the cloud stores (GCS, S3) retry transient failures: [`RetrySettings`], turned into
//! object_store's `RetryConfig`.

use std::time::Duration;

use object_store::{BackoffConfig, RetryConfig};

/// How object_store retries transient failures (HTTP 5xx, 408, 429, connection errors):
/// exponential backoff with jitter, until `max_retries` or `retry_timeout` is reached.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RetrySettings {
    /// Retries of one request at most (0 disables retries).
    pub max_retries: usize,
    /// No retry starts later than this after the first attempt.
    pub retry_timeout: Duration,
    /// The first backoff.
    pub initial_backoff: Duration,
    /// The longest backoff.
    pub max_backoff: Duration,
    /// Growth factor of the backoff.
    pub backoff_base: f64,
}

impl Default for RetrySettings {
    /// object_store's defaults: 10 retries within 3 minutes, backoff from 100 ms to 15 s.
    fn default() -> Self {
        Self {
            max_retries: 10,
            retry_timeout: Duration::from_secs(180),
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(15),
            backoff_base: 2.0,
        }
    }
}

impl RetrySettings {
    /// object_store's form of these settings.
    pub(crate) fn to_retry_config(self) -> RetryConfig {
        RetryConfig {
            backoff: BackoffConfig {
                init_backoff: self.initial_backoff,
                max_backoff: self.max_backoff,
                base: self.backoff_base,
            },
            max_retries: self.max_retries,
            retry_timeout: self.retry_timeout,
        }
    }
}
