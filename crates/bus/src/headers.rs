//! Header names Summit writes on AMQP messages, and typed reads of them.
//!
//! `x-attempts` counts deliveries to the handler (1 on the first); `x-retry-delay-ms` is the
//! delay chosen before the current attempt, which decorrelated jitter needs to pick the next.
//! Retries travel through the outbox, whose headers are strings, so integer headers are read
//! from either an AMQP integer or a decimal string.
//!
//! The names are public; the readers and writers over AMQP tables stay inside the crate.

use std::collections::BTreeMap;

use lapin::types::{AMQPValue, FieldTable};

pub const ATTEMPTS: &str = "x-attempts";
pub const RETRY_DELAY_MS: &str = "x-retry-delay-ms";
pub const ERROR: &str = "x-error";
pub const ERROR_KIND: &str = "x-error-kind";
/// Set on the copy of a message that is on its way to the dead-letter queue: the consumer
/// rejects it at once so RabbitMQ dead-letters it and adds its own `x-death`.
pub const DEAD_LETTER: &str = "x-summit-dead-letter";
pub const TRACEPARENT: &str = "traceparent";
pub const TRACESTATE: &str = "tracestate";

/// An integer header, whichever integer width the writer chose.
pub(crate) fn int(table: Option<&FieldTable>, name: &str) -> Option<i64> {
    as_int(table?.inner().get(name)?)
}

/// An integer value, whichever width (or decimal string) the writer chose.
pub(crate) fn as_int(value: &AMQPValue) -> Option<i64> {
    match value {
        AMQPValue::ShortShortInt(v) => Some(i64::from(*v)),
        AMQPValue::ShortShortUInt(v) => Some(i64::from(*v)),
        AMQPValue::ShortInt(v) => Some(i64::from(*v)),
        AMQPValue::ShortUInt(v) => Some(i64::from(*v)),
        AMQPValue::LongInt(v) => Some(i64::from(*v)),
        AMQPValue::LongUInt(v) => Some(i64::from(*v)),
        AMQPValue::LongLongInt(v) => Some(*v),
        AMQPValue::Timestamp(v) => i64::try_from(*v).ok(),
        AMQPValue::LongString(v) => v.to_string().trim().parse().ok(),
        AMQPValue::ShortString(v) => v.as_str().trim().parse().ok(),
        _ => None,
    }
}

/// A string header.
pub(crate) fn string(table: Option<&FieldTable>, name: &str) -> Option<String> {
    match table?.inner().get(name)? {
        AMQPValue::LongString(v) => Some(v.to_string()),
        AMQPValue::ShortString(v) => Some(v.to_string()),
        _ => None,
    }
}

pub(crate) fn has(table: Option<&FieldTable>, name: &str) -> bool {
    table.is_some_and(|t| t.inner().contains_key(name))
}

/// Every string header, for trace context extraction.
pub(crate) fn strings(table: Option<&FieldTable>) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    if let Some(table) = table {
        for (key, value) in table.inner() {
            if let AMQPValue::LongString(v) = value {
                out.insert(key.to_string(), v.to_string());
            }
        }
    }
    out
}

pub(crate) fn set_int(table: &mut FieldTable, name: &str, value: i64) {
    table.insert(name.into(), AMQPValue::LongLongInt(value));
}

pub(crate) fn set_string(table: &mut FieldTable, name: &str, value: &str) {
    table.insert(name.into(), AMQPValue::LongString(value.into()));
}

/// Removes RabbitMQ's dead-lettering history. A retry walks the same delay levels as the one
/// before it; with the history kept, RabbitMQ takes the second pass for a dead-letter cycle and
/// silently drops the message. Summit's own `x-attempts` carries the count instead.
pub(crate) fn forget_deaths(table: &mut FieldTable) {
    let inner = table.inner().clone();
    let mut kept = FieldTable::default();
    for (key, value) in inner {
        let name = key.as_str();
        let death = name == "x-death"
            || name.starts_with("x-first-death-")
            || name.starts_with("x-last-death-");
        if !death {
            kept.insert(key, value);
        }
    }
    *table = kept;
}
