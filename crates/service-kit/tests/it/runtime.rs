use std::time::{Duration, Instant};

use axum::Router;
use axum::routing::get;
use bus::{QueueSpec, Topology};
use service_kit::{Runtime, ServiceConfig};
use sqlx::PgPool;
use testkit::Vhost;

static SERVICE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./tests/it/migrations");

/// Settings for a service on the test's own database (reached like the admin URL reaches the
/// server) and the broker at `amqp_url`.
fn config(pool: &PgPool, amqp_url: String) -> anyhow::Result<ServiceConfig> {
    let admin = std::env::var("DATABASE_URL")?;
    let server = admin.rsplit_once('/').map_or(admin.as_str(), |(s, _)| s);
    let database = pool
        .connect_options()
        .get_database()
        .unwrap_or_default()
        .to_owned();
    Ok(ServiceConfig {
        name: "kit-test".into(),
        addr: "127.0.0.1:0".parse()?,
        database_url: format!("{server}/{database}").into(),
        amqp_url: amqp_url.into(),
        db_max_connections: 2,
        request_timeout: Duration::from_millis(300),
    })
}

/// The whole run loop in-process: serve, migrate, connect, report ready, stop on the token.
#[sqlx::test(migrations = false)]
async fn a_service_comes_up_ready_and_stops_on_its_token(pool: PgPool) -> anyhow::Result<()> {
    let vhost = Vhost::create().await?;
    let runtime = Runtime::from_config(config(&pool, vhost.url())?)?;
    let shutdown = runtime.shutdown.clone();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}", listener.local_addr()?);
    let router = Router::new()
        .route("/hello", get(|| async { "hello" }))
        .route(
            "/slow",
            get(|| async {
                tokio::time::sleep(Duration::from_secs(5)).await;
                "late"
            }),
        );
    let topology =
        Topology::new().queue(QueueSpec::new("kit-test.commands").command("kit-test.do"));
    let migrator = outbox::migrator(&SERVICE_MIGRATIONS);
    let running = tokio::spawn(async move {
        runtime
            .serve(listener, &migrator, topology, router, Vec::new())
            .await
    });

    wait_ready(&url, "ready").await?;
    // Every service serves its outbox's status.
    let outbox: serde_json::Value = reqwest::get(format!("{url}/outbox")).await?.json().await?;
    assert_eq!(outbox["backlog"], 0, "{outbox}");
    assert_eq!(outbox["set_aside"], 0, "{outbox}");
    assert_eq!(
        reqwest::get(format!("{url}/hello")).await?.text().await?,
        "hello"
    );

    // A request running past REQUEST_TIMEOUT_MS (300 ms here) is answered as a 503 problem,
    // and still carries the request id the client sent.
    let slow = reqwest::Client::new()
        .get(format!("{url}/slow"))
        .header("x-request-id", "kit-test-slow-1")
        .send()
        .await?;
    assert_eq!(slow.status().as_u16(), 503);
    assert_eq!(slow.headers()["content-type"], "application/problem+json");
    assert_eq!(slow.headers()["x-request-id"], "kit-test-slow-1");
    let problem: serde_json::Value = slow.json().await?;
    assert_eq!(problem["type"], "timeout", "{problem}");
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT tablename::text FROM pg_tables WHERE schemaname = 'public' ORDER BY 1",
    )
    .fetch_all(&pool)
    .await?;
    assert_eq!(
        tables,
        ["_sqlx_migrations", "inbox", "kit_things", "outbox"]
    );
    assert!(
        vhost
            .queue_names()
            .await?
            .contains(&"kit-test.commands".to_owned())
    );

    shutdown.cancel();
    tokio::time::timeout(Duration::from_secs(30), running).await???;
    assert!(
        reqwest::get(format!("{url}/health/live")).await.is_err(),
        "stopped serving"
    );
    Ok(())
}

/// `/health/ready`'s body once it answers 200 with `status` (`ready` or `degraded`).
async fn wait_ready(url: &str, status: &str) -> anyhow::Result<serde_json::Value> {
    let start = Instant::now();
    let mut last = serde_json::Value::Null;
    loop {
        if let Ok(response) = reqwest::get(format!("{url}/health/ready")).await {
            let code = response.status();
            last = response.json().await.unwrap_or_default();
            if code == 200 && last["status"] == status {
                return Ok(last);
            }
        }
        anyhow::ensure!(
            start.elapsed() < Duration::from_secs(30),
            "never {status}; last: {last}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Without its broker a migrated service can serve (writes go to the outbox): ready, 200,
/// `degraded` with the broker's reason — Kubernetes keeps it in its Service.
#[sqlx::test(migrations = false)]
async fn without_its_broker_a_service_is_ready_but_degraded(pool: PgPool) -> anyhow::Result<()> {
    // Nothing listens on this port: the broker is away.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let runtime = Runtime::from_config(config(
        &pool,
        format!("amqp://guest:guest@127.0.0.1:{closed}/%2f"),
    )?)?;
    let shutdown = runtime.shutdown.clone();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}", listener.local_addr()?);
    let migrator = outbox::migrator(&SERVICE_MIGRATIONS);
    let running = tokio::spawn(async move {
        runtime
            .serve(
                listener,
                &migrator,
                Topology::new(),
                Router::new(),
                Vec::new(),
            )
            .await
    });

    let ready = wait_ready(&url, "degraded").await?;
    assert_eq!(ready["checks"]["database"], true);
    assert_eq!(ready["checks"]["broker"], false);
    assert!(ready["reasons"]["broker"].is_string(), "{ready}");

    shutdown.cancel();
    tokio::time::timeout(Duration::from_secs(30), running).await???;
    Ok(())
}

/// The port is bound and announced before the migrations run: until they are applied, the
/// service's own routes answer 503 with `Retry-After` (problem+json), never a 500 from a
/// table that does not exist yet.
#[tokio::test]
async fn before_its_migrations_a_service_answers_503_with_retry_after() -> anyhow::Result<()> {
    // Nothing listens on this port: the database is away, so the migrations wait.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let runtime = Runtime::from_config(ServiceConfig {
        name: "kit-test".into(),
        addr: "127.0.0.1:0".parse()?,
        database_url: format!("postgres://nobody@127.0.0.1:{closed}/nothing").into(),
        amqp_url: "amqp://guest:guest@127.0.0.1:5672/%2f".to_owned().into(),
        db_max_connections: 1,
        request_timeout: Duration::from_millis(300),
    })?;
    let shutdown = runtime.shutdown.clone();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}", listener.local_addr()?);
    let router = Router::new().route("/hello", get(|| async { "hello" }));
    let migrator = outbox::migrator(&SERVICE_MIGRATIONS);
    let running = tokio::spawn(async move {
        runtime
            .serve(listener, &migrator, Topology::new(), router, Vec::new())
            .await
    });

    let response = reqwest::get(format!("{url}/hello")).await?;
    assert_eq!(response.status(), 503);
    assert_eq!(response.headers()["retry-after"], "1");
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json"
    );
    // Health still answers, and says why it is not ready.
    let ready = reqwest::get(format!("{url}/health/ready")).await?;
    assert_eq!(ready.status(), 503);

    shutdown.cancel();
    tokio::time::timeout(Duration::from_secs(30), running).await???;
    Ok(())
}
