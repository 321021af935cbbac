//! Herd bench: how backoff and jitter shape the load a crowd of clients puts on one resource.
//!
//! Part 1 re-runs the AWS Architecture Blog "Exponential Backoff And Jitter" experiment as a
//! seeded discrete-event simulation (simulated time, repeatable figures) with the crate's own
//! `Backoff`: one row with a version number, N clients that each read it and then send a
//! conditional write carrying the version; a write wins only if the version still matches, so
//! at most one client wins per round; a loser backs off and reads again. Every network hop
//! takes |Normal(10 ms, 2 ms)|; base 5 ms, cap 2 s.
//!
//! Part 2 is real time: an in-process HTTP server on 127.0.0.1 answers 503 for 10 s, then 200,
//! while 500 tasks retry through the crate's `Retry` policy, with jitter off/on and a shared
//! retry budget off/on.
//!
//! Result lines (logfmt) go to stdout, progress to stderr. The bench never fails on a number.

// Test helpers may unwrap: a panic is the failure report.
#![allow(clippy::unwrap_used)]

use std::{
    cmp::Reverse,
    collections::BinaryHeap,
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

use axum::extract::State;
use rand::{Rng, SeedableRng, rngs::SmallRng};
use resilience::{
    Backoff, BudgetConfig, Class, Classify, HttpStatusError, Jitter, PolicyError, Retry,
    RetryBudget, RetryConfig,
};

const CLIENTS: [usize; 5] = [10, 25, 50, 100, 200];
const TRIALS: u64 = 20;

fn main() {
    // `cargo bench` passes `--bench`. Without it we are being run as a test
    // (`cargo test --all-targets`): do a quick smoke run, nothing on stdout.
    if !std::env::args().any(|a| a == "--bench") {
        let r = simulate(10, strategies()[2].1, 1);
        assert!(r.calls >= 10 && r.completion_ms > 0.0);
        eprintln!(
            "herd smoke: full jitter, 10 clients, {} calls; `cargo bench` for figures",
            r.calls
        );
        return;
    }
    // Any other argument filters: `-- sim` / `-- recovery`.
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let want = |part: &str| args.is_empty() || args.iter().any(|a| a == part);
    if want("sim") {
        simulate_all();
    }
    if want("recovery") {
        recovery_all();
    }
}

// ---------------------------------------------------------------- part 1: simulation

fn strategies() -> [(&'static str, Backoff); 5] {
    let b = |jitter| Backoff {
        base: Duration::from_millis(5),
        cap: Duration::from_millis(2_000),
        jitter,
    };
    [
        // "none" = retry at once: the same type with a zero base and cap.
        (
            "none",
            Backoff {
                base: Duration::ZERO,
                cap: Duration::ZERO,
                jitter: Jitter::None,
            },
        ),
        ("exponential", b(Jitter::None)),
        ("full", b(Jitter::Full)),
        ("equal", b(Jitter::Equal)),
        ("decorrelated", b(Jitter::Decorrelated)),
    ]
}

/// |Normal(mean, sd)| in ms via Box–Muller.
fn hop(rng: &mut SmallRng) -> f64 {
    let u1: f64 = 1.0 - rng.random::<f64>(); // (0, 1]: ln is finite
    let u2: f64 = rng.random();
    let z = (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos();
    (10.0 + 2.0 * z).abs()
}

#[derive(Debug, Clone, Copy)]
enum Ev {
    /// A read arrives at the server.
    Read,
    /// The read's answer (the version) arrives at the client.
    ReadRsp(u64),
    /// A conditional write arrives at the server.
    Write(u64),
    /// The write's answer arrives at the client.
    WriteRsp(bool),
}

struct SimResult {
    calls: usize,
    completion_ms: f64,
    peak_100ms: usize,
}

fn simulate(n: usize, backoff: Backoff, seed: u64) -> SimResult {
    let mut rng = SmallRng::seed_from_u64(seed);
    // (time in ns, sequence for a stable order, client, event)
    let mut queue: BinaryHeap<Reverse<(u64, u64, usize, EvKey)>> = BinaryHeap::new();
    let mut events: Vec<Ev> = Vec::new();
    let mut seq = 0u64;
    let mut push = |q: &mut BinaryHeap<_>, events: &mut Vec<Ev>, t: f64, client: usize, ev: Ev| {
        events.push(ev);
        q.push(Reverse((
            (t * 1e6) as u64,
            seq,
            client,
            EvKey(events.len() - 1),
        )));
        seq += 1;
    };
    for c in 0..n {
        let t = hop(&mut rng);
        push(&mut queue, &mut events, t, c, Ev::Read);
    }
    let mut version = 0u64;
    let mut attempts = vec![0u32; n];
    let mut previous: Vec<Option<Duration>> = vec![None; n];
    let mut writes: Vec<f64> = Vec::new();
    let mut now = 0.0;
    while let Some(Reverse((t_ns, _, c, key))) = queue.pop() {
        now = t_ns as f64 / 1e6;
        match events[key.0] {
            Ev::Read => {
                let t = now + hop(&mut rng);
                push(&mut queue, &mut events, t, c, Ev::ReadRsp(version));
            }
            Ev::ReadRsp(v) => {
                let t = now + hop(&mut rng);
                push(&mut queue, &mut events, t, c, Ev::Write(v));
            }
            Ev::Write(v) => {
                writes.push(now);
                let ok = v == version;
                if ok {
                    version += 1;
                }
                let t = now + hop(&mut rng);
                push(&mut queue, &mut events, t, c, Ev::WriteRsp(ok));
            }
            Ev::WriteRsp(true) => {}
            Ev::WriteRsp(false) => {
                attempts[c] += 1;
                let d = backoff.delay_with(attempts[c], previous[c], &mut rng);
                previous[c] = Some(d);
                let t = now + hop(&mut rng) + d.as_secs_f64() * 1e3;
                push(&mut queue, &mut events, t, c, Ev::Read);
            }
        }
    }
    SimResult {
        calls: writes.len(),
        completion_ms: now,
        peak_100ms: peak_in_window(&writes, 100.0),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct EvKey(usize);

/// Most events in any window of `width` (times sorted ascending).
fn peak_in_window(times: &[f64], width: f64) -> usize {
    let mut lo = 0;
    let mut best = 0;
    for hi in 0..times.len() {
        while times[hi] - times[lo] >= width {
            lo += 1;
        }
        best = best.max(hi - lo + 1);
    }
    best
}

fn simulate_all() {
    for (name, backoff) in strategies() {
        for (i, &n) in CLIENTS.iter().enumerate() {
            let (mut calls, mut time, mut peak) = (0.0, 0.0, 0.0);
            for trial in 0..TRIALS {
                let r = simulate(n, backoff, 1_000_003 * (i as u64 + 1) + trial);
                calls += r.calls as f64;
                time += r.completion_ms;
                peak += r.peak_100ms as f64;
            }
            let k = TRIALS as f64;
            println!(
                "herd strategy={name} clients={n} calls={:.0} completion_ms={:.0} peak_calls_100ms={:.1}",
                calls / k,
                time / k,
                peak / k
            );
        }
        eprintln!("herd: {name} done");
    }
}

// ---------------------------------------------------------------- part 2: recovery, real time

const RECOVERY_CLIENTS: usize = 500;
const OUTAGE: Duration = Duration::from_secs(10);
/// Nothing in a run may take longer than this.
const RUN_LIMIT: Duration = Duration::from_secs(40);

#[derive(Debug, thiserror::Error)]
enum CallError {
    #[error(transparent)]
    Status(#[from] HttpStatusError),
    #[error(transparent)]
    Transport(#[from] reqwest::Error),
}

impl Classify for CallError {
    fn classify(&self) -> Class {
        match self {
            CallError::Status(s) => s.classify(),
            CallError::Transport(_) => Class::TRANSIENT,
        }
    }
}

struct Server {
    started: Instant,
    /// Arrival times of every request, µs since `started`.
    arrivals: Mutex<Vec<u64>>,
    healthy: AtomicBool,
}

async fn serve(State(s): State<Arc<Server>>) -> axum::http::StatusCode {
    s.arrivals
        .lock()
        .unwrap()
        .push(s.started.elapsed().as_micros() as u64);
    if s.healthy.load(Ordering::Relaxed) {
        axum::http::StatusCode::OK
    } else {
        axum::http::StatusCode::SERVICE_UNAVAILABLE
    }
}

async fn one_client(
    client: reqwest::Client,
    url: String,
    retry: Retry,
    redeliver: Backoff,
    started: Instant,
) -> Option<Instant> {
    let mut requeued = 0u32;
    while started.elapsed() < RUN_LIMIT {
        let r: Result<(), PolicyError<CallError>> = retry
            .call(|| async {
                let resp = client.get(&url).send().await?;
                if resp.status().is_success() {
                    Ok(())
                } else {
                    Err(HttpStatusError::new(resp.status().as_u16(), None).into())
                }
            })
            .await;
        match r {
            Ok(()) => return Some(Instant::now()),
            // The budget refused a retry: the request goes back on the queue, as a bus message
            // would, and is tried again after a redelivery delay (a new call, not a retry).
            Err(_) => {
                requeued += 1;
                tokio::time::sleep(redeliver.delay(requeued, None)).await;
            }
        }
    }
    None
}

async fn recovery(jitter: bool, budget: bool) {
    let server = Arc::new(Server {
        started: Instant::now(),
        arrivals: Mutex::new(Vec::with_capacity(100_000)),
        healthy: AtomicBool::new(false),
    });
    let app = axum::Router::new()
        .route("/", axum::routing::get(serve))
        .with_state(server.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/", listener.local_addr().unwrap());
    let srv_task = tokio::spawn(async move { axum::serve(listener, app).await });

    let jitter_kind = if jitter { Jitter::Full } else { Jitter::None };
    let backoff = Backoff {
        base: Duration::from_millis(50),
        cap: Duration::from_secs(2),
        jitter: jitter_kind,
    };
    let mut retry = Retry::new(RetryConfig {
        max_attempts: 1_000,
        max_elapsed: Duration::from_secs(30),
        backoff,
    });
    let shared_budget = Arc::new(RetryBudget::new(BudgetConfig {
        min_retries_per_sec: 50.0,
        ..BudgetConfig::default()
    }));
    if budget {
        retry = retry.with_budget(shared_budget.clone());
    }
    // One pooled client for all tasks, like one service instance; idle sockets are capped.
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(RECOVERY_CLIENTS)
        .pool_idle_timeout(Duration::from_secs(5))
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    // Redelivery of a request the budget turned away: bus-style, slower than in-call retries.
    let redeliver = Backoff {
        base: Duration::from_secs(1),
        cap: Duration::from_secs(8),
        jitter: jitter_kind,
    };

    let flip = {
        let server = server.clone();
        tokio::spawn(async move {
            tokio::time::sleep(OUTAGE).await;
            server.healthy.store(true, Ordering::Relaxed);
            Instant::now()
        })
    };
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..RECOVERY_CLIENTS {
        tasks.spawn(one_client(
            client.clone(),
            url.clone(),
            retry.clone(),
            redeliver,
            server.started,
        ));
    }
    let mut last_ok: Option<Instant> = None;
    let mut recovered = 0usize;
    while let Some(r) = tasks.join_next().await {
        if let Some(t) = r.unwrap() {
            recovered += 1;
            last_ok = Some(last_ok.map_or(t, |l| l.max(t)));
        }
    }
    let recovered_at = flip.await.unwrap();
    srv_task.abort();

    let mut arrivals = server.arrivals.lock().unwrap().clone();
    arrivals.sort_unstable();
    let outage_us = OUTAGE.as_micros() as u64;
    let during = arrivals.iter().filter(|t| **t < outage_us).count();
    let ms: Vec<f64> = arrivals.iter().map(|t| *t as f64 / 1e3).collect();
    // The first seconds are the start-up burst (everyone's first call and first short
    // retries); after 3 s every delay is at its 2 s cap and the steady herd shape shows.
    let steady: Vec<f64> = ms.iter().copied().filter(|t| *t >= 3_000.0).collect();
    let recovered_ms = last_ok.map_or(0, |t| t.saturating_duration_since(recovered_at).as_millis());
    println!(
        "recovery jitter={} budget={} clients={RECOVERY_CLIENTS} peak_calls_100ms={} calls_during_outage={during} recovered_ms={recovered_ms} steady_peak_calls_100ms={} total_calls={} recovered_clients={recovered}",
        if jitter { "on" } else { "off" },
        if budget { "on" } else { "off" },
        peak_in_window(&ms, 100.0),
        peak_in_window(&steady, 100.0),
        arrivals.len(),
    );
}

fn recovery_all() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    for jitter in [false, true] {
        for budget in [false, true] {
            eprintln!("recovery: jitter={jitter} budget={budget} (real time, 10 s outage)");
            rt.block_on(recovery(jitter, budget));
        }
    }
}
