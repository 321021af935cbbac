//! The app started in-process on port 0, over a pool that runs as a plain (non-superuser,
//! non-owner) role, so row-level security is in force for everything the app does. The read
//! model is fed the way catalog feeds it: by applying catalog's events.

use std::time::Duration;

use checkout::CheckoutConfig;
use contracts::catalog::{ProductUpserted, StoreCreated};
use contracts::{Contract, Envelope, Message};
use reqwest::{Client, Response, StatusCode};
use serde_json::{Value, json};
use service_kit::admin_key::AdminKey;
use sqlx::postgres::PgPoolOptions;
use sqlx::{Executor, PgPool};
use uuid::Uuid;

pub struct App {
    pub url: String,
    pub http: Client,
    /// Superuser pool for assertions behind the app's back.
    pub pool: PgPool,
    /// The app's own (row-level-secured) pool.
    pub app_pool: PgPool,
}

pub async fn prepare(pool: &PgPool) -> anyhow::Result<()> {
    checkout::migrator().run(pool).await?;
    pool.execute(
        "DO $$ BEGIN
             CREATE ROLE checkout_it_app NOLOGIN NOSUPERUSER NOBYPASSRLS;
         EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
         END $$",
    )
    .await?;
    pool.execute(
        "GRANT USAGE ON SCHEMA public TO checkout_it_app;
         GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO checkout_it_app;
         GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO checkout_it_app;",
    )
    .await?;
    Ok(())
}

pub async fn app_pool(pool: &PgPool) -> anyhow::Result<PgPool> {
    let options = (*pool.connect_options()).clone();
    Ok(PgPoolOptions::new()
        .max_connections(8)
        .acquire_timeout(Duration::from_secs(30))
        .after_connect(|conn, _| {
            Box::pin(async move {
                conn.execute("SET ROLE checkout_it_app").await?;
                Ok(())
            })
        })
        .connect_with(options)
        .await?)
}

pub async fn spawn(pool: PgPool) -> anyhow::Result<App> {
    spawn_with(pool, CheckoutConfig::default()).await
}

pub async fn spawn_with(pool: PgPool, config: CheckoutConfig) -> anyhow::Result<App> {
    prepare(&pool).await?;
    let app_pool = app_pool(&pool).await?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}", listener.local_addr()?);
    let router = checkout::router(app_pool.clone(), config);
    tokio::spawn(async move { axum::serve(listener, router).await });
    Ok(App {
        url,
        http: Client::new(),
        pool,
        app_pool,
    })
}

/// A store in the read model, with the admin key whose hash catalog published.
pub struct Shop {
    pub id: Uuid,
    pub slug: String,
    pub key: String,
}

/// Applies a catalog event to the read model, as the consumer does.
pub async fn feed<P: Contract>(pool: &PgPool, store: Uuid, payload: P) -> anyhow::Result<()> {
    let raw = Envelope::new(Some(store), payload).into_raw();
    let message = Message::decode(&raw)?;
    checkout::read_model::apply(pool, &raw, &message).await?;
    Ok(())
}

impl App {
    pub fn at(&self, path: &str) -> String {
        format!("{}{path}", self.url)
    }

    pub async fn shop(&self, slug: &str) -> anyhow::Result<Shop> {
        let key = AdminKey::generate();
        let id = Uuid::now_v7();
        feed(
            &self.app_pool,
            id,
            StoreCreated {
                store_id: id,
                slug: slug.to_owned(),
                name: format!("Loja {slug}"),
                contact_email: "dono@example.com".into(),
                temporary_domain: format!("{slug}.summit.localhost"),
                admin_key_hash: key.hash(),
                language: None,
                version: 1,
            },
        )
        .await?;
        Ok(Shop {
            id,
            slug: slug.to_owned(),
            key: key.expose().to_owned(),
        })
    }

    pub async fn product(
        &self,
        shop: &Shop,
        name: &str,
        price_minor: i64,
        currency: &str,
    ) -> anyhow::Result<Uuid> {
        let id = Uuid::now_v7();
        self.upsert(shop, id, name, price_minor, currency, true, 1)
            .await?;
        Ok(id)
    }

    #[allow(clippy::too_many_arguments)]
    pub async fn upsert(
        &self,
        shop: &Shop,
        id: Uuid,
        name: &str,
        price_minor: i64,
        currency: &str,
        active: bool,
        version: i64,
    ) -> anyhow::Result<()> {
        feed(
            &self.app_pool,
            shop.id,
            ProductUpserted {
                product_id: id,
                store_id: shop.id,
                sku: format!("SKU-{name}"),
                name: name.to_owned(),
                description: String::new(),
                price_minor,
                currency: currency.to_owned(),
                active,
                version,
            },
        )
        .await
    }

