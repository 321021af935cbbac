//! Integration tests for `telemetry`: one binary because the global subscriber can be
//! installed only once per process.

mod http_layer;
mod propagation;

use std::sync::OnceLock;

/// Installs the subscriber once for the whole test binary and keeps the guard alive.
pub fn init() {
    static GUARD: OnceLock<telemetry::Guard> = OnceLock::new();
    GUARD.get_or_init(|| telemetry::init("test"));
}

/// Asserts the W3C `00-<32 hex>-<16 hex>-<2 hex>` shape and returns (trace id, span id).
pub fn parse_traceparent(tp: &str) -> (String, String) {
    let parts: Vec<&str> = tp.split('-').collect();
    assert_eq!(parts.len(), 4, "traceparent {tp:?} must have 4 parts");
    let hex = |s: &str, n: usize| {
        s.len() == n
            && s.chars()
                .all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c))
    };
    assert_eq!(parts[0], "00", "version in {tp:?}");
    assert!(hex(parts[1], 32), "trace id in {tp:?}");
    assert!(hex(parts[2], 16), "span id in {tp:?}");
    assert!(hex(parts[3], 2), "flags in {tp:?}");
    (parts[1].to_owned(), parts[2].to_owned())
}

/// A fixed remote parent, as another service would send it.
pub const REMOTE_TRACE_ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
pub const REMOTE_TRACEPARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
