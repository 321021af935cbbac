//! Prometheus metrics at `GET /metrics`: what the bus (`summit_messages_total`,
//! `summit_handler_seconds`), the outbox relay (`summit_outbox_published_total`,
//! `summit_outbox_failed_total`; and from the table, refreshed every 15 s:
//! `summit_outbox_backlog`, `summit_outbox_oldest_unsent_seconds`, `summit_outbox_failing`,
//! `summit_outbox_parked` — see [`crate::outbox_status`]) and the HTTP edge (`summit_http_requests_total`,
//! `summit_http_request_seconds`) record.
//!
//! The recorder is process-global and installed once, on first use.

use std::sync::OnceLock;
use std::time::Instant;

use axum::Router;
use axum::extract::{MatchedPath, Request};
use axum::middleware::Next;
use axum::response::Response;
use axum::routing::get;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

fn handle() -> &'static PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| {
        let recorder = PrometheusBuilder::new().build_recorder();
        let handle = recorder.handle();
        // Another recorder may already be installed (a test process); then ours only renders.
        let _ = metrics::set_global_recorder(recorder);
        handle
    })
}

/// Installs the recorder (if not yet) and returns the `/metrics` route.
pub fn router() -> Router {
    let handle = handle();
    Router::new().route("/metrics", get(move || async move { handle.render() }))
}

/// Middleware: one count and one latency sample per request, by method, route and status.
pub async fn record(request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let method = request.method().to_string();
    let started = Instant::now();
    let response = next.run(request).await;
    let status = response.status().as_u16().to_string();
    let labels = [("method", method), ("route", route), ("status", status)];
    metrics::counter!("summit_http_requests_total", &labels).increment(1);
    metrics::histogram!("summit_http_request_seconds", &labels)
        .record(started.elapsed().as_secs_f64());
    response
}
