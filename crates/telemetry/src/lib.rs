//! Tracing and distributed-trace plumbing shared by every Summit service.
//!
//! [`init`] installs the process-wide `tracing` subscriber (text or JSON logs plus an
//! OpenTelemetry bridge), [`propagation`] moves W3C trace context in and out of AMQP and
//! HTTP headers, and [`http`] gives axum routers a request span that continues the
//! caller's trace.

pub mod http;
pub mod propagation;

use std::sync::atomic::{AtomicBool, Ordering};

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::{Resource, propagation::TraceContextPropagator, trace::SdkTracerProvider};
use tracing_subscriber::{
    EnvFilter, Layer, Registry, layer::SubscriberExt, util::SubscriberInitExt,
};

/// Environment variable that switches log output to JSON when set to `json`.
pub const LOG_FORMAT_ENV: &str = "LOG_FORMAT";
/// Standard OTLP endpoint variable; when set (and non-empty) spans are exported over gRPC.
pub const OTLP_ENDPOINT_ENV: &str = "OTEL_EXPORTER_OTLP_ENDPOINT";

/// Only the first [`init`] in a process installs anything; tests call it from many places.
static INITIALIZED: AtomicBool = AtomicBool::new(false);

/// Keeps the tracer provider alive; dropping it flushes pending spans and shuts the
/// provider down. Hold it in `main` for the life of the service.
#[must_use = "dropping the guard shuts tracing export down immediately"]
#[derive(Debug)]
pub struct Guard {
    provider: Option<SdkTracerProvider>,
}

impl Drop for Guard {
    fn drop(&mut self) {
        if let Some(provider) = self.provider.take() {
            // The subscriber may already be unusable at process exit, so report on stderr.
            if let Err(err) = provider.shutdown() {
                eprintln!("telemetry: tracer provider shutdown failed: {err}");
            }
        }
    }
}

/// Installs the global tracing subscriber for `service`.
///
/// * logs: human-readable text, or JSON when `LOG_FORMAT=json`; filtered by `RUST_LOG`,
///   defaulting to `info,<service>=debug` (dashes in `service` become underscores, as in
///   crate/target names);
/// * traces: a `tracing-opentelemetry` layer backed by an SDK tracer provider, so spans always
///   carry real trace ids; when `OTEL_EXPORTER_OTLP_ENDPOINT` is set the provider also gets a
///   batching OTLP/gRPC exporter with `service.name = service` (this needs a running Tokio
///   runtime; without one the exporter is skipped with a warning). The OTel layer sees the
///   spans `RUST_LOG` enables, plus this crate's `http.request` span at INFO regardless;
/// * the W3C TraceContext propagator is installed as the global text-map propagator.
///
/// Only the first call in a process has an effect; later calls return an inert guard.
pub fn init(service: &str) -> Guard {
    opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());

    if INITIALIZED.swap(true, Ordering::SeqCst) {
        return Guard { provider: None };
    }

    let (provider, exporter_error) = build_provider(service);
    let tracer = provider.tracer(service.to_owned());

    // The OTel layer gets its own filter: see `otel_filter`.
    let directives = directives(service);
    let otel_layer = tracing_opentelemetry::layer()
        .with_tracer(tracer)
        .with_filter(otel_filter(&directives));

    let json = std::env::var(LOG_FORMAT_ENV).is_ok_and(|v| v.eq_ignore_ascii_case("json"));
    let fmt_layer: Box<dyn Layer<Registry> + Send + Sync> = if json {
        tracing_subscriber::fmt::layer()
            .json()
            .with_current_span(true)
            .with_span_list(false)
            .with_filter(log_filter(&directives))
            .boxed()
    } else {
        tracing_subscriber::fmt::layer()
            .with_filter(log_filter(&directives))
            .boxed()
    };

    match tracing_subscriber::registry()
        .with(fmt_layer)
        .with(otel_layer)
        .try_init()
    {
        Ok(()) => {
            opentelemetry::global::set_tracer_provider(provider.clone());
            if let Some(err) = exporter_error {
                tracing::warn!(error = %err, "OTLP span export disabled");
            }
            Guard {
                provider: Some(provider),
            }
        }
        Err(err) => {
            // Someone else owns the global subscriber; our provider would never see a span.
            eprintln!("telemetry: a global tracing subscriber is already set: {err}");
            let _ = provider.shutdown();
            Guard { provider: None }
        }
    }
}

/// Builds the tracer provider, with the OTLP exporter when configured. The returned string
/// explains why export was requested but could not be set up (logged once logging works).
fn build_provider(service: &str) -> (SdkTracerProvider, Option<String>) {
    let builder = SdkTracerProvider::builder().with_resource(
        Resource::builder()
            .with_service_name(service.to_owned())
            .build(),
    );

    let wants_export = std::env::var(OTLP_ENDPOINT_ENV).is_ok_and(|v| !v.trim().is_empty());
    if !wants_export {
        return (builder.build(), None);
    }
    // tonic's lazy channel spawns onto the ambient Tokio runtime and panics without one.
    if tokio::runtime::Handle::try_current().is_err() {
        return (
            builder.build(),
            Some("telemetry::init was called outside a Tokio runtime".to_owned()),
        );
    }
    // The builder reads OTEL_EXPORTER_OTLP_ENDPOINT (and timeouts/headers) itself.
    match opentelemetry_otlp::SpanExporter::builder()
        .with_tonic()
        .build()
    {
        Ok(exporter) => (builder.with_batch_exporter(exporter).build(), None),
        Err(err) => (builder.build(), Some(err.to_string())),
    }
}

/// Crates whose spans must never reach the exporter: they are the exporter's own transport,
/// so tracing them would feed export traffic back into itself.
const EXPORT_NOISE: &str = "h2=off,hyper=off,hyper_util=off,tonic=off,tower=off,opentelemetry=off";

/// The `RUST_LOG` directives, or the service default when unset or unparsable.
fn directives(service: &str) -> String {
    std::env::var(EnvFilter::DEFAULT_ENV)
        .ok()
        .filter(|d| EnvFilter::try_new(d).is_ok())
        .unwrap_or_else(|| format!("info,{}=debug", service.replace('-', "_")))
}

fn log_filter(directives: &str) -> EnvFilter {
    EnvFilter::new(directives)
}

/// Spans visible in the logs are also OTel spans (so `Span::current()` always has a context
/// to propagate). Our own request span is kept at INFO even under e.g. `RUST_LOG=warn`, so a
/// quiet service still continues its callers' traces.
fn otel_filter(directives: &str) -> EnvFilter {
    EnvFilter::new(format!("{directives},telemetry=info,{EXPORT_NOISE}"))
}
