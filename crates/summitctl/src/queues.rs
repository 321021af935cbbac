//! `summitctl queues`: every work queue of the platform with its depth, consumers, dead
//! letters, parked failures and rates — as ops' `GET /ops/queues` reads them from the broker
//! (depth and consumers by passive declare, exact; rates from the management API when it
//! answers) and from its parking store. Exits 1 when a queue could not be read.

use anyhow::bail;
use comfy_table::Cell;
use serde_json::Value;

use crate::ops_api::Client;
use crate::output::{alarm_cell, status_cell, table, text};

fn rate(value: &Value) -> String {
    value
        .as_f64()
        .map_or_else(|| "-".to_owned(), |r| format!("{r:.1}"))
}

pub fn queues_table(answer: &Value) -> comfy_table::Table {
    let mut t = table(&[
        "queue",
        "depth",
        "consumers",
        "dead letters",
        "parked",
        "in/s",
        "out/s",
        "ack/s",
        "note",
    ]);
    for q in answer["queues"].as_array().into_iter().flatten() {
        let note = match q["error"].as_str() {
            Some(error) => Cell::new(error).fg(comfy_table::Color::Red),
            None if q["consumers"] == 0 => status_cell("no consumer"),
            None => Cell::new(""),
        };
        t.add_row(vec![
            Cell::new(text(&q["queue"])),
            Cell::new(text(&q["depth"])),
            Cell::new(text(&q["consumers"])),
            alarm_cell(&q["dead_letters"]),
            alarm_cell(&q["parked"]),
            Cell::new(rate(&q["rates"]["publish_per_s"])),
            Cell::new(rate(&q["rates"]["deliver_per_s"])),
            Cell::new(rate(&q["rates"]["ack_per_s"])),
            note,
        ]);
    }
    t
}

pub async fn run(json: bool) -> anyhow::Result<()> {
    let client = Client::from_env()?;
    let answer = client.get("/ops/queues", &[]).await?;
    if json {
        println!("{}", serde_json::to_string_pretty(&answer)?);
    } else {
        println!("{}", queues_table(&answer));
        if let Some(note) = answer["rates_note"].as_str() {
            eprintln!("no rates: {note}");
        }
    }
    let unread: Vec<&str> = answer["queues"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|q| q["error"].as_str())
        .collect();
    if !unread.is_empty() {
        bail!("not every queue could be read: {}", unread.join("; "));
    }
    Ok(())
}
