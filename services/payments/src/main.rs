//! The payments service binary: config, pool, gateway, bus, router, consumers, jobs, run.

use std::sync::Arc;

use payments::accounts::StoreAccounts;
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
    // Stores' own gateway accounts, their secrets sealed under GATEWAY_SETTINGS_KEY.
    let sealer = Arc::new(payments::settings::Sealer::new(
        &config.gateway_settings_key,
    )?);
    if sealer.key_id() == payments::settings::Sealer::development().key_id() {
        tracing::warn!(
            "GATEWAY_SETTINGS_KEY is unset: stores' gateway secrets are sealed with the public \
             development key (never in production)"
        );
    }
    let accounts = Arc::new(
        StoreAccounts::new(runtime.pool.clone(), sealer.clone(), &config).with_shared_limit(),
    );
    let service = Arc::new(
        Payments::new(runtime.pool.clone(), gateway, &config)
            .with_limit(limit.clone())
            .with_store_accounts(accounts.clone()),
    );
    let mut runtime = payments::jobs(service.clone(), &config)
        .into_iter()
        .fold(runtime, Runtime::job);
    // An open circuit degrades readiness (charges go pending_offline), it does not stop us.
    if let Some(breaker) = service.policy().breaker() {
        runtime = runtime.check(service_kit::health::Check::breaker(breaker.clone()));
    }
    // A store's own gateway account with its circuit open degrades readiness too.
    runtime = runtime.check(service_kit::health::Check::degrading(
        "gateway.stores",
        move || {
            let open = accounts.open_circuits();
            async move {
                match open {
                    0 => Ok(()),
                    n => Err(format!("circuit open for {n} store gateway account(s)")),
                }
            }
        },
    ));
    // Redis away: the local share of the limit serves, and readiness says so.
    runtime = runtime.check(service_kit::health::Check::degrading(
        "gateway.ratelimit",
        move || {
            let degraded = limit.degraded();
            async move { degraded.map_or(Ok(()), Err) }
        },
    ));
    let router = payments::router(runtime.pool.clone(), sealer);
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
