//! The payments service binary: config, pool, bus, router, relay, run.

use service_kit::Runtime;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let _telemetry = telemetry::init("payments");
    let runtime = Runtime::new("payments", payments::PORT)?;
    let router = payments::router(runtime.pool.clone());
    runtime
        .run(
            &payments::migrator(),
            payments::topology(),
            router,
            Vec::new(),
        )
        .await?;
    Ok(())
}
