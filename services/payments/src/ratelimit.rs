//! The gateway's rate limit, shared by every payments process through Redis: GCRA in one
//! atomic Lua script, loaded once and called by its SHA (`redis::Script`), over a
//! `ConnectionManager` that reconnects by itself.
//!
//! Invariants:
//! - One Redis key per gateway account holds its theoretical arrival time (TAT), in the
//!   server's own clock (`TIME`), so processes on hosts whose clocks differ still agree.
//! - A call is admitted when it fits `rate_per_s` with a burst of `burst`; otherwise the caller
//!   waits the time the script names and asks again. Nothing is admitted twice for one slot.
//! - Redis away (an error or no answer within 250 ms): each process falls back to a local
//!   GCRA of `rate_per_s / replicas` — conservative, never more than its share — keeps
//!   serving, and [`GatewayLimit::degraded`] says why. The next call that reaches Redis resumes
//!   the shared limit and clears the reason; so does a readiness probe
//!   ([`GatewayLimit::recheck`]) that reaches it, so an idle process does not report a Redis
//!   outage that has ended.

use std::sync::Mutex;
use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use tokio::time::Instant;

/// GCRA: `KEYS[1]` the TAT in µs; `ARGV[1]` the emission interval, `ARGV[2]` the tolerance
/// (burst − 1 intervals), both µs. Returns 0 when admitted, else the µs to wait.
const GCRA: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local emission = tonumber(ARGV[1])
local tolerance = tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1]))
if not tat or tat < now then tat = now end
local allow_at = tat - tolerance
if now < allow_at then return allow_at - now end
local new_tat = tat + emission
redis.call('SET', KEYS[1], new_tat, 'PX', math.ceil((new_tat - now) / 1000) + 1000)
return 0
";

/// The local fallback: the same algorithm in process.
#[derive(Debug)]
struct Local {
    emission: Duration,
    tolerance: Duration,
    tat: Option<Instant>,
}

impl Local {
    /// `None` when admitted, else how long to wait.
    fn check(&mut self, now: Instant) -> Option<Duration> {
        let tat = self.tat.filter(|t| *t > now).unwrap_or(now);
        let allow_at = tat.checked_sub(self.tolerance).unwrap_or(now);
        if now < allow_at {
            return Some(allow_at - now);
        }
        self.tat = Some(tat + self.emission);
        None
    }
}

/// Settings of one gateway account's limit.
#[derive(Debug, Clone)]
pub struct LimitConfig {
    /// The Redis key (one per gateway account).
    pub key: String,
    pub rate_per_s: u32,
    pub burst: u32,
    /// How many payments processes share the limit: the local fallback takes 1/replicas.
    pub replicas: u32,
}

/// One gateway account's limit.
pub struct GatewayLimit {
    redis: ConnectionManager,
    script: redis::Script,
    config: LimitConfig,
    emission: Duration,
    local: Mutex<Local>,
    /// Why the shared limit is not in force, if it is not.
    degraded: Mutex<Option<String>>,
}

impl std::fmt::Debug for GatewayLimit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GatewayLimit")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

fn interval(rate_per_s: u32) -> Duration {
    Duration::from_secs(1) / rate_per_s.max(1)
}

impl GatewayLimit {
    /// Connects lazily: Redis may be away at start; the fallback covers that.
    pub fn new(redis_url: &str, config: LimitConfig) -> Result<Self, redis::RedisError> {
        let client = redis::Client::open(redis_url)?;
        let manager = ConnectionManager::new_lazy_with_config(
            client,
            ConnectionManagerConfig::new()
                .set_number_of_retries(1)
                .set_connection_timeout(Some(Duration::from_millis(250)))
                .set_response_timeout(Some(Duration::from_millis(250))),
        )?;
        let emission = interval(config.rate_per_s);
        let local_emission = interval((config.rate_per_s / config.replicas.max(1)).max(1));
        Ok(Self {
            redis: manager,
            script: redis::Script::new(GCRA),
            local: Mutex::new(Local {
                emission: local_emission,
                tolerance: local_emission * config.burst.saturating_sub(1),
                tat: None,
            }),
            emission,
            config,
            degraded: Mutex::new(None),
        })
    }

    /// Why the shared limit is not in force now, if it is not.
    pub fn degraded(&self) -> Option<String> {
        self.degraded
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    fn set_degraded(&self, reason: Option<String>) {
        let mut degraded = self
            .degraded
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if degraded.is_some() != reason.is_some() {
            match &reason {
                Some(r) => tracing::warn!(reason = %r, "gateway rate limit: local fallback"),
                None => tracing::info!("gateway rate limit: shared limit resumed"),
            }
        }
        *degraded = reason;
    }

    /// Why the shared limit is not in force now, after asking Redis again (`PING`) if it was
    /// not: readiness calls this, so the reason clears when Redis returns even with no
    /// gateway call to notice it. Every call tries Redis first anyway, so a `PING` that
    /// answers means the shared limit is in force again.
    pub async fn recheck(&self) -> Option<String> {
        self.degraded()?;
        let mut conn = self.redis.clone();
        let ping = tokio::time::timeout(
            Duration::from_millis(500),
            redis::cmd("PING").query_async::<String>(&mut conn),
        )
        .await;
        if let Ok(Ok(_)) = ping {
            self.set_degraded(None);
        }
        self.degraded()
    }

    async fn shared(&self) -> Result<Option<Duration>, redis::RedisError> {
        let mut conn = self.redis.clone();
        let wait_us: u64 = tokio::time::timeout(
            Duration::from_millis(500),
            self.script
                .key(&self.config.key)
                .arg(self.emission.as_micros() as u64)
                .arg((self.emission * self.config.burst.saturating_sub(1)).as_micros() as u64)
                .invoke_async(&mut conn),
        )
        .await
        .map_err(|_| {
            redis::RedisError::from((redis::ErrorKind::Io, "redis did not answer in time"))
        })??;
        Ok((wait_us > 0).then(|| Duration::from_micros(wait_us)))
    }

    /// Waits until one gateway call is admitted.
    pub async fn acquire(&self) {
        loop {
            let wait = match self.shared().await {
                Ok(wait) => {
                    self.set_degraded(None);
                    wait
                }
                Err(e) => {
                    self.set_degraded(Some(format!("redis unavailable: {e}")));
                    self.local
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner)
                        .check(Instant::now())
                }
            };
            match wait {
                None => return,
                Some(wait) => {
                    // What operators read to see the limit biting: how often and how long
                    // calls wait, by where the verdict came from.
                    let source = if self.degraded().is_some() {
                        "local"
                    } else {
                        "shared"
                    };
                    metrics::counter!("summit_ratelimit_waits_total", "source" => source)
                        .increment(1);
                    metrics::histogram!("summit_ratelimit_wait_seconds", "source" => source)
                        .record(wait.as_secs_f64());
                    tokio::time::sleep(wait).await;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_local_limit_admits_its_burst_then_one_per_interval() {
        let start = Instant::now();
        let mut local = Local {
            emission: Duration::from_millis(100),
            tolerance: Duration::from_millis(100),
            tat: None,
        };
        assert_eq!(local.check(start), None);
        assert_eq!(local.check(start), None, "burst of two");
        assert_eq!(local.check(start), Some(Duration::from_millis(100)));
        assert_eq!(local.check(start + Duration::from_millis(100)), None);
        assert!(local.check(start + Duration::from_millis(100)).is_some());
    }
}
