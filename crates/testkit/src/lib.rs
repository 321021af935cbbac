//! Test isolation on the real servers.
//!
//! Each test that touches RabbitMQ gets a vhost of its own ([`Vhost`]), created and deleted
//! through the management API, so tests run in parallel and a test that closes "its"
//! connections closes no one else's. Postgres isolation is `#[sqlx::test]`'s database per test.
//!
//! The management API is spoken in plain HTTP/1.1 over a std socket: it keeps this crate free
//! of an HTTP client stack, and lets [`Vhost`]'s `Drop` clean up without a runtime.
//!
//! Tests that must kill, restart or alarm a broker start a [`BrokerNode`] of their own (or a
//! three-node [`BrokerCluster`]); tests
//! that take a server away (Postgres) put a [`TcpProxy`] of their own in front of it, and tests
//! that slow, black-hole or reset a path put a [`FaultProxy`] there; tests
//! that kill Redis start a [`RedisServer`] of their own. Tests that run a service as an OS
//! process (several replicas, a SIGKILL) start it as a [`ServiceProcess`].
//!
//! # Environment
//!
//! Where the servers are; unset, the local defaults of docs/design.md. These two are all this
//! crate reads:
//! - `TEST_AMQP_AUTHORITY` (default `guest:guest@127.0.0.1:5672`): user, password, host and
//!   port of the broker, as [`Vhost::url`] puts them in AMQP URLs. The user must be `guest`,
//!   the one each vhost grants its permissions to.
//! - `RABBITMQ_MANAGEMENT_ADDR` (default `127.0.0.1:15672`): host and port of the management
//!   API, asked as `guest`/`guest`.

mod broker_node;
mod fault_proxy;
mod otlp_collector;
pub mod pgbench;
mod redis_server;
mod service_process;
mod tcp_proxy;

pub use broker_node::{BrokerCluster, BrokerNode};
pub use fault_proxy::{FaultProxy, Mode as FaultMode};
pub use otlp_collector::{CollectedSpan, OtlpCollector};
pub use redis_server::RedisServer;
pub use service_process::ServiceProcess;
pub use tcp_proxy::TcpProxy;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use anyhow::{Context, bail};

/// An environment variable this crate reads, and its value when unset (the crate docs'
/// "Environment" section describes each).
struct Setting {
    name: &'static str,
    default: &'static str,
}

impl Setting {
    fn get(&self) -> String {
        std::env::var(self.name).unwrap_or_else(|_| self.default.to_owned())
    }
}

const AMQP_AUTHORITY: Setting = Setting {
    name: "TEST_AMQP_AUTHORITY",
    default: "guest:guest@127.0.0.1:5672",
};

const MANAGEMENT_ADDR: Setting = Setting {
    name: "RABBITMQ_MANAGEMENT_ADDR",
    default: "127.0.0.1:15672",
};

/// `guest:guest`, base64, for Basic auth.
const MANAGEMENT_AUTH: &str = "Z3Vlc3Q6Z3Vlc3Q=";

/// One management API call; returns the status code and the body.
fn management(method: &str, path: &str, body: Option<&str>) -> anyhow::Result<(u16, String)> {
    let addr = MANAGEMENT_ADDR.get();
    let mut stream = TcpStream::connect(&addr)
        .with_context(|| format!("RabbitMQ management API at {addr} (is the plugin enabled?)"))?;
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    let body = body.unwrap_or("");
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Basic {MANAGEMENT_AUTH}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )?;
    let mut response = String::new();
    stream.read_to_string(&mut response)?;
    let status = response
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .context("no HTTP status from the management API")?;
    let body = match response.split_once("\r\n\r\n") {
        Some((head, rest))
            if head
                .to_ascii_lowercase()
                .contains("transfer-encoding: chunked") =>
        {
            dechunk(rest)
        }
        Some((_, rest)) => rest.to_owned(),
        None => String::new(),
    };
    Ok((status, body))
}

fn dechunk(mut rest: &str) -> String {
    let mut out = String::new();
    while let Some((size, after)) = rest.split_once("\r\n") {
        let Ok(size) = usize::from_str_radix(size.trim(), 16) else {
            break;
        };
        if size == 0 || after.len() < size {
            break;
        }
        out.push_str(&after[..size]);
        rest = after[size..].trim_start_matches("\r\n");
    }
    out
}

async fn management_async(
    method: &'static str,
    path: String,
    body: Option<String>,
) -> anyhow::Result<(u16, String)> {
    tokio::task::spawn_blocking(move || management(method, &path, body.as_deref())).await?
}

/// A RabbitMQ vhost that lives as long as the value; the guest user may do anything in it.
pub struct Vhost {
    name: String,
}

impl Vhost {
    pub async fn create() -> anyhow::Result<Self> {
        let name = format!("test-{}", uuid::Uuid::new_v4().simple());
        let (status, body) = management_async("PUT", format!("/api/vhosts/{name}"), None).await?;
        if !(200..300).contains(&status) {
            bail!("creating vhost {name}: HTTP {status} {body}");
        }
        let permissions = r#"{"configure":".*","write":".*","read":".*"}"#.to_owned();
        let (status, body) = management_async(
            "PUT",
            format!("/api/permissions/{name}/guest"),
            Some(permissions),
        )
        .await?;
        if !(200..300).contains(&status) {
            bail!("granting guest on {name}: HTTP {status} {body}");
        }
        Ok(Self { name })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// The AMQP URL of this vhost, on the broker the crate docs' "Environment" names.
    pub fn url(&self) -> String {
        format!("amqp://{}/{}", AMQP_AUTHORITY.get(), self.name)
    }

    /// Client connections on this vhost, by name. The management API learns of a new
    /// connection through its statistics, a few seconds late.
    pub async fn connection_names(&self) -> anyhow::Result<Vec<String>> {
        let path = format!("/api/vhosts/{}/connections", self.name);
        let (status, body) = management_async("GET", path, None).await?;
        if status != 200 {
            bail!("listing connections: HTTP {status} {body}");
        }
        let connections: serde_json::Value = serde_json::from_str(&body)?;
        Ok(connections
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|c| c["name"].as_str().map(str::to_owned))
            .collect())
    }

