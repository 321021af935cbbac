//! Which database failures are the message's business and which are the service's.
//!
//! A handler whose database is away must not spend the message's attempts: it answers
//! [`Outcome::Unavailable`] and the consumer pauses until the database answers again. Anything
//! else that fails in the database (a serialization failure, a deadlock, a constraint the
//! message trips) is the message's: [`Outcome::Retry`], counted against its attempts.

use bus::Outcome;

/// True when `error` means the database cannot be reached or cannot serve at all right now.
pub fn is_unavailable(error: &sqlx::Error) -> bool {
    match error {
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed
        | sqlx::Error::Protocol(_) => true,
        sqlx::Error::Database(db) => db.code().is_some_and(|code| {
            // 08: connection exception; 57P0x: shutting down / cannot connect now;
            // 53300: too many connections.
            code.starts_with("08") || code.starts_with("57P0") || code == "53300"
        }),
        _ => false,
    }
}

/// The outcome a handler answers for a database failure.
pub fn outcome_of(error: &sqlx::Error) -> Outcome {
    if is_unavailable(error) {
        Outcome::Unavailable(format!("database unavailable: {error}"))
    } else {
        Outcome::Retry(format!("database: {error}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connection_failures_pause_and_other_failures_retry() {
        assert!(matches!(
            outcome_of(&sqlx::Error::PoolTimedOut),
            Outcome::Unavailable(_)
        ));
        assert!(matches!(
            outcome_of(&sqlx::Error::Io(std::io::Error::from(
                std::io::ErrorKind::ConnectionRefused
            ))),
            Outcome::Unavailable(_)
        ));
        assert!(matches!(
            outcome_of(&sqlx::Error::RowNotFound),
            Outcome::Retry(_)
        ));
    }
}
