//! `summitctl failures`: the dead letters the ops service has parked, over its `/ops` API
//! ([`crate::ops_api`]). Exit codes: [`crate::exit`].

use std::io::{BufRead, IsTerminal, Write};

use anyhow::bail;
use clap::{Args, Subcommand};
use comfy_table::{Cell, Table};
use serde_json::Value;

use crate::exit::usage;
use crate::ops_api::{Client, segment};
use crate::output::{alarm_cell, first_line, status_cell, table, text};
use crate::{editing, paced};

#[derive(Subcommand)]
pub enum Action {
    /// Failures grouped by queue, type, error kind and the error's first line (the default);
    /// each group's id selects it (`--group`).
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
    /// One failure: every header, the payload, earlier failures, edits.
    Show {
        message_id: String,
        #[arg(long)]
        json: bool,
    },
    /// Send parked failures back to the queues they came from (same message ids), each
    /// confirmed by the broker before it is marked retried. One by its id; or every one
    /// matching a group or filters, oldest first, at `--rate` a second with a progress bar —
    /// Ctrl-C stops, running it again resumes (retried ones no longer match).
    Retry {
        message_id: Option<String>,
        #[command(flatten)]
        filters: Filters,
        /// Messages a second for a bulk retry.
        #[arg(long, default_value_t = 10.0)]
        rate: f64,
        /// At most this many in a bulk retry.
        #[arg(long, default_value_t = 10_000)]
        limit: u32,
        /// Hand the bulk retry to the ops service, which runs it in the background at the rate
        /// (no progress here; the rows tell how far it got).
        #[arg(long)]
        background: bool,
    },
    /// Edit a parked message in `$EDITOR` (else `$VISUAL`, else `vi`), then retry it: ops
    /// checks the edit against the message's contract (refused: nothing changes, the edit is
    /// kept in a file to fix) and keeps the original in its audit.
    Edit { message_id: String },
    /// Archive parked failures, one by its id or every one matching a group or filters (kept
    /// `OPS_ARCHIVE_DAYS`, then trimmed). Asks first, unless `--yes`; off a terminal it
    /// refuses without `--yes`.
    Discard {
        message_id: Option<String>,
        #[command(flatten)]
        filters: Filters,
        /// Do not ask.
        #[arg(long)]
        yes: bool,
    },
    /// Bring a discarded failure back to the parked ones.
    Restore { message_id: String },
}

#[derive(Args, Default, Clone)]
pub struct Filters {
    /// A group's id, as `summitctl failures` shows it.
    #[arg(long)]
    group: Option<String>,
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
    /// parked (default), retried, discarded or any (listing only).
    #[arg(long)]
    status: Option<String>,
}

