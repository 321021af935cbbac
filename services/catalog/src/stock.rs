//! Stock: reserve an order's lines (all or none), release them, or commit them as sold.
//!
//! Invariants:
//! - Never oversell: a reservation locks its products' rows (in id order, so two orders never
//!   deadlock) and takes units only when every line can be met.
//! - Idempotent twice over: the inbox makes a redelivered message a no-op, and the order id
//!   makes a second command for the same order answer as the first did, reserving nothing more.
//! - One order's commands run one at a time: reserve, release and commit each take a
//!   transaction-scoped advisory lock on the order first thing (after the inbox record), so each
//!   sees what the one before it committed. Without it a release could miss a reserve in flight
//!   (its row inserted, not yet committed) and answer "released" while the units stay held.
//! - Every answer says what happened: a write that changed no row is never reported as done.
//! - Bounded arithmetic: an order takes at most [`MAX_QUANTITY`] units of one product (its
//!   lines for that product added up); beyond it the order is rejected whole. A merged total
//!   therefore always fits the `u32` of a [`StockLine`], and what a reservation records is
//!   exactly what it took, so a release gives back exactly that.
//! - Every answer (StockReserved / StockReservationRejected / StockReleased) commits with the
//!   effect, through the outbox.
//!
//! The functions take the decoded command envelope and a pool, so tests call them directly;
//! [`StockHandler`] adapts them to the bus: a database that is away pauses the consumer, another
//! database failure is retried, an unknown store or product is an answer (a rejection), never a
//! dead letter.

use std::collections::BTreeMap;

use bus::{Handler, Incoming, Outcome};
use contracts::catalog::{
    CommitStock, ReleaseStock, ReserveStock, StockLine, StockReleased, StockReservationRejected,
    StockReserved,
};
use contracts::{Contract, Envelope, Message};
use sqlx::types::Json;
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use crate::db;

/// The most units of one product an order may reserve (all its lines for that product
/// together). Far above any real basket, far below the `u32` a line carries.
pub const MAX_QUANTITY: u32 = 1_000_000;

/// Inbox handler names: one per command, so each records its own messages.
pub const RESERVE: &str = "catalog.reserve-stock";
pub const RELEASE: &str = "catalog.release-stock";
pub const COMMIT: &str = "catalog.commit-stock";

#[derive(Debug, thiserror::Error)]
pub enum StockError {
    /// Transient as far as the command is concerned: try again later.
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    /// A write found the order's rows not as the command read them (another command got there
    /// first). Nothing was committed; the command is retried and then answers from what it sees.
    #[error("the reservation of order {0} changed under the command")]
    Raced(Uuid),
}

/// Serializes the commands of one order: waits for any other transaction working on the same
/// order to finish, and holds the order until this transaction ends. Keyed on a 64-bit hash of
/// the store and order ids (a collision only makes two orders wait for each other).
async fn lock_order(
    conn: &mut PgConnection,
    store_id: Uuid,
    order_id: Uuid,
) -> Result<(), sqlx::Error> {
    sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))")
        .bind(format!("catalog.order:{store_id}:{order_id}"))
        .execute(conn)
        .await?;
    Ok(())
}

/// What a command did.
#[derive(Debug, Clone, PartialEq)]
pub enum StockAnswer {
    Reserved(StockReserved),
    Rejected(StockReservationRejected),
    Released(StockReleased),
    /// Committed as sold (no event: docs/design.md names none).
    Committed,
    /// Nothing to do, and why (e.g. commit of an order that holds no reservation).
    Nothing(&'static str),
    /// This very message was already processed.
    Duplicate,
}

async fn store_exists(conn: &mut PgConnection, store_id: Uuid) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM stores WHERE id = $1)")
        .bind(store_id)
        .fetch_one(conn)
        .await
}

/// Lines merged per product, ordered by product id (the lock order). `Err`: the lines (as
/// asked) of every product whose total is beyond [`MAX_QUANTITY`].
fn merge(lines: &[StockLine]) -> Result<BTreeMap<Uuid, u32>, Vec<StockLine>> {
    let mut totals: BTreeMap<Uuid, u64> = BTreeMap::new();
    for line in lines {
        let total = totals.entry(line.product_id).or_insert(0);
        *total = total.saturating_add(u64::from(line.quantity));
    }
    let mut merged = BTreeMap::new();
    let mut beyond = Vec::new();
    for (id, total) in totals {
        match u32::try_from(total).ok().filter(|q| *q <= MAX_QUANTITY) {
            Some(quantity) => {
                merged.insert(id, quantity);
            }
            None => beyond.push(id),
        }
    }
    if beyond.is_empty() {
        Ok(merged)
    } else {
        Err(lines
            .iter()
            .filter(|l| beyond.contains(&l.product_id))
            .cloned()
            .collect())
    }
}

