//! The gateway simulator (pagar.me v5 shape) for development: `make run` starts it on 8090
//! (`GATEWAY_SIM_ADDR` overrides; port 0 picks a free one, announced on stdout as the services do). A dev and test server; production never runs it.

use payments::sim::{PORT, Simulator};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let _telemetry = telemetry::init("gateway-sim");
    let addr = std::env::var("GATEWAY_SIM_ADDR").unwrap_or_else(|_| format!("127.0.0.1:{PORT}"));
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    let addr = listener.local_addr()?;
    tracing::info!(%addr, "gateway simulator listening");
    // The line a starter of `GATEWAY_SIM_ADDR=127.0.0.1:0` reads the port from, as it does
    // for the services (the platform tests).
    service_kit::Listening {
        listening: addr,
        service: "gateway-sim".to_owned(),
    }
    .announce();
    Simulator::new().serve(listener).await?;
    Ok(())
}