impl Filters {
    pub fn query(&self) -> Vec<(&'static str, String)> {
        [
            ("group", &self.group),
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

    /// The filters that select failures (not the status), as a query; a usage error when
    /// there are none.
    fn selection(&self, verb: &str) -> anyhow::Result<Vec<(&'static str, String)>> {
        let query: Vec<_> = self
            .query()
            .into_iter()
            .filter(|(k, _)| *k != "status")
            .collect();
        if query.is_empty() {
            return Err(usage(format!(
                "{verb} what? name a message id, or at least one filter (--group, --queue, \
                 --type, --kind, --tenant, --since, --grep)"
            )));
        }
        Ok(query)
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
            limit,
            background,
        } => {
            let selection = filters.selection("retry")?;
            if !(rate.is_finite() && rate > 0.0) {
                return Err(usage("--rate: more than 0 messages a second"));
            }
            if background {
                let mut body: serde_json::Map<String, Value> = selection
                    .into_iter()
                    .map(|(k, v)| (k.to_owned(), Value::String(v)))
                    .collect();
                body.insert("rate_per_s".to_owned(), serde_json::json!(rate));
                body.insert("limit".to_owned(), serde_json::json!(limit));
                let started = client
                    .post("/ops/failures/retry", &Value::Object(body))
                    .await?;
                println!(
                    "retrying matched={} rate_per_s={} (in the background; asking again resumes)",
                    text(&started["matched"]),
                    text(&started["rate_per_s"])
                );
            } else {
                paced::retry(&client, selection, rate, limit).await?;
            }
        }
        Action::Edit { message_id } => editing::edit_and_retry(&client, &message_id).await?,
        Action::Discard {
            message_id,
            filters,
            yes,
        } => discard(&client, message_id, &filters, yes).await?,
        Action::Restore { message_id } => {
            let row = client
                .post(
                    &format!("/ops/failures/{}/restore", segment(&message_id)),
                    &serde_json::json!({}),
                )
                .await?;
            println!(
                "restored message_id={} status={}",
                text(&row["message_id"]),
                text(&row["status"])
            );
        }
    }
    Ok(())
}

/// The parked ids matching `selection`, oldest first.
pub async fn matching_ids(
    client: &Client,
    mut selection: Vec<(&'static str, String)>,
    limit: u32,
) -> anyhow::Result<Vec<String>> {
    selection.push(("limit", limit.to_string()));
    let ids = client.get("/ops/failures/ids", &selection).await?;
    Ok(serde_json::from_value(ids["ids"].clone())?)
}

async fn discard(
    client: &Client,
    message_id: Option<String>,
    filters: &Filters,
    yes: bool,
) -> anyhow::Result<()> {
    let (what, ids) = match &message_id {
        Some(id) => (format!("failure {id}"), vec![id.clone()]),
        None => {
            let ids = matching_ids(client, filters.selection("discard")?, 100_000).await?;
            if ids.is_empty() {
                println!("discarded=0 (no parked failure matches)");
                return Ok(());
            }
            (format!("{} parked failure(s)", ids.len()), ids)
        }
    };
    if !yes {
        confirm(&format!(
            "Discard {what}? They are archived (kept OPS_ARCHIVE_DAYS, `summitctl failures \
             restore <id>` brings one back). [y/N] "
        ))?;
    }
    match message_id {
        Some(id) => {
            let row = client
                .post(
                    &format!("/ops/failures/{}/discard", segment(&id)),
                    &serde_json::json!({}),
                )
                .await?;
            println!(
                "discarded message_id={} status={}",
                text(&row["message_id"]),
                text(&row["status"])
            );
        }
        None => {
            // Exactly the ones confirmed, if they still match and are still parked.
            let mut body: serde_json::Map<String, Value> = filters
                .selection("discard")?
                .into_iter()
                .map(|(k, v)| (k.to_owned(), Value::String(v)))
                .collect();
            body.insert("message_ids".to_owned(), serde_json::json!(ids));
            let done = client
                .post("/ops/failures/discard", &Value::Object(body))
                .await?;
            println!("discarded={}", text(&done["discarded"]));
        }
    }
    Ok(())
}

/// Asks on the terminal; declining is an error (exit 1), and off a terminal there is no one
/// to ask (exit 2: pass `--yes`).
fn confirm(question: &str) -> anyhow::Result<()> {
    if !(std::io::stdin().is_terminal() && std::io::stderr().is_terminal()) {
        return Err(usage(
            "not a terminal, so no one to confirm: pass --yes to discard",
        ));
    }
    eprint!("{question}");
    std::io::stderr().flush()?;
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer)?;
    if !matches!(answer.trim().to_lowercase().as_str(), "y" | "yes") {
        bail!("not discarded");
    }
    Ok(())
}

pub fn groups_table(groups: &Value) -> Table {
    let mut t = table(&[
        "group",
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
            Cell::new(text(&g["id"])),
            alarm_cell(&g["count"]),
            Cell::new(text(&g["queue"])),
            Cell::new(text(&g["type"])),
            Cell::new(text(&g["error_kind"])),
            Cell::new(text(&g["error"])),
            Cell::new(tenants),
            Cell::new(text(&g["first_seen"])),
            Cell::new(text(&g["last_seen"])),
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
        t.add_row(vec![
            Cell::new(text(&f["message_id"])),
            Cell::new(text(&f["queue"])),
            Cell::new(text(&f["type"])),
            Cell::new(text(&f["tenant_id"])),
            Cell::new(text(&f["error_kind"])),
            Cell::new(first_line(&f["error"])),
            Cell::new(text(&f["failure_count"])),
            status_cell(&text(&f["status"])),
            Cell::new(text(&f["last_seen"])),
        ]);
    }
    t
}

/// One failure for a reader: its facts, every header, the pretty-printed payload, history,
/// edits.
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
                first_line(&h["error"]),
                text(&h["retried_at"]),
            ]);
        }
        writeln!(out, "\nearlier failures:\n{t}")?;
    }
    for edit in f["edits"].as_array().into_iter().flatten() {
        writeln!(
            out,
            "\nedited at {}; the original:\n{}",
            text(&edit["edited_at"]),
            serde_json::to_string_pretty(&edit["original"])?
        )?;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_show_groups_and_failures() {
        let groups = serde_json::json!([{
            "id": "0123456789ab",
            "count": 5000, "queue": "payments.commands", "type": "payments.charge",
            "error_kind": "rejected", "error": "card refused", "tenants": ["a", "b"],
            "first_seen": "2026-12-01T07:00:00Z", "last_seen": "2026-12-01T07:05:00Z"
        }]);
        let rendered = groups_table(&groups).to_string();
        assert!(rendered.contains("5000"), "{rendered}");
        assert!(rendered.contains("card refused"), "{rendered}");
        assert!(rendered.contains("0123456789ab"), "{rendered}");
        let shown = show(&serde_json::json!({
            "message_id": "m1", "error": "boom\nat line 2", "headers": {"x-attempts": 3},
            "body": {"payload": {"k": 1}},
            "history": [{"error_kind": "rejected", "error": "first\nmore"}],
            "edits": [{"edited_at": "2026-12-01T07:00:00Z", "original": {"payload": {"k": 0}}}]
        }))
        .unwrap();
        assert!(shown.contains("x-attempts"), "{shown}");
        assert!(shown.contains("\"k\": 1"), "{shown}");
        assert!(shown.contains("earlier failures"), "{shown}");
        assert!(shown.contains("the original:"), "{shown}");
    }

    #[test]
    fn a_bulk_action_needs_a_selection() {
        let none = Filters {
            status: Some("any".into()),
            ..Filters::default()
        };
        let error = none.selection("retry").unwrap_err();
        assert_eq!(crate::exit::code(&error), 2);
        let some = Filters {
            group: Some("abc".into()),
            ..Filters::default()
        };
        assert_eq!(
            some.selection("retry").unwrap(),
            vec![("group", "abc".to_owned())]
        );
    }
}
