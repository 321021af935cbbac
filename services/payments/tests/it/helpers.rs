//! The simulator started in-process on port 0, and the calls a browser would make to it.

use payments::gateway::PagarMe;
use payments::sim::Simulator;
use reqwest::Client;
use secrecy::SecretString;
use serde_json::{Value, json};

/// pagar.me's documented test cards.
pub const PAID: &str = "4000000000000010";
pub const DECLINED: &str = "4000000000000028";
pub const PROCESSING: &str = "4000000000000036";

pub struct Sim {
    pub url: String,
    pub http: Client,
}

impl Sim {
    pub async fn start() -> anyhow::Result<Self> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let url = format!("http://{}", listener.local_addr()?);
        tokio::spawn(Simulator::new().serve(listener));
        Ok(Self {
            url,
            http: Client::new(),
        })
    }

    pub fn base(&self) -> String {
        format!("{}/core/v5", self.url)
    }

    pub fn pagarme(&self) -> anyhow::Result<PagarMe> {
        Ok(PagarMe::new(
            self.base(),
            SecretString::from("sk_test_summit".to_owned()),
        )?)
    }

    /// Tokenizes a card as the browser does.
    pub async fn token(&self, number: &str) -> anyhow::Result<String> {
        let response: Value = self
            .http
            .post(format!("{}/tokens?appId=pk_test_summit", self.base()))
            .json(&json!({
                "type": "card",
                "card": {
                    "number": number,
                    "holder_name": "Maria Silva",
                    "exp_month": 12,
                    "exp_year": 2030,
                    "cvv": "123",
                },
            }))
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        response["id"]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| anyhow::anyhow!("no token in {response}"))
    }

    /// The secret keys (accounts) the gateway's charges for an order were made with.
    pub async fn accounts(&self, code: &str) -> anyhow::Result<Vec<String>> {
        let response: Value = self
            .http
            .get(format!("{}/_sim/charges", self.url))
            .query(&[("code", code)])
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        Ok(response["accounts"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|a| a.as_str().map(str::to_owned))
            .collect())
    }

    /// How many charges the gateway really made for an order.
    pub async fn charges(&self, code: &str) -> anyhow::Result<u64> {
        let response: Value = self
            .http
            .get(format!("{}/_sim/charges", self.url))
            .query(&[("code", code)])
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        response["charges"]
            .as_u64()
            .ok_or_else(|| anyhow::anyhow!("no count in {response}"))
    }

    pub async fn faults(&self, faults: Value) -> anyhow::Result<()> {
        self.http
            .put(format!("{}/_sim/faults", self.url))
            .json(&faults)
            .send()
            .await?
            .error_for_status()?;
        Ok(())
    }

    pub async fn clear_faults(&self) -> anyhow::Result<()> {
        self.http
            .delete(format!("{}/_sim/faults", self.url))
            .send()
            .await?
            .error_for_status()?;
        Ok(())
    }
}

/// Payments over a fresh database and a simulator of its own.
pub struct World {
    /// Superuser pool, for assertions behind the service's back.
    pub pool: sqlx::PgPool,
    /// The service's own pool: a plain role, so row-level security is in force.
    pub app_pool: sqlx::PgPool,
    pub sim: Sim,
    pub payments: std::sync::Arc<payments::charges::Payments<PagarMe>>,
    pub store: uuid::Uuid,
    /// Seals stores' gateway secrets (the development key).
    pub sealer: std::sync::Arc<payments::settings::Sealer>,
}

/// Short limits so a gateway that is away is found out in milliseconds, not seconds.
pub fn fast_config() -> payments::PaymentsConfig {
    use std::time::Duration;
    payments::PaymentsConfig {
        timeout: Duration::from_millis(300),
        attempts: 2,
        backoff_base: Duration::from_millis(5),
        settle_after: Duration::ZERO,
        breaker_open_for: Duration::from_millis(200),
        ..payments::PaymentsConfig::default()
    }
}

