//! After a drill: every database (as the admin, which sees every store's rows), the simulator,
//! the mail sink, the webhook receiver, the queues and every service's outbox, read and held
//! to the platform's promises.
//!
//! In order, each step waiting (with a deadline) only for what must eventually hold:
//! 1. every order placed reaches a final state (`confirmed`/`cancelled`) within `limit` of the
//!    fault's end — the seconds it took are `recovered_s`; an order checkout answered 202 for
//!    and does not have is `lost`;
//! 2. the work queues and their dead-letter queues are empty and every outbox has nothing due,
//!    scheduled or set aside — nothing is still on its way;
//! 3. every mail and webhook expected has arrived.
//!
//! Then, with nothing left in flight, the exact counts: at most one charge per order at the
//! simulator; a confirmed order has one `paid` charge of its total and a `completed` payment,
//! a cancelled one no charge standing; an approved card ends confirmed, a declined one
//! cancelled with `payment_declined`; stock is conserved per product (initial = on hand +
//! committed + held by live reservations, none negative, nothing still held, committed =
//! what confirmed orders bought); exactly one mail of the outcome's kind per order and none of
//! the other; exactly one webhook (`webhook-id`) per (event, endpoint), none for the other
//! outcome. The drill's logfmt line is printed before the assertions, so a failing run still
//! shows its figures.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::{Duration, Instant};

use anyhow::Context;
use sqlx::{Connection, PgConnection};
use uuid::Uuid;

use crate::faults::Svc;
use crate::platform::Platform;
use crate::receivers::mails_to;
use crate::shop::{Card, Placed, Shop};

/// The figures of one drill (its logfmt line).
#[derive(Debug, Clone, Default)]
pub struct Report {
    pub name: String,
    pub orders: usize,
    pub confirmed: usize,
    pub cancelled: usize,
    pub lost: usize,
    pub double_charges: usize,
    pub duplicate_mails: usize,
    pub duplicate_webhooks: usize,
    /// From the fault's end until every order was final.
    pub recovered_s: f64,
}

impl Report {
    pub fn line(&self) -> String {
        format!(
            "drill name={} orders={} confirmed={} cancelled={} lost={} double_charges={} \
             duplicate_mails={} duplicate_webhooks={} recovered_s={:.1}",
            self.name,
            self.orders,
            self.confirmed,
            self.cancelled,
            self.lost,
            self.double_charges,
            self.duplicate_mails,
            self.duplicate_webhooks,
            self.recovered_s
        )
    }
}

/// An order as checkout's database has it.
#[derive(Debug, Clone)]
struct OrderRow {
    status: String,
    reason: Option<String>,
    total_minor: i64,
}

async fn connect(platform: &Platform, svc: Svc) -> anyhow::Result<PgConnection> {
    Ok(PgConnection::connect(&platform.admin_database_url(svc)).await?)
}

async fn orders(platform: &Platform, ids: &[Uuid]) -> anyhow::Result<HashMap<Uuid, OrderRow>> {
    let mut db = connect(platform, Svc::Checkout).await?;
    let rows: Vec<(Uuid, String, Option<String>, i64)> =
        sqlx::query_as("SELECT id, status, reason, total_minor FROM orders WHERE id = ANY($1)")
            .bind(ids)
            .fetch_all(&mut db)
            .await?;
    db.close().await?;
    Ok(rows
        .into_iter()
        .map(|(id, status, reason, total_minor)| {
            (
                id,
                OrderRow {
                    status,
                    reason,
                    total_minor,
                },
            )
        })
        .collect())
}

fn is_final(status: &str) -> bool {
    status == "confirmed" || status == "cancelled"
}

/// Every work queue and dead-letter queue depth, by name.
async fn queue_depths(platform: &Platform) -> anyhow::Result<BTreeMap<String, u32>> {
    let bus = bus::Bus::connect(
        &bus::BusConfig::new(platform.amqp_url(), "platform-checker"),
        bus::Topology::new(),
    )
    .await?;
    let mut depths = BTreeMap::new();
    for svc in Svc::ALL {
        for queue in svc.queues() {
            for name in [(*queue).to_owned(), format!("{queue}.dlq")] {
                let depth = bus.queue_stats(&name).await?.map_or(0, |s| s.messages);
                depths.insert(name, depth);
            }
        }
    }
    bus.close().await;
    Ok(depths)
}

/// What `GET /outbox` says is still to send, per service (due, scheduled, set aside).
async fn outbox_left(platform: &Platform) -> anyhow::Result<BTreeMap<Svc, (i64, i64, i64)>> {
    let mut left = BTreeMap::new();
    for svc in Svc::ALL {
        let status: serde_json::Value = reqwest::get(platform.url(svc, "/outbox")?)
            .await?
            .error_for_status()?
            .json()
            .await?;
        left.insert(
            svc,
            (
                status["backlog"].as_i64().unwrap_or(-1),
                status["scheduled"].as_i64().unwrap_or(-1),
                status["set_aside"].as_i64().unwrap_or(-1),
            ),
        );
    }
    Ok(left)
}

