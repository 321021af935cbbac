//! One service binary started on its own ([`Service`]), the databases and roles it gets
//! ([`Database`], [`RunDatabases`]), a broker that is away ([`BrokerGate`]) and a watcher of
//! the events on an exchange ([`EventWatcher`]): the pieces the startup tests use one by one.
//!
//! As in production, a service connects as a role of its own that owns its database and is
//! no superuser (a superuser would bypass forced row-level security): [`Database`] creates
//! both, and [`Service::wait_ready`] checks the role of every connection the service holds.
//!
//! A service is started with `PORT=0`: it binds a port the system picks and prints it on stdout
//! ([`service_kit::Listening`]), and the harness reads it from there — no port is picked ahead,
//! released, and raced for by another process before the service binds it.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use service_kit::Listening;
use sqlx::{Connection, PgConnection};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::process::{Child, ChildStdout, Command};
use tokio::task::JoinHandle;

/// The four services and the queues each must declare.
pub const SERVICES: [&str; 4] = ["catalog", "checkout", "payments", "notifications"];

/// Every database (and role) deploy/local/databases.sh makes: the four services' and ops'.
pub const DATABASES: [&str; 5] = ["catalog", "checkout", "payments", "notifications", "ops"];

/// A started service binary. Killed on drop if still running.
pub struct Service {
    pub name: String,
    /// Where it listens: the address it announced after binding port 0.
    pub addr: SocketAddr,
    child: Child,
    /// The name of its database, which is also the name of the role it connects as.
    database_name: String,
    /// The fresh database it was given, dropped when it stops; `None` under [`RunDatabases`].
    database: Option<Database>,
}

impl Service {
    /// Starts `name` on a port of its own with a fresh database; `amqp_url` picks the broker
    /// (vhost). Returns once it listens.
    pub async fn start(name: &str, amqp_url: &str) -> anyhow::Result<Self> {
        let database = Database::create(name).await?;
        let env = vec![("DATABASE_URL".to_owned(), database.url())];
        let database_name = database.name.clone();
        Self::spawn(name, env, amqp_url, database_name, Some(database)).await
    }

    /// Starts `name` as [`Service::start`] does, but connected as the admin role (a
    /// superuser) to its fresh database: what platform tests did before each service had a
    /// role of its own, kept only to show that [`Service::wait_ready`] refuses it.
    pub async fn start_as_admin(name: &str, amqp_url: &str) -> anyhow::Result<Self> {
        let database = Database::create(name).await?;
        let env = vec![("DATABASE_URL".to_owned(), admin_url_to(&database.name))];
        let database_name = database.name.clone();
        Self::spawn(name, env, amqp_url, database_name, Some(database)).await
    }

    /// Starts `name` the way `make run` does — with the environment
    /// `deploy/local/service-env.sh` prints for it, over whatever this process inherited —
    /// against `databases`, but on a port of its own and the broker (vhost) of `amqp_url`.
    pub async fn start_as_make_run(
        name: &str,
        databases: &RunDatabases,
        amqp_url: &str,
    ) -> anyhow::Result<Self> {
        let env = databases
            .service_env(name)
            .await?
            .into_iter()
            .filter(|(key, _)| key != "PORT" && key != "AMQP_URL")
            .collect();
        Self::spawn(name, env, amqp_url, databases.name_of(name), None).await
    }

    /// Runs the binary with `PORT=0` and waits for the address it announces on stdout. Its
    /// output (stdout after the announcement, and stderr) goes to a log file in the temporary
    /// directory, named in any error.
    async fn spawn(
        name: &str,
        env: Vec<(String, String)>,
        amqp_url: &str,
        database_name: String,
        database: Option<Database>,
    ) -> anyhow::Result<Self> {
        let log_path = std::env::temp_dir().join(format!(
            "summit-{name}-{}.log",
            uuid::Uuid::new_v4().simple()
        ));
        let log = std::fs::File::create(&log_path)?;
        let mut child = Command::new(binary(name)?)
            .envs(env)
            .env("PORT", "0")
            .env("AMQP_URL", amqp_url)
            .env("RUST_LOG", "info")
            .stdout(Stdio::piped())
            .stderr(log.try_clone()?)
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("starting {name}"))?;
        let stdout = child.stdout.take().context("the child's stdout is piped")?;
        let addr = tokio::time::timeout(
            Duration::from_secs(30),
            announced_addr(stdout, tokio::fs::File::from_std(log), &log_path),
        )
        .await
        .with_context(|| {
            format!(
                "{name} announced no address within 30 s (log: {})",
                log_path.display()
            )
        })??;
        Ok(Self {
            name: name.to_owned(),
            addr,
            child,
            database_name,
            database,
        })
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// POST JSON to `path` with optional bearer key: status and JSON body.
    pub async fn post(
        &self,
        path: &str,
        key: Option<&str>,
        body: serde_json::Value,
    ) -> anyhow::Result<(u16, serde_json::Value)> {
        let mut request = reqwest::Client::new().post(self.url(path)).json(&body);
        if let Some(key) = key {
            request = request.bearer_auth(key);
        }
        let response = request.send().await?;
        let status = response.status().as_u16();
        Ok((
            status,
            response.json().await.unwrap_or(serde_json::Value::Null),
        ))
    }

