//! The catalog service binary: config, pool, bus, router, relay, run.

use std::sync::Arc;

use bus::ConsumerConfig;
use std::time::Duration;

use service_kit::{Consumer, Job, Runtime};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let _telemetry = telemetry::init("catalog");
    let config = catalog::CatalogConfig::from_env()?;
    let runtime = Runtime::new("catalog", catalog::PORT)?
        .job(Job::new(
            "catalog.idempotency-keys.trim",
            Duration::from_secs(3600),
            |pool| async move { catalog::idempotency::trim(&pool).await },
        ))
        .job(catalog::custom_domain::recheck_job(config.clone()));
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
