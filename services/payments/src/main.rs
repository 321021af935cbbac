//! The payments service binary: config, pool, gateway, bus, router, consumers, jobs, run.

use std::sync::Arc;

use payments::charges::Payments;
use payments::gateway::PagarMe;
use payments::ratelimit::{GatewayLimit, LimitConfig};
use service_kit::Runtime;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let _telemetry = telemetry::init("payments");
    let config = payments::PaymentsConfig::from_env()?;
    let runtime = Runtime::new("payments", payments::PORT)?;
    let gateway = PagarMe::new(
        config.pagarme_base_url.clone(),
        config.pagarme_secret_key.clone(),
    )?;
    let limit = Arc::new(GatewayLimit::new(
        &config.redis_url,
        LimitConfig {
            key: "payments:ratelimit:pagarme:platform".to_owned(),
            rate_per_s: config.rate_limit_per_s,
            burst: 1,
            replicas: config.replicas,
        },
    )?);
    let service =
        Arc::new(Payments::new(runtime.pool.clone(), gateway, &config).with_limit(limit.clone()));
    let mut runtime = payments::jobs(service.clone(), &config)
        .into_iter()
        .fold(runtime, Runtime::job);
    // An open circuit degrades readiness (charges go pending_offline), it does not stop us.
    if let Some(breaker) = service.policy().breaker() {
        runtime = runtime.check(service_kit::health::Check::breaker(breaker.clone()));
    }
    // Redis away: the local share of the limit serves, and readiness says so.
    runtime = runtime.check(service_kit::health::Check::degrading(
        "gateway.ratelimit",
        move || {
            let degraded = limit.degraded();
            async move { degraded.map_or(Ok(()), Err) }
        },
    ));
    let router = payments::router(runtime.pool.clone());
    let consumers = payments::consumers(service);
    runtime
        .run(
            &payments::migrator(),
            payments::topology(),
            router,
            consumers,
        )
        .await?;
    Ok(())
}