impl World {
    pub async fn new(pool: sqlx::PgPool) -> anyhow::Result<Self> {
        let sim = Sim::start().await?;
        let gateway = sim.pagarme()?;
        Self::with_gateway(pool, sim, gateway).await
    }

    pub async fn with_gateway(
        pool: sqlx::PgPool,
        sim: Sim,
        gateway: PagarMe,
    ) -> anyhow::Result<Self> {
        Self::with_config(pool, sim, gateway, fast_config()).await
    }

    pub async fn with_config(
        pool: sqlx::PgPool,
        sim: Sim,
        gateway: PagarMe,
        config: payments::PaymentsConfig,
    ) -> anyhow::Result<Self> {
        payments::migrator().run(&pool).await?;
        let app_pool = app_pool(&pool).await?;
        let mut config = config;
        config.pagarme_base_url = sim.base();
        config.stripe_base_url.clone_from(&sim.url);
        let sealer = std::sync::Arc::new(payments::settings::Sealer::development());
        let accounts = std::sync::Arc::new(payments::accounts::StoreAccounts::new(
            app_pool.clone(),
            sealer.clone(),
            &config,
        ));
        let payments = std::sync::Arc::new(
            payments::charges::Payments::new(app_pool.clone(), gateway, &config)
                .with_store_accounts(accounts),
        );
        Ok(Self {
            pool,
            app_pool,
            sim,
            payments,
            store: uuid::Uuid::now_v7(),
            sealer,
        })
    }

    /// The HTTP API on port 0; its base URL.
    pub async fn serve(&self) -> anyhow::Result<String> {
        self.serve_with(self.sealer.clone()).await
    }

    /// The HTTP API on port 0 with `sealer` (as a process configured with other keys would
    /// serve it); its base URL.
    pub async fn serve_with(
        &self,
        sealer: std::sync::Arc<payments::settings::Sealer>,
    ) -> anyhow::Result<String> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let url = format!("http://{}", listener.local_addr()?);
        let router = payments::router(self.app_pool.clone(), sealer);
        tokio::spawn(async move { axum::serve(listener, router).await });
        Ok(url)
    }

    /// A charge command for a new order, paid with `card`, in its envelope.
    pub async fn charge(
        &self,
        card: &str,
    ) -> anyhow::Result<(contracts::RawEnvelope, contracts::payments::Charge)> {
        let token = self.sim.token(card).await?;
        Ok(self.charge_with(self.store, token))
    }

    /// A charge command for a new order of `store`, paid with `payment_token` as it is.
    pub fn charge_with(
        &self,
        store: uuid::Uuid,
        payment_token: String,
    ) -> (contracts::RawEnvelope, contracts::payments::Charge) {
        let command = contracts::payments::Charge {
            order_id: uuid::Uuid::now_v7(),
            store_id: store,
            amount_minor: 15_990,
            currency: "BRL".into(),
            customer: contracts::payments::Customer {
                email: "maria@example.com".into(),
                name: Some("Maria Silva".into()),
            },
            payment_token,
        };
        let raw = contracts::Envelope::new(Some(store), command.clone()).into_raw();
        (raw, command)
    }

    pub async fn status(&self, order_id: uuid::Uuid) -> anyhow::Result<String> {
        Ok(
            sqlx::query_scalar("SELECT status FROM payments WHERE order_id = $1")
                .bind(order_id)
                .fetch_one(&self.pool)
                .await?,
        )
    }

    /// The kinds of the events waiting in the outbox for an order, oldest first.
    pub async fn events(&self, order_id: uuid::Uuid) -> anyhow::Result<Vec<String>> {
        Ok(
            sqlx::query_scalar("SELECT kind FROM outbox WHERE correlation_id = $1 ORDER BY id")
                .bind(order_id.to_string())
                .fetch_all(&self.pool)
                .await?,
        )
    }
}

