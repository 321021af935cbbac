//! `summitctl failures`: the dead letters the ops service has parked, over its `/ops` API.
//!
//! `OPS_URL` (default `http://127.0.0.1:8085`) and `OPS_TOKEN` (the operator token) say where
//! and who. Exit codes: 0 done; 1 the API refused or failed (its problem's detail printed);
//! 2 a usage error (clap).

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use comfy_table::{ContentArrangement, Table};
use serde_json::Value;

#[derive(Subcommand)]
pub enum Action {
    /// Failures grouped by queue, type, error kind and the error's first line (the default).
    Groups {
        #[command(flatten)]
        filters: Filters,
        /// JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Failures one by one, newest first.
    List {
        #[command(flatten)]
        filters: Filters,
        /// At most this many (1–500).
        #[arg(long, default_value_t = 50)]
        limit: u32,
        /// JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// One failure: every header, the payload, earlier failures.
    Show {
        message_id: String,
        #[arg(long)]
        json: bool,
    },
    /// Send parked failures back to the queues they came from (same message ids). One by its
    /// id (confirmed by the broker before it is marked retried), or every one matching the
    /// filters, in the background at `--rate` a second (ask again to resume).
    Retry {
        message_id: Option<String>,
        #[command(flatten)]
        filters: Filters,
        /// Messages a second for a bulk retry (default: the service's, 10).
        #[arg(long)]
        rate: Option<f64>,
    },
}

#[derive(Args, Default)]
pub struct Filters {
    /// The work queue it died in, e.g. `payments.commands`.
    #[arg(long)]
    queue: Option<String>,
    /// The message type, e.g. `payments.charge`.
    #[arg(long = "type")]
    message_type: Option<String>,
    /// The error kind: rejected, retries-exhausted, malformed, unknown-type, …
    #[arg(long)]
    kind: Option<String>,
    /// The tenant (store id).
    #[arg(long)]
    tenant: Option<String>,
    /// Last seen at or after (RFC 3339).
    #[arg(long)]
    since: Option<String>,
    /// Text in the body or a header.
    #[arg(long)]
    grep: Option<String>,
    /// parked (default), retried, discarded or any.
    #[arg(long)]
    status: Option<String>,
}

impl Filters {
    fn query(&self) -> Vec<(&'static str, String)> {
        [
            ("queue", &self.queue),
            ("type", &self.message_type),
            ("kind", &self.kind),
            ("tenant", &self.tenant),
            ("since", &self.since),
            ("grep", &self.grep),
            ("status", &self.status),
        ]
        .into_iter()
        .filter_map(|(k, v)| v.clone().map(|v| (k, v)))
        .collect()
    }
}

/// The ops API, as `OPS_URL` and `OPS_TOKEN` say.
pub struct Client {
    base: String,
    token: String,
    http: reqwest::Client,
}

impl Client {
    pub fn from_env() -> anyhow::Result<Self> {
        let base = std::env::var("OPS_URL").unwrap_or_else(|_| "http://127.0.0.1:8085".to_owned());
        let token = std::env::var("OPS_TOKEN").context("OPS_TOKEN is not set")?;
        Ok(Self {
            base: base.trim_end_matches('/').to_owned(),
            token,
            http: reqwest::Client::new(),
        })
    }

    async fn call(&self, request: reqwest::RequestBuilder) -> anyhow::Result<Value> {
        let response = request
            .bearer_auth(&self.token)
            .send()
            .await
            .with_context(|| format!("the ops service at {}", self.base))?;
        let status = response.status();
        let body: Value = response.json().await.unwrap_or(Value::Null);
        if !status.is_success() {
            let detail = body["detail"]
                .as_str()
                .or_else(|| body["title"].as_str())
                .unwrap_or("");
            bail!("ops answered {status}: {detail}");
        }
        Ok(body)
    }

    async fn get(&self, path: &str, query: &[(&str, String)]) -> anyhow::Result<Value> {
        self.call(self.http.get(format!("{}{path}", self.base)).query(query))
            .await
    }

    async fn post(&self, path: &str, body: &Value) -> anyhow::Result<Value> {
        self.call(self.http.post(format!("{}{path}", self.base)).json(body))
            .await
    }
}

pub async fn run(action: Option<Action>) -> anyhow::Result<()> {
    let client = Client::from_env()?;
    match action.unwrap_or(Action::Groups {
        filters: Filters::default(),
        json: false,
    }) {
        Action::Groups { filters, json } => {
            let groups = client.get("/ops/failures/groups", &filters.query()).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&groups)?);
            } else {
                println!("{}", groups_table(&groups));
            }
        }
        Action::List {
            filters,
            limit,
            json,
        } => {
            let mut query = filters.query();
            query.push(("limit", limit.to_string()));
            let page = client.get("/ops/failures", &query).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&page["items"])?);
            } else {
                println!("{}", list_table(&page["items"]));
                if page["next_cursor"].is_string() {
                    eprintln!("(more: narrow the filters or raise --limit)");
                }
            }
        }
        Action::Show { message_id, json } => {
            let failure = client
                .get(&format!("/ops/failures/{}", segment(&message_id)), &[])
                .await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&failure)?);
            } else {
                print!("{}", show(&failure)?);
            }
        }
        Action::Retry {
            message_id: Some(message_id),
            ..
        } => {
            let row = client
                .post(
                    &format!("/ops/failures/{}/retry", segment(&message_id)),
                    &serde_json::json!({}),
                )
                .await?;
            println!(
                "retried message_id={} queue={} retries={}",
                text(&row["message_id"]),
                text(&row["queue"]),
                text(&row["retry_count"])
            );
        }
        Action::Retry {
            message_id: None,
            filters,
            rate,
        } => {
            let mut body: serde_json::Map<String, Value> = filters
                .query()
                .into_iter()
                .filter(|(k, _)| *k != "status")
                .map(|(k, v)| (k.to_owned(), Value::String(v)))
                .collect();
            if body.is_empty() {
                bail!(
                    "name a message id, or at least one filter (--queue, --type, --kind, --tenant, --since, --grep)"
                );
            }
            if let Some(rate) = rate {
                body.insert("rate_per_s".to_owned(), serde_json::json!(rate));
            }
            let started = client
                .post("/ops/failures/retry", &Value::Object(body))
                .await?;
            println!(
                "retrying matched={} rate_per_s={} (in the background; asking again resumes)",
                text(&started["matched"]),
                text(&started["rate_per_s"])
            );
        }
    }
    Ok(())
}

