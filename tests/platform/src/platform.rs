//! [`Platform`]: the whole of Summit as a test's own — catalog, checkout, payments and
//! notifications as OS processes of the real binaries (port 0, the address read from their
//! `Listening` line), and the gateway simulator (`gateway-sim`) as a process too.
//!
//! What each test gets of its own: a fresh database per service with a non-superuser role of
//! the same name (row-level security really on), one RabbitMQ vhost (or a broker node of its
//! own, [`Broker::OwnNode`], for drills that `kill -9` it), a Redis key prefix (or a Redis of
//! its own, [`Options::own_redis`]), a simulator, recipient addresses at the shared maildev
//! and a webhook receiver ([`crate::receivers`]). Nothing another test uses is touched, so
//! tests run in parallel.
//!
//! Invariants:
//! - Every link of every service runs through a [`FaultProxy`] of its own ([`crate::faults`]),
//!   in `Pass` unless a drill says otherwise; a link's URL never changes.
//! - A service restarted ([`Platform::restart`]) gets the environment, database and proxies it
//!   had; it binds a new port, and checkout's link to catalog is pointed at it.
//! - [`Platform::finish`] stops every process and drops every database and role; a test that
//!   fails before leaves them behind and says so (their processes are killed on drop).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde_json::Value;
use testkit::{BrokerCluster, BrokerNode, FaultProxy, RedisServer, ServiceProcess, Vhost};
use tokio::sync::Mutex;

use crate::faults::{Link, Mode, Svc};
use crate::receivers::WebhookReceiver;
use crate::service::{Database, binary, server_address};

/// Which broker the platform uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Broker {
    /// A vhost of the test's own on the shared broker.
    #[default]
    SharedVhost,
    /// A RabbitMQ node of the test's own (its own ports and data), for drills that kill it.
    OwnNode,
    /// Three nodes of the test's own in one cluster (quorum queues replicated on all three);
    /// the services reach it through their broker link's proxy, as through a load balancer:
    /// [`Platform::point_broker_at`] moves new connections to another member.
    Cluster,
}

/// How to start the platform.
#[derive(Debug, Clone, Default)]
pub struct Options {
    pub broker: Broker,
    /// A `redis-server` of the test's own (otherwise the shared one, under a key prefix of the
    /// test's own).
    pub own_redis: bool,
    /// Environment on top of the harness's, per service.
    pub env: Vec<(Svc, &'static str, String)>,
}

/// One service: how to start it, and the process if it runs.
struct Running {
    svc: Svc,
    env: Vec<(&'static str, String)>,
    database: Database,
    proxies: BTreeMap<Link, FaultProxy>,
    process: Mutex<Option<ServiceProcess>>,
    /// Where the running process listens (`None` while stopped).
    addr: std::sync::Mutex<Option<SocketAddr>>,
}

/// The platform (module docs).
pub struct Platform {
    vhost: Option<Vhost>,
    node: Option<BrokerNode>,
    cluster: Option<BrokerCluster>,
    /// `amqp://guest:guest@host:port/<vhost>` straight to the broker (not through a proxy):
    /// for the checker and test-side publishers.
    amqp_url: std::sync::Mutex<String>,
    redis: Option<RedisServer>,
    /// The simulator, reached straight (the browser tokenizes there; tests set its faults).
    sim: ServiceProcess,
    services: BTreeMap<Svc, Running>,
    /// The shared Redis key prefix of this platform's payments.
    pub rate_limit_prefix: String,
    pub webhooks: WebhookReceiver,
}

/// `host:port` of an `amqp://` or `redis://` URL.
fn authority(url: &str) -> anyhow::Result<SocketAddr> {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    let authority = rest.split(['/', '?']).next().unwrap_or(rest);
    let host_port = authority
        .rsplit_once('@')
        .map_or(authority, |(_, host)| host);
    let host_port = host_port.replace("localhost", "127.0.0.1");
    host_port
        .parse()
        .with_context(|| format!("no host:port in {url}"))
}

impl Platform {
    /// Everything up and `ready`.
    pub async fn start(options: Options) -> anyhow::Result<Self> {
        let (vhost, node, cluster, amqp_url) = match options.broker {
            Broker::SharedVhost => {
                let vhost = Vhost::create().await?;
                let url = vhost.url();
                (Some(vhost), None, None, url)
            }
            Broker::OwnNode => {
                let node = BrokerNode::start().await?;
                let url = node.url();
                (None, Some(node), None, url)
            }
            Broker::Cluster => {
                let cluster = BrokerCluster::start().await?;
                let url = cluster.nodes()[0].url();
                (None, None, Some(cluster), url)
            }
        };
        let vhost_path = amqp_url
            .rsplit_once('/')
            .map(|(_, path)| path.to_owned())
            .context("the AMQP URL names a vhost")?;
        let broker_addr = authority(&amqp_url)?;
        let redis = if options.own_redis {
            Some(RedisServer::start().await?)
        } else {
            None
        };
        let redis_addr = authority(&redis.as_ref().map_or_else(
            || std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into()),
            RedisServer::url,
        ))?;
        let postgres_addr: SocketAddr = server_address()
            .replace("localhost", "127.0.0.1")
            .parse()
            .context("the admin DATABASE_URL's host:port")?;
        let sim = ServiceProcess::start(
            &binary("gateway-sim")?,
            &[
                ("GATEWAY_SIM_ADDR", "127.0.0.1:0".to_owned()),
                ("RUST_LOG", "warn".to_owned()),
            ],
        )
        .await?;
        let webhooks = WebhookReceiver::start().await?;
        let rate_limit_prefix = format!("platform:{}", uuid::Uuid::new_v4().simple());
        // A sealing key of the test's own, 32 random bytes as hex.
        let settings_key = format!(
            "{}{}",
            uuid::Uuid::new_v4().simple(),
            uuid::Uuid::new_v4().simple()
        );

