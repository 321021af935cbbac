//! The gateway simulator (pagar.me v5 shape) for development: `make run` starts it on 8090
//! (`GATEWAY_SIM_ADDR` overrides). A dev and test server; production never runs it.

use payments::sim::{PORT, Simulator};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let _telemetry = telemetry::init("gateway-sim");
    let addr = std::env::var("GATEWAY_SIM_ADDR").unwrap_or_else(|_| format!("127.0.0.1:{PORT}"));
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    tracing::info!(addr = %listener.local_addr()?, "gateway simulator listening");
    Simulator::new().serve(listener).await?;
    Ok(())
}
