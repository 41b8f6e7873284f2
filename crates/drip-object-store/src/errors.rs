//! Translation of object_store errors into the port's [`StorageError`] variants.

use std::error::Error as StdError;
use std::fmt;
use std::io;

use drip_core::BackendError;
use drip_core::storage::ports::StorageError;
use object_store::client::{HttpError, HttpErrorKind};

/// What the adapter was doing when a store call failed (the context of the error).
#[derive(Debug, Clone, Copy)]
pub(crate) enum Op {
    Put,
    Get,
    Size,
    Delete,
}

impl Op {
    fn verb(self) -> &'static str {
        match self {
            Self::Put => "put",
            Self::Get => "get",
            Self::Size => "size of",
            Self::Delete => "delete",
        }
    }
}

/// The context line of an error: `put of <key> on <backend> failed`.
pub(crate) fn context(op: Op, key: &str, backend: &str) -> String {
    format!("{} {key} on {backend} failed", op.verb())
}

/// Maps an object_store error to the port's variants.
pub(crate) fn map_store_error(op: Op, key: &str, backend: &str, err: object_store::Error) -> StorageError {
    use object_store::Error as E;
    match err {
        E::NotFound { .. } if !matches!(op, Op::Put) => StorageError::NotFound(key.to_owned()),
        E::AlreadyExists { .. } => StorageError::AlreadyExists(key.to_owned()),
        E::InvalidPath { .. } => StorageError::Invalid(format!("{key}: {err}")),
        other => {
            let kind = classify(&other);
            let backend_error = BackendError::new(context(op, key, backend), StoreFailure(other));
            match kind {
                Failure::Transient => StorageError::Unavailable(backend_error.transient()),
                Failure::Refused => StorageError::Unavailable(backend_error),
                Failure::Full => StorageError::Full(backend_error),
                Failure::Other => StorageError::Other(backend_error),
            }
        }
    }
}

/// What kind of failure a store error is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Failure {
    /// Unreachable or overloaded: a later retry may succeed ([`is_transient`]).
    Transient,
    /// The store refuses this process: permission denied (HTTP 401/403, `EACCES`,
    /// `EPERM`), a read-only file system.
    Refused,
    /// No space left: `ENOSPC`, a disk quota, HTTP 507.
    Full,
    /// Anything else.
    Other,
}

/// Classifies a store error by the first cause down its chain that says what it is: an
/// I/O error's kind (the local store), the transport failure or HTTP status (the cloud
/// stores).
pub(crate) fn classify(err: &(dyn StdError + 'static)) -> Failure {
    let mut current = Some(err);
    while let Some(error) = current {
        if let Some(io) = error.downcast_ref::<io::Error>() {
            match io.kind() {
                io::ErrorKind::StorageFull | io::ErrorKind::QuotaExceeded => return Failure::Full,
                io::ErrorKind::PermissionDenied | io::ErrorKind::ReadOnlyFilesystem => {
                    return Failure::Refused;
                }
                io::ErrorKind::TimedOut | io::ErrorKind::Interrupted => return Failure::Transient,
                _ => {}
            }
        }
        if error.downcast_ref::<HttpError>().is_some() && is_transient(error) {
            return Failure::Transient;
        }
        if let Some(status) = status_in_text(&error.to_string()) {
            return match status {
                401 | 403 => Failure::Refused,
                507 => Failure::Full,
                _ if is_transient(error) => Failure::Transient,
                _ => Failure::Other,
            };
        }
        current = error.source();
    }
    if is_transient(err) { Failure::Transient } else { Failure::Other }
}

/// An object_store error whose causes each print once in a report of its chain.
///
/// object_store's errors print their source in their own message and also return it from
/// `source()`, so a report walking the chain (anyhow's `{:#}`, tracing's `error.sources`)
/// would print each cause two or three times. This shows the error's message as is and, as
/// its source, the first cause down the chain that the message does not already hold (e.g.
/// the transport errors under object_store's own: `tcp connect error`, `connection refused`).
#[derive(Debug)]
pub(crate) struct StoreFailure(pub(crate) object_store::Error);

impl StoreFailure {
    /// The error as an `io::Error` of a content stream, of kind `NotFound` for a missing
    /// object like object_store's own conversion.
    pub(crate) fn into_io(err: object_store::Error) -> io::Error {
        let kind = match err {
            object_store::Error::NotFound { .. } => io::ErrorKind::NotFound,
            _ => io::ErrorKind::Other,
        };
        io::Error::new(kind, Self(err))
    }
}

impl fmt::Display for StoreFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl StdError for StoreFailure {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        let printed = self.0.to_string();
        let mut cause = self.0.source();
        while let Some(error) = cause {
            if !printed.contains(&error.to_string()) {
                return Some(error);
            }
            cause = error.source();
        }
        None
    }
}