    /// Forcibly closes every client connection on this vhost (and only those), once the
    /// management API lists at least `at_least` connections not named in `closed_before`
    /// (it learns of new connections a few seconds late; waits up to 30 s). Returns the names
    /// it closed, for the next call's `closed_before`: clients that reconnect get new names.
    pub async fn close_connections(
        &self,
        at_least: usize,
        closed_before: &[String],
    ) -> anyhow::Result<Vec<String>> {
        let start = std::time::Instant::now();
        let fresh = |names: Vec<String>| -> Vec<String> {
            names
                .into_iter()
                .filter(|n| !closed_before.contains(n))
                .collect()
        };
        let mut names = fresh(self.connection_names().await?);
        while names.len() < at_least {
            if start.elapsed() > Duration::from_secs(30) {
                bail!(
                    "{} connection(s) listed on {} within 30 s, not {at_least}: {names:?}",
                    names.len(),
                    self.name
                );
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
            names = fresh(self.connection_names().await?);
        }
        let mut closed = Vec::new();
        for name in names {
            let path = format!("/api/connections/{}", percent_encode(&name));
            let (status, body) = management_async("DELETE", path, None).await?;
            match status {
                200..300 => closed.push(name),
                404 => {} // gone already
                _ => bail!("closing connection {name}: HTTP {status} {body}"),
            }
        }
        Ok(closed)
    }

    /// Messages ready in `queue` on this vhost (management statistics refresh every few seconds).
    pub async fn queue_info(&self, queue: &str) -> anyhow::Result<serde_json::Value> {
        let path = format!("/api/queues/{}/{}", self.name, percent_encode(queue));
        let (status, body) = management_async("GET", path, None).await?;
        if status != 200 {
            bail!("queue {queue}: HTTP {status} {body}");
        }
        Ok(serde_json::from_str(&body)?)
    }

    /// Every queue declared on this vhost, by name.
    pub async fn queue_names(&self) -> anyhow::Result<Vec<String>> {
        let (status, body) =
            management_async("GET", format!("/api/queues/{}", self.name), None).await?;
        if status != 200 {
            bail!("queues: HTTP {status} {body}");
        }
        let queues: serde_json::Value = serde_json::from_str(&body)?;
        Ok(queues
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|q| q["name"].as_str().map(str::to_owned))
            .collect())
    }

    /// Every exchange declared on this vhost, by name.
    pub async fn exchange_names(&self) -> anyhow::Result<Vec<String>> {
        let (status, body) =
            management_async("GET", format!("/api/exchanges/{}", self.name), None).await?;
        if status != 200 {
            bail!("exchanges: HTTP {status} {body}");
        }
        let exchanges: serde_json::Value = serde_json::from_str(&body)?;
        Ok(exchanges
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|q| q["name"].as_str().map(str::to_owned))
            .collect())
    }
}

impl Drop for Vhost {
    fn drop(&mut self) {
        // Deleting a vhost removes its queues (quorum queues hold broker resources).
        if let Err(error) = management("DELETE", &format!("/api/vhosts/{}", self.name), None) {
            eprintln!("could not delete vhost {}: {error:#}", self.name);
        }
    }
}

fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const SOURCE: &str = include_str!("lib.rs");

    /// Every variable read: the crate docs name these and no others.
    const SETTINGS: [&Setting; 2] = [&AMQP_AUTHORITY, &MANAGEMENT_ADDR];

    /// The names in backticks that look like environment variables (`SHOUTY_CASE`).
    fn variables_named_in(text: &str) -> Vec<&str> {
        text.split('`')
            .skip(1)
            .step_by(2)
            .filter(|word| {
                word.len() > 1
                    && word.contains('_')
                    && word
                        .bytes()
                        .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_')
            })
            .collect()
    }

    #[test]
    fn the_docs_name_each_variable_the_code_reads_once_with_its_default() {
        let docs: String = SOURCE
            .lines()
            .filter_map(|line| line.strip_prefix("//!"))
            .collect::<Vec<_>>()
            .join("\n");
        let mut named = variables_named_in(&docs);
        named.sort_unstable();
        let mut read: Vec<&str> = SETTINGS.iter().map(|setting| setting.name).collect();
        read.sort_unstable();
        assert_eq!(
            named, read,
            "each variable read, named once in the crate docs"
        );
        for setting in SETTINGS {
            let entry = format!("`{}` (default `{}`)", setting.name, setting.default);
            assert!(docs.contains(&entry), "the docs give {entry}");
        }
    }

    #[test]
    fn no_variable_is_read_but_through_a_setting() {
        let reads = SOURCE.matches(concat!("env::", "var(")).count();
        assert_eq!(reads, 1, "only Setting::get reads the environment");
        let settings = SOURCE.matches(concat!(": Setting = ", "Setting {")).count();
        assert_eq!(settings, SETTINGS.len(), "SETTINGS lists every Setting");
    }
}
