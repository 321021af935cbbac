//! The checkout service binary: config, pool, bus, router, relay, run.

use service_kit::Runtime;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let _telemetry = telemetry::init("checkout");
    let runtime = Runtime::new("checkout", checkout::PORT)?;
    let router = checkout::router(runtime.pool.clone());
    runtime
        .run(
            &checkout::migrator(),
            checkout::topology(),
            router,
            Vec::new(),
        )
        .await?;
    Ok(())
}
