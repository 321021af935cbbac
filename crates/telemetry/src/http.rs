//! Server-side HTTP tracing for axum routers.
//!
//! [`layer`] wraps `tower_http::trace::TraceLayer` so that every request gets one INFO
//! `http.request` span, parented on the caller's `traceparent` header, which records the
//! status and latency when the response is produced.

use std::time::Duration;

use ::http::{Request, Response};
use axum::extract::MatchedPath;
use tower_http::{
    classify::{ServerErrorsAsFailures, SharedClassifier},
    trace::{DefaultOnRequest, MakeSpan, OnResponse, TraceLayer},
};
use tracing::Span;

/// The concrete layer returned by [`layer`]; usable with `axum::Router::layer`.
pub type HttpTraceLayer = TraceLayer<
    SharedClassifier<ServerErrorsAsFailures>,
    MakeRequestSpan,
    DefaultOnRequest,
    RecordResponse,
>;

/// Tracing layer for an axum router: one INFO `http.request` span per request, continuing the
/// trace from the incoming `traceparent` header.
///
/// Apply it with `Router::layer` (after the routes are added) so the matched route template is
/// available; the span's `route` is empty for unmatched requests.
pub fn layer() -> HttpTraceLayer {
    TraceLayer::new_for_http()
        .make_span_with(MakeRequestSpan)
        .on_response(RecordResponse)
}

/// Opens the `http.request` span and attaches the remote parent from the request headers.
#[derive(Debug, Clone, Copy, Default)]
pub struct MakeRequestSpan;

impl<B> MakeSpan<B> for MakeRequestSpan {
    fn make_span(&mut self, request: &Request<B>) -> Span {
        let route = request
            .extensions()
            .get::<MatchedPath>()
            .map(MatchedPath::as_str);
        let method = request.method().as_str();
        let span = tracing::info_span!(
            "http.request",
            otel.name = %format_args!("{method} {}", route.unwrap_or("unmatched")),
            otel.kind = "server",
            otel.status_code = tracing::field::Empty,
            method,
            route = route.unwrap_or(""),
            path = request.uri().path(),
            status = tracing::field::Empty,
            latency_ms = tracing::field::Empty,
            trace_id = tracing::field::Empty,
        );
        // The span is not entered yet, so its parent can still be replaced.
        crate::propagation::set_parent_from_http(&span, request.headers());
        // Every log line of the request carries its trace id.
        if let Some(trace_id) = crate::propagation::trace_id_of(&span) {
            span.record("trace_id", trace_id.as_str());
        }
        span
    }
}

/// Records `status` and `latency_ms` on the request span and logs one line per response.
#[derive(Debug, Clone, Copy, Default)]
pub struct RecordResponse;

impl<B> OnResponse<B> for RecordResponse {
    fn on_response(self, response: &Response<B>, latency: Duration, span: &Span) {
        let status = response.status();
        // Whole microseconds keep the logged value short (no float noise).
        let latency_ms = latency.as_micros() as f64 / 1000.0;
        span.record("status", status.as_u16());
        span.record("latency_ms", latency_ms);
        if status.is_server_error() {
            span.record("otel.status_code", "ERROR");
        }
        tracing::info!(status = status.as_u16(), latency_ms, "request completed");
    }
}
