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
    // Stores' own gateway accounts, their secrets sealed under GATEWAY_SETTINGS_KEY (rows
    // under one of GATEWAY_SETTINGS_PREVIOUS_KEYS still open, and are re-sealed). Checked
    // first: a malformed key stops the service before it touches anything.
    let sealer = Arc::new(payments::settings::Sealer::from_config(&config)?);
    let runtime = Runtime::new("payments", payments::PORT)?;
    let gateway = PagarMe::new(
        config.pagarme_base_url.clone(),
        config.pagarme_secret_key.clone(),
    )?;
    let limit = Arc::new(GatewayLimit::new(
        &config.redis_url,
        LimitConfig {
            key: format!("{}:pagarme:platform", config.rate_limit_prefix),
            rate_per_s: config.rate_limit_per_s,
            burst: 1,
            replicas: config.replicas,
        },
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
        .fold(runtime, Runtime::job)
        .job(payments::reseal_job(sealer.clone()));
    // A store's secret sealed under a key we do not have: its charges wait; say so.
    let (pool, rotation) = (runtime.pool.clone(), sealer.clone());
    runtime = runtime.check(service_kit::health::Check::degrading(
        "gateway.settings",
        move || {
            let (pool, sealer) = (pool.clone(), rotation.clone());
            async move { payments::settings::unreadable(&pool, &sealer).await }
        },
    ));
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
            let limit = limit.clone();
            async move { limit.recheck().await.map_or(Ok(()), Err) }
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