        let mut services = BTreeMap::new();
        for svc in Svc::ALL {
            let database = Database::create(svc.name()).await?;
            let mut proxies = BTreeMap::new();
            for link in svc.links() {
                let target = match link {
                    Link::Postgres => postgres_addr,
                    Link::Broker => broker_addr,
                    Link::Redis => redis_addr,
                    Link::Gateway => sim.addr,
                    Link::Catalog => services
                        .get(&Svc::Catalog)
                        .and_then(|c: &Running| *c.addr.lock().expect("addr lock"))
                        .context("catalog starts before checkout")?,
                };
                proxies.insert(*link, FaultProxy::start(target).await?);
            }
            let at = |link: Link| proxies[&link].port();
            let name = &database.name;
            let mut env = vec![
                (
                    "DATABASE_URL",
                    format!(
                        "postgres://{name}:{name}@127.0.0.1:{}/{name}",
                        at(Link::Postgres)
                    ),
                ),
                (
                    "AMQP_URL",
                    format!(
                        "amqp://guest:guest@127.0.0.1:{}/{vhost_path}",
                        at(Link::Broker)
                    ),
                ),
                ("RUST_LOG", "info".to_owned()),
                // Small pools: the shared Postgres allows 100 connections for every test
                // running at once (.config/nextest.toml runs two platforms at a time).
                ("DB_MAX_CONNECTIONS", "4".to_owned()),
            ];
            match svc {
                Svc::Catalog => {}
                Svc::Checkout => {
                    env.push((
                        "CATALOG_URL",
                        format!("http://127.0.0.1:{}", at(Link::Catalog)),
                    ));
                }
                Svc::Payments => env.extend([
                    (
                        "PAGARME_BASE_URL",
                        format!("http://127.0.0.1:{}/core/v5", at(Link::Gateway)),
                    ),
                    (
                        "STRIPE_BASE_URL",
                        format!("http://127.0.0.1:{}", at(Link::Gateway)),
                    ),
                    ("PAGARME_SECRET_KEY", "sk_test_platform".to_owned()),
                    ("GATEWAY_SETTINGS_KEY", settings_key.clone()),
                    (
                        "REDIS_URL",
                        format!("redis://127.0.0.1:{}", at(Link::Redis)),
                    ),
                    ("GATEWAY_RATE_LIMIT_PREFIX", rate_limit_prefix.clone()),
                    ("PAYMENTS_REPLICAS", "1".to_owned()),
                    // Short, for a test; the mechanisms are production's.
                    ("PAYMENTS_SETTLE_EVERY_MS", "500".to_owned()),
                    ("PAYMENTS_SETTLE_AFTER_MS", "2000".to_owned()),
                    ("GATEWAY_BREAKER_OPEN_MS", "1000".to_owned()),
                    ("GATEWAY_TIMEOUT_MS", "2000".to_owned()),
                ]),
                Svc::Notifications => env.extend([
                    ("SMTP_URL", crate::receivers::MAILDEV_SMTP_URL.to_owned()),
                    ("WEBHOOK_ALLOW_PRIVATE", "true".to_owned()),
                ]),
            }
            for (target, key, value) in &options.env {
                if *target == svc {
                    env.retain(|(k, _)| k != key);
                    env.push((key, value.clone()));
                }
            }
            let running = Running {
                svc,
                env,
                database,
                proxies,
                process: Mutex::new(None),
                addr: std::sync::Mutex::new(None),
            };
            running.spawn().await?;
            services.insert(svc, running);
        }
        let platform = Self {
            vhost,
            node,
            cluster,
            amqp_url: std::sync::Mutex::new(amqp_url),
            redis,
            sim,
            services,
            rate_limit_prefix,
            webhooks,
        };
        for svc in Svc::ALL {
            platform.wait_ready(svc, Duration::from_secs(90)).await?;
        }
        Ok(platform)
    }

