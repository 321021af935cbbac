use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use service_kit::Check;
use service_kit::health::Health;
use sqlx::PgPool;

async fn serve(health: &Health) -> anyhow::Result<String> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}/health/ready", listener.local_addr()?);
    let app = health.router();
    tokio::spawn(async move { axum::serve(listener, app).await });
    Ok(url)
}

async fn ready(url: &str) -> anyhow::Result<(u16, serde_json::Value)> {
    let response = reqwest::get(url).await?;
    Ok((response.status().as_u16(), response.json().await?))
}

/// Ready = can serve: migrations done and the database answering. A failing `degrading`
/// dependency says `degraded` with its reason and stays 200; a failing `required` one is 503.
#[sqlx::test(migrations = false)]
async fn readiness_needs_required_checks_and_reports_degrading_ones(
    pool: PgPool,
) -> anyhow::Result<()> {
    let disk_ok = Arc::new(AtomicBool::new(true));
    let disk = disk_ok.clone();
    let health = Health::new(pool)
        .with_check(Check::degrading("redis", || async {
            Err("connection refused".to_owned())
        }))
        .with_check(Check::required("disk", move || {
            let ok = disk.load(Ordering::SeqCst);
            async move { if ok { Ok(()) } else { Err("full".to_owned()) } }
        }));
    let url = serve(&health).await?;

    let (status, body) = ready(&url).await?;
    assert_eq!(status, 503, "not migrated yet: {body}");
    assert_eq!(body["status"], "not ready");
    assert_eq!(body["checks"]["database"], false);
    assert_eq!(body["reasons"]["database"], "migrations not applied yet");

    health.migrated();
    let (status, body) = ready(&url).await?;
    assert_eq!(status, 200, "the broker and Redis only degrade: {body}");
    assert_eq!(body["status"], "degraded");
    assert_eq!(body["checks"]["database"], true);
    assert_eq!(body["checks"]["disk"], true);
    assert_eq!(body["checks"]["broker"], false);
    assert_eq!(body["reasons"]["broker"], "not connected yet; retrying");
    assert_eq!(body["reasons"]["redis"], "connection refused");
    assert!(body["reasons"].get("database").is_none(), "{body}");

    disk_ok.store(false, Ordering::SeqCst);
    let (status, body) = ready(&url).await?;
    assert_eq!(status, 503, "a required check failing: {body}");
    assert_eq!(body["status"], "not ready");
    assert_eq!(body["reasons"]["disk"], "full");
    Ok(())
}

/// An open breaker to a peer degrades; a closed one does not.
#[sqlx::test(migrations = false)]
async fn an_open_breaker_to_a_peer_degrades(pool: PgPool) -> anyhow::Result<()> {
    let breaker = Arc::new(resilience::CircuitBreaker::new(
        "payments",
        resilience::BreakerConfig::default(),
    ));
    let health = Health::new(pool).with_check(Check::breaker(breaker.clone()));
    health.migrated();
    let (_, body) = health.readiness().await;
    assert_eq!(body["checks"]["payments"], true, "{body}");
    while breaker.state() != resilience::BreakerState::Open {
        match breaker.try_acquire::<()>() {
            Ok(permit) => permit.failure(),
            Err(_) => break,
        }
    }
    let (status, body) = health.readiness().await;
    assert_eq!(status, 200);
    assert_eq!(body["checks"]["payments"], false, "{body}");
    assert_eq!(body["reasons"]["payments"], "circuit breaker open");
    Ok(())
}
