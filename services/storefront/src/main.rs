//! The storefront binary: config, router, serve. No database, no broker: it composes the
//! other services over HTTP.

use service_kit::Listening;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let _telemetry = telemetry::init("storefront");
    let service = service_kit::ServiceConfig::from_env("storefront", storefront::PORT)?;
    let config = storefront::StorefrontConfig::from_env()?;
    let state = storefront::AppState::new(config)?;
    let app = storefront::app(state, service.request_timeout);
    let listener = tokio::net::TcpListener::bind(service.addr).await?;
    let addr = listener.local_addr()?;
    tracing::info!(%addr, "listening");
    Listening {
        listening: addr,
        service: "storefront".into(),
    }
    .announce();
    let shutdown = service_kit::runtime::shutdown_on_signal();
    axum::serve(listener, app)
        .with_graceful_shutdown(async move { shutdown.cancelled().await })
        .await?;
    tracing::info!("stopped");
    Ok(())
}
