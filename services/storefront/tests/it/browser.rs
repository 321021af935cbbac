//! Real headless Chromium (Debian's `chromium`), driven through `chromedriver` (started by the
//! test on a port it picks itself and prints) with fantoccini. Screenshots go to
//! `target/screenshots/`.

use std::process::Stdio;
use std::time::Duration;

use anyhow::Context;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::json;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

pub struct Browser {
    pub client: Client,
    _driver: Child,
}

/// A chromedriver on a port it chose, and that port.
async fn start_driver() -> anyhow::Result<(Child, u16)> {
    let mut driver = Command::new("chromedriver")
        .arg("--port=0")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .context("starting chromedriver (make test installs Debian's chromium-driver)")?;
    let stdout = driver.stdout.take().context("piped")?;
    let port = tokio::time::timeout(Duration::from_secs(20), async {
        let mut lines = BufReader::new(stdout).lines();
        while let Some(line) = lines.next_line().await? {
            if let Some(rest) = line.split("started successfully on port ").nth(1) {
                let port: u16 = rest.trim_end_matches('.').trim().parse()?;
                tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
                return Ok(port);
            }
        }
        anyhow::bail!("chromedriver exited before it listened")
    })
    .await
    .context("chromedriver did not start within 20 s")??;
    Ok((driver, port))
}

impl Browser {
    pub async fn start() -> anyhow::Result<Self> {
        // chromedriver with --port=0 sometimes exits at once when several start together (it
        // binds IPv4 and IPv6 one after the other): a fresh one is started, up to three times.
        let mut tries = 0;
        let (driver, port) = loop {
            tries += 1;
            match start_driver().await {
                Ok(started) => break started,
                Err(error) if tries < 3 => {
                    eprintln!("chromedriver did not start ({error:#}); starting another");
                }
                Err(error) => return Err(error),
            }
        };
        let mut capabilities = serde_json::Map::new();
        capabilities.insert(
            "goog:chromeOptions".into(),
            json!({
                "binary": "/usr/bin/chromium",
                "args": ["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                         "--disable-background-networking", "--disable-component-update",
                         "--disable-sync", "--no-first-run", "--window-size=1200,900",
                         "--host-resolver-rules=MAP *.summit.localhost 127.0.0.1",
                         "--lang=pt-BR"],
            }),
        );
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        let client = ClientBuilder::new(connector)
            .capabilities(capabilities)
            .connect(&format!("http://127.0.0.1:{port}"))
            .await?;
        Ok(Self {
            client,
            _driver: driver,
        })
    }

    pub async fn fill(&self, css: &str, text: &str) -> anyhow::Result<()> {
        let input = self.client.find(Locator::Css(css)).await?;
        input.clear().await?;
        input.send_keys(text).await?;
        Ok(())
    }

    pub async fn click(&self, css: &str) -> anyhow::Result<()> {
        self.client.find(Locator::Css(css)).await?.click().await?;
        Ok(())
    }

    pub async fn text(&self, css: &str) -> anyhow::Result<String> {
        Ok(self.client.find(Locator::Css(css)).await?.text().await?)
    }

    /// Waits (re-reading the page, which may refresh itself) until `css`'s text satisfies
    /// `done`; returns that text.
    pub async fn wait_text(
        &self,
        css: &str,
        limit: Duration,
        done: impl Fn(&str) -> bool,
    ) -> anyhow::Result<String> {
        let start = std::time::Instant::now();
        let mut last = String::new();
        loop {
            if let Ok(element) = self.client.find(Locator::Css(css)).await
                && let Ok(text) = element.text().await
            {
                if done(&text) {
                    return Ok(text);
                }
                last = text;
            }
            anyhow::ensure!(
                start.elapsed() < limit,
                "{css} never matched within {limit:?}; last: {last:?}"
            );
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    /// Saves a PNG of the page as `target/screenshots/<name>.png`.
    pub async fn screenshot(&self, name: &str) -> anyhow::Result<()> {
        let png = self.client.screenshot().await?;
        let dir = platform_tests::repo_root().join("target/screenshots");
        tokio::fs::create_dir_all(&dir).await?;
        tokio::fs::write(dir.join(format!("{name}.png")), png).await?;
        Ok(())
    }

    pub async fn close(self) -> anyhow::Result<()> {
        self.client.close().await?;
        Ok(())
    }
}