/// A pool that runs as a plain (non-superuser, non-owner) role, as the service does in
/// production: row-level security is in force for everything it does.
pub async fn app_pool(pool: &sqlx::PgPool) -> anyhow::Result<sqlx::PgPool> {
    use sqlx::Executor;
    pool.execute(
        "DO $$ BEGIN
             CREATE ROLE payments_it_app NOLOGIN NOSUPERUSER NOBYPASSRLS;
         EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
         END $$",
    )
    .await?;
    pool.execute(
        "GRANT USAGE ON SCHEMA public TO payments_it_app;
         GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO payments_it_app;
         GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO payments_it_app;",
    )
    .await?;
    let options = (*pool.connect_options()).clone();
    Ok(sqlx::postgres::PgPoolOptions::new()
        .max_connections(8)
        .acquire_timeout(std::time::Duration::from_secs(30))
        .after_connect(|conn, _| {
            Box::pin(async move {
                conn.execute("SET ROLE payments_it_app").await?;
                Ok(())
            })
        })
        .connect_with(options)
        .await?)
}

impl World {
    /// The URL of this world's database (as the admin role), for a `payments` process.
    pub fn database_url(&self) -> anyhow::Result<String> {
        let admin = std::env::var("DATABASE_URL")?;
        let base = admin.rsplit_once('/').map_or(admin.as_str(), |(b, _)| b);
        let database = self
            .pool
            .connect_options()
            .get_database()
            .unwrap_or_default()
            .to_owned();
        Ok(format!("{base}/{database}"))
    }

    /// The environment of a real `payments` process of this world: its database, the broker
    /// at `amqp_url` (the test's vhost), this simulator as the platform's pagar.me, and
    /// `redis_url` with `rate_limit_prefix`, a Redis key namespace of the test's own.
    pub fn process_env(
        &self,
        amqp_url: &str,
        redis_url: &str,
        rate_limit_prefix: &str,
    ) -> anyhow::Result<Vec<(&'static str, String)>> {
        Ok(vec![
            ("DATABASE_URL", self.database_url()?),
            ("AMQP_URL", amqp_url.to_owned()),
            ("PAGARME_BASE_URL", self.sim.base()),
            ("PAGARME_SECRET_KEY", "sk_test_process".to_owned()),
            ("REDIS_URL", redis_url.to_owned()),
            ("GATEWAY_RATE_LIMIT_PREFIX", rate_limit_prefix.to_owned()),
            ("RUST_LOG", "warn".to_owned()),
        ])
    }
}

/// Starts the real `payments` binary with `env`; returns once it listens.
pub async fn start_payments(env: &[(&str, String)]) -> anyhow::Result<testkit::ServiceProcess> {
    testkit::ServiceProcess::start(std::path::Path::new(env!("CARGO_BIN_EXE_payments")), env).await
}

/// The local Redis the tests share (`REDIS_URL`, default 127.0.0.1:6379).
pub fn shared_redis_url() -> String {
    std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned())
}

/// Polls `check` every 100 ms until it holds, failing after `within`.
pub async fn eventually<F, Fut>(
    what: &str,
    within: std::time::Duration,
    mut check: F,
) -> anyhow::Result<()>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<bool>>,
{
    let deadline = std::time::Instant::now() + within;
    while !check().await? {
        anyhow::ensure!(
            std::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    Ok(())
}

impl Sim {
    /// When each gateway call arrived (ms since the simulator started) whose method and path
    /// are `method` and `path`, oldest first.
    pub async fn calls(&self, method: &str, path: &str) -> anyhow::Result<Vec<f64>> {
        let response: Value = self
            .http
            .get(format!("{}/_sim/calls", self.url))
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        Ok(response["calls"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|c| c["method"] == method && c["path"] == path)
            .filter_map(|c| c["at_ms"].as_f64())
            .collect())
    }
}
