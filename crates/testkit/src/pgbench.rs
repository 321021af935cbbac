//! pgbench, the ceiling benches measure a service against: `script` run by `clients`
//! connections for `seconds` on `database_url`, its transactions per second read back.
//!
//! pgbench ships with Debian's postgresql-client (installed with PostgreSQL by
//! `deploy/local/servers.sh`). The script goes through a temporary file, removed afterwards.

use anyhow::Context;

/// Transactions per second pgbench reached running `script` (`-n -M simple -j 2`), each
/// `(name, value)` of `defines` passed as `-D name=value`.
pub fn tps(
    database_url: &str,
    script: &str,
    clients: usize,
    seconds: u32,
    defines: &[(&str, &str)],
) -> anyhow::Result<f64> {
    let path = std::env::temp_dir().join(format!("pgbench-{}.sql", uuid::Uuid::now_v7()));
    std::fs::write(&path, script)?;
    let mut command = std::process::Command::new("pgbench");
    command.args(["-n", "-M", "simple", "-j", "2"]).args([
        "-c",
        &clients.to_string(),
        "-T",
        &seconds.to_string(),
    ]);
    for (name, value) in defines {
        command.arg("-D").arg(format!("{name}={value}"));
    }
    let output = command.arg("-f").arg(&path).arg(database_url).output();
    let _ = std::fs::remove_file(&path);
    let output = output.context("running pgbench (Debian's postgresql-client)")?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    anyhow::ensure!(
        output.status.success(),
        "pgbench failed: {stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    parse_tps(&stdout).with_context(|| format!("no tps in pgbench's output: {stdout}"))
}

/// The `tps = …` figure of pgbench's report.
fn parse_tps(report: &str) -> Option<f64> {
    report
        .lines()
        .find_map(|line| line.trim().strip_prefix("tps = "))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
}

#[cfg(test)]
mod tests {
    use super::parse_tps;

    #[test]
    fn reads_the_tps_line_of_a_report() {
        let report = "number of failed transactions: 0 (0.000%)\nlatency average = 3.2 ms\n\
                      initial connection time = 12.1 ms\ntps = 4971.351622 (without initial connection time)\n";
        assert_eq!(parse_tps(report), Some(4971.351622));
        assert_eq!(parse_tps("pgbench: error: connection refused"), None);
    }
}
