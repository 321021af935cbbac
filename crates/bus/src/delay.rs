//! The retry delay ladder.
//!
//! Per-message TTL expires only at a queue's head, so one delay queue holding mixed TTLs holds a
//! 100 ms retry behind a 10 s one and releases a jittered herd in clumps. Here every delay queue
//! has ONE fixed TTL — level `k` holds messages for 2^k ms — so within a queue expiry order equals
//! arrival order. A delay of `d` ms walks the levels from the highest down, stopping in level `k`
//! exactly when bit `k` of `d` is set (the scheme of NServiceBus's RabbitMQ transport).
//!
//! Routing: the routing key is the delay's bits, highest level first, one word each, then the
//! destination queue's name: `0.0.…1.0.1.checkout.payments-events`. Exchange `summit.delay.Lk`
//! (topic) sends a message whose word for level `k` is `1` into queue `summit.delay.Lk` and
//! otherwise on to exchange level `k-1`. Queues dead-letter (keeping the routing key) into the
//! next lower exchange; below level 0 sits `summit.delay.delivery`, where each work queue is bound
//! by its own name after the delay words.

/// Levels 0..LEVELS: delays up to 2^18 - 1 ms ≈ 4.4 minutes.
pub const LEVELS: u32 = 18;
/// The longest delay the ladder can express, in milliseconds.
pub const MAX_DELAY_MS: u64 = (1 << LEVELS) - 1;
/// Where every delayed message leaves the ladder.
pub const DELIVERY_EXCHANGE: &str = "summit.delay.delivery";

/// The exchange (and queue) name of level `k`.
pub fn level_name(level: u32) -> String {
    format!("summit.delay.L{level:02}")
}

/// The exchange a delayed message is published to: the top of the ladder.
pub fn entry_exchange() -> String {
    level_name(LEVELS - 1)
}

/// The routing key that delays a message by `delay_ms` on its way to `queue`.
pub fn routing_key(delay_ms: u64, queue: &str) -> String {
    let delay = delay_ms.min(MAX_DELAY_MS);
    let mut key = String::with_capacity(LEVELS as usize * 2 + queue.len());
    for level in (0..LEVELS).rev() {
        key.push(if delay & (1 << level) != 0 { '1' } else { '0' });
        key.push('.');
    }
    key.push_str(queue);
    key
}

/// The binding pattern on level `level`'s exchange that matches `bit` in that level's word.
pub fn level_pattern(level: u32, bit: char) -> String {
    let skipped = (LEVELS - 1 - level) as usize;
    format!("{}{bit}.#", "*.".repeat(skipped))
}

/// The pattern that binds `queue` to the delivery exchange: any delay words, then its name.
pub fn delivery_pattern(queue: &str) -> String {
    format!("{}{queue}", "*.".repeat(LEVELS as usize))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routing_key_spells_the_delay_in_binary_highest_level_first() {
        let key = routing_key(5, "q.x");
        let words: Vec<&str> = key.split('.').collect();
        assert_eq!(words.len(), LEVELS as usize + 2);
        assert_eq!(
            &words[LEVELS as usize - 3..LEVELS as usize],
            &["1", "0", "1"]
        );
        assert!(words[..LEVELS as usize - 3].iter().all(|w| *w == "0"));
        assert!(key.ends_with(".q.x"));
    }

    #[test]
    fn delays_beyond_the_ladder_are_capped() {
        assert_eq!(routing_key(u64::MAX, "q"), routing_key(MAX_DELAY_MS, "q"));
    }

    #[test]
    fn level_patterns_select_their_own_word() {
        assert_eq!(level_pattern(LEVELS - 1, '1'), "1.#");
        assert_eq!(level_pattern(0, '0'), format!("{}0.#", "*.".repeat(17)));
    }
}
