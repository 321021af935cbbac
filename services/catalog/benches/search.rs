//! `make bench-search`: public search over HTTP at 100,000 products in one store (beside 10
//! stores of 10,000), against a fresh database that is dropped at the end.
//!
//! Prints one line per query kind to stdout:
//! `search products=100000 query=<exact|prefix|typo|accent> p50_ms=… p99_ms=… per_s=… concurrency=…`
//! and progress to stderr. It never fails on a number. `cargo test --all-targets` runs bench
//! binaries without `--bench`; then this one returns at once.

use std::time::{Duration, Instant};

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{ConnectOptions, Executor, PgPool};
use uuid::Uuid;

const BIG_STORE: i64 = 100_000;
const SMALL_STORES: usize = 10;
const SMALL_STORE: i64 = 10_000;
/// Two cores on the reference machine: more clients only measure queueing.
const CONCURRENCY: usize = 4;
const REQUESTS_PER_KIND: usize = 800;
/// Keeps the whole run bounded even on a slow machine.
const TIME_PER_KIND: Duration = Duration::from_secs(20);

const LOAD: &str = "
INSERT INTO products (id, store_id, sku, name, description, price_minor, currency, stock)
SELECT gen_random_uuid(), $1, 'SKU-' || g,
    (ARRAY['Chocolate','Café','Pão','Queijo','Bolo','Açúcar','Maçã','Limão','Feijão','Arroz',
           'Coffee','Cheese','Bread','Butter','Honey','Mel','Cenoura','Biscoito','Tapioca','Goiabada'])[1 + g % 20]
    || ' ' ||
    (ARRAY['Amargo','Torrado','Integral','Orgânico','Artesanal','Premium','Especial','Caseiro','Light',
           'Tradicional','Dark','Roasted','Fresh','Crocante','Cremoso','Defumado','Recheado','Mineiro',
           'Baiano','Gaúcho'])[1 + (g / 20) % 20]
    || ' ' ||
    (ARRAY['100g','250g','500g','1kg','Pack','Grande','Pequeno','Família','Mini','Duo'])[1 + (g / 400) % 10]
    || ' ' || g,
    (ARRAY['Feito à mão em Minas Gerais','Imported from Colombia','Sem glúten, sem lactose',
           'Ideal para o café da manhã','Great with coffee','Receita da vovó'])[1 + g % 6],
    100 + (g * 37) % 50000, 'BRL', g % 50
FROM generate_series(1, $2) AS g";

const QUERIES: &[(&str, &[&str])] = &[
    (
        "exact",
        &[
            "Queijo Artesanal",
            "Coffee Roasted",
            "Chocolate Amargo",
            "Goiabada Cremoso",
        ],
    ),
    ("prefix", &["choc", "caf", "quei", "bisc"]),
    ("typo", &["chocolte", "queijp", "biscoto", "tapiocca"]),
    ("accent", &["cafe", "acucar", "maca", "feijao"]),
];

fn main() -> anyhow::Result<()> {
    if !std::env::args().any(|a| a == "--bench") {
        eprintln!("search bench: run with `cargo bench -p catalog --bench search`; skipping");
        return Ok(());
    }
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(run())
}