/// Checks a drill (module docs) and prints its line. `fault_ended` is when the last fault was
/// lifted; `limit` how long after it every order must be final.
pub async fn check(
    name: &str,
    platform: &Platform,
    shop: &Shop,
    placed: &[Placed],
    fault_ended: Instant,
    limit: Duration,
) -> anyhow::Result<Report> {
    let ids: Vec<Uuid> = placed.iter().map(|p| p.order_id).collect();
    let mut report = Report {
        name: name.to_owned(),
        orders: placed.len(),
        ..Report::default()
    };

    // 1. Every order final.
    let deadline = fault_ended + limit;
    let rows = loop {
        let rows = orders(platform, &ids).await?;
        let all_final = ids
            .iter()
            .all(|id| rows.get(id).is_some_and(|row| is_final(&row.status)));
        if all_final {
            report.recovered_s = fault_ended.elapsed().as_secs_f64();
            break rows;
        }
        if Instant::now() > deadline {
            report.lost = ids.iter().filter(|id| !rows.contains_key(id)).count();
            let mut unfinished: BTreeMap<String, usize> = BTreeMap::new();
            for row in rows.values().filter(|r| !is_final(&r.status)) {
                *unfinished.entry(row.status.clone()).or_default() += 1;
            }
            report.recovered_s = f64::NAN;
            println!("{}", report.line());
            anyhow::bail!(
                "{name}: orders not final {limit:?} after the fault ended: {unfinished:?}, lost {}",
                report.lost
            );
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    report.lost = ids.iter().filter(|id| !rows.contains_key(id)).count();
    report.confirmed = rows.values().filter(|r| r.status == "confirmed").count();
    report.cancelled = rows.values().filter(|r| r.status == "cancelled").count();

    // 2. Nothing left on its way.
    let quiet = crate::eventually(
        &format!("{name}: queues and outboxes drained"),
        // Retries wait up to the bus's 30 s cap, a paused consumer up to 10 s more, and under
        // `make test` four drills share two cores: a 429 drill was seen to need just over 60 s.
        Duration::from_secs(120),
        || async {
            let depths = queue_depths(platform).await?;
            let outboxes = outbox_left(platform).await?;
            let queued = depths.values().any(|d| *d > 0);
            let unsent = outboxes
                .values()
                .any(|(due, scheduled, aside)| due + scheduled + aside != 0);
            Ok((!queued && !unsent).then_some(()))
        },
    )
    .await;
    if let Err(error) = quiet {
        println!("{}", report.line());
        let depths = queue_depths(platform).await?;
        let outboxes = outbox_left(platform).await?;
        anyhow::bail!(
            "{error:#}: queues {depths:?}, outboxes (due, scheduled, set aside) {outboxes:?}"
        );
    }

    // 3. Every mail and webhook expected.
    let addresses: HashSet<String> = placed.iter().map(|p| p.email.clone()).collect();
    let expected_kind = |p: &Placed| match rows[&p.order_id].status.as_str() {
        "confirmed" => ("order_confirmed", "checkout.OrderConfirmed"),
        _ => ("order_cancelled", "checkout.OrderCancelled"),
    };
    let arrived = crate::eventually(
        &format!("{name}: every outcome's mail and webhook"),
        Duration::from_secs(120),
        || async {
            let mails = mails_to(&addresses).await?;
            let hooks = platform.webhooks.deliveries();
            let all = placed.iter().all(|p| {
                let (mail_kind, event) = expected_kind(p);
                mails.iter().any(|m| m.to == p.email && m.kind == mail_kind)
                    && hooks.iter().any(|h| {
                        h.event_type == event && h.data["order_id"] == p.order_id.to_string()
                    })
            });
            Ok(all.then_some(()))
        },
    )
    .await;
    let mails = mails_to(&addresses).await?;
    let hooks = platform.webhooks.deliveries();

    // The exact counts.
    let mut problems = Vec::new();
    let mut committed_by_orders: HashMap<Uuid, i64> = HashMap::new();
    let mut payments_db = connect(platform, Svc::Payments).await?;
    for p in placed {
        let row = &rows[&p.order_id];
        let charges = platform.sim_charges(p.order_id).await?;
        if charges.len() > 1 {
            report.double_charges += 1;
            problems.push(format!(
                "{}: {} charges {charges:?}",
                p.order_id,
                charges.len()
            ));
        }
        let standing = |status: &str| {
            matches!(
                status,
                "paid" | "processing" | "pending" | "authorized_pending_capture"
            )
        };
        let payment: Option<String> =
            sqlx::query_scalar("SELECT status FROM payments WHERE order_id = $1")
                .bind(p.order_id)
                .fetch_optional(&mut payments_db)
                .await?;
        match row.status.as_str() {
            "confirmed" => {
                let paid: Vec<_> = charges.iter().filter(|(s, _)| s == "paid").collect();
                if paid.len() != 1 || paid[0].1 != row.total_minor {
                    problems.push(format!(
                        "{} confirmed but charges {charges:?} (total {})",
                        p.order_id, row.total_minor
                    ));
                }
                if payment.as_deref() != Some("completed") {
                    problems.push(format!("{} confirmed, payment {payment:?}", p.order_id));
                }
                for (product, quantity) in &p.lines {
                    *committed_by_orders.entry(*product).or_default() += quantity;
                }
            }
            _ => {
                if charges.iter().any(|(s, _)| standing(s)) {
                    problems.push(format!(
                        "{} cancelled, a charge stands: {charges:?}",
                        p.order_id
                    ));
                }
            }
        }
        let expected = match p.card {
            Card::Approved | Card::ProcessingThenPaid => ("confirmed", None),
            Card::Declined => ("cancelled", Some("payment_declined")),
        };
        if (row.status.as_str(), row.reason.as_deref()) != expected {
            problems.push(format!(
                "{} with card {:?}: {} {:?}",
                p.order_id, p.card, row.status, row.reason
            ));
        }
        let (mail_kind, event) = expected_kind(p);
        let outcome_mails = mails
            .iter()
            .filter(|m| m.to == p.email && m.kind == mail_kind)
            .count();
        let other_kind = if mail_kind == "order_confirmed" {
            "order_cancelled"
        } else {
            "order_confirmed"
        };
        let other_mails = mails
            .iter()
            .filter(|m| m.to == p.email && m.kind == other_kind)
            .count();
        report.duplicate_mails += outcome_mails.saturating_sub(1);
        if outcome_mails != 1 || other_mails != 0 {
            problems.push(format!(
                "{}: {outcome_mails} {mail_kind} mail(s), {other_mails} {other_kind}",
                p.order_id
            ));
        }
        let order_id = p.order_id.to_string();
        let ids_of = |event: &str| -> HashSet<&str> {
            hooks
                .iter()
                .filter(|h| h.event_type == event && h.data["order_id"] == order_id.as_str())
                .map(|h| h.id.as_str())
                .collect()
        };
        let outcome_hooks = ids_of(event);
        let other_event = if event == "checkout.OrderConfirmed" {
            "checkout.OrderCancelled"
        } else {
            "checkout.OrderConfirmed"
        };
        report.duplicate_webhooks += outcome_hooks.len().saturating_sub(1);
        if outcome_hooks.len() != 1 || !ids_of(other_event).is_empty() {
            problems.push(format!(
                "{}: {} {event} webhook(s), {} {other_event}",
                p.order_id,
                outcome_hooks.len(),
                ids_of(other_event).len()
            ));
        }
    }
    payments_db.close().await?;

    // Stock, per product.
    let mut catalog = connect(platform, Svc::Catalog).await?;
    for product in &shop.products {
        let on_hand: i64 = sqlx::query_scalar("SELECT stock FROM products WHERE id = $1")
            .bind(product.id)
            .fetch_one(&mut catalog)
            .await?;
        let held: Vec<(String, i64)> = sqlx::query_as(
            "SELECT r.status, COALESCE(sum((l->>'quantity')::bigint), 0)::bigint
             FROM reservations r, jsonb_array_elements(r.lines) l
             WHERE r.store_id = $1 AND (l->>'product_id')::uuid = $2
             GROUP BY r.status",
        )
        .bind(shop.id)
        .bind(product.id)
        .fetch_all(&mut catalog)
        .await?;
        let of = |status: &str| {
            held.iter()
                .find(|(s, _)| s == status)
                .map_or(0, |(_, quantity)| *quantity)
        };
        let (committed, reserved) = (of("committed"), of("reserved"));
        if on_hand < 0 || on_hand + committed + reserved != product.initial_stock {
            problems.push(format!(
                "stock of {}: initial {} != on hand {on_hand} + committed {committed} + held {reserved}",
                product.name, product.initial_stock
            ));
        }
        if reserved != 0 {
            problems.push(format!(
                "stock of {}: {reserved} still held after every order ended",
                product.name
            ));
        }
        let bought = committed_by_orders.get(&product.id).copied().unwrap_or(0);
        if committed != bought {
            problems.push(format!(
                "stock of {}: committed {committed}, confirmed orders bought {bought}",
                product.name
            ));
        }
    }
    catalog.close().await?;

    println!("{}", report.line());
    if let Err(error) = arrived {
        problems.push(format!("{error:#}"));
    }
    anyhow::ensure!(report.lost == 0, "{name}: {} orders lost", report.lost);
    anyhow::ensure!(
        problems.is_empty(),
        "{name}: {} invariant(s) broken:\n{}",
        problems.len(),
        problems.join("\n")
    );
    Ok(report)
}

/// Orders placed by the drill, checked for a final state only (no counts): for flows that
/// look at one order at a time.
pub async fn wait_final(
    platform: &Platform,
    order: Uuid,
    limit: Duration,
) -> anyhow::Result<String> {
    crate::eventually(&format!("order {order} final"), limit, || async {
        let rows = orders(platform, &[order]).await?;
        Ok(rows
            .get(&order)
            .filter(|row| is_final(&row.status))
            .map(|row| row.status.clone()))
    })
    .await
    .context("waiting for the order's outcome")
}
