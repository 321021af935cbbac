//! The app started in-process on port 0, over a pool that runs as a plain (non-superuser,
//! non-owner) role, so row-level security is in force for everything the app does.

use std::time::Duration;

use catalog::CatalogConfig;
use reqwest::{Client, Response, StatusCode};
use serde_json::{Value, json};
use sqlx::postgres::PgPoolOptions;
use sqlx::{Executor, PgPool};

pub struct App {
    pub url: String,
    pub http: Client,
    /// Superuser pool for assertions behind the app's back.
    pub pool: PgPool,
    pub config: CatalogConfig,
}

/// Migrates the test database and grants the plain role what the service's role would have.
pub async fn prepare(pool: &PgPool) -> anyhow::Result<()> {
    catalog::migrator().run(pool).await?;
    // Roles are per cluster and tests run in parallel: creating it may race, which is fine.
    pool.execute(
        "DO $$ BEGIN
             CREATE ROLE catalog_it_app NOLOGIN NOSUPERUSER NOBYPASSRLS;
         EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
         END $$",
    )
    .await?;
    pool.execute(
        "GRANT USAGE ON SCHEMA public TO catalog_it_app;
         GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO catalog_it_app;
         GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO catalog_it_app;",
    )
    .await?;
    Ok(())
}

/// A pool on the same database whose every connection acts as `catalog_it_app`, a
/// cluster-wide role without login or superpowers (so row-level security applies).
pub async fn app_pool(pool: &PgPool) -> anyhow::Result<PgPool> {
    let options = (*pool.connect_options()).clone();
    Ok(PgPoolOptions::new()
        .max_connections(8)
        .acquire_timeout(Duration::from_secs(30))
        .after_connect(|conn, _| {
            Box::pin(async move {
                conn.execute("SET ROLE catalog_it_app").await?;
                Ok(())
            })
        })
        .connect_with(options)
        .await?)
}

pub async fn spawn(pool: PgPool) -> anyhow::Result<App> {
    spawn_with_dns(pool, None).await
}

/// The app, looking custom domains' TXT records up through `dns_resolver` (a test's own).
pub async fn spawn_with_dns(
    pool: PgPool,
    dns_resolver: Option<std::net::SocketAddr>,
) -> anyhow::Result<App> {
    prepare(&pool).await?;
    let app_pool = app_pool(&pool).await?;
    let config = CatalogConfig {
        logo_max_bytes: 16 * 1024,
        json_max_bytes: 8 * 1024,
        dns_resolver,
        ..CatalogConfig::default()
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}", listener.local_addr()?);
    let config_for_app = CatalogConfig {
        public_url: url.clone(),
        ..config
    };
    let router = catalog::router(app_pool, config_for_app.clone());
    tokio::spawn(async move { axum::serve(listener, router).await });
    Ok(App {
        url,
        http: Client::new(),
        pool,
        config: config_for_app,
    })
}

/// A created store, as the merchant sees it.
pub struct Merchant {
    pub id: String,
    pub key: String,
    pub body: Value,
}

impl App {
    pub fn at(&self, path: &str) -> String {
        format!("{}{path}", self.url)
    }

    pub async fn create_store(&self, slug: &str) -> anyhow::Result<Merchant> {
        let response = self
            .http
            .post(self.at("/stores"))
            .json(&json!({"name": format!("Loja {slug}"), "slug": slug, "contact_email": "dono@example.com"}))
            .send()
            .await?;
        anyhow::ensure!(
            response.status() == StatusCode::CREATED,
            "{:?}",
            response.text().await?
        );
        let body: Value = response.json().await?;
        Ok(Merchant {
            id: body["id"].as_str().unwrap_or_default().to_owned(),
            key: body["admin_key"].as_str().unwrap_or_default().to_owned(),
            body,
        })
    }

    pub async fn create_product(&self, key: &str, body: Value) -> anyhow::Result<Value> {
        let response = self
            .http
            .post(self.at("/admin/products"))
            .bearer_auth(key)
            .json(&body)
            .send()
            .await?;
        anyhow::ensure!(
            response.status() == StatusCode::CREATED,
            "{:?}",
            response.text().await?
        );
        Ok(response.json().await?)
    }

    /// (type, payload) of every outbox row, oldest first.
    pub async fn outbox(&self) -> anyhow::Result<Vec<(String, Value)>> {
        let rows: Vec<(String, Vec<u8>)> =
            sqlx::query_as("SELECT kind, body FROM outbox ORDER BY id")
                .fetch_all(&self.pool)
                .await?;
        rows.into_iter()
            .map(|(kind, body)| {
                let envelope: Value = serde_json::from_slice(&body)?;
                Ok((kind, envelope["payload"].clone()))
            })
            .collect()
    }

    pub async fn count(&self, table: &str) -> anyhow::Result<i64> {
        Ok(
            sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SELECT count(*) FROM {table}")))
                .fetch_one(&self.pool)
                .await?,
        )
    }
}

pub fn product(sku: &str, name: &str) -> Value {
    json!({"name": name, "description": "", "sku": sku, "price_minor": 1000, "currency": "BRL", "stock": 5, "active": true})
}

/// Asserts a problem response: status, content type; returns the body.
pub async fn problem(response: Response, status: StatusCode) -> anyhow::Result<Value> {
    assert_eq!(response.status(), status, "unexpected status");
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert_eq!(content_type, "application/problem+json");
    Ok(response.json().await?)
}
