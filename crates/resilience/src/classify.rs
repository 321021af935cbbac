//! Which failures are worth retrying.
//!
//! A retry only helps when the failure was about the moment, not the request: a refused or
//! reset connection, a timeout, a 5xx, a 429 or 408. A 4xx that says the request itself is
//! wrong (400, 401, 403, 404, 409, 422, ...) fails the same way every time, so retrying it
//! only adds load. The circuit breaker uses the same answer: permanent errors mean the
//! dependency is answering, so they do not count against it.
//!
//! The crate does not depend on an HTTP client: statuses are `u16` and `Retry-After` is the raw
//! header value (`&str`), so any client can map its errors onto [`Classify`].

use std::{
    io,
    time::{Duration, SystemTime},
};

/// The verdict on one failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    /// Worth another attempt; `retry_after` is the server's own hint (HTTP `Retry-After`),
    /// which the retry policy honours as a lower bound on its next delay.
    Transient { retry_after: Option<Duration> },
    /// Retrying cannot help.
    Permanent,
}

impl Class {
    /// Transient with no hint.
    pub const TRANSIENT: Class = Class::Transient { retry_after: None };

    pub fn is_transient(&self) -> bool {
        matches!(self, Class::Transient { .. })
    }

    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Class::Transient { retry_after } => *retry_after,
            Class::Permanent => None,
        }
    }
}

/// Errors that know whether they are transient.
pub trait Classify {
    fn classify(&self) -> Class;
}

/// Classify an HTTP status, with the raw `Retry-After` header value if present.
///
/// 5xx, 429 and 408 are transient; 501 (Not Implemented) and 505 (HTTP Version Not
/// Supported) are permanent because they describe the request, not the server's load;
/// every other status >= 400 is permanent. Statuses below 400 are not failures and are
/// reported as permanent so that nothing retries a success by mistake.
pub fn classify_status(status: u16, retry_after: Option<&str>) -> Class {
    match status {
        501 | 505 => Class::Permanent,
        408 | 429 | 500..=599 => Class::Transient {
            retry_after: retry_after.and_then(|v| parse_retry_after(v, SystemTime::now())),
        },
        _ => Class::Permanent,
    }
}

/// Parse a `Retry-After` value: delta-seconds (`"120"`) or an HTTP-date (best effort; a date
/// in the past means "now", i.e. zero). Garbage yields `None`, not an error: the hint is
/// optional and the backoff still applies.
pub fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let v = value.trim();
    if let Ok(secs) = v.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = httpdate::parse_http_date(v).ok()?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

/// Connection-level failures are transient; errors about the input or permissions are not.
pub fn classify_io(err: &io::Error) -> Class {
    use io::ErrorKind::*;
    match err.kind() {
        ConnectionRefused | ConnectionReset | ConnectionAborted | NotConnected | BrokenPipe
        | TimedOut | Interrupted | WouldBlock | UnexpectedEof | AddrInUse | AddrNotAvailable => {
            Class::TRANSIENT
        }
        _ => Class::Permanent,
    }
}

impl Classify for io::Error {
    fn classify(&self) -> Class {
        classify_io(self)
    }
}

impl Classify for tokio::time::error::Elapsed {
    fn classify(&self) -> Class {
        Class::TRANSIENT
    }
}

impl Classify for Class {
    fn classify(&self) -> Class {
        *self
    }
}

impl<T: Classify + ?Sized> Classify for Box<T> {
    fn classify(&self) -> Class {
        (**self).classify()
    }
}

/// An HTTP response that was not a success, as any client can build it:
/// `HttpStatusError::new(resp.status().as_u16(), resp.headers().get("retry-after")...)`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("HTTP status {status}")]
pub struct HttpStatusError {
    pub status: u16,
    /// Raw `Retry-After` header value, if the server sent one.
    pub retry_after: Option<String>,
}

impl HttpStatusError {
    pub fn new(status: u16, retry_after: Option<&str>) -> Self {
        Self {
            status,
            retry_after: retry_after.map(str::to_owned),
        }
    }
}

impl Classify for HttpStatusError {
    fn classify(&self) -> Class {
        classify_status(self.status, self.retry_after.as_deref())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses() {
        for s in [500, 502, 503, 504, 599, 408, 429] {
            assert!(classify_status(s, None).is_transient(), "{s}");
        }
        for s in [200, 204, 301, 400, 401, 403, 404, 409, 422, 501, 505] {
            assert_eq!(classify_status(s, None), Class::Permanent, "{s}");
        }
    }

    #[test]
    fn retry_after_seconds_and_dates() {
        assert_eq!(
            classify_status(429, Some(" 7 ")),
            Class::Transient {
                retry_after: Some(Duration::from_secs(7))
            }
        );
        assert_eq!(classify_status(503, Some("soon")).retry_after(), None);
        // a 4xx never becomes transient because it carries a Retry-After
        assert_eq!(classify_status(400, Some("5")), Class::Permanent);

        let now = httpdate::parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT").unwrap();
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:50:07 GMT", now),
            Some(Duration::from_secs(30))
        );
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:00:00 GMT", now),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("-3", now), None);
        let future = httpdate::fmt_http_date(SystemTime::now() + Duration::from_secs(120));
        let got = classify_status(503, Some(&future)).retry_after().unwrap();
        assert!(
            got > Duration::from_secs(110) && got <= Duration::from_secs(120),
            "{got:?}"
        );
    }

    #[test]
    fn io_errors() {
        use io::ErrorKind::*;
        for k in [ConnectionRefused, ConnectionReset, TimedOut, BrokenPipe] {
            assert!(io::Error::from(k).classify().is_transient(), "{k:?}");
        }
        for k in [InvalidInput, PermissionDenied, NotFound, InvalidData] {
            assert_eq!(io::Error::from(k).classify(), Class::Permanent, "{k:?}");
        }
    }

    #[test]
    fn http_status_error() {
        let e = HttpStatusError::new(429, Some("2"));
        assert_eq!(e.classify().retry_after(), Some(Duration::from_secs(2)));
        assert_eq!(HttpStatusError::new(404, None).classify(), Class::Permanent);
        assert_eq!(e.to_string(), "HTTP status 429");
    }
}