/// A message id as one path segment.
fn segment(id: &str) -> String {
    id.chars()
        .map(|c| match c {
            'A'..='Z' | 'a'..='z' | '0'..='9' | '-' | '_' | '.' | '~' | ':' => c.to_string(),
            other => {
                let mut buf = [0_u8; 4];
                other
                    .encode_utf8(&mut buf)
                    .bytes()
                    .map(|b| format!("%{b:02X}"))
                    .collect()
            }
        })
        .collect()
}

/// A JSON value as a table cell: strings bare, null as `-`.
fn text(value: &Value) -> String {
    match value {
        Value::Null => "-".to_owned(),
        Value::String(s) => s.clone(),
        Value::Array(items) => items.iter().map(text).collect::<Vec<_>>().join(", "),
        other => other.to_string(),
    }
}

fn table(header: &[&str]) -> Table {
    let mut table = Table::new();
    table
        .load_preset(comfy_table::presets::UTF8_FULL_CONDENSED)
        .set_content_arrangement(ContentArrangement::Dynamic)
        .set_header(header.to_vec());
    table
}

pub fn groups_table(groups: &Value) -> Table {
    let mut t = table(&[
        "count",
        "queue",
        "type",
        "kind",
        "error",
        "tenants",
        "first seen",
        "last seen",
    ]);
    for g in groups.as_array().into_iter().flatten() {
        let tenants = g["tenants"].as_array().map_or(0, Vec::len);
        t.add_row(vec![
            text(&g["count"]),
            text(&g["queue"]),
            text(&g["type"]),
            text(&g["error_kind"]),
            text(&g["error"]),
            tenants.to_string(),
            text(&g["first_seen"]),
            text(&g["last_seen"]),
        ]);
    }
    t
}