    fn running(&self, svc: Svc) -> &Running {
        &self.services[&svc]
    }

    /// `http://<addr><path>` of the running `svc`.
    pub fn url(&self, svc: Svc, path: &str) -> anyhow::Result<String> {
        let addr = self
            .running(svc)
            .addr
            .lock()
            .expect("addr lock")
            .with_context(|| format!("{svc} is not running"))?;
        Ok(format!("http://{addr}{path}"))
    }

    /// The simulator's base URL (`http://<addr>`).
    pub fn sim_url(&self) -> String {
        self.sim.url()
    }

    /// `PUT /_sim/faults` (see payments' `sim.rs`): outage, 429s, latency, …
    pub async fn sim_faults(&self, faults: Value) -> anyhow::Result<()> {
        let response = reqwest::Client::new()
            .put(format!("{}/_sim/faults", self.sim.url()))
            .json(&faults)
            .send()
            .await?;
        anyhow::ensure!(
            response.status().is_success(),
            "sim faults: {}",
            response.status()
        );
        Ok(())
    }

    pub async fn clear_sim_faults(&self) -> anyhow::Result<()> {
        let response = reqwest::Client::new()
            .delete(format!("{}/_sim/faults", self.sim.url()))
            .send()
            .await?;
        anyhow::ensure!(
            response.status().is_success(),
            "sim faults: {}",
            response.status()
        );
        Ok(())
    }

    /// The charges the simulator made for `order` (`/_sim/charges?code=`): each one's status
    /// and amount.
    pub async fn sim_charges(&self, order: uuid::Uuid) -> anyhow::Result<Vec<(String, i64)>> {
        let body: Value = reqwest::get(format!("{}/_sim/charges?code={order}", self.sim.url()))
            .await?
            .error_for_status()?
            .json()
            .await?;
        Ok(body["items"]
            .as_array()
            .context("the simulator lists its charges")?
            .iter()
            .map(|c| {
                (
                    c["status"].as_str().unwrap_or_default().to_owned(),
                    c["amount"].as_i64().unwrap_or_default(),
                )
            })
            .collect())
    }

    /// Puts `mode` on `svc`'s link to `link`.
    pub fn fault(&self, svc: Svc, link: Link, mode: Mode) {
        self.running(svc).proxies[&link].set(mode);
    }

    /// Back to `Pass` on every link of every service.
    pub fn clear_faults(&self) {
        for running in self.services.values() {
            for proxy in running.proxies.values() {
                proxy.set(Mode::Pass);
            }
        }
    }

    /// The admin (superuser) URL of `svc`'s database, for the checker: it sees every store's
    /// rows.
    pub fn admin_database_url(&self, svc: Svc) -> String {
        crate::service::admin_url_to(&self.running(svc).database.name)
    }

    /// One number from `svc`'s database, asked as the admin (every store's rows): evidence a
    /// drill's fault really bit.
    pub async fn count(&self, svc: Svc, sql: &'static str) -> anyhow::Result<i64> {
        use sqlx::Connection;
        let mut db = sqlx::PgConnection::connect(&self.admin_database_url(svc)).await?;
        let n: i64 = sqlx::query_scalar(sql).fetch_one(&mut db).await?;
        db.close().await?;
        Ok(n)
    }

    /// Messages ready in `queue`, asked straight of the broker.
    pub async fn queue_depth(&self, queue: &str) -> anyhow::Result<u32> {
        let bus = bus::Bus::connect(
            &bus::BusConfig::new(self.amqp_url(), "platform-inspector"),
            bus::Topology::new(),
        )
        .await?;
        let depth = bus.depth(queue).await;
        bus.close().await;
        Ok(depth?)
    }

    /// The gateway calls the simulator received (`GET /_sim/calls`) as (method, path).
    pub async fn sim_calls(&self) -> anyhow::Result<Vec<(String, String)>> {
        let body: Value = reqwest::get(format!("{}/_sim/calls", self.sim.url()))
            .await?
            .error_for_status()?
            .json()
            .await?;
        Ok(body["calls"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|c| {
                (
                    c["method"].as_str().unwrap_or_default().to_owned(),
                    c["path"].as_str().unwrap_or_default().to_owned(),
                )
            })
            .collect())
    }

    /// `svc`'s `/health/ready` answer.
    pub async fn readiness(&self, svc: Svc) -> anyhow::Result<Value> {
        Ok(reqwest::get(self.url(svc, "/health/ready")?)
            .await?
            .json()
            .await?)
    }

