use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use service_kit::{Job, JobError};
use sqlx::PgPool;
use sqlx::postgres::PgPoolOptions;

/// Two replicas run the same job at the same moments: never both at once.
#[sqlx::test(migrations = false)]
async fn a_job_runs_in_one_replica_at_a_time(pool: PgPool) -> anyhow::Result<()> {
    let running = Arc::new(AtomicUsize::new(0));
    let overlaps = Arc::new(AtomicUsize::new(0));
    let (r, o) = (running.clone(), overlaps.clone());
    let job = Job::new("test.exclusive", Duration::from_secs(60), move |_pool| {
        let (r, o) = (r.clone(), o.clone());
        async move {
            if r.fetch_add(1, Ordering::SeqCst) > 0 {
                o.fetch_add(1, Ordering::SeqCst);
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
            r.fetch_sub(1, Ordering::SeqCst);
            Ok(1)
        }
    });
    let mut ran = 0;
    let mut skipped = 0;
    for _ in 0..3 {
        let (a, b) = tokio::join!(job.run_once(&pool), job.run_once(&pool));
        for outcome in [a?, b?] {
            match outcome {
                Some(_) => ran += 1,
                None => skipped += 1,
            }
        }
    }
    assert_eq!(overlaps.load(Ordering::SeqCst), 0, "never two at once");
    assert_eq!(
        (ran, skipped),
        (3, 3),
        "each round one replica ran and one skipped"
    );
    // The lock is released after each run: a lone replica runs again.
    assert_eq!(job.run_once(&pool).await?, Some(1));
    Ok(())
}

/// A run that panics must not leave its lock behind on the pooled connection: the next run —
/// here from another replica (a pool of its own) — runs.
#[sqlx::test(migrations = false)]
async fn a_job_that_panics_does_not_block_the_next_run(pool: PgPool) -> anyhow::Result<()> {
    let panicked = Arc::new(AtomicUsize::new(0));
    let p = panicked.clone();
    let job = Job::new("test.panics-once", Duration::from_secs(60), move |_pool| {
        let first = p.fetch_add(1, Ordering::SeqCst) == 0;
        async move {
            if first {
                panic!("the job fell over");
            }
            Ok(7)
        }
    });

    let replica_a = {
        let (job, pool) = (job.clone(), pool.clone());
        tokio::spawn(async move { job.run_once(&pool).await }).await
    };
    match replica_a {
        Ok(Err(JobError::Panicked(message))) => assert_eq!(message, "the job fell over"),
        other => panic!("the panic is caught and reported: {other:?}"),
    }

    let replica_b = PgPoolOptions::new()
        .max_connections(1)
        .connect_with((*pool.connect_options()).clone())
        .await?;
    assert_eq!(
        job.run_once(&replica_b).await?,
        Some(7),
        "another replica runs the job next time"
    );
    assert_eq!(job.run_once(&pool).await?, Some(7), "and so does this one");
    replica_b.close().await;
    Ok(())
}

#[sqlx::test(migrations = false)]
async fn housekeeping_trims_old_published_outbox_rows_and_old_inbox_rows(
    pool: PgPool,
) -> anyhow::Result<()> {
    outbox::MIGRATIONS.run(&pool).await?;
    sqlx::query(
        "INSERT INTO outbox (message_id, exchange, routing_key, kind, body, published_at)
         VALUES (gen_random_uuid(), 'x', '', 't', '', now() - interval '8 days'),
                (gen_random_uuid(), 'x', '', 't', '', now() - interval '1 day'),
                (gen_random_uuid(), 'x', '', 't', '', NULL)",
    )
    .execute(&pool)
    .await?;
    sqlx::query(
        "INSERT INTO inbox (message_id, handler, processed_at)
         VALUES (gen_random_uuid(), 'h', now() - interval '8 days'),
                (gen_random_uuid(), 'h', now())",
    )
    .execute(&pool)
    .await?;
    let mut trimmed = 0;
    for job in service_kit::jobs::housekeeping() {
        trimmed += job.run_once(&pool).await?.expect("no other replica");
    }
    assert_eq!(trimmed, 2);
    let outbox: i64 = sqlx::query_scalar("SELECT count(*) FROM outbox")
        .fetch_one(&pool)
        .await?;
    let inbox: i64 = sqlx::query_scalar("SELECT count(*) FROM inbox")
        .fetch_one(&pool)
        .await?;
    assert_eq!((outbox, inbox), (2, 1), "unpublished and recent rows stay");
    Ok(())
}