/// Whether the error says the store is unreachable or overloaded, i.e. whether a later retry
/// may succeed: an HTTP 5xx, 408 or 429 answer, or a connection / request / timeout failure.
///
/// object_store keeps its `RetryError` private; what it exposes is the source chain: the
/// transport failure as [`HttpError`] (public), and the HTTP status only in the text of the
/// innermost error (`Server returned non-2xx status code: 503 Service Unavailable: ...`).
/// The status is therefore read from that text; `tests/gcs.rs` pins the behaviour against
/// the GCS test double so that an object_store upgrade changing the text fails loudly.
pub(crate) fn is_transient(err: &(dyn StdError + 'static)) -> bool {
    let mut current = Some(err);
    while let Some(error) = current {
        if let Some(http) = error.downcast_ref::<HttpError>() {
            return matches!(
                http.kind(),
                HttpErrorKind::Connect
                    | HttpErrorKind::Request
                    | HttpErrorKind::Timeout
                    | HttpErrorKind::Interrupted
            );
        }
        if let Some(status) = status_in_text(&error.to_string()) {
            return status >= 500 || status == 408 || status == 429;
        }
        current = error.source();
    }
    false
}

/// The HTTP status at the start of object_store's `RequestError::Status` text.
fn status_in_text(text: &str) -> Option<u16> {
    const MARKER: &str = "Server returned non-2xx status code: ";
    let rest = text.strip_prefix(MARKER)?;
    let digits = rest.get(..3)?;
    digits.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("{0}")]
    struct Text(&'static str);

    fn generic(source: impl StdError + Send + Sync + 'static) -> object_store::Error {
        object_store::Error::Generic { store: "GCS", source: Box::new(source) }
    }

    #[test]
    fn statuses_read_from_text() {
        assert_eq!(
            status_in_text("Server returned non-2xx status code: 503 Service Unavailable: x"),
            Some(503)
        );
        assert_eq!(status_in_text("Server returned non-2xx status code: 429 Too Many Requests: "), Some(429));
        assert_eq!(status_in_text("something else 503"), None);
    }

    #[test]
    fn transient_statuses() {
        let unavailable = Text("Server returned non-2xx status code: 503 Service Unavailable: busy");
        assert!(is_transient(&generic(unavailable)));
        let bad_request = Text("Server returned non-2xx status code: 400 Bad Request: no");
        assert!(!is_transient(&generic(bad_request)));
        assert!(!is_transient(&generic(Text("disk full"))));
    }

    /// A driver error printing its source like object_store's do, over one that does not.
    #[derive(Debug, thiserror::Error)]
    #[error("error performing PUT: {source}")]
    struct Request {
        source: Transport,
    }

    #[derive(Debug, thiserror::Error)]
    #[error("error sending request")]
    struct Transport(#[source] std::io::Error);

    fn report(error: &(dyn StdError + 'static)) -> String {
        let chain: Vec<String> =
            std::iter::successors(Some(error), |&e| e.source()).map(|e| e.to_string()).collect();
        chain.join(": ")
    }

    #[test]
    fn each_cause_of_a_store_error_is_reported_once() {
        let refused = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "connection refused");
        let failure = generic(Request { source: Transport(refused) });
        let error = map_store_error(Op::Put, "k", "gcs bucket b", failure);
        assert_eq!(
            report(&error),
            "put k on gcs bucket b failed: Generic GCS error: error performing PUT: error sending request: \
             connection refused"
        );
        let io = StoreFailure::into_io(generic(Text("broken pipe")));
        assert_eq!(report(&io), "Generic GCS error: broken pipe");
        let missing = object_store::Error::NotFound { path: "k".into(), source: Box::new(Text("gone")) };
        assert_eq!(StoreFailure::into_io(missing).kind(), std::io::ErrorKind::NotFound);
    }

    #[test]
    fn mapping() {
        let not_found = object_store::Error::NotFound { path: "k".into(), source: Box::new(Text("gone")) };
        assert!(
            matches!(map_store_error(Op::Get, "k", "memory", not_found), StorageError::NotFound(k) if k == "k")
        );
        let not_found =
            object_store::Error::NotFound { path: "k".into(), source: Box::new(Text("no such upload")) };
        assert!(matches!(map_store_error(Op::Put, "k", "gcs", not_found), StorageError::Other(_)));
        let busy = generic(Text("Server returned non-2xx status code: 503 Service Unavailable: busy"));
        match map_store_error(Op::Put, "k", "gcs bucket b", busy) {
            StorageError::Unavailable(e) => {
                assert!(e.is_transient());
                assert_eq!(e.context(), "put k on gcs bucket b failed");
            }
            other => panic!("expected unavailable, got {other:?}"),
        }
    }

    #[test]
    fn refusals_and_full_stores_are_told_apart() {
        let io = |kind| generic(std::io::Error::new(kind, "from the file system"));
        let mapped = |err| map_store_error(Op::Put, "k", "local disk", err);
        for kind in [std::io::ErrorKind::StorageFull, std::io::ErrorKind::QuotaExceeded] {
            assert!(matches!(mapped(io(kind)), StorageError::Full(_)), "{kind:?}");
        }
        for kind in [std::io::ErrorKind::PermissionDenied, std::io::ErrorKind::ReadOnlyFilesystem] {
            match mapped(io(kind)) {
                StorageError::Unavailable(e) => {
                    assert!(!e.is_transient(), "{kind:?}: retrying will not help soon")
                }
                other => panic!("{kind:?}: expected unavailable, got {other:?}"),
            }
        }
        assert!(
            matches!(mapped(io(std::io::ErrorKind::TimedOut)), StorageError::Unavailable(e) if e.is_transient())
        );
        assert!(matches!(mapped(io(std::io::ErrorKind::InvalidData)), StorageError::Other(_)));
        let status = |text: &'static str| generic(Text(text));
        let forbidden = status("Server returned non-2xx status code: 403 Forbidden: no");
        assert!(matches!(mapped(forbidden), StorageError::Unavailable(_)));
        let full = status("Server returned non-2xx status code: 507 Insufficient Storage: quota");
        assert!(matches!(mapped(full), StorageError::Full(_)));
        let bad = status("Server returned non-2xx status code: 400 Bad Request: what");
        assert!(matches!(mapped(bad), StorageError::Other(_)));
    }
}