    /// Straight to the broker (vhost included), not through any proxy.
    pub fn amqp_url(&self) -> String {
        self.amqp_url.lock().expect("amqp url lock").clone()
    }

    /// The test's own cluster ([`Broker::Cluster`]).
    pub fn broker_cluster(&self) -> anyhow::Result<&BrokerCluster> {
        self.cluster
            .as_ref()
            .context("the platform runs on no cluster")
    }

    /// New broker connections — every service's and the checker's — go to `node` from now on
    /// (what a load balancer in front of a cluster does once its health check fails a node).
    pub fn point_broker_at(&self, node: &BrokerNode) {
        let addr = SocketAddr::from(([127, 0, 0, 1], node.port()));
        for running in self.services.values() {
            running.proxies[&Link::Broker].retarget(addr);
        }
        *self.amqp_url.lock().expect("amqp url lock") = node.url();
    }

    /// The test's own broker node ([`Broker::OwnNode`]).
    pub fn broker_node(&self) -> anyhow::Result<&BrokerNode> {
        self.node
            .as_ref()
            .context("the platform runs on a shared vhost")
    }

    /// The test's own Redis ([`Options::own_redis`]).
    pub fn redis_mut(&mut self) -> anyhow::Result<&mut RedisServer> {
        self.redis.as_mut().context("the platform shares Redis")
    }

    /// Closes every client connection on the platform's vhost (shared broker only), once at
    /// least `at_least` not named in `closed_before` are listed; returns the names closed.
    pub async fn close_broker_connections(
        &self,
        at_least: usize,
        closed_before: &[String],
    ) -> anyhow::Result<Vec<String>> {
        self.vhost
            .as_ref()
            .context("closing connections needs the shared broker's management API")?
            .close_connections(at_least, closed_before)
            .await
    }

    /// Polls `/health/ready` until `ready`.
    pub async fn wait_ready(&self, svc: Svc, limit: Duration) -> anyhow::Result<()> {
        let start = Instant::now();
        let mut last = Value::Null;
        loop {
            if let Ok(url) = self.url(svc, "/health/ready")
                && let Ok(response) = reqwest::get(url).await
            {
                last = response.json().await.unwrap_or(Value::Null);
                if last["status"] == "ready" {
                    return Ok(());
                }
            }
            if start.elapsed() > limit {
                bail!("{svc} not ready within {limit:?}: {last}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// SIGTERM: it drains and exits.
    pub async fn stop(&self, svc: Svc) -> anyhow::Result<()> {
        let running = self.running(svc);
        let mut process = running.process.lock().await;
        let mut child = process
            .take()
            .with_context(|| format!("{svc} is not running"))?;
        *running.addr.lock().expect("addr lock") = None;
        let status = child.stop().await?;
        anyhow::ensure!(status.success(), "{svc} exits cleanly on SIGTERM: {status}");
        Ok(())
    }

    /// SIGKILL: no draining, no goodbye.
    pub async fn kill(&self, svc: Svc) -> anyhow::Result<()> {
        let running = self.running(svc);
        let mut process = running.process.lock().await;
        let mut child = process
            .take()
            .with_context(|| format!("{svc} is not running"))?;
        *running.addr.lock().expect("addr lock") = None;
        child.kill().await
    }

    /// Starts `svc` again (same database, environment and links) and waits until `ready`.
    pub async fn restart(&self, svc: Svc) -> anyhow::Result<()> {
        let addr = self.running(svc).spawn().await?;
        if svc == Svc::Catalog {
            self.running(Svc::Checkout).proxies[&Link::Catalog].retarget(addr);
        }
        self.wait_ready(svc, Duration::from_secs(90)).await
    }

    /// The log file of `svc`'s current process, for messages.
    pub async fn log_of(&self, svc: Svc) -> Option<std::path::PathBuf> {
        self.running(svc)
            .process
            .lock()
            .await
            .as_ref()
            .map(|p| p.log.clone())
    }

    /// Stops every service, then drops their databases and roles.
    pub async fn finish(mut self) -> anyhow::Result<()> {
        for svc in Svc::ALL.into_iter().rev() {
            let running = self.running(svc);
            if running.process.lock().await.is_some() {
                self.stop(svc).await?;
            }
        }
        for running in self.services.values_mut() {
            running.database.drop_now().await?;
        }
        Ok(())
    }
}

impl Running {
    async fn spawn(&self) -> anyhow::Result<SocketAddr> {
        let mut process = self.process.lock().await;
        anyhow::ensure!(process.is_none(), "{} is already running", self.svc);
        let child = ServiceProcess::start(&binary(self.svc.name())?, &self.env).await?;
        let addr = child.addr;
        *process = Some(child);
        *self.addr.lock().expect("addr lock") = Some(addr);
        Ok(addr)
    }
}
