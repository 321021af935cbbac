//! The notifications service binary: config, pool, jobs, senders, router, consumers, run.

use std::time::Duration;

use service_kit::{Job, Runtime};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let _telemetry = telemetry::init("notifications");
    let config = notifications::NotificationsConfig::from_env()?;
    let runtime = Runtime::new("notifications", notifications::PORT)?.job(Job::new(
        "notifications.idempotency-keys.trim",
        Duration::from_secs(3600),
        |pool| async move { service_kit::idempotency::trim(&pool).await },
    ));
    let senders = notifications::Senders::new(&runtime.pool, &config)?;
    // SMTP away: mail waits in its retries; the service still serves, and says so.
    let runtime = runtime.check(service_kit::health::Check::breaker(
        senders.email.mailer().breaker().clone(),
    ));
    let router = notifications::router(runtime.pool.clone(), &config);
    let consumers = notifications::consumers(&runtime.pool, &senders, &config);
    runtime
        .run(
            &notifications::migrator(),
            notifications::topology(),
            router,
            consumers,
        )
        .await?;
    Ok(())
}
