//! How summitctl prints: comfy-table tables, colors only when stdout is a terminal (and
//! `NO_COLOR` is unset), JSON values as cells.

use comfy_table::{Cell, Color, ContentArrangement, Table};
use serde_json::Value;

/// A JSON value as a table cell: strings bare, null as `-`.
pub fn text(value: &Value) -> String {
    match value {
        Value::Null => "-".to_owned(),
        Value::String(s) => s.clone(),
        Value::Array(items) => items.iter().map(text).collect::<Vec<_>>().join(", "),
        other => other.to_string(),
    }
}

/// The first line of a text value.
pub fn first_line(value: &Value) -> String {
    text(value).lines().next().unwrap_or_default().to_owned()
}

/// A table with a header. comfy-table styles cells only when stdout is a terminal; `NO_COLOR`
/// turns styling off there too.
pub fn table(header: &[&str]) -> Table {
    let mut table = Table::new();
    table
        .load_preset(comfy_table::presets::UTF8_FULL_CONDENSED)
        .set_content_arrangement(ContentArrangement::Dynamic)
        .set_header(header.to_vec());
    if std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty()) {
        table.force_no_tty();
    }
    // A terminal that reports no real width (a pty without a size) would squeeze every column
    // to a letter: lay the table out at its natural width instead.
    if table.width().is_some_and(|width| width < 40) {
        table.set_content_arrangement(ContentArrangement::Disabled);
    }
    table
}

/// A cell colored by what its word means (failure states red/yellow, done green).
pub fn status_cell(status: &str) -> Cell {
    let color = match status {
        "parked" | "unreachable" | "no consumer" => Some(Color::Yellow),
        "retried" | "ok" => Some(Color::Green),
        "discarded" => Some(Color::DarkGrey),
        "failed" | "error" => Some(Color::Red),
        _ => None,
    };
    let cell = Cell::new(status);
    match color {
        Some(color) => cell.fg(color),
        None => cell,
    }
}

/// A count that is bad news when it is not zero.
pub fn alarm_cell(count: &Value) -> Cell {
    let cell = Cell::new(text(count));
    if count.as_f64().is_some_and(|n| n > 0.0) {
        cell.fg(Color::Red)
    } else {
        cell
    }
}
