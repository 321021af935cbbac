//! A short-lived copy of what the services answered, keyed by request (method-less URL).
//!
//! Invariants:
//! - A copy younger than `fresh_for` is served without asking the service again (a burst of
//!   shoppers costs one call).
//! - An older copy, up to `stale_for`, is served only when the service cannot answer, and is
//!   then marked as such ([`resilience::Served::Fallback`]) so the page can say so.
//! - At most [`MAX_ENTRIES`] copies are kept; when full, the oldest go first.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde_json::Value;

/// Bounds memory: a page of search results is a few KiB.
pub const MAX_ENTRIES: usize = 10_000;

#[derive(Debug)]
pub struct Cache {
    fresh_for: Duration,
    stale_for: Duration,
    entries: Mutex<HashMap<String, (Value, Instant)>>,
}

impl Cache {
    pub fn new(fresh_for: Duration, stale_for: Duration) -> Self {
        Self {
            fresh_for,
            stale_for,
            entries: Mutex::new(HashMap::new()),
        }
    }

    fn entries(&self) -> std::sync::MutexGuard<'_, HashMap<String, (Value, Instant)>> {
        // A panic while holding the lock leaves a plain map behind: still usable.
        self.entries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The copy of `key` if younger than `fresh_for`.
    pub fn fresh(&self, key: &str) -> Option<Value> {
        self.younger_than(key, self.fresh_for, Instant::now())
    }

    /// The copy of `key` if younger than `stale_for`: what stands in while its service is down.
    pub fn stale(&self, key: &str) -> Option<Value> {
        self.younger_than(key, self.stale_for, Instant::now())
    }

    /// The copy of `key` if, at `now`, it is no older than `age`.
    fn younger_than(&self, key: &str, age: Duration, now: Instant) -> Option<Value> {
        self.entries()
            .get(key)
            .filter(|(_, at)| now.saturating_duration_since(*at) <= age)
            .map(|(value, _)| value.clone())
    }

    pub fn put(&self, key: &str, value: &Value) {
        let mut entries = self.entries();
        if entries.len() >= MAX_ENTRIES && !entries.contains_key(key) {
            entries.retain(|_, (_, at)| at.elapsed() <= self.stale_for);
            if entries.len() >= MAX_ENTRIES {
                let oldest = entries
                    .iter()
                    .min_by_key(|(_, (_, at))| *at)
                    .map(|(k, _)| k.clone());
                if let Some(oldest) = oldest {
                    entries.remove(&oldest);
                }
            }
        }
        entries.insert(key.to_owned(), (value.clone(), Instant::now()));
    }

    /// Forgets `key` (after a write the merchant expects to see at once).
    pub fn forget_prefix(&self, prefix: &str) {
        self.entries().retain(|k, _| !k.starts_with(prefix));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn fresh_then_stale_then_gone() {
        let (fresh, stale) = (Duration::from_secs(30), Duration::from_secs(120));
        let cache = Cache::new(fresh, stale);
        cache.put("a", &json!(1));
        assert_eq!(cache.fresh("a"), Some(json!(1)));
        let put = cache.entries()["a"].1;
        let at = |secs| put + Duration::from_secs(secs);
        assert_eq!(
            cache.younger_than("a", fresh, at(60)),
            None,
            "no longer fresh"
        );
        assert_eq!(
            cache.younger_than("a", stale, at(60)),
            Some(json!(1)),
            "still good as a stand-in"
        );
        assert_eq!(
            cache.younger_than("a", stale, at(160)),
            None,
            "too old even as a stand-in"
        );
    }

    #[test]
    fn forgets_by_prefix_and_stays_bounded() {
        let cache = Cache::new(Duration::from_secs(60), Duration::from_secs(60));
        cache.put("catalog/stores/a/products", &json!(1));
        cache.put("catalog/stores/b/products", &json!(2));
        cache.forget_prefix("catalog/stores/a/");
        assert_eq!(cache.fresh("catalog/stores/a/products"), None);
        assert_eq!(cache.fresh("catalog/stores/b/products"), Some(json!(2)));
        for i in 0..MAX_ENTRIES + 5 {
            cache.put(&format!("k{i}"), &json!(i));
        }
        assert!(cache.entries().len() <= MAX_ENTRIES);
    }
}
