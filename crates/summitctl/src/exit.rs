//! Exit codes scripts can trust.
//!
//! | code | meaning |
//! |---|---|
//! | 0 | done (also: nothing matched, so nothing to do) |
//! | 1 | failed: the API refused or failed (its problem's detail printed), a service did not answer, some of a bulk retry failed, or the operator declined a confirmation |
//! | 2 | a usage error: bad arguments (clap), no selection where one is needed, a confirmation needed off a terminal without `--yes` |
//! | 130 | interrupted (Ctrl-C) during a bulk retry: run the same command again to resume |

use std::fmt;

/// An error that says which code the process exits with; any other error exits 1.
#[derive(Debug)]
pub enum Exit {
    Usage(String),
    Interrupted(String),
}

impl fmt::Display for Exit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Exit::Usage(message) | Exit::Interrupted(message) => f.write_str(message),
        }
    }
}

impl std::error::Error for Exit {}

pub fn usage(message: impl Into<String>) -> anyhow::Error {
    Exit::Usage(message.into()).into()
}

/// The process's exit code for `error`.
pub fn code(error: &anyhow::Error) -> u8 {
    match error.downcast_ref::<Exit>() {
        Some(Exit::Usage(_)) => 2,
        Some(Exit::Interrupted(_)) => 130,
        None => 1,
    }
}
