//! The layers every service's router wears at the edge, outermost first:
//!
//! - `x-request-id`: taken from the request or made up (UUID), and returned on the response,
//!   so a client's report names the request in our logs;
//! - the tracing layer of `telemetry` (one span per request, parented on `traceparent`);
//! - request counts and latencies for `/metrics`, by route template;
//! - a timeout: a request that runs past it gets a 503 problem, and its work is dropped, so a
//!   slow dependency cannot pile up connections without bound.

use std::time::Duration;

use axum::Router;
use axum::error_handling::HandleErrorLayer;
use axum::http::{HeaderName, StatusCode};
use tower::ServiceBuilder;
use tower::timeout::TimeoutLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};

use crate::Problem;

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// `router` with the edge layers.
pub fn edge(router: Router, timeout: Duration) -> Router {
    router
        .route_layer(axum::middleware::from_fn(crate::metrics::record))
        .layer(
            ServiceBuilder::new()
                .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestUuid))
                .layer(PropagateRequestIdLayer::new(REQUEST_ID))
                .layer(telemetry::http::layer())
                .layer(HandleErrorLayer::new(
                    move |_: tower::BoxError| async move {
                        Problem::new(
                            StatusCode::SERVICE_UNAVAILABLE,
                            "timeout",
                            "The request took too long",
                        )
                        .detail(format!("no answer within {} ms", timeout.as_millis()))
                    },
                ))
                .layer(TimeoutLayer::new(timeout)),
        )
}