    /// GET `path`: status and JSON body (Null when not JSON).
    pub async fn get(&self, path: &str) -> anyhow::Result<(u16, serde_json::Value)> {
        let response = reqwest::get(self.url(path)).await?;
        let status = response.status().as_u16();
        let body = response.json().await.unwrap_or(serde_json::Value::Null);
        Ok((status, body))
    }

    /// Waits until `/health/ready` answers 200 with every dependency up (`ready`, not
    /// `degraded`); then checks that the service talks to its database as its own role, no
    /// superuser ([`Service::database_roles`]).
    pub async fn wait_ready(&self, limit: Duration) -> anyhow::Result<()> {
        let start = Instant::now();
        loop {
            if let Ok((200, body)) = self.get("/health/ready").await
                && body["status"] == "ready"
            {
                let roles = self.database_roles().await?;
                let own = [(self.database_name.clone(), false)];
                if roles != own {
                    bail!(
                        "{} must connect to its database only as its own non-superuser role {}; \
                         its connections' (role, superuser): {roles:?}",
                        self.name,
                        self.database_name
                    );
                }
                return Ok(());
            }
            if start.elapsed() > limit {
                bail!("{} not ready within {limit:?}", self.name);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The roles of the connections to the service's database, as the server sees them
    /// (`pg_stat_activity`), each with whether it is a superuser; asked through the admin
    /// connection, not the service's.
    pub async fn database_roles(&self) -> anyhow::Result<Vec<(String, bool)>> {
        let mut admin = PgConnection::connect(&admin_url()).await?;
        let roles = sqlx::query_as(
            "SELECT DISTINCT r.rolname::text, r.rolsuper
             FROM pg_stat_activity a JOIN pg_roles r ON r.oid = a.usesysid
             WHERE a.datname = $1 AND a.backend_type = 'client backend'
             ORDER BY 1",
        )
        .bind(&self.database_name)
        .fetch_all(&mut admin)
        .await?;
        admin.close().await?;
        Ok(roles)
    }

    /// SIGTERM, then the exit status (the service drains and exits on its own).
    pub async fn stop(mut self) -> anyhow::Result<std::process::ExitStatus> {
        let pid = self.child.id().context("already exited")?;
        Command::new("kill")
            .arg("-TERM")
            .arg(pid.to_string())
            .status()
            .await?;
        let status = tokio::time::timeout(Duration::from_secs(30), self.child.wait()).await??;
        if let Some(database) = self.database.as_mut() {
            database.drop_now().await?;
        }
        Ok(status)
    }
}

/// A queue of the test's own bound to `catalog.events`-style fanout exchanges, to see what a
/// service announces.
pub struct EventWatcher {
    bus: bus::Bus,
    queue: String,
}

impl EventWatcher {
    pub async fn start(vhost: &testkit::Vhost, exchange: &str) -> anyhow::Result<Self> {
        let queue = format!("platform-test.{}", uuid::Uuid::new_v4().simple());
        let bus = bus::Bus::connect(
            &bus::BusConfig::new(vhost.url(), "platform-test"),
            bus::Topology::new().queue(bus::QueueSpec::new(&queue).events_from(exchange)),
        )
        .await?;
        Ok(Self { bus, queue })
    }

    pub fn bus(&self) -> &bus::Bus {
        &self.bus
    }

    /// The first event `pick` accepts, skipping others, within `limit`.
    pub async fn wait_for<T>(
        &self,
        limit: Duration,
        pick: impl Fn(&contracts::RawEnvelope, contracts::Message) -> Option<T>,
    ) -> anyhow::Result<T> {
        let start = Instant::now();
        loop {
            // One at a time: what follows the event sought stays queued for the next wait.
            let taken = self.bus.take(&self.queue, 1).await?;
            let empty = taken.is_empty();
            for message in taken {
                let (envelope, decoded) = contracts::message::decode_body(&message.body)?;
                if let Some(found) = pick(&envelope, decoded) {
                    return Ok(found);
                }
            }
            if empty {
                if start.elapsed() > limit {
                    bail!("no such event within {limit:?}");
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }

    pub async fn close(self) {
        self.bus.close().await;
    }
}

/// Where `make test` (and cargo) put the service binaries: beside this test binary's `deps/`.
pub fn binary(name: &str) -> anyhow::Result<PathBuf> {
    let exe = std::env::current_exe()?;
    let dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .context("test binary has no target directory")?;
    let path = dir.join(name);
    if !path.exists() {
        bail!(
            "{} is missing: build the services first (`cargo build --workspace --bins`, as `make test` does)",
            path.display()
        );
    }
    Ok(path)
}

/// Reads a starting service's stdout up to its [`Listening`] line, copying what comes before
/// to `log`; from then on a task of its own copies the rest, until the service exits.
async fn announced_addr(
    stdout: ChildStdout,
    mut log: tokio::fs::File,
    log_path: &Path,
) -> anyhow::Result<SocketAddr> {
    let mut stdout = BufReader::new(stdout);
    let mut line = String::new();
    loop {
        line.clear();
        if stdout.read_line(&mut line).await? == 0 {
            bail!("exited before it listened (log: {})", log_path.display());
        }
        if let Some(announced) = Listening::parse(&line) {
            tokio::spawn(async move {
                let _ = tokio::io::copy_buf(&mut stdout, &mut log).await;
            });
            return Ok(announced.listening);
        }
        log.write_all(line.as_bytes()).await?;
    }
}

/// Where the real broker listens.
const BROKER: &str = "127.0.0.1:5672";

/// A broker address the test holds from the start, for a service whose broker is away: until
/// [`BrokerGate::open`] it hangs up on every connection; then it forwards each to the real
/// broker. The port stays bound throughout, so no other process can take it meanwhile.
pub struct BrokerGate {
    addr: SocketAddr,
    open: Arc<AtomicBool>,
    accepting: JoinHandle<()>,
}

impl BrokerGate {
    pub async fn closed() -> anyhow::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let open = Arc::new(AtomicBool::new(false));
        let is_open = open.clone();
        let accepting = tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                if !is_open.load(Ordering::SeqCst) {
                    // Dropped at once: the client sees the connection closed.
                    continue;
                }
                tokio::spawn(async move {
                    if let Ok(mut broker) = TcpStream::connect(BROKER).await {
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut broker).await;
                    }
                });
            }
        });
        Ok(Self {
            addr,
            open,
            accepting,
        })
    }

    /// The AMQP URL of `vhost` through this gate (`%2f`: the default vhost).
    pub fn url(&self, vhost: &str) -> String {
        format!("amqp://guest:guest@{}/{vhost}", self.addr)
    }

    /// From now on, connections reach the broker.
    pub fn open(&self) {
        self.open.store(true, Ordering::SeqCst);
    }
}

impl Drop for BrokerGate {
    fn drop(&mut self) {
        self.accepting.abort();
    }
}

/// A database of the test's own on the local server, created through the admin `DATABASE_URL`,
/// with a role of the same name that owns it, may connect to it alone, and is no superuser —
/// what deploy/local/databases.sh gives each service. Both are dropped by
/// [`Database::drop_now`].
pub struct Database {
    pub name: String,
    dropped: bool,
}

pub fn admin_url() -> String {
    std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://summit:summit@127.0.0.1:5432/postgres".into())
}

/// The admin role's URL to another database on the same server.
pub fn admin_url_to(database: &str) -> String {
    let admin = admin_url();
    let base = admin
        .rsplit_once('/')
        .map_or(admin.as_str(), |(base, _)| base);
    format!("{base}/{database}")
}

/// The repository's root (scripts live in `deploy/local/`).
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The databases and roles `make run` gives the services, made by `deploy/local/databases.sh`
/// itself but under a name prefix of the test's own (`SUMMIT_DB_PREFIX`), so the test neither
/// needs nor touches the shared `catalog`, `checkout`, … Dropped by [`RunDatabases::drop_now`].
pub struct RunDatabases {
    prefix: String,
    dropped: bool,
}

impl RunDatabases {
    pub async fn create() -> anyhow::Result<Self> {
        let prefix = format!("t{}_", &uuid::Uuid::new_v4().simple().to_string()[..12]);
        let output = Command::new("bash")
            .arg(repo_root().join("deploy/local/databases.sh"))
            .env("SUMMIT_DB_PREFIX", &prefix)
            .output()
            .await
            .context("running deploy/local/databases.sh")?;
        if !output.status.success() {
            bail!(
                "databases.sh failed: {}",
                String::from_utf8_lossy(&output.stderr)
            );
        }
        Ok(Self {
            prefix,
            dropped: false,
        })
    }

