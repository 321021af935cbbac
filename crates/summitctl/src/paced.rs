//! Bulk retries paced by this process: the matching parked ids (oldest first) are retried one
//! by one through ops, the *n*-th no earlier than *n* / rate seconds after the start, with a
//! progress bar on stderr when it is a terminal.
//!
//! Interrupting (Ctrl-C) stops before the next message and exits 130; running the same command
//! again resumes, since retried rows are no longer parked and so no longer match. A row someone
//! else retried or discarded meanwhile (409/404) is skipped, not failed. Ten failures in a row
//! (the broker or ops away) stop the run rather than burn through every message: fix, then run
//! it again.

use std::io::IsTerminal;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};
use reqwest::StatusCode;
use tokio::time::Instant;

use crate::exit::Exit;
use crate::failures::matching_ids;
use crate::ops_api::{Client, problem_detail, segment};

/// When the `index`-th message may leave, from the start.
pub fn slot(index: usize, rate_per_s: f64) -> Duration {
    Duration::from_secs_f64(index as f64 / rate_per_s)
}

/// Failures in a row that stop a bulk retry.
const GIVE_UP_AFTER: usize = 10;

#[derive(Debug, Default)]
struct Tally {
    retried: usize,
    skipped: usize,
    failed: usize,
}

fn progress(len: usize) -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(len as u64);
    if let Ok(style) = ProgressStyle::with_template(
        "{spinner} [{elapsed_precise}] {wide_bar} {pos}/{len} ({per_sec}, eta {eta}) {msg}",
    ) {
        bar.set_style(style);
    }
    bar
}

/// A line beside the bar (above it on a terminal, plain stderr otherwise).
fn note(bar: &ProgressBar, line: &str) {
    if bar.is_hidden() {
        eprintln!("{line}");
    } else {
        bar.println(line);
    }
}

pub async fn retry(
    client: &Client,
    selection: Vec<(&'static str, String)>,
    rate: f64,
    limit: u32,
) -> anyhow::Result<()> {
    let ids = matching_ids(client, selection, limit).await?;
    if ids.is_empty() {
        println!("retried=0 skipped=0 failed=0 matched=0 (no parked failure matches)");
        return Ok(());
    }
    eprintln!(
        "retrying {} failure(s) at {rate}/s (Ctrl-C stops; running this again resumes)",
        ids.len()
    );
    let bar = progress(ids.len());
    let start = Instant::now();
    let mut tally = Tally::default();
    let mut in_a_row = 0;
    let interrupt = tokio::signal::ctrl_c();
    tokio::pin!(interrupt);
    for (index, id) in ids.iter().enumerate() {
        tokio::select! {
            _ = &mut interrupt => {
                bar.abandon_with_message("interrupted");
                println!(
                    "retried={} skipped={} failed={} matched={} interrupted",
                    tally.retried, tally.skipped, tally.failed, ids.len()
                );
                return Err(Exit::Interrupted(format!(
                    "interrupted after {index} of {}: run the same command again to resume",
                    ids.len()
                ))
                .into());
            }
            () = tokio::time::sleep_until(start + slot(index, rate)) => {}
        }
        let path = format!("/ops/failures/{}/retry", segment(id));
        let failed_before = tally.failed;
        match client.post_answer(&path, &serde_json::json!({})).await {
            Ok((status, _)) if status.is_success() => tally.retried += 1,
            Ok((StatusCode::CONFLICT | StatusCode::NOT_FOUND, _)) => tally.skipped += 1,
            Ok((StatusCode::UNAUTHORIZED, body)) => {
                bar.abandon();
                anyhow::bail!("ops answered 401 Unauthorized: {}", problem_detail(&body));
            }
            Ok((status, body)) => {
                tally.failed += 1;
                note(
                    &bar,
                    &format!("{id}: ops answered {status}: {}", problem_detail(&body)),
                );
            }
            Err(error) => {
                tally.failed += 1;
                note(&bar, &format!("{id}: {error:#}"));
            }
        }
        bar.inc(1);
        in_a_row = if tally.failed > failed_before {
            in_a_row + 1
        } else {
            0
        };
        if in_a_row == GIVE_UP_AFTER {
            bar.abandon();
            println!(
                "retried={} skipped={} failed={} matched={} stopped",
                tally.retried,
                tally.skipped,
                tally.failed,
                ids.len()
            );
            anyhow::bail!(
                "stopped after {GIVE_UP_AFTER} failures in a row; once the cause is fixed, run \
                 the same command again to resume"
            );
        }
    }
    bar.finish_and_clear();
    println!(
        "retried={} skipped={} failed={} matched={} elapsed_s={:.2}",
        tally.retried,
        tally.skipped,
        tally.failed,
        ids.len(),
        start.elapsed().as_secs_f64()
    );
    if tally.failed > 0 {
        anyhow::bail!("{} of {} not retried", tally.failed, ids.len());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_space_messages_by_the_rate() {
        assert_eq!(slot(0, 5.0), Duration::ZERO);
        assert_eq!(slot(9, 5.0), Duration::from_millis(1800));
    }
}
