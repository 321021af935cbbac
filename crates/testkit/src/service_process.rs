//! [`ServiceProcess`]: a service binary started by a test as an OS process of its own, on a
//! port the system picks (`PORT=0`), its address read from the one line it prints on stdout once
//! bound (`{"listening":"127.0.0.1:43121","service":"…"}`, service-kit's `Listening`), so no
//! free port is guessed ahead and raced for.
//!
//! Invariants: the process gets only the environment the test names (plus `PATH`), so a
//! developer's shell cannot change what a test runs; it is killed when the value is dropped;
//! its stdout (after the address) and stderr go to a log file of its own, named in every
//! error, for the post-mortem.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context, bail};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, Command};

/// A running service binary.
pub struct ServiceProcess {
    /// Where it listens: the address it announced after binding port 0.
    pub addr: SocketAddr,
    /// Its stderr (the logs).
    pub log: PathBuf,
    child: Child,
}

impl ServiceProcess {
    /// Starts `binary` with `env` (and `PORT=0`) and returns once it announced its address, or
    /// fails after 60 s (migrations and a broker connection come first).
    pub async fn start(binary: &Path, env: &[(&str, String)]) -> anyhow::Result<Self> {
        let name = binary
            .file_name()
            .map_or_else(|| "service".into(), |n| n.to_string_lossy().into_owned());
        let log = std::env::temp_dir().join(format!("{name}-{}.log", uuid::Uuid::new_v4()));
        let stderr = std::fs::File::create(&log)?;
        let mut command = Command::new(binary);
        command
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("PORT", "0");
        for (key, value) in env {
            command.env(key, value);
        }
        let mut child = command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(stderr)
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("starting {}", binary.display()))?;
        let stdout = child.stdout.take().context("no stdout")?;
        // The logs are on stdout too (the service's text log): both end up in the log file.
        let mut stdout_log = tokio::fs::OpenOptions::new()
            .append(true)
            .open(&log)
            .await?;
        let announced = tokio::time::timeout(Duration::from_secs(60), async move {
            let mut lines = BufReader::new(stdout).lines();
            while let Some(line) = lines.next_line().await? {
                if let Some(addr) = listening(&line) {
                    // Keep copying what follows, so the pipe never fills and the logs are kept.
                    tokio::spawn(async move {
                        while let Ok(Some(line)) = lines.next_line().await {
                            let _ = stdout_log.write_all(line.as_bytes()).await;
                            let _ = stdout_log.write_all(b"\n").await;
                        }
                    });
                    return Ok(addr);
                }
                stdout_log.write_all(line.as_bytes()).await?;
                stdout_log.write_all(b"\n").await?;
            }
            bail!("exited before it listened")
        })
        .await;
        match announced {
            Ok(Ok(addr)) => Ok(Self { addr, log, child }),
            Ok(Err(e)) => Err(e.context(format!("{name} (log: {})", log.display()))),
            Err(_) => bail!("{name} did not listen within 60 s (log: {})", log.display()),
        }
    }

    /// `http://<addr>`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// SIGTERM (the service drains and exits on its own), and waits up to 30 s for it to exit.
    pub async fn stop(&mut self) -> anyhow::Result<std::process::ExitStatus> {
        let pid = self.child.id().context("already exited")?;
        let status = Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status()
            .await?;
        if !status.success() {
            bail!("kill -TERM {pid} failed");
        }
        tokio::time::timeout(Duration::from_secs(30), self.child.wait())
            .await
            .with_context(|| {
                format!(
                    "not exited 30 s after SIGTERM (log: {})",
                    self.log.display()
                )
            })?
            .map_err(Into::into)
    }

    /// SIGKILL, and waits for the process to be gone.
    pub async fn kill(&mut self) -> anyhow::Result<()> {
        self.child.start_kill()?;
        self.child.wait().await?;
        Ok(())
    }
}

/// The address on a service-kit `Listening` line, if that is what the line holds.
fn listening(line: &str) -> Option<SocketAddr> {
    let value: serde_json::Value = serde_json::from_str(line.trim()).ok()?;
    value.get("listening")?.as_str()?.parse().ok()
}

#[cfg(test)]
mod tests {
    #[test]
    fn reads_the_listening_line_only() {
        assert_eq!(
            super::listening(r#"{"listening":"127.0.0.1:43121","service":"payments"}"#),
            Some("127.0.0.1:43121".parse().unwrap())
        );
        assert_eq!(
            super::listening("2026-12-01T00:00:00Z INFO listening"),
            None
        );
        assert_eq!(super::listening(r#"{"level":"INFO"}"#), None);
    }
}