    /// The database (and role) name `make run` gives `service` under this prefix.
    pub fn name_of(&self, service: &str) -> String {
        format!("{}{service}", self.prefix)
    }

    /// What `deploy/local/service-env.sh <service>` prints, as (name, value) pairs.
    pub async fn service_env(&self, service: &str) -> anyhow::Result<Vec<(String, String)>> {
        let output = Command::new("bash")
            .arg(repo_root().join("deploy/local/service-env.sh"))
            .arg(service)
            .env("SUMMIT_DB_PREFIX", &self.prefix)
            .output()
            .await
            .context("running deploy/local/service-env.sh")?;
        if !output.status.success() {
            bail!(
                "service-env.sh {service} failed: {}",
                String::from_utf8_lossy(&output.stderr)
            );
        }
        String::from_utf8(output.stdout)?
            .lines()
            .filter(|line| !line.trim().is_empty())
            .map(|line| {
                line.split_once('=')
                    .map(|(k, v)| (k.to_owned(), v.to_owned()))
                    .with_context(|| format!("not NAME=value: {line}"))
            })
            .collect()
    }

    pub async fn drop_now(&mut self) -> anyhow::Result<()> {
        let mut admin = PgConnection::connect(&admin_url()).await?;
        for service in DATABASES {
            let name = self.name_of(service);
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
            )))
            .execute(&mut admin)
            .await?;
            sqlx::query(sqlx::AssertSqlSafe(format!("DROP ROLE IF EXISTS {name}")))
                .execute(&mut admin)
                .await?;
        }
        self.dropped = true;
        Ok(())
    }
}

