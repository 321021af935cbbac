//! The catalog service binary: config, pool, bus, router, relay, run.

use service_kit::Runtime;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let _telemetry = telemetry::init("catalog");
    let runtime = Runtime::new("catalog", catalog::PORT)?;
    let router = catalog::router(runtime.pool.clone());
    runtime
        .run(
            &catalog::migrator(),
            catalog::topology(),
            router,
            Vec::new(),
        )
        .await?;
    Ok(())
}
