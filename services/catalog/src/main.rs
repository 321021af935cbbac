//! The catalog service binary: config, pool, bus, router, relay, run.

use std::sync::Arc;

use bus::ConsumerConfig;
use service_kit::{Consumer, Runtime};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let _telemetry = telemetry::init("catalog");
    let runtime = Runtime::new("catalog", catalog::PORT)?;
    let config = catalog::CatalogConfig::from_env()?;
    let router = catalog::router(runtime.pool.clone(), config);
    let stock = Arc::new(catalog::stock::StockHandler::new(runtime.pool.clone()));
    let consumers = vec![Consumer::new(
        "catalog.commands",
        stock,
        ConsumerConfig::default(),
    )];
    runtime
        .run(&catalog::migrator(), catalog::topology(), router, consumers)
        .await?;
    Ok(())
}