impl Drop for RunDatabases {
    fn drop(&mut self) {
        if !self.dropped {
            eprintln!(
                "databases and roles {}* left behind (the test failed before dropping them)",
                self.prefix
            );
        }
    }
}

impl Database {
    pub async fn create(service: &str) -> anyhow::Result<Self> {
        let name = format!("platform_{service}_{}", uuid::Uuid::new_v4().simple());
        let mut admin = PgConnection::connect(&admin_url()).await?;
        for statement in [
            format!(
                "CREATE ROLE {name} LOGIN PASSWORD '{name}' NOSUPERUSER NOCREATEDB NOCREATEROLE"
            ),
            format!("CREATE DATABASE {name} OWNER {name}"),
            format!("REVOKE CONNECT ON DATABASE {name} FROM PUBLIC"),
        ] {
            sqlx::query(sqlx::AssertSqlSafe(statement))
                .execute(&mut admin)
                .await?;
        }
        Ok(Self {
            name,
            dropped: false,
        })
    }

    /// The URL the service connects with: its own role, to its own database.
    pub fn url(&self) -> String {
        let name = &self.name;
        format!("postgres://{name}:{name}@{}/{name}", server_address())
    }

    pub async fn drop_now(&mut self) -> anyhow::Result<()> {
        let mut admin = PgConnection::connect(&admin_url()).await?;
        for statement in [
            format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name),
            format!("DROP ROLE IF EXISTS {}", self.name),
        ] {
            sqlx::query(sqlx::AssertSqlSafe(statement))
                .execute(&mut admin)
                .await?;
        }
        self.dropped = true;
        Ok(())
    }
}

/// `host:port` of the server the admin `DATABASE_URL` names.
pub fn server_address() -> String {
    let admin = admin_url();
    let rest = admin
        .split_once("://")
        .map_or(admin.as_str(), |(_, rest)| rest);
    let authority = rest.split(['/', '?']).next().unwrap_or(rest);
    authority
        .rsplit_once('@')
        .map_or(authority, |(_, host)| host)
        .to_owned()
}

impl Drop for Database {
    fn drop(&mut self) {
        if !self.dropped {
            eprintln!(
                "database and role {} left behind (the test failed before stopping it)",
                self.name
            );
        }
    }
}
