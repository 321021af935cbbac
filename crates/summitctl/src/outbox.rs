//! `summitctl outbox`: every service's outbox at a glance — backlog, the oldest unsent row's
//! age, scheduled retries, failing and set-aside rows — from each service's `GET /outbox`.
//!
//! Where the services are: `CATALOG_URL`, `CHECKOUT_URL`, `PAYMENTS_URL`, `NOTIFICATIONS_URL`,
//! `OPS_URL` (defaults: the local ports of docs/design.md, 8081–8085). A service that does not
//! answer is a row saying so, and the exit code is 1.

use std::time::Duration;

use anyhow::bail;
use comfy_table::Cell;
use serde_json::{Value, json};

use crate::output::{alarm_cell, status_cell, table, text};

/// Each service, the variable naming its URL, and its local default.
pub const SERVICES: &[(&str, &str, &str)] = &[
    ("catalog", "CATALOG_URL", "http://127.0.0.1:8081"),
    ("checkout", "CHECKOUT_URL", "http://127.0.0.1:8082"),
    ("payments", "PAYMENTS_URL", "http://127.0.0.1:8083"),
    (
        "notifications",
        "NOTIFICATIONS_URL",
        "http://127.0.0.1:8084",
    ),
    ("ops", "OPS_URL", "http://127.0.0.1:8085"),
];

async fn one(http: &reqwest::Client, service: &str, base: &str) -> Value {
    let url = format!("{}/outbox", base.trim_end_matches('/'));
    let answer = async {
        let response = http.get(&url).send().await?;
        let status = response.status();
        let body: Value = response.json().await.unwrap_or(Value::Null);
        anyhow::Ok((status, body))
    }
    .await;
    match answer {
        Ok((status, mut body)) if status.is_success() => {
            body["service"] = json!(service);
            body["url"] = json!(base);
            body
        }
        Ok((status, body)) => json!({
            "service": service, "url": base,
            "error": format!("{status}: {}", crate::ops_api::problem_detail(&body)),
        }),
        Err(error) => json!({
            "service": service, "url": base,
            "error": format!("unreachable: {error:#}"),
        }),
    }
}

fn age(value: &Value) -> String {
    match value.as_f64() {
        None => "-".to_owned(),
        Some(s) if s < 120.0 => format!("{s:.0}s"),
        Some(s) if s < 7200.0 => format!("{:.0}m", s / 60.0),
        Some(s) => format!("{:.1}h", s / 3600.0),
    }
}

pub fn outbox_table(rows: &[Value]) -> comfy_table::Table {
    let mut t = table(&[
        "service",
        "backlog",
        "oldest unsent",
        "scheduled retries",
        "failing",
        "set aside",
        "note",
    ]);
    for row in rows {
        let note = match row["error"].as_str() {
            Some(error) => Cell::new(error).fg(comfy_table::Color::Red),
            None => status_cell("ok"),
        };
        t.add_row(vec![
            Cell::new(text(&row["service"])),
            Cell::new(text(&row["backlog"])),
            Cell::new(age(&row["oldest_unsent_age_s"])),
            Cell::new(text(&row["scheduled"])),
            alarm_cell(&row["failing"]),
            alarm_cell(&row["set_aside"]),
            note,
        ]);
    }
    t
}

pub async fn run(json: bool) -> anyhow::Result<()> {
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()?;
    let mut rows = Vec::new();
    for (service, variable, default) in SERVICES {
        let base = std::env::var(variable).unwrap_or_else(|_| (*default).to_owned());
        rows.push(one(&http, service, &base).await);
    }
    if json {
        println!("{}", serde_json::to_string_pretty(&rows)?);
    } else {
        println!("{}", outbox_table(&rows));
    }
    let silent: Vec<&str> = rows
        .iter()
        .filter(|r| r["error"].is_string())
        .filter_map(|r| r["service"].as_str())
        .collect();
    if !silent.is_empty() {
        bail!("no outbox status from {}", silent.join(", "));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ages_read_at_a_glance() {
        assert_eq!(age(&Value::Null), "-");
        assert_eq!(age(&json!(42.4)), "42s");
        assert_eq!(age(&json!(600)), "10m");
        assert_eq!(age(&json!(10_800)), "3.0h");
    }
}
