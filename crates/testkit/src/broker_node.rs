//! [`BrokerNode`]: a RabbitMQ node of the test's own — its own node name, AMQP and
//! distribution ports, data and log directories — for tests that kill, restart or alarm a
//! broker without disturbing the shared one or each other.
//!
//! The Debian wrapper runs the server as the `rabbitmq` user, so the node's directory is made
//! and chowned for it (the test runs as root, as CI does). The node is killed by the pid in its
//! own PID file, never by name, and its directory is removed when the value drops.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

/// A running (or deliberately killed) RabbitMQ node of the test's own.
pub struct BrokerNode {
    node: String,
    dir: PathBuf,
    port: u16,
    dist_port: u16,
}

fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

async fn run(program: &str, args: Vec<String>) -> anyhow::Result<(bool, String)> {
    let output = tokio::process::Command::new(program)
        .args(&args)
        .output()
        .await
        .with_context(|| format!("running {program}"))?;
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    Ok((output.status.success(), text))
}

impl BrokerNode {
    /// Starts a fresh single node and waits until it accepts AMQP connections.
    pub async fn start() -> anyhow::Result<Self> {
        let mut last_error = None;
        // The ports are free when picked; a node that loses the race for one fails to start,
        // and a second pick is taken.
        for _ in 0..3 {
            let id = uuid::Uuid::new_v4().simple().to_string();
            let node = Self {
                node: format!("summit-test-{}@localhost", &id[..12]),
                dir: std::env::temp_dir().join(format!("summit-broker-{}", &id[..12])),
                port: free_port()?,
                dist_port: free_port()?,
            };
            node.prepare()?;
            match node.launch().await {
                Ok(()) => return Ok(node),
                Err(error) => last_error = Some(error),
            }
        }
        Err(last_error.unwrap_or_else(|| anyhow::anyhow!("the test broker never started")))
    }

    fn prepare(&self) -> anyhow::Result<()> {
        std::fs::create_dir_all(self.dir.join("mnesia"))?;
        std::fs::create_dir_all(self.dir.join("log"))?;
        std::fs::write(
            self.dir.join("rabbitmq.conf"),
            format!(
                "listeners.tcp.local = 127.0.0.1:{}\nloopback_users = none\n",
                self.port
            ),
        )?;
        std::fs::write(self.dir.join("plugins"), "[].\n")?;
        let status = std::process::Command::new("chown")
            .args(["-R", "rabbitmq:rabbitmq"])
            .arg(&self.dir)
            .status()
            .context(
                "chown for the rabbitmq user (tests with a broker of their own run as root)",
            )?;
        if !status.success() {
            bail!("chown {} failed", self.dir.display());
        }
        Ok(())
    }

    fn env(&self) -> Vec<(String, String)> {
        let dir = |p: &str| self.dir.join(p).display().to_string();
        vec![
            ("RABBITMQ_NODENAME".into(), self.node.clone()),
            ("RABBITMQ_CONFIG_FILE".into(), dir("rabbitmq.conf")),
            ("RABBITMQ_DIST_PORT".into(), self.dist_port.to_string()),
            ("RABBITMQ_MNESIA_BASE".into(), dir("mnesia")),
            ("RABBITMQ_LOG_BASE".into(), dir("log")),
            ("RABBITMQ_ENABLED_PLUGINS_FILE".into(), dir("plugins")),
            ("RABBITMQ_PID_FILE".into(), dir("pid")),
        ]
    }

    async fn launch(&self) -> anyhow::Result<()> {
        let status = tokio::process::Command::new("rabbitmq-server")
            .arg("-detached")
            .envs(self.env())
            .current_dir(Path::new("/"))
            .status()
            .await
            .context("starting rabbitmq-server")?;
        if !status.success() {
            bail!("rabbitmq-server -detached failed for {}", self.node);
        }
        self.await_amqp(Duration::from_secs(90)).await
    }

