//! The checkout service binary: config, pool, bus, router, relay, consumers, jobs, run.

use service_kit::Runtime;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let _telemetry = telemetry::init("checkout");
    let config = checkout::CheckoutConfig::from_env()?;
    let runtime = checkout::jobs(&config)
        .into_iter()
        .fold(Runtime::new("checkout", checkout::PORT)?, Runtime::job);
    let router = checkout::router(runtime.pool.clone(), config);
    let consumers = checkout::consumers(&runtime.pool);
    runtime
        .run(
            &checkout::migrator(),
            checkout::topology(),
            router,
            consumers,
        )
        .await?;
    Ok(())
}
