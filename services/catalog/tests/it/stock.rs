//! Stock commands: called directly, concurrently, redelivered, and through the real broker.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bus::{Bus, BusConfig, ConsumerConfig, Handler, Incoming, Outcome, Outgoing, QueueSpec};
use catalog::stock::{self, StockAnswer, StockHandler};
use contracts::catalog::{CommitStock, ReleaseStock, ReserveStock, StockLine};
use contracts::{Contract, Envelope, Message};
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::helpers::{App, app_pool, spawn};

struct Shelf {
    app: App,
    /// The app's own (row-level-secured) pool, as the service would use.
    pool: PgPool,
    store: Uuid,
}

impl Shelf {
    async fn new(pool: PgPool) -> anyhow::Result<Self> {
        let app = spawn(pool).await?;
        let m = app.create_store("estoque").await?;
        let pool = app_pool(&app.pool).await?;
        Ok(Self {
            store: m.id.parse()?,
            app,
            pool,
        })
    }

    /// A product on the shelf, written as the store (through its tenant transaction).
    async fn product(&self, sku: &str, stock: i64) -> anyhow::Result<Uuid> {
        let mut tx = catalog::db::begin_for(&self.pool, self.store).await?;
        let id = Uuid::now_v7();
        sqlx::query(
            "INSERT INTO products (id, store_id, sku, name, price_minor, currency, stock)
             VALUES ($1, $2, $3, $3, 100, 'BRL', $4)",
        )
        .bind(id)
        .bind(self.store)
        .bind(sku)
        .bind(stock)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(id)
    }

    async fn stock(&self, product: Uuid) -> anyhow::Result<i64> {
        Ok(
            sqlx::query_scalar("SELECT stock FROM products WHERE id = $1")
                .bind(product)
                .fetch_one(&self.app.pool)
                .await?,
        )
    }

    fn reserve(&self, order: Uuid, lines: &[(Uuid, u32)]) -> Envelope<ReserveStock> {
        Envelope::new(
            Some(self.store),
            ReserveStock {
                order_id: order,
                store_id: self.store,
                lines: lines
                    .iter()
                    .map(|(p, q)| StockLine {
                        product_id: *p,
                        quantity: *q,
                    })
                    .collect(),
            },
        )
        .correlated(order)
    }

    /// How many `kind` events the outbox holds for `order`.
    async fn events_for(&self, kind: &str, order: Uuid) -> anyhow::Result<usize> {
        let order = order.to_string();
        Ok(self
            .app
            .outbox()
            .await?
            .iter()
            .filter(|(k, p)| k == kind && p["order_id"] == order.as_str())
            .count())
    }

    async fn events(&self, kind: &str) -> anyhow::Result<usize> {
        Ok(self
            .app
            .outbox()
            .await?
            .iter()
            .filter(|(k, _)| k == kind)
            .count())
    }
}

