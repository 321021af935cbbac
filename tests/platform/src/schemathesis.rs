//! Fuzzing a running service's `/openapi.json` with schemathesis (PyPI), installed by `make
//! test` in the repository's virtualenv (`.venv/bin/schemathesis`, pinned in the Makefile's
//! `API_FUZZER`).
//!
//! What a run checks (`--checks`): no 5xx (`not_a_server_error`); every status code, content
//! type and body is one the document promises for that operation
//! (`status_code_conformance`, `content_type_conformance`, `response_schema_conformance`).
//! Since every documented error is `application/problem+json` with the `Problem` schema, the
//! last two also prove that every error the fuzzer provokes is a problem.
//!
//! Invariants: a run is reproducible — schemathesis' deterministic generation (no randomness, no
//! example database carried between runs: the same document yields the same cases) — and
//! bounded by the number of cases, not by the clock: at most `max_examples` per operation and
//! phase (50 take catalog's 15 operations about 30 s here), one worker (the machine has two cores
//! shared with the rest of the suite), and a wall-clock limit after which the process is killed
//! and the test fails. (`--max-time` would instead repeat fuzzing until the time is spent, so
//! what a run covers would depend on the machine's load.)

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context, bail};
use tokio::process::Command;

/// Where `make test` installs schemathesis.
pub fn executable() -> anyhow::Result<PathBuf> {
    let path = crate::repo_root().join(".venv/bin/schemathesis");
    if !path.exists() {
        bail!(
            "{} is missing: `make test` installs it (the Makefile's API_FUZZER, in .venv)",
            path.display()
        );
    }
    Ok(path)
}

/// One schemathesis run against one service.
#[derive(Debug, Clone)]
pub struct Fuzz {
    /// `http://host:port` of the service; its document is at `/openapi.json`.
    pub base_url: String,
    /// Sent on every request (`Authorization: Bearer …`).
    pub bearer: Option<String>,
    /// Paths not to call, each with why (e.g. a key rotation would lock the fuzzer out).
    pub exclude_paths: Vec<&'static str>,
    pub max_examples: u32,
    /// The run is killed (and fails) after this.
    pub limit: Duration,
}

impl Fuzz {
    pub fn new(base_url: String) -> Self {
        Self {
            base_url,
            bearer: None,
            exclude_paths: Vec::new(),
            max_examples: 50,
            limit: Duration::from_secs(180),
        }
    }

    pub fn bearer(mut self, token: &str) -> Self {
        self.bearer = Some(token.to_owned());
        self
    }

    pub fn exclude_path(mut self, path: &'static str) -> Self {
        self.exclude_paths.push(path);
        self
    }

    /// The command line, as a developer would type it to reproduce a failure (the bearer
    /// replaced by `$TOKEN`).
    fn arguments(&self, bearer_shown: &str) -> Vec<String> {
        let mut args = vec![
            "run".to_owned(),
            format!("{}/openapi.json", self.base_url),
            "--checks".to_owned(),
            "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance"
                .to_owned(),
            "--max-examples".to_owned(),
            self.max_examples.to_string(),
            "--generation-deterministic".to_owned(),
            "--workers".to_owned(),
            "1".to_owned(),
            "--request-timeout".to_owned(),
            "30".to_owned(),
            "--no-color".to_owned(),
        ];
        if self.bearer.is_some() {
            args.push("--header".to_owned());
            args.push(format!("Authorization: Bearer {bearer_shown}"));
        }
        for path in &self.exclude_paths {
            args.push("--exclude-path".to_owned());
            args.push((*path).to_owned());
        }
        args
    }

    /// Runs schemathesis; fails with its report (the failures and how to reproduce them) unless
    /// every check passed.
    pub async fn run(&self) -> anyhow::Result<String> {
        let bearer = self.bearer.clone().unwrap_or_default();
        let report_dir =
            std::env::temp_dir().join(format!("schemathesis-{}", uuid::Uuid::new_v4().simple()));
        let child = Command::new(executable()?)
            .args(self.arguments(&bearer))
            .arg("--report-dir")
            .arg(&report_dir)
            // Its own cache and config lookups stay out of the developer's home.
            .current_dir(std::env::temp_dir())
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .context("starting schemathesis")?;
        let output = tokio::time::timeout(self.limit, child.wait_with_output())
            .await
            .with_context(|| format!("schemathesis ran past {:?}", self.limit))??;
        let report = format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        // The key must not reach a log; schemathesis filters it in its own output, this is the
        // belt to those braces.
        let report = if bearer.is_empty() {
            report
        } else {
            report.replace(&bearer, "$TOKEN")
        };
        if !output.status.success() {
            bail!(
                "schemathesis found problems ({}); reproduce with: schemathesis {}\n{report}",
                output.status,
                self.arguments("$TOKEN").join(" ")
            );
        }
        Ok(report)
    }
}