fn as_lines(merged: &BTreeMap<Uuid, u32>) -> Vec<StockLine> {
    merged
        .iter()
        .map(|(id, q)| StockLine {
            product_id: *id,
            quantity: *q,
        })
        .collect()
}

#[derive(sqlx::FromRow)]
struct Reservation {
    status: String,
    reason: Option<String>,
    lines: Json<Vec<StockLine>>,
    unavailable: Json<Vec<StockLine>>,
}

/// Reserves every line of the order, or none.
pub async fn reserve(
    pool: &PgPool,
    command: &Envelope<ReserveStock>,
) -> Result<StockAnswer, StockError> {
    let cmd = &command.payload;
    let mut tx = db::begin_for(pool, cmd.store_id).await?;
    if !outbox::inbox::record(&mut tx, command.id, RESERVE).await? {
        return Ok(StockAnswer::Duplicate);
    }
    lock_order(&mut tx, cmd.store_id, cmd.order_id).await?;
    let merged = merge(&cmd.lines);
    let reject = |reason: &str, unavailable| rejected(cmd, reason, unavailable);

    let result = if !store_exists(&mut tx, cmd.store_id).await? {
        reject(
            "unknown store",
            merged.as_ref().map_or_else(|_| cmd.lines.clone(), as_lines),
        )
    } else if cmd.lines.is_empty() || cmd.lines.iter().any(|l| l.quantity == 0) {
        reject("an order needs lines of at least one unit", Vec::new())
    } else {
        match &merged {
            Err(beyond) => reject(
                &format!("more than {MAX_QUANTITY} units of one product"),
                beyond.clone(),
            ),
            Ok(merged) => claim_and_take(&mut tx, cmd, merged).await?,
        }
    };
    answer_with(&mut tx, command, &result).await?;
    tx.commit().await?;
    Ok(result)
}

fn rejected(cmd: &ReserveStock, reason: &str, unavailable: Vec<StockLine>) -> StockAnswer {
    StockAnswer::Rejected(StockReservationRejected {
        order_id: cmd.order_id,
        store_id: cmd.store_id,
        reason: reason.to_owned(),
        unavailable,
    })
}

/// Claims the order id and, if it is new, takes the units; otherwise answers as before.
async fn claim_and_take(
    tx: &mut PgConnection,
    cmd: &ReserveStock,
    merged: &BTreeMap<Uuid, u32>,
) -> Result<StockAnswer, sqlx::Error> {
    let reject = |reason: &str, unavailable| rejected(cmd, reason, unavailable);
    // Claim the order id (under the order's lock, so no other command of it is in flight): a
    // row already there is the answer of the command before.
    let claimed = sqlx::query(
        "INSERT INTO reservations (store_id, order_id, status, lines)
             VALUES ($1, $2, 'reserved', $3) ON CONFLICT DO NOTHING",
    )
    .bind(cmd.store_id)
    .bind(cmd.order_id)
    .bind(Json(as_lines(merged)))
    .execute(&mut *tx)
    .await?
    .rows_affected()
        == 1;
    Ok(if claimed {
        take_units(tx, cmd, merged).await?
    } else {
        let existing = sqlx::query_as::<_, Reservation>(
            "SELECT status, reason, lines, unavailable FROM reservations
                 WHERE store_id = $1 AND order_id = $2",
        )
        .bind(cmd.store_id)
        .bind(cmd.order_id)
        .fetch_one(&mut *tx)
        .await?;
        match existing.status.as_str() {
            "reserved" | "committed" => StockAnswer::Reserved(StockReserved {
                order_id: cmd.order_id,
                store_id: cmd.store_id,
                lines: existing.lines.0,
            }),
            "released" => reject("the order was already released", Vec::new()),
            _ => reject(
                existing.reason.as_deref().unwrap_or("rejected"),
                existing.unavailable.0,
            ),
        }
    })
}