#[sqlx::test(migrations = false)]
async fn fifty_concurrent_reservations_never_oversell(pool: PgPool) -> anyhow::Result<()> {
    let shelf = Shelf::new(pool).await?;
    let product = shelf.product("LIMITED", 10).await?;
    let tasks: Vec<_> = (0..50)
        .map(|_| {
            let pool = shelf.pool.clone();
            let command = shelf.reserve(Uuid::now_v7(), &[(product, 1)]);
            tokio::spawn(async move { stock::reserve(&pool, &command).await })
        })
        .collect();
    let mut reserved = 0;
    let mut rejected = 0;
    for task in tasks {
        match task.await?? {
            StockAnswer::Reserved(_) => reserved += 1,
            StockAnswer::Rejected(r) => {
                assert_eq!(r.reason, "out of stock");
                rejected += 1;
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!((reserved, rejected), (10, 40));
    assert_eq!(shelf.stock(product).await?, 0);
    assert_eq!(shelf.events("catalog.StockReserved").await?, 10);
    assert_eq!(shelf.events("catalog.StockReservationRejected").await?, 40);
    Ok(())
}

#[sqlx::test(migrations = false)]
async fn a_redelivered_or_repeated_reserve_reserves_nothing_twice(
    pool: PgPool,
) -> anyhow::Result<()> {
    let shelf = Shelf::new(pool).await?;
    let product = shelf.product("P", 5).await?;
    let order = Uuid::now_v7();
    let command = shelf.reserve(order, &[(product, 2)]);
    assert!(matches!(
        stock::reserve(&shelf.pool, &command).await?,
        StockAnswer::Reserved(_)
    ));
    // The same message again (a redelivery): no effect, no second answer.
    assert_eq!(
        stock::reserve(&shelf.pool, &command).await?,
        StockAnswer::Duplicate
    );
    // A new message for the same order: answered as before, nothing more reserved.
    let again = shelf.reserve(order, &[(product, 2)]);
    match stock::reserve(&shelf.pool, &again).await? {
        StockAnswer::Reserved(r) => assert_eq!(
            r.lines,
            vec![StockLine {
                product_id: product,
                quantity: 2
            }]
        ),
        other => panic!("unexpected {other:?}"),
    }
    assert_eq!(shelf.stock(product).await?, 3);
    assert_eq!(shelf.events("catalog.StockReserved").await?, 2);
    Ok(())
}

#[sqlx::test(migrations = false)]
async fn an_order_gets_all_its_lines_or_none(pool: PgPool) -> anyhow::Result<()> {
    let shelf = Shelf::new(pool).await?;
    let plenty = shelf.product("PLENTY", 10).await?;
    let scarce = shelf.product("SCARCE", 1).await?;
    let answer = stock::reserve(
        &shelf.pool,
        &shelf.reserve(Uuid::now_v7(), &[(plenty, 3), (scarce, 2)]),
    )
    .await?;
    match answer {
        StockAnswer::Rejected(r) => {
            assert_eq!(r.reason, "out of stock");
            assert_eq!(
                r.unavailable,
                vec![StockLine {
                    product_id: scarce,
                    quantity: 2
                }]
            );
        }
        other => panic!("unexpected {other:?}"),
    }
    assert_eq!(
        (shelf.stock(plenty).await?, shelf.stock(scarce).await?),
        (10, 1)
    );

    // Two lines of one product add up.
    let answer = stock::reserve(
        &shelf.pool,
        &shelf.reserve(Uuid::now_v7(), &[(scarce, 1), (scarce, 1)]),
    )
    .await?;
    assert!(matches!(answer, StockAnswer::Rejected(_)), "{answer:?}");

    // Unknown products and unknown stores are answers, not errors.
    let answer = stock::reserve(
        &shelf.pool,
        &shelf.reserve(Uuid::now_v7(), &[(Uuid::now_v7(), 1)]),
    )
    .await?;
    assert!(
        matches!(&answer, StockAnswer::Rejected(r) if r.reason.contains("unknown")),
        "{answer:?}"
    );
    let stranger = Envelope::new(
        None,
        ReserveStock {
            order_id: Uuid::now_v7(),
            store_id: Uuid::now_v7(),
            lines: vec![StockLine {
                product_id: plenty,
                quantity: 1,
            }],
        },
    );
    let answer = stock::reserve(&shelf.pool, &stranger).await?;
    assert!(
        matches!(&answer, StockAnswer::Rejected(r) if r.reason == "unknown store"),
        "{answer:?}"
    );
    assert_eq!(shelf.stock(plenty).await?, 10);
    Ok(())
}

#[sqlx::test(migrations = false)]
async fn release_gives_back_and_commit_keeps(pool: PgPool) -> anyhow::Result<()> {
    let shelf = Shelf::new(pool).await?;
    let product = shelf.product("P", 10).await?;
    let release = |order| {
        Envelope::new(
            Some(shelf.store),
            ReleaseStock {
                order_id: order,
                store_id: shelf.store,
            },
        )
    };
    let commit = |order| {
        Envelope::new(
            Some(shelf.store),
            CommitStock {
                order_id: order,
                store_id: shelf.store,
            },
        )
    };

    let released_order = Uuid::now_v7();
    stock::reserve(&shelf.pool, &shelf.reserve(released_order, &[(product, 4)])).await?;
    assert_eq!(shelf.stock(product).await?, 6);
    let command = release(released_order);
    assert!(matches!(
        stock::release(&shelf.pool, &command).await?,
        StockAnswer::Released(_)
    ));
    assert_eq!(
        stock::release(&shelf.pool, &command).await?,
        StockAnswer::Duplicate
    );
    assert!(matches!(
        stock::release(&shelf.pool, &release(released_order)).await?,
        StockAnswer::Released(_)
    ));
    assert_eq!(shelf.stock(product).await?, 10, "given back once");

    let sold_order = Uuid::now_v7();
    stock::reserve(&shelf.pool, &shelf.reserve(sold_order, &[(product, 3)])).await?;
    assert_eq!(
        stock::commit(&shelf.pool, &commit(sold_order)).await?,
        StockAnswer::Committed
    );
    assert!(matches!(
        stock::release(&shelf.pool, &release(sold_order)).await?,
        StockAnswer::Nothing(_)
    ));
    assert_eq!(shelf.stock(product).await?, 7, "sold units stay sold");

    // A release that overtakes its reserve leaves a tombstone: the late reserve takes nothing.
    let overtaken = Uuid::now_v7();
    assert!(matches!(
        stock::release(&shelf.pool, &release(overtaken)).await?,
        StockAnswer::Released(_)
    ));
    let late = stock::reserve(&shelf.pool, &shelf.reserve(overtaken, &[(product, 1)])).await?;
    assert!(matches!(late, StockAnswer::Rejected(_)), "{late:?}");
    assert_eq!(shelf.stock(product).await?, 7);
    assert_eq!(shelf.events("catalog.StockReleased").await?, 3);
    Ok(())
}

/// Records what arrives on a queue.
#[derive(Default)]
struct Recorder(Mutex<Vec<Message>>);

impl Handler for Recorder {
    async fn handle(&self, incoming: Incoming) -> Outcome {
        self.0.lock().expect("recorder").push(incoming.message);
        Outcome::Done
    }
}

#[sqlx::test(migrations = false)]
async fn reserve_stock_over_the_broker_is_answered_on_catalog_events(
    pool: PgPool,
) -> anyhow::Result<()> {
    let shelf = Shelf::new(pool).await?;
    let product = shelf.product("P", 3).await?;
    let vhost = testkit::Vhost::create().await?;
    let topology = catalog::topology()
        .queue(QueueSpec::new("test.catalog-events").events_from("catalog.events"));
    let bus = Arc::new(
        Bus::connect(
            &BusConfig::new(vhost.url(), format!("catalog-it-{}", vhost.name())),
            topology,
        )
        .await?,
    );
    let shutdown = CancellationToken::new();
    let relay = outbox::Relay::new(
        shelf.pool.clone(),
        bus.publisher().clone(),
        outbox::RelayConfig::default(),
    );
    tokio::spawn(relay.run(shutdown.clone()));
    let handler = Arc::new(StockHandler::new(shelf.pool.clone()));
    let retries: Arc<dyn bus::RetryQueue> = Arc::new(outbox::Retries::new(shelf.pool.clone()));
    let consumer = {
        let retries = retries.clone();
        let (bus, token) = (bus.clone(), shutdown.clone());
        tokio::spawn(async move {
            bus.consume(
                "catalog.commands",
                handler,
                retries,
                ConsumerConfig::default(),
                token,
            )
            .await
        })
    };
    let recorder = Arc::new(Recorder::default());
    {
        let (bus, token, recorder) = (bus.clone(), shutdown.clone(), recorder.clone());
        tokio::spawn(async move {
            bus.consume(
                "test.catalog-events",
                recorder,
                retries,
                ConsumerConfig::default(),
                token,
            )
            .await
        });
    }

    let order = Uuid::now_v7();
    let command = shelf.reserve(order, &[(product, 2)]);
    let outgoing = Outgoing::envelope(&command.clone().into_raw(), ReserveStock::DESTINATION);
    bus.publisher().publish(&outgoing).await?;
    // The same command delivered twice (as after a lost ack) is answered once.
    bus.publisher().publish(&outgoing).await?;

    let deadline = Instant::now() + Duration::from_secs(20);
    let answered = loop {
        let reserved: Vec<Message> = recorder
            .0
            .lock()
            .expect("recorder")
            .iter()
            .filter(|m| matches!(m, Message::StockReserved(r) if r.order_id == order))
            .cloned()
            .collect();
        if !reserved.is_empty() || Instant::now() > deadline {
            break reserved;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(answered.len(), 1, "one StockReserved for the order");
    tokio::time::sleep(Duration::from_millis(500)).await;
    let all = recorder.0.lock().expect("recorder").len();
    assert_eq!(all, 2, "StoreCreated and one StockReserved, nothing more");
    assert_eq!(shelf.stock(product).await?, 1);
    shutdown.cancel();
    consumer.await??;
    bus.close().await;
    Ok(())
}

#[tokio::test]
async fn the_handler_pauses_without_spending_an_attempt_when_the_database_is_away()
-> anyhow::Result<()> {
    // Nothing listens on port 1: every connection attempt fails at once.
    let pool = sqlx::postgres::PgPoolOptions::new()
        .acquire_timeout(Duration::from_secs(2))
        .connect_lazy("postgres://catalog:catalog@127.0.0.1:1/catalog")?;
    let handler = StockHandler::new(pool);
    let command = Envelope::new(
        None,
        ReserveStock {
            order_id: Uuid::now_v7(),
            store_id: Uuid::now_v7(),
            lines: vec![],
        },
    );
    let raw = command.into_raw();
    let incoming = Incoming {
        message: Message::decode(&raw)?,
        envelope: raw,
        attempt: 1,
        queue: "catalog.commands".into(),
    };
    assert!(matches!(
        handler.handle(incoming).await,
        Outcome::Unavailable(_)
    ));

    // A message catalog.commands never takes is dead-lettered, not retried.
    let stray = Envelope::new(
        None,
        contracts::catalog::StockReleased {
            order_id: Uuid::now_v7(),
            store_id: Uuid::now_v7(),
        },
    )
    .into_raw();
    let incoming = Incoming {
        message: Message::decode(&stray)?,
        envelope: stray,
        attempt: 1,
        queue: "catalog.commands".into(),
    };
    assert!(matches!(handler.handle(incoming).await, Outcome::Reject(_)));
    Ok(())
}

/// Reserve and release of one order racing (each on its own connection), many times: whatever
/// order they land in, the shelf, the reservation and the published answers agree. Never a
/// StockReleased while the order's units stay held; never units held for a released order.
#[sqlx::test(migrations = false)]
async fn racing_reserve_and_release_of_one_order_agree_with_their_events(
    pool: PgPool,
) -> anyhow::Result<()> {
    let shelf = Shelf::new(pool).await?;
    let product = shelf.product("RACE", 1_000).await?;
    let mut held = 0_i64;
    for round in 0..50 {
        let order = Uuid::now_v7();
        let reserve = shelf.reserve(order, &[(product, 2)]);
        let release = Envelope::new(
            Some(shelf.store),
            ReleaseStock {
                order_id: order,
                store_id: shelf.store,
            },
        );
        let (reserved, released) = tokio::join!(
            stock::reserve(&shelf.pool, &reserve),
            stock::release(&shelf.pool, &release)
        );
        let (reserved, released) = (reserved?, released?);
        let status: String = sqlx::query_scalar(
            "SELECT status FROM reservations WHERE store_id = $1 AND order_id = $2",
        )
        .bind(shelf.store)
        .bind(order)
        .fetch_one(&shelf.app.pool)
        .await?;
        let said_released = shelf.events_for("catalog.StockReleased", order).await?;
        let said_reserved = shelf.events_for("catalog.StockReserved", order).await?;
        if status == "reserved" {
            held += 2;
            assert_eq!(said_released, 0, "round {round}: released said, units held");
            assert!(
                matches!(released, StockAnswer::Nothing(_)),
                "round {round}: {released:?}"
            );
            assert_eq!(said_reserved, 1, "round {round}");
        } else {
            assert_eq!(status, "released", "round {round}");
            assert_eq!(said_released, 1, "round {round}: {released:?}");
            // Reserved then released, or released first (the late reserve is rejected).
            assert!(
                matches!(
                    reserved,
                    StockAnswer::Reserved(_) | StockAnswer::Rejected(_)
                ),
                "round {round}: {reserved:?}"
            );
        }
        assert_eq!(
            shelf.stock(product).await?,
            1_000 - held,
            "round {round}: units held only for reserved orders ({status})"
        );
    }
    Ok(())
}

/// An order's quantities are bounded per product (its lines added up), so what a reservation
/// records is exactly what it took: two lines of `u32::MAX` are a rejection (nothing taken),
/// never units taken in full and recorded clamped.
#[sqlx::test(migrations = false)]
async fn quantities_beyond_the_bound_are_rejected_never_truncated(
    pool: PgPool,
) -> anyhow::Result<()> {
    let shelf = Shelf::new(pool).await?;
    let plenty = 1_000_000_000_000_i64;
    let product = shelf.product("HUGE", plenty).await?;
    let release = |order| {
        Envelope::new(
            Some(shelf.store),
            ReleaseStock {
                order_id: order,
                store_id: shelf.store,
            },
        )
    };

    // Each line fits a u32; together they do not.
    let order = Uuid::now_v7();
    let answer = stock::reserve(
        &shelf.pool,
        &shelf.reserve(order, &[(product, u32::MAX), (product, u32::MAX)]),
    )
    .await?;
    stock::release(&shelf.pool, &release(order)).await?;
    assert_eq!(
        shelf.stock(product).await?,
        plenty,
        "nothing lost: {answer:?}"
    );
    match answer {
        StockAnswer::Rejected(r) => {
            assert!(r.reason.contains("1000000"), "{}", r.reason);
            assert_eq!(
                r.unavailable,
                vec![
                    StockLine {
                        product_id: product,
                        quantity: u32::MAX
                    };
                    2
                ]
            );
        }
        other => panic!("unexpected {other:?}"),
    }

    // The bound is on the product's total, not the line.
    let split = stock::reserve(
        &shelf.pool,
        &shelf.reserve(Uuid::now_v7(), &[(product, 600_000), (product, 400_001)]),
    )
    .await?;
    assert!(matches!(split, StockAnswer::Rejected(_)), "{split:?}");
    assert_eq!(shelf.stock(product).await?, plenty);

    // At the bound: reserved, and released in full.
    let order = Uuid::now_v7();
    let at_bound = stock::reserve(
        &shelf.pool,
        &shelf.reserve(order, &[(product, 600_000), (product, 400_000)]),
    )
    .await?;
    match at_bound {
        StockAnswer::Reserved(r) => assert_eq!(
            r.lines,
            vec![StockLine {
                product_id: product,
                quantity: 1_000_000
            }]
        ),
        other => panic!("unexpected {other:?}"),
    }
    assert_eq!(shelf.stock(product).await?, plenty - 1_000_000);
    stock::release(&shelf.pool, &release(order)).await?;
    assert_eq!(shelf.stock(product).await?, plenty);
    Ok(())
}
