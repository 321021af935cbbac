//! `summitctl`: what an operator runs against the broker.
//!
//! ```text
//! summitctl dlq peek notifications.checkout-events --max 20
//! summitctl dlq replay notifications.checkout-events --max 100
//! summitctl events                      # every domain event as it flows, until Ctrl-C
//! summitctl events --exchange payments.events
//! summitctl failures                    # parked dead letters, grouped (the ops service)
//! summitctl failures list --tenant <store> --grep card --json
//! summitctl failures show <message-id>
//! summitctl failures retry <message-id>
//! summitctl failures retry --group 3f2a9c01b7de --rate 5   # paced, with a progress bar
//! summitctl failures edit <message-id>  # in $EDITOR, checked against the contract, retried
//! summitctl failures discard --group 3f2a9c01b7de --yes
//! summitctl failures restore <message-id>
//! summitctl queues                      # every work queue: depth, consumers, dead letters, parked
//! summitctl outbox                      # every service's outbox: backlog, oldest unsent, set aside
//! ```
//!
//! `dlq` and `events` talk to the broker, `AMQP_URL` (default: the local one). Peeking leaves
//! dead letters in place; replaying moves them back to their work queue, confirmed, restarting
//! their attempts. `failures` talks to the ops service's parking store over HTTP: `OPS_URL`
//! (default `http://127.0.0.1:8085`) with the operator token `OPS_TOKEN` (docs/ops.md), and
//! so does `queues`. `outbox` asks every service's `GET /outbox` (`CATALOG_URL`, …).
//!
//! Exit codes are [`exit`]'s: 0 done, 1 failed, 2 usage, 130 interrupted.

mod editing;
mod exit;
mod failures;
mod ops_api;
mod outbox;
mod output;
mod paced;
mod queues;

use bus::{Bus, BusConfig, Topology};
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "summitctl", about = "Operate Summit's message backbone")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Watch domain events as they flow (a tap of its own; no service loses a message).
    Events {
        /// One event exchange (default: all four).
        #[arg(long)]
        exchange: Option<String>,
    },
    /// Dead letters parked by the ops service: grouped (default), listed, shown, retried,
    /// edited, discarded, restored.
    Failures {
        #[command(subcommand)]
        action: Option<failures::Action>,
    },
    /// Every work queue: depth, consumers, dead letters, parked failures, rates (from the ops
    /// service, which reads the broker).
    Queues {
        /// JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Every service's outbox: backlog, oldest unsent row, scheduled retries, failing and
    /// set-aside rows (`CATALOG_URL`, `CHECKOUT_URL`, `PAYMENTS_URL`, `NOTIFICATIONS_URL`,
    /// `OPS_URL`; local ports by default).
    Outbox {
        /// JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Dead-letter queues: `<queue>.dlq` of a work queue.
    Dlq {
        #[command(subcommand)]
        action: Dlq,
    },
}

#[derive(Subcommand)]
enum Dlq {
    /// Show dead letters of a work queue, leaving them in place.
    Peek {
        /// The work queue, e.g. `notifications.checkout-events`.
        queue: String,
        #[arg(long, default_value_t = 20)]
        max: usize,
    },
    /// Move dead letters back onto their work queue.
    Replay {
        queue: String,
        #[arg(long, default_value_t = 100)]
        max: usize,
    },
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    match run(cli).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            std::process::ExitCode::from(exit::code(&error))
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Failures { action } => return failures::run(action).await,
        Command::Queues { json } => return queues::run(json).await,
        Command::Outbox { json } => return outbox::run(json).await,
        _ => {}
    }
    // No topology of its own: the services declare the queues an operator works on.
    let bus = Bus::connect(&BusConfig::from_env("summitctl"), Topology::new()).await?;
    match cli.command {
        Command::Events { exchange } => {
            let exchanges: Vec<&str> = match &exchange {
                Some(one) => vec![one.as_str()],
                None => contracts::exchanges::EVENTS.to_vec(),
            };
            let mut tap = bus.tap(&exchanges).await?;
            eprintln!("watching {}; Ctrl-C stops", exchanges.join(", "));
            loop {
                let next = tokio::select! {
                    _ = tokio::signal::ctrl_c() => break,
                    next = tap.next() => next,
                };
                let Some(tapped) = next else { break };
                let tapped = tapped?;
                match tapped.envelope {
                    Ok(e) => println!(
                        "event exchange={} type={} id={} tenant={} correlation={} at={} payload={}",
                        tapped.exchange,
                        e.kind,
                        e.id,
                        e.tenant_id.map_or("-".to_owned(), |t| t.to_string()),
                        e.correlation_id.map_or("-".to_owned(), |c| c.to_string()),
                        e.occurred_at.to_rfc3339(),
                        e.payload,
                    ),
                    Err(reason) => println!(
                        "event exchange={} undecodable reason={reason:?}",
                        tapped.exchange
                    ),
                }
            }
        }
        Command::Dlq {
            action: Dlq::Peek { queue, max },
        } => {
            let letters = bus.peek_dead_letters(work_queue(&queue), max).await?;
            for letter in &letters {
                println!(
                    "dead_letter queue={} message_id={} type={} attempts={} error_kind={} error={:?} body={:?}",
                    work_queue(&queue),
                    letter.message_id.as_deref().unwrap_or("-"),
                    letter.kind.as_deref().unwrap_or("-"),
                    letter.attempts.map_or("-".to_owned(), |a| a.to_string()),
                    letter.error_kind.as_deref().unwrap_or("-"),
                    letter.error.as_deref().unwrap_or(""),
                    String::from_utf8_lossy(&letter.body),
                );
            }
            eprintln!("{} dead letter(s) shown", letters.len());
        }
        Command::Dlq {
            action: Dlq::Replay { queue, max },
        } => {
            let moved = bus.replay_dead_letters(work_queue(&queue), max).await?;
            println!("replayed queue={} messages={moved}", work_queue(&queue));
        }
        Command::Failures { .. } | Command::Queues { .. } | Command::Outbox { .. } => {
            unreachable!("answered above, without the broker")
        }
    }
    bus.close().await;
    Ok(())
}

/// Accepts the work queue or its `.dlq`.
fn work_queue(queue: &str) -> &str {
    bus::dead_letters::work_queue(queue).unwrap_or(queue)
}