/// With the order's reservation row claimed: lock the products, check, take the units.
async fn take_units(
    conn: &mut PgConnection,
    cmd: &ReserveStock,
    merged: &BTreeMap<Uuid, u32>,
) -> Result<StockAnswer, sqlx::Error> {
    let ids: Vec<Uuid> = merged.keys().copied().collect();
    let quantities: Vec<i64> = merged.values().copied().map(i64::from).collect();
    // Lock in id order; only products on sale can be reserved.
    let on_shelf: BTreeMap<Uuid, i64> = sqlx::query_as::<_, (Uuid, i64)>(
        "SELECT id, stock FROM products
         WHERE store_id = $1 AND id = ANY($2) AND active AND deleted_at IS NULL
         ORDER BY id FOR UPDATE",
    )
    .bind(cmd.store_id)
    .bind(&ids)
    .fetch_all(&mut *conn)
    .await?
    .into_iter()
    .collect();
    let unavailable: BTreeMap<Uuid, u32> = merged
        .iter()
        .filter(|(id, q)| on_shelf.get(id).is_none_or(|stock| *stock < i64::from(**q)))
        .map(|(id, q)| (*id, *q))
        .collect();
    if !unavailable.is_empty() {
        let reason = if unavailable.keys().any(|id| !on_shelf.contains_key(id)) {
            "unknown or unavailable product"
        } else {
            "out of stock"
        };
        sqlx::query(
            "UPDATE reservations SET status = 'rejected', reason = $3, unavailable = $4,
                 updated_at = now()
             WHERE store_id = $1 AND order_id = $2",
        )
        .bind(cmd.store_id)
        .bind(cmd.order_id)
        .bind(reason)
        .bind(Json(as_lines(&unavailable)))
        .execute(&mut *conn)
        .await?;
        return Ok(StockAnswer::Rejected(StockReservationRejected {
            order_id: cmd.order_id,
            store_id: cmd.store_id,
            reason: reason.to_owned(),
            unavailable: as_lines(&unavailable),
        }));
    }
    sqlx::query(
        "UPDATE products p SET stock = p.stock - l.quantity
         FROM unnest($2::uuid[], $3::bigint[]) AS l(id, quantity)
         WHERE p.store_id = $1 AND p.id = l.id",
    )
    .bind(cmd.store_id)
    .bind(&ids)
    .bind(&quantities)
    .execute(&mut *conn)
    .await?;
    Ok(StockAnswer::Reserved(StockReserved {
        order_id: cmd.order_id,
        store_id: cmd.store_id,
        lines: as_lines(merged),
    }))
}

/// Writes the event answering `cause`, if the answer is one.
async fn answer_with<P: Contract>(
    conn: &mut PgConnection,
    cause: &Envelope<P>,
    answer: &StockAnswer,
) -> Result<(), sqlx::Error> {
    let tenant = cause.tenant_id;
    macro_rules! send {
        ($payload:expr) => {{
            let payload = $payload.clone();
            let order_id = payload.order_id;
            let tenant = tenant.or(Some(payload.store_id));
            outbox::enqueue(
                conn,
                Envelope::new(tenant, payload)
                    .correlated(order_id)
                    .caused_by(cause),
            )
            .await
        }};
    }
    match answer {
        StockAnswer::Reserved(e) => send!(e),
        StockAnswer::Rejected(e) => send!(e),
        StockAnswer::Released(e) => send!(e),
        _ => Ok(()),
    }
}

/// Gives a reserved order's units back. Releasing an order never reserved leaves a tombstone,
/// so a reserve command arriving late for it reserves nothing.
pub async fn release(
    pool: &PgPool,
    command: &Envelope<ReleaseStock>,
) -> Result<StockAnswer, StockError> {
    let cmd = &command.payload;
    let mut tx = db::begin_for(pool, cmd.store_id).await?;
    if !outbox::inbox::record(&mut tx, command.id, RELEASE).await? {
        return Ok(StockAnswer::Duplicate);
    }
    lock_order(&mut tx, cmd.store_id, cmd.order_id).await?;
    let released = StockAnswer::Released(StockReleased {
        order_id: cmd.order_id,
        store_id: cmd.store_id,
    });
    let result = if !store_exists(&mut tx, cmd.store_id).await? {
        StockAnswer::Nothing("unknown store")
    } else {
        let existing = sqlx::query_as::<_, Reservation>(
            "SELECT status, reason, lines, unavailable FROM reservations
             WHERE store_id = $1 AND order_id = $2 FOR UPDATE",
        )
        .bind(cmd.store_id)
        .bind(cmd.order_id)
        .fetch_optional(&mut *tx)
        .await?;
        match existing.as_ref().map(|r| r.status.as_str()) {
            None => {
                let inserted = sqlx::query(
                    "INSERT INTO reservations (store_id, order_id, status, reason)
                     VALUES ($1, $2, 'released', 'released before reserved')
                     ON CONFLICT DO NOTHING",
                )
                .bind(cmd.store_id)
                .bind(cmd.order_id)
                .execute(&mut *tx)
                .await?
                .rows_affected();
                if inserted != 1 {
                    return Err(StockError::Raced(cmd.order_id));
                }
                released
            }
            Some("reserved") => {
                let lines = existing.map(|r| r.lines.0).unwrap_or_default();
                let ids: Vec<Uuid> = lines.iter().map(|l| l.product_id).collect();
                let quantities: Vec<i64> = lines.iter().map(|l| i64::from(l.quantity)).collect();
                // Deleted products get their units back too: harmless, and undeleting is not a
                // thing, so the count simply stays with the row.
                sqlx::query(
                    "UPDATE products p SET stock = p.stock + l.quantity
                     FROM unnest($2::uuid[], $3::bigint[]) AS l(id, quantity)
                     WHERE p.store_id = $1 AND p.id = l.id",
                )
                .bind(cmd.store_id)
                .bind(&ids)
                .bind(&quantities)
                .execute(&mut *tx)
                .await?;
                mark(&mut tx, cmd.store_id, cmd.order_id, "reserved", "released").await?;
                released
            }
            Some("committed") => StockAnswer::Nothing("the order's stock is already sold"),
            // Rejected or released: nothing held, but say so again.
            Some(_) => released,
        }
    };
    answer_with(&mut tx, command, &result).await?;
    tx.commit().await?;
    Ok(result)
}

