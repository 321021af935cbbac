//! The payments service binary: config, pool, gateway, bus, router, consumers, jobs, run.

use std::sync::Arc;

use payments::charges::Payments;
use payments::gateway::PagarMe;
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
    let service = Arc::new(Payments::new(runtime.pool.clone(), gateway, &config));
    let mut runtime = payments::jobs(service.clone(), &config)
        .into_iter()
        .fold(runtime, Runtime::job);
    // An open circuit degrades readiness (charges go pending_offline), it does not stop us.
    if let Some(breaker) = service.policy().breaker() {
        runtime = runtime.check(service_kit::health::Check::breaker(breaker.clone()));
    }
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