    /// Waits until the node's application runs and its AMQP port accepts connections.
    async fn await_amqp(&self, limit: Duration) -> anyhow::Result<()> {
        let start = Instant::now();
        loop {
            let (ok, _) = self.ctl_raw(&["await_startup", "--timeout", "5"]).await?;
            if ok
                && tokio::net::TcpStream::connect(("127.0.0.1", self.port))
                    .await
                    .is_ok()
            {
                return Ok(());
            }
            if start.elapsed() > limit {
                bail!(
                    "test broker {} not up within {limit:?}; logs in {}",
                    self.node,
                    self.dir.join("log").display()
                );
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    async fn ctl_raw(&self, args: &[&str]) -> anyhow::Result<(bool, String)> {
        let mut all = vec!["-n".to_owned(), self.node.clone()];
        all.extend(args.iter().map(|a| (*a).to_owned()));
        run("rabbitmqctl", all).await
    }

    /// Runs `rabbitmqctl -n <node> <args>`; fails with its output when it fails.
    pub async fn ctl(&self, args: &[&str]) -> anyhow::Result<String> {
        let (ok, text) = self.ctl_raw(args).await?;
        if !ok {
            bail!("rabbitmqctl {args:?}: {text}");
        }
        Ok(text)
    }

    /// `amqp://guest:guest@127.0.0.1:<port>/%2f`: the node's default vhost.
    pub fn url(&self) -> String {
        format!("amqp://guest:guest@127.0.0.1:{}/%2f", self.port)
    }

    pub fn name(&self) -> &str {
        &self.node
    }

    /// Its AMQP port on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Makes this (fresh) node a member of `seed`'s cluster: `stop_app`, `join_cluster`,
    /// `start_app`, then waits for AMQP again. Both run as the `rabbitmq` user, so they share
    /// its Erlang cookie.
    pub async fn join(&self, seed: &BrokerNode) -> anyhow::Result<()> {
        self.ctl(&["stop_app"]).await?;
        self.ctl(&["join_cluster", seed.name()]).await?;
        self.ctl(&["start_app"]).await?;
        self.await_amqp(Duration::from_secs(90)).await
    }

    fn pid(&self) -> anyhow::Result<i32> {
        let text = std::fs::read_to_string(self.dir.join("pid"))
            .with_context(|| format!("PID file of {}", self.node))?;
        Ok(text.trim().parse()?)
    }

    /// `kill -9` of the node's VM (by its own PID file), then waits until its port is closed.
    pub async fn kill(&self) -> anyhow::Result<()> {
        let pid = self.pid()?;
        let (ok, text) = run("kill", vec!["-9".into(), pid.to_string()]).await?;
        if !ok {
            bail!("kill -9 {pid}: {text}");
        }
        let start = Instant::now();
        while tokio::net::TcpStream::connect(("127.0.0.1", self.port))
            .await
            .is_ok()
        {
            if start.elapsed() > Duration::from_secs(30) {
                bail!("{} still accepts connections after kill -9", self.node);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Ok(())
    }

    /// Starts the node again on the same data directory (what a restarted broker does).
    pub async fn restart(&self) -> anyhow::Result<()> {
        let _ = std::fs::remove_file(self.dir.join("pid"));
        self.launch().await
    }

    /// Writes the node's registry of quorum-queue replicas (Ra's `ra_directory_reverse`, a
    /// DETS table) to disk now, as the node does by itself within 3 minutes (DETS auto-save).
    ///
    /// Why: RabbitMQ 3.10.8 registers a new quorum queue's replica in that table in memory
    /// only. Killed with `kill -9` before the next auto-save, the node restarts without the
    /// registration and the queue never elects a leader again: every publish to it waits
    /// for a confirm forever. A queue declared seconds before the kill is a test artefact —
    /// a production queue lives far longer than 3 minutes — so a drill that kills a node
    /// calls this once its topology is declared. docs/architecture.md tells the story.
    pub async fn persist_queue_registry(&self) -> anyhow::Result<()> {
        let answer = self
            .ctl(&["eval", "dets:sync(ra_directory_reverse)."])
            .await?;
        if answer.trim() != "ok" {
            bail!(
                "syncing the quorum-queue registry of {}: {answer}",
                self.node
            );
        }
        Ok(())
    }

    /// Raises (fraction near 0) or clears (e.g. 0.4) a memory alarm by moving the watermark.
    pub async fn set_memory_watermark(&self, fraction: f64) -> anyhow::Result<()> {
        self.ctl(&["set_vm_memory_high_watermark", &fraction.to_string()])
            .await?;
        Ok(())
    }
}

impl Drop for BrokerNode {
    fn drop(&mut self) {
        if let Ok(pid) = self.pid() {
            let _ = std::process::Command::new("kill")
                .args(["-9", &pid.to_string()])
                .status();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Three (or more) [`BrokerNode`]s joined in one cluster: quorum queues declared on it are
/// replicated across every member (their initial group is the whole cluster).
pub struct BrokerCluster {
    nodes: Vec<BrokerNode>,
}

impl BrokerCluster {
    /// Starts three nodes at once and joins the second and third to the first.
    pub async fn start() -> anyhow::Result<Self> {
        let (first, second, third) = tokio::try_join!(
            BrokerNode::start(),
            BrokerNode::start(),
            BrokerNode::start()
        )?;
        tokio::try_join!(second.join(&first), third.join(&first))?;
        let cluster = Self {
            nodes: vec![first, second, third],
        };
        let members = cluster.nodes[0].ctl(&["cluster_status"]).await?;
        for node in &cluster.nodes {
            if !members.contains(node.name()) {
                bail!("{} is not in the cluster: {members}", node.name());
            }
        }
        Ok(cluster)
    }

    pub fn nodes(&self) -> &[BrokerNode] {
        &self.nodes
    }

    /// The node named `name`.
    pub fn node(&self, name: &str) -> Option<&BrokerNode> {
        self.nodes.iter().find(|n| n.name() == name)
    }

    /// Each quorum queue of the default vhost and the node leading it, asked of `via` (a
    /// member that is up).
    pub async fn leaders(&self, via: &BrokerNode) -> anyhow::Result<Vec<(String, String)>> {
        let text = via
            .ctl(&[
                "list_queues",
                "-p",
                "/",
                "name",
                "leader",
                "--no-table-headers",
                "--quiet",
            ])
            .await?;
        Ok(text
            .lines()
            .filter_map(|line| {
                let mut fields = line.split_whitespace();
                Some((fields.next()?.to_owned(), fields.next()?.to_owned()))
            })
            .collect())
    }

    /// The node leading the most of `queues` (ties: the first such node).
    pub async fn leading_most(&self, queues: &[&str]) -> anyhow::Result<&BrokerNode> {
        let leaders = self.leaders(&self.nodes[0]).await?;
        let mut best: Option<(&BrokerNode, usize)> = None;
        for node in &self.nodes {
            let led = leaders
                .iter()
                .filter(|(queue, leader)| leader == node.name() && queues.contains(&queue.as_str()))
                .count();
            if best.is_none_or(|(_, most)| led > most) {
                best = Some((node, led));
            }
        }
        let (node, led) = best.context("a cluster has nodes")?;
        if led == 0 {
            bail!("no node leads any of {queues:?}: {leaders:?}");
        }
        Ok(node)
    }
}
