//! The one line a service prints on stdout once its listener is bound, so whoever started it
//! with `PORT=0` (the platform tests) learns the port the system picked — no free port guessed
//! ahead, released, and raced for.

use std::io::Write;
use std::net::SocketAddr;

use serde::{Deserialize, Serialize};

/// `{"listening":"127.0.0.1:43121","service":"catalog"}`: one JSON object on a line of its own,
/// so it reads the same beside text logs and among `LOG_FORMAT=json` ones.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Listening {
    /// The address the listener is bound to, its real port included.
    pub listening: SocketAddr,
    /// The service that bound it.
    pub service: String,
}

impl Listening {
    /// The announcement as a line (without the newline).
    pub fn line(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    /// The announcement on `line`, if that is what it holds (log lines are not).
    pub fn parse(line: &str) -> Option<Self> {
        serde_json::from_str(line.trim()).ok()
    }

    /// Writes the line to stdout and flushes it. A closed stdout is no reason to stop serving:
    /// it is logged, not raised.
    pub fn announce(&self) {
        let mut stdout = std::io::stdout().lock();
        if let Err(error) = writeln!(stdout, "{}", self.line()).and_then(|()| stdout.flush()) {
            tracing::warn!(%error, "could not announce the listening address on stdout");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_line_parses_back_and_log_lines_do_not() {
        let listening = Listening {
            listening: "127.0.0.1:43121".parse().unwrap(),
            service: "catalog".into(),
        };
        assert_eq!(
            listening.line(),
            r#"{"listening":"127.0.0.1:43121","service":"catalog"}"#
        );
        assert_eq!(Listening::parse(&listening.line()), Some(listening));
        assert_eq!(
            Listening::parse("2026-01-01T00:00:00Z  INFO service_kit::runtime: listening"),
            None
        );
        assert_eq!(
            Listening::parse(r#"{"level":"INFO","fields":{"message":"listening"}}"#),
            None
        );
    }
}