async fn run() -> anyhow::Result<()> {
    let admin_url = std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://summit:summit@127.0.0.1:5432/postgres".into());
    let admin_options: PgConnectOptions = admin_url.parse()?;
    let mut admin = admin_options.connect().await?;
    let name = format!("catalog_bench_{}", Uuid::new_v4().simple());
    admin
        .execute(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .await?;
    eprintln!("created database {name}");
    let outcome = bench(admin_options.clone().database(&name)).await;
    admin
        .execute(sqlx::AssertSqlSafe(format!(
            "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
        )))
        .await?;
    eprintln!("dropped database {name}");
    outcome
}

async fn bench(options: PgConnectOptions) -> anyhow::Result<()> {
    let owner = PgPoolOptions::new()
        .max_connections(12)
        .connect_with(options.clone())
        .await?;
    catalog::migrator().run(&owner).await?;
    let started = Instant::now();
    let big = store(&owner, "grande").await?;
    let mut loads = vec![(big, BIG_STORE)];
    for i in 0..SMALL_STORES {
        loads.push((store(&owner, &format!("pequena-{i}")).await?, SMALL_STORE));
    }
    // Load the stores in parallel; each is one INSERT … SELECT generate_series.
    let tasks: Vec<_> = loads
        .into_iter()
        .map(|(id, n)| {
            let pool = owner.clone();
            tokio::spawn(async move { sqlx::query(LOAD).bind(id).bind(n).execute(&pool).await })
        })
        .collect();
    for task in tasks {
        task.await??;
    }
    owner.execute("ANALYZE").await?;
    eprintln!(
        "loaded {} products in {:.1}s",
        BIG_STORE + SMALL_STORE * SMALL_STORES as i64,
        started.elapsed().as_secs_f64()
    );

    // Serve as a plain role, so row-level security is in force as in production.
    owner
        .execute(
            "DO $$ BEGIN CREATE ROLE catalog_bench_app NOLOGIN;
             EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; END $$;
             GRANT USAGE ON SCHEMA public TO catalog_bench_app;
             GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO catalog_bench_app;
             GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO catalog_bench_app;",
        )
        .await?;
    let app_pool = PgPoolOptions::new()
        .max_connections(CONCURRENCY as u32 + 2)
        .after_connect(|conn, _| {
            Box::pin(async move {
                conn.execute("SET ROLE catalog_bench_app").await?;
                Ok(())
            })
        })
        .connect_with(options)
        .await?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}/stores/grande/products", listener.local_addr()?);
    let router = catalog::router(app_pool.clone(), catalog::CatalogConfig::default());
    let server = tokio::spawn(async move { axum::serve(listener, router).await });

    let client = reqwest::Client::new();
    for (kind, queries) in QUERIES {
        // Warm up caches and connections.
        for q in *queries {
            let _ = get(&client, &base, q).await?;
        }
        let deadline = Instant::now() + TIME_PER_KIND;
        let wall = Instant::now();
        let workers: Vec<_> = (0..CONCURRENCY)
            .map(|w| {
                let (client, base) = (client.clone(), base.clone());
                tokio::spawn(async move {
                    let mut latencies = Vec::new();
                    let mut i = w;
                    while latencies.len() < REQUESTS_PER_KIND / CONCURRENCY
                        && Instant::now() < deadline
                    {
                        let t = Instant::now();
                        let hits = get(&client, &base, queries[i % queries.len()]).await?;
                        latencies.push(t.elapsed());
                        if hits == 0 {
                            eprintln!(
                                "warning: {kind} query {:?} found nothing",
                                queries[i % queries.len()]
                            );
                        }
                        i += 1;
                    }
                    anyhow::Ok(latencies)
                })
            })
            .collect();
        let mut latencies = Vec::new();
        for worker in workers {
            latencies.extend(worker.await??);
        }
        let elapsed = wall.elapsed();
        latencies.sort();
        let pick = |p: f64| {
            let i = ((latencies.len() as f64 * p).ceil() as usize).clamp(1, latencies.len()) - 1;
            latencies[i].as_secs_f64() * 1000.0
        };
        println!(
            "search products={BIG_STORE} query={kind} p50_ms={:.1} p99_ms={:.1} per_s={:.0} concurrency={CONCURRENCY}",
            pick(0.50),
            pick(0.99),
            latencies.len() as f64 / elapsed.as_secs_f64()
        );
    }
    server.abort();
    app_pool.close().await;
    owner.close().await;
    Ok(())
}

async fn store(pool: &PgPool, slug: &str) -> anyhow::Result<Uuid> {
    let id = Uuid::now_v7();
    sqlx::query(
        "INSERT INTO stores (id, slug, name, contact_email, temporary_domain, admin_key_hash)
         VALUES ($1, $2, $2, 'bench@example.com', $2 || '.summit.localhost', $3)",
    )
    .bind(id)
    .bind(slug)
    .bind(catalog::admin_key::AdminKey::generate().hash())
    .execute(pool)
    .await?;
    Ok(id)
}

async fn get(client: &reqwest::Client, base: &str, q: &str) -> anyhow::Result<usize> {
    let page: serde_json::Value = client
        .get(base)
        .query(&[("q", q)])
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    Ok(page["items"].as_array().map_or(0, Vec::len))
}