    pub async fn post_order(
        &self,
        slug: &str,
        key: &str,
        body: &Value,
    ) -> anyhow::Result<Response> {
        Ok(self
            .http
            .post(self.at(&format!("/stores/{slug}/orders")))
            .header("idempotency-key", key)
            .json(body)
            .send()
            .await?)
    }

    /// Places an order and returns the 202 body.
    pub async fn place(&self, shop: &Shop, lines: &[(Uuid, i64)]) -> anyhow::Result<Value> {
        let response = self
            .post_order(&shop.slug, &Uuid::now_v7().to_string(), &order(lines))
            .await?;
        anyhow::ensure!(
            response.status() == StatusCode::ACCEPTED,
            "{}",
            response.text().await?
        );
        Ok(response.json().await?)
    }

    /// The shopper's view through its status URL.
    pub async fn status(&self, placed: &Value) -> anyhow::Result<Value> {
        let url = placed["status_url"].as_str().unwrap_or_default();
        let response = self.http.get(self.at(url)).send().await?;
        anyhow::ensure!(
            response.status() == StatusCode::OK,
            "{}",
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

    pub async fn kinds(&self) -> anyhow::Result<Vec<String>> {
        Ok(self.outbox().await?.into_iter().map(|(k, _)| k).collect())
    }

    pub async fn count(&self, table: &str) -> anyhow::Result<i64> {
        Ok(
            sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SELECT count(*) FROM {table}")))
                .fetch_one(&self.pool)
                .await?,
        )
    }
}

/// An order body with these lines.
pub fn order(lines: &[(Uuid, i64)]) -> Value {
    json!({
        "lines": lines.iter().map(|(p, q)| json!({"product_id": p, "quantity": q})).collect::<Vec<_>>(),
        "customer": {"name": "Ana Souza", "email": "ana@example.com"},
        "shipping_address": {"line1": "Rua A, 1", "city": "São Paulo", "state": "SP",
                             "postal_code": "01000-000", "country": "BR"},
        "payment": {"card_token": "tok_test_4000000000000010"}
    })
}

/// Asserts a problem response: status, content type; returns the body.
pub async fn problem(response: Response, status: StatusCode) -> anyhow::Result<Value> {
    let got = response.status();
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let body: Value = response.json().await?;
    assert_eq!(got, status, "unexpected status: {body}");
    assert_eq!(content_type, "application/problem+json");
    Ok(body)
}

/// The real catalog (its router on a socket, a database of its own), for what checkout asks
/// it over HTTP; the database is dropped by [`CatalogServer::remove`].
pub struct CatalogServer {
    pub url: String,
    http: reqwest::Client,
    admin: PgPool,
    database: String,
    pool: PgPool,
}

impl CatalogServer {
    pub async fn start(admin: &PgPool) -> anyhow::Result<Self> {
        let database = format!("checkout_it_catalog_{}", Uuid::new_v4().simple());
        admin
            .execute(sqlx::AssertSqlSafe(format!("CREATE DATABASE {database}")))
            .await?;
        let options = (*admin.connect_options()).clone().database(&database);
        let pool = sqlx::postgres::PgPoolOptions::new()
            .max_connections(4)
            .connect_with(options)
            .await?;
        catalog::migrator().run(&pool).await?;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let url = format!("http://{}", listener.local_addr()?);
        let config = catalog::CatalogConfig {
            public_url: url.clone(),
            ..catalog::CatalogConfig::default()
        };
        let router = catalog::router(pool.clone(), config);
        tokio::spawn(async move { axum::serve(listener, router).await });
        Ok(Self {
            url,
            http: reqwest::Client::new(),
            admin: admin.clone(),
            database,
            pool,
        })
    }

    /// Creates a store in catalog; returns (id, admin key).
    pub async fn store(&self, slug: &str) -> anyhow::Result<(Uuid, String)> {
        let created: Value = self
            .http
            .post(format!("{}/stores", self.url))
            .json(&json!({"name": format!("Loja {slug}"), "slug": slug, "contact_email": "dono@example.com"}))
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        Ok((
            created["id"].as_str().unwrap_or_default().parse()?,
            created["admin_key"].as_str().unwrap_or_default().to_owned(),
        ))
    }

    pub async fn product(&self, key: &str, sku: &str, price_minor: i64) -> anyhow::Result<Uuid> {
        let created: Value = self
            .http
            .post(format!("{}/admin/products", self.url))
            .bearer_auth(key)
            .json(
                &json!({"name": format!("Produto {sku}"), "sku": sku, "price_minor": price_minor,
                          "currency": "BRL", "stock": 10, "active": true}),
            )
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        Ok(created["id"].as_str().unwrap_or_default().parse()?)
    }

    pub async fn remove(self) -> anyhow::Result<()> {
        self.pool.close().await;
        self.admin
            .execute(sqlx::AssertSqlSafe(format!(
                "DROP DATABASE {} WITH (FORCE)",
                self.database
            )))
            .await?;
        Ok(())
    }
}
