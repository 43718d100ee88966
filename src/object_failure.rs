//! What a store's failure to describe an object answers: `404`, `502`, or `503` when
//! the store says it is overloaded.

use std::error::Error as StdError;

use ::object_store::Error;
use http::StatusCode;

/// The status that answers a request whose object the store failed to describe.
///
/// - `404 Not Found`: the object is not there ([`Error::NotFound`]), or its path is not
///   one the store accepts ([`Error::InvalidPath`]).
/// - `503 Service Unavailable`: the store is overloaded; see [`overloaded`].
/// - `502 Bad Gateway` for anything else: the store could not be reached, refused our
///   credentials, or failed. None of it is the client's doing.
pub(crate) fn status(err: &Error) -> StatusCode {
    match err {
        Error::NotFound { .. } | Error::InvalidPath { .. } => StatusCode::NOT_FOUND,
        _ if overloaded(err) => StatusCode::SERVICE_UNAVAILABLE,
        _ => StatusCode::BAD_GATEWAY,
    }
}

/// Whether the store answered `503 Service Unavailable` (S3's `SlowDown`, Azure's
/// `ServerBusy`) or `429 Too Many Requests` (GCS), after its own retries.
///
/// object_store reports an HTTP failure as [`Error::Generic`] around an error whose type
/// it does not export, so neither the variant nor a downcast can tell the status. What
/// it does publish is the message: its failed request's error reads `… status code:
/// 503 Service Unavailable: …`, the status written by `http::StatusCode`'s `Display`.
/// The rule is therefore: some error in the chain of [`source`](StdError::source)s,
/// the outermost included, has a message containing one of those two statuses as
/// `http` writes them (`"503 Service Unavailable"`, `"429 Too Many Requests"`). A key in
/// a request URL cannot fake it: the store's client percent-encodes the spaces.
pub(crate) fn overloaded(err: &Error) -> bool {
    let statuses = [
        StatusCode::SERVICE_UNAVAILABLE,
        StatusCode::TOO_MANY_REQUESTS,
    ]
    .map(|s| {
        // `Display` of a status: its code and its canonical reason.
        format!(
            "{} {}",
            s.as_str(),
            s.canonical_reason().unwrap_or_default()
        )
    });
    let mut next: Option<&(dyn StdError + 'static)> = Some(err);
    while let Some(err) = next {
        let message = err.to_string();
        if statuses
            .iter()
            .any(|status| message.contains(status.as_str()))
        {
            return true;
        }
        next = err.source();
    }
    false
}

#[cfg(test)]
mod tests {
    use std::fmt;

    use super::*;

    /// An error that says only `message`, caused by `source`: a store's own error type,
    /// whose message does not repeat its cause's.
    #[derive(Debug)]
    struct Layered {
        message: &'static str,
        source: Option<Box<dyn StdError + Send + Sync>>,
    }

    impl fmt::Display for Layered {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str(self.message)
        }
    }

    impl StdError for Layered {
        fn source(&self) -> Option<&(dyn StdError + 'static)> {
            self.source
                .as_deref()
                .map(|err| err as &(dyn StdError + 'static))
        }
    }

    fn generic(source: Layered) -> Error {
        Error::Generic {
            store: "S3",
            source: Box::new(source),
        }
    }

    fn says(message: &'static str) -> Layered {
        Layered {
            message,
            source: None,
        }
    }

    #[test]
    fn a_missing_or_invalid_key_is_not_found() {
        let missing = Error::NotFound {
            path: "a".into(),
            source: "gone".into(),
        };
        assert_eq!(status(&missing), StatusCode::NOT_FOUND);
        let invalid = Error::InvalidPath {
            source: ::object_store::path::Path::parse("a//b").unwrap_err(),
        };
        assert_eq!(status(&invalid), StatusCode::NOT_FOUND);
    }

    #[test]
    fn overload_anywhere_in_the_chain_is_service_unavailable() {
        // As object_store's retry error words it.
        let direct = generic(says(
            "Server returned non-2xx status code: 503 Service Unavailable: <Code>SlowDown</Code>",
        ));
        assert_eq!(status(&direct), StatusCode::SERVICE_UNAVAILABLE);
        let nested = generic(Layered {
            message: "request failed",
            source: Some(Box::new(says("429 Too Many Requests"))),
        });
        assert_eq!(status(&nested), StatusCode::SERVICE_UNAVAILABLE);
    }

    #[test]
    fn other_failures_are_bad_gateway() {
        for message in [
            "Server returned non-2xx status code: 500 Internal Server Error: ",
            "error sending request: connection refused",
            // A status code alone, or a reason alone, is not the store saying it.
            "503 bytes read",
            "Service Unavailable",
        ] {
            assert_eq!(
                status(&generic(says(message))),
                StatusCode::BAD_GATEWAY,
                "{message}"
            );
        }
        let denied = Error::PermissionDenied {
            path: "a".into(),
            source: "no".into(),
        };
        assert_eq!(status(&denied), StatusCode::BAD_GATEWAY);
    }
}
