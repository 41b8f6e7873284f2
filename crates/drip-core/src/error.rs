//! The opaque infrastructure failure that adapters wrap driver errors into.

use std::error::Error as StdError;
use std::fmt;

/// A failure of infrastructure behind a port (database, object store, crypto library...):
/// nothing a caller can act on except retrying later or reporting it.
///
/// It carries a context message and the driver's error as its source; the HTTP layer logs
/// it and never shows it to users. `Display` prints the context alone and `source()` answers
/// the driver's error, so a report walking the chain (`{:#}`) prints each cause once.
pub struct BackendError {
    context: String,
    transient: bool,
    source: Option<Box<dyn StdError + Send + Sync + 'static>>,
}

impl BackendError {
    /// A failure described by `context` alone.
    pub fn msg(context: impl Into<String>) -> Self {
        Self { context: context.into(), transient: false, source: None }
    }

    /// A failure described by `context`, caused by `source`.
    pub fn new(context: impl Into<String>, source: impl StdError + Send + Sync + 'static) -> Self {
        Self { context: context.into(), transient: false, source: Some(Box::new(source)) }
    }

    /// Marks the failure as transient (retrying later may succeed).
    #[must_use]
    pub fn transient(mut self) -> Self {
        self.transient = true;
        self
    }

    /// Whether retrying later may succeed.
    #[must_use]
    pub fn is_transient(&self) -> bool {
        self.transient
    }

    /// The context message.
    #[must_use]
    pub fn context(&self) -> &str {
        &self.context
    }
}

impl fmt::Debug for BackendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("BackendError");
        d.field("context", &self.context).field("transient", &self.transient);
        if let Some(source) = &self.source {
            d.field("source", &format_args!("{source}"));
        }
        d.finish()
    }
}

impl fmt::Display for BackendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.context)
    }
}

impl StdError for BackendError {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        self.source.as_deref().map(|s| s as &(dyn StdError + 'static))
    }
}

/// An error and its chain of causes as one line, `error: cause: cause`, each cause once:
/// a cause whose message the text so far already holds (an error that prints its source
/// itself) is skipped.
#[must_use]
pub fn report(error: &(dyn StdError + 'static)) -> String {
    let mut text = error.to_string();
    let mut cause = error.source();
    while let Some(error) = cause {
        let message = error.to_string();
        if !text.contains(&message) {
            text = format!("{text}: {message}");
        }
        cause = error.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("connection refused")]
    struct Refused;

    #[derive(Debug, thiserror::Error)]
    #[error("pool timed out")]
    struct Pool(#[source] Refused);

    #[test]
    fn a_report_of_the_chain_prints_each_cause_once() {
        let error = BackendError::new("loading media m1 failed", Pool(Refused));
        assert_eq!(error.to_string(), "loading media m1 failed");
        assert_eq!(report(&error), "loading media m1 failed: pool timed out: connection refused");
        assert_eq!(report(&BackendError::msg("bucket down").transient()), "bucket down");
    }

    #[test]
    fn debug_shows_the_source() {
        let debug = format!("{:?}", BackendError::new("signing failed", Refused));
        assert!(debug.contains("signing failed") && debug.contains("connection refused"), "{debug}");
    }
}
