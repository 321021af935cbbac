//! The ops service binary: config, runtime, router, dead-letter consumers, gauges, run.

use service_kit::Runtime;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let _telemetry = telemetry::init("ops");
    let config = ops::OpsConfig::from_env()?;
    let runtime = Runtime::new("ops", ops::PORT)?.job(ops::archive_trim(config.archive_days));
    let router = ops::router(ops::http::Api {
        pool: runtime.pool.clone(),
        bus: runtime.bus_slot(),
        token: config.token.clone(),
        default_rate_per_s: config.default_rate_per_s,
        queues: config.queues.clone(),
        management: ops::queues::Management::from_settings(
            secrecy::ExposeSecret::expose_secret(&runtime.config.amqp_url),
            config.management_url.as_deref(),
        )
        .map(std::sync::Arc::new),
    });
    let consumers = ops::consumers(&runtime.pool, &config.queues);
    tokio::spawn(ops::metrics::export(
        runtime.pool.clone(),
        std::time::Duration::from_secs(15),
        runtime.shutdown.clone(),
    ));
    runtime
        .run(
            &ops::migrator(),
            ops::topology(&config.queues),
            router,
            consumers,
        )
        .await?;
    Ok(())
}