pub fn list_table(items: &Value) -> Table {
    let mut t = table(&[
        "message id",
        "queue",
        "type",
        "tenant",
        "kind",
        "error",
        "failures",
        "status",
        "last seen",
    ]);
    for f in items.as_array().into_iter().flatten() {
        let error = text(&f["error"]);
        t.add_row(vec![
            text(&f["message_id"]),
            text(&f["queue"]),
            text(&f["type"]),
            text(&f["tenant_id"]),
            text(&f["error_kind"]),
            error.lines().next().unwrap_or_default().to_owned(),
            text(&f["failure_count"]),
            text(&f["status"]),
            text(&f["last_seen"]),
        ]);
    }
    t
}

/// One failure for a reader: its facts, every header, the pretty-printed payload, history.
pub fn show(f: &Value) -> anyhow::Result<String> {
    use std::fmt::Write;
    let mut out = String::new();
    for (label, key) in [
        ("message id", "message_id"),
        ("queue", "queue"),
        ("type", "type"),
        ("tenant", "tenant_id"),
        ("correlation", "correlation_id"),
        ("status", "status"),
        ("error kind", "error_kind"),
        ("attempts", "attempts"),
        ("failures", "failure_count"),
        ("first seen", "first_seen"),
        ("last seen", "last_seen"),
        ("retried at", "retried_at"),
    ] {
        writeln!(out, "{label:>12}: {}", text(&f[key]))?;
    }
    writeln!(out, "\nerror:\n{}", text(&f["error"]))?;
    let mut headers = table(&["header", "value"]);
    for (name, value) in f["headers"].as_object().into_iter().flatten() {
        let value = match value {
            Value::String(s) => s.clone(),
            other => serde_json::to_string(other)?,
        };
        headers.add_row(vec![name.clone(), value]);
    }
    writeln!(out, "\n{headers}")?;
    writeln!(
        out,
        "\npayload:\n{}",
        serde_json::to_string_pretty(&f["body"])?
    )?;
    let history = f["history"].as_array().cloned().unwrap_or_default();
    if !history.is_empty() {
        let mut t = table(&["failed at", "kind", "attempts", "error", "retried at"]);
        for h in &history {
            t.add_row(vec![
                text(&h["failed_at"]),
                text(&h["error_kind"]),
                text(&h["attempts"]),
                text(&h["error"])
                    .lines()
                    .next()
                    .unwrap_or_default()
                    .to_owned(),
                text(&h["retried_at"]),
            ]);
        }
        writeln!(out, "\nearlier failures:\n{t}")?;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_stay_one_path_segment() {
        assert_eq!(segment("0193-abc"), "0193-abc");
        assert_eq!(segment("sha256:ab/c d"), "sha256:ab%2Fc%20d");
    }

    #[test]
    fn tables_show_groups_and_failures() {
        let groups = serde_json::json!([{
            "count": 5000, "queue": "payments.commands", "type": "payments.charge",
            "error_kind": "rejected", "error": "card refused", "tenants": ["a", "b"],
            "first_seen": "2026-12-01T07:00:00Z", "last_seen": "2026-12-01T07:05:00Z"
        }]);
        let rendered = groups_table(&groups).to_string();
        assert!(rendered.contains("5000"), "{rendered}");
        assert!(rendered.contains("card refused"), "{rendered}");
        let shown = show(&serde_json::json!({
            "message_id": "m1", "error": "boom\nat line 2", "headers": {"x-attempts": 3},
            "body": {"payload": {"k": 1}},
            "history": [{"error_kind": "rejected", "error": "first\nmore"}]
        }))
        .unwrap();
        assert!(shown.contains("x-attempts"), "{shown}");
        assert!(shown.contains("\"k\": 1"), "{shown}");
        assert!(shown.contains("earlier failures"), "{shown}");
    }
}
