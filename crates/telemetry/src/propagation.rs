//! W3C Trace Context (`traceparent` / `tracestate`) in and out of message and HTTP headers.
//!
//! The bus calls [`inject_current`] when publishing and [`set_parent_from`] on the consumer's
//! span; HTTP clients and servers use the `*_http` pair. The format is always W3C, whatever
//! global propagator is installed, because that is the contract between Summit services.

use std::collections::BTreeMap;

use ::http::{HeaderMap, HeaderName, HeaderValue};
use opentelemetry::{
    Context,
    propagation::{Extractor, Injector, TextMapPropagator},
    trace::TraceContextExt,
};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use tracing_opentelemetry::OpenTelemetrySpanExt;

/// Writes the current span's `traceparent` (and `tracestate` when non-empty) into `headers`.
/// Does nothing when the current span has no valid OpenTelemetry context (e.g. no span, or
/// [`crate::init`] was not called).
pub fn inject_current(headers: &mut BTreeMap<String, String>) {
    inject(
        &tracing::Span::current().context(),
        &mut MapCarrier(headers),
    );
}

/// Makes `span`'s parent the remote context in `headers`, if they carry a valid `traceparent`.
///
/// Must be called before `span` is first entered; afterwards the parent is fixed and this is
/// a no-op (reported at DEBUG).
pub fn set_parent_from(span: &tracing::Span, headers: &BTreeMap<String, String>) {
    set_parent(span, &MapCarrierRef(headers));
}

/// Writes the current span's trace context into an outgoing request's headers.
pub fn inject_http(headers: &mut HeaderMap) {
    inject(
        &tracing::Span::current().context(),
        &mut HeaderCarrier(headers),
    );
}

/// Makes `span`'s parent the remote context in an incoming request's headers, if any.
/// Same rules as [`set_parent_from`].
pub fn set_parent_from_http(span: &tracing::Span, headers: &HeaderMap) {
    set_parent(span, &HeaderCarrierRef(headers));
}

/// The current span's trace id as 32 lowercase hex chars, if it has a valid OTel context.
pub fn current_trace_id() -> Option<String> {
    trace_id_of(&tracing::Span::current())
}

/// `span`'s trace id as 32 lowercase hex chars, if it has a valid OTel context — e.g. to
/// record it as a log field once [`set_parent_from`] has chosen the span's trace.
pub fn trace_id_of(span: &tracing::Span) -> Option<String> {
    let cx = span.context();
    let otel = cx.span();
    let sc = otel.span_context();
    sc.is_valid().then(|| sc.trace_id().to_string())
}

fn inject(cx: &Context, carrier: &mut dyn Injector) {
    // An invalid context would be skipped by the propagator anyway; checking keeps it explicit.
    if cx.span().span_context().is_valid() {
        TraceContextPropagator::new().inject_context(cx, carrier);
    }
}

fn set_parent(span: &tracing::Span, carrier: &dyn Extractor) {
    let parent = TraceContextPropagator::new().extract(carrier);
    // Without a remote parent keep the span's local (contextual) parent instead of forcing
    // a fresh root.
    if !parent.span().span_context().is_valid() {
        return;
    }
    if let Err(err) = span.set_parent(parent) {
        tracing::debug!(error = %err, "could not attach remote trace context to span");
    }
}

struct MapCarrier<'a>(&'a mut BTreeMap<String, String>);

impl Injector for MapCarrier<'_> {
    fn set(&mut self, key: &str, value: String) {
        self.0.insert(key.to_owned(), value);
    }
}

struct MapCarrierRef<'a>(&'a BTreeMap<String, String>);

impl Extractor for MapCarrierRef<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        // AMQP header names are case-sensitive, but senders outside Summit may capitalise.
        self.0.get(key).map(String::as_str).or_else(|| {
            self.0
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(key))
                .map(|(_, v)| v.as_str())
        })
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(String::as_str).collect()
    }
}

struct HeaderCarrier<'a>(&'a mut HeaderMap);

impl Injector for HeaderCarrier<'_> {
    fn set(&mut self, key: &str, value: String) {
        // Propagator output is always a valid header; skip rather than panic if it ever isn't.
        if let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(key.as_bytes()),
            HeaderValue::from_str(&value),
        ) {
            self.0.insert(name, value);
        }
    }
}

struct HeaderCarrierRef<'a>(&'a HeaderMap);

impl Extractor for HeaderCarrierRef<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|v| v.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(HeaderName::as_str).collect()
    }
}
