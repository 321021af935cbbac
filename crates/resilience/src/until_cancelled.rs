//! Keep trying until it works or the process is told to stop: the loop of a service waiting
//! for a dependency that is away at start (its database to migrate, its broker to connect to)
//! or restarting a worker that stopped on an error (a consumer).
//!
//! Unlike [`crate::Retry`], nothing but cancellation ends the attempts — no attempt or elapsed
//! limit, no budget — because the caller has nothing better to do meanwhile. Delays are the
//! workspace's [`Backoff`]; an error the caller does not call transient ends the loop at once.

use std::fmt::Display;
use std::future::Future;

use tokio_util::sync::CancellationToken;

use crate::Backoff;

/// Calls `call` until it succeeds (`Ok(Some(value))`), `cancel` fires (`Ok(None)`), or it fails
/// with an error `transient` refuses (`Err(error)`). After a transient error it logs `what`
/// with the error, and waits [`Backoff::delay`] for that attempt (1 = first retry) unless
/// `cancel` fires first.
///
/// Cancellation is checked before each call and during each wait, never during a call: a call
/// that should stop on shutdown (a consumer draining its in-flight work) watches the token
/// itself, and one that should be abandoned races it inside `call`.
pub async fn retry_until_cancelled<T, E, F, Fut>(
    what: &str,
    backoff: Backoff,
    cancel: &CancellationToken,
    mut call: F,
    transient: impl Fn(&E) -> bool,
) -> Result<Option<T>, E>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
    E: Display,
{
    let mut attempt = 0u32;
    loop {
        if cancel.is_cancelled() {
            return Ok(None);
        }
        match call().await {
            Ok(value) => return Ok(Some(value)),
            Err(error) if transient(&error) => {
                attempt = attempt.saturating_add(1);
                let delay = backoff.delay(attempt, None);
                tracing::warn!(%error, attempt, ?delay, "{what}; retrying");
                tokio::select! {
                    _ = cancel.cancelled() => return Ok(None),
                    _ = tokio::time::sleep(delay) => {}
                }
            }
            Err(error) => return Err(error),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;
    use std::time::Duration;

    use tokio::time::Instant;

    use super::*;
    use crate::Jitter;

    fn backoff() -> Backoff {
        Backoff::new(Duration::from_millis(100), Duration::from_millis(300))
            .with_jitter(Jitter::None)
    }

    /// Fails with `"away"` (transient) `failures` times, then answers the call count.
    fn flaky(calls: &Cell<u32>, failures: u32) -> impl Future<Output = Result<u32, String>> {
        calls.set(calls.get() + 1);
        let n = calls.get();
        async move {
            if n <= failures {
                Err("away".to_owned())
            } else {
                Ok(n)
            }
        }
    }

    /// [`retry_until_cancelled`] over [`flaky`], with `transient` deciding for `"away"`.
    async fn run(
        calls: &Cell<u32>,
        failures: u32,
        transient: bool,
        cancel: &CancellationToken,
    ) -> Result<Option<u32>, String> {
        retry_until_cancelled(
            "away",
            backoff(),
            cancel,
            || flaky(calls, failures),
            |_| transient,
        )
        .await
    }

    #[tokio::test(start_paused = true)]
    async fn retries_transient_errors_with_the_backoffs_delays_until_the_call_works() {
        let calls = Cell::new(0);
        let cancel = CancellationToken::new();
        let start = Instant::now();
        let got = run(&calls, 4, true, &cancel).await;
        assert_eq!(got, Ok(Some(5)));
        // 100 + 200 + 300 (capped) + 300 ms, the clock advanced only by the waits.
        assert_eq!(start.elapsed(), Duration::from_millis(900));
    }

    #[tokio::test(start_paused = true)]
    async fn an_error_that_is_not_transient_ends_it_at_once() {
        let calls = Cell::new(0);
        let cancel = CancellationToken::new();
        let got = run(&calls, 4, false, &cancel).await;
        assert_eq!(got, Err("away".to_owned()));
        assert_eq!(calls.get(), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn cancellation_ends_the_wait_and_no_call_follows() {
        let calls = Cell::new(0);
        let cancel = CancellationToken::new();
        let stop = cancel.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(150)).await;
            stop.cancel();
        });
        let start = Instant::now();
        let got = run(&calls, u32::MAX, true, &cancel).await;
        assert_eq!(got, Ok(None));
        // Calls at 0 and 100 ms; cancelled at 150 ms, in the middle of the 200 ms wait.
        assert_eq!(calls.get(), 2);
        assert_eq!(start.elapsed(), Duration::from_millis(150));

        let got = run(&calls, 0, true, &cancel).await;
        assert_eq!(got, Ok(None), "an already cancelled token: no call at all");
        assert_eq!(calls.get(), 2);
    }
}
