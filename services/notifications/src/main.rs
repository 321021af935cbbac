//! The notifications service binary: config, pool, bus, router, relay, run.

use service_kit::Runtime;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let _telemetry = telemetry::init("notifications");
    let runtime = Runtime::new("notifications", notifications::PORT)?;
    let router = notifications::router(runtime.pool.clone());
    runtime
        .run(
            &notifications::migrator(),
            notifications::topology(),
            router,
            Vec::new(),
        )
        .await?;
    Ok(())
}