/// Turns a reservation into a sale: the units stay taken for good.
pub async fn commit(
    pool: &PgPool,
    command: &Envelope<CommitStock>,
) -> Result<StockAnswer, StockError> {
    let cmd = &command.payload;
    let mut tx = db::begin_for(pool, cmd.store_id).await?;
    if !outbox::inbox::record(&mut tx, command.id, COMMIT).await? {
        return Ok(StockAnswer::Duplicate);
    }
    lock_order(&mut tx, cmd.store_id, cmd.order_id).await?;
    let status: Option<String> = sqlx::query_scalar(
        "SELECT status FROM reservations WHERE store_id = $1 AND order_id = $2 FOR UPDATE",
    )
    .bind(cmd.store_id)
    .bind(cmd.order_id)
    .fetch_optional(&mut *tx)
    .await?;
    let result = match status.as_deref() {
        Some("reserved") => {
            mark(&mut tx, cmd.store_id, cmd.order_id, "reserved", "committed").await?;
            StockAnswer::Committed
        }
        Some("committed") => StockAnswer::Committed,
        Some(_) => StockAnswer::Nothing("the order holds no reservation"),
        None => StockAnswer::Nothing("unknown order"),
    };
    if let StockAnswer::Nothing(why) = &result {
        tracing::warn!(order_id = %cmd.order_id, why, "commit-stock had nothing to commit");
    }
    tx.commit().await?;
    Ok(result)
}

/// Moves the order's reservation from `from` to `to`; a row not in `from` any more is a race.
async fn mark(
    conn: &mut PgConnection,
    store_id: Uuid,
    order_id: Uuid,
    from: &str,
    to: &str,
) -> Result<(), StockError> {
    let moved = sqlx::query(
        "UPDATE reservations SET status = $4, updated_at = now()
         WHERE store_id = $1 AND order_id = $2 AND status = $3",
    )
    .bind(store_id)
    .bind(order_id)
    .bind(from)
    .bind(to)
    .execute(conn)
    .await?
    .rows_affected();
    if moved != 1 {
        return Err(StockError::Raced(order_id));
    }
    Ok(())
}

/// The `catalog.commands` consumer.
pub struct StockHandler {
    pool: PgPool,
}

impl StockHandler {
    pub fn new(pool: PgPool) -> Self {
        Self { pool }
    }
}

impl Handler for StockHandler {
    async fn handle(&self, incoming: Incoming) -> Outcome {
        let raw = &incoming.envelope;
        let result = match incoming.message {
            Message::ReserveStock(cmd) => reserve(&self.pool, &raw.with_payload(cmd)).await,
            Message::ReleaseStock(cmd) => release(&self.pool, &raw.with_payload(cmd)).await,
            Message::CommitStock(cmd) => commit(&self.pool, &raw.with_payload(cmd)).await,
            other => {
                return Outcome::Reject(format!("catalog.commands does not take {}", other.kind()));
            }
        };
        match result {
            Ok(answer) => {
                tracing::debug!(?answer, kind = %raw.kind, "stock command handled");
                Outcome::Done
            }
            // Unknown stores and products are answers, not errors; what is left is the
            // database being away (pause, no attempt spent) or busy (retry), or a command that
            // lost a race for its order (retry), which time cures.
            Err(StockError::Database(error)) => outbox::classify::outcome_of(&error),
            Err(error @ StockError::Raced(_)) => Outcome::Retry(error.to_string()),
        }
    }
}
