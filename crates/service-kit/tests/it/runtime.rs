use std::time::{Duration, Instant};

use axum::Router;
use axum::routing::get;
use bus::{QueueSpec, Topology};
use service_kit::{Runtime, ServiceConfig};
use sqlx::PgPool;
use testkit::Vhost;

static SERVICE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./tests/it/migrations");

/// The whole run loop in-process: serve, migrate, connect, report ready, stop on the token.
#[sqlx::test(migrations = false)]
async fn a_service_comes_up_ready_and_stops_on_its_token(pool: PgPool) -> anyhow::Result<()> {
    let vhost = Vhost::create().await?;
    // The test's own database, reached like the admin URL reaches the server.
    let admin = std::env::var("DATABASE_URL")?;
    let server = admin.rsplit_once('/').map_or(admin.as_str(), |(s, _)| s);
    let database = pool
        .connect_options()
        .get_database()
        .unwrap_or_default()
        .to_owned();
    let database_url = format!("{server}/{database}");
    let config = ServiceConfig {
        name: "kit-test".into(),
        addr: "127.0.0.1:0".parse()?,
        database_url,
        amqp_url: vhost.url(),
        db_max_connections: 2,
        request_timeout: Duration::from_millis(300),
    };
    let runtime = Runtime::from_config(config)?;
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

    let start = Instant::now();
    loop {
        let response = reqwest::get(format!("{url}/health/ready")).await;
        if response.as_ref().is_ok_and(|r| r.status() == 200) {
            break;
        }
        anyhow::ensure!(start.elapsed() < Duration::from_secs(30), "never ready");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        reqwest::get(format!("{url}/hello")).await?.text().await?,
        "hello"
    );
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
