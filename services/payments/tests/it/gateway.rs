//! The pagar.me adapter against the simulator: the test cards, idempotency by key, lookups,
//! cancels, and each injected fault as the adapter sees it.

use std::time::Duration;

use payments::gateway::{ChargeRequest, ChargeStatus, Gateway, GatewayError, PagarMe};
use payments::payment::Status;
use resilience::{Policy, PolicyError};
use secrecy::SecretString;
use serde_json::json;
use uuid::Uuid;

use crate::helpers::{DECLINED, PAID, PROCESSING, Sim};

fn request(token: &str) -> ChargeRequest {
    let order = Uuid::now_v7();
    ChargeRequest {
        code: order.to_string(),
        amount_minor: 12_345,
        currency: "BRL".into(),
        customer_name: "Maria Silva".into(),
        customer_email: "maria@example.com".into(),
        card_token: SecretString::from(token.to_owned()),
        idempotency_key: payments::gateway::charge_key(order),
    }
}

#[tokio::test]
async fn the_approved_card_is_paid_and_charged_once() -> anyhow::Result<()> {
    let sim = Sim::start().await?;
    let charge = request(&sim.token(PAID).await?);
    let paid = sim.pagarme()?.charge(&charge).await?;
    assert_eq!(paid.status, ChargeStatus::Paid);
    assert_eq!(paid.status.ours(), Status::Completed);
    assert!(paid.charge_id.starts_with("ch_"), "{paid:?}");
    assert_eq!(sim.charges(&charge.code).await?, 1);
    Ok(())
}

#[tokio::test]
async fn the_refused_card_fails() -> anyhow::Result<()> {
    let sim = Sim::start().await?;
    let charge = request(&sim.token(DECLINED).await?);
    let failed = sim.pagarme()?.charge(&charge).await?;
    assert_eq!(failed.status, ChargeStatus::Failed);
    assert_eq!(failed.status.ours(), Status::Declined);
    assert_eq!(failed.response_code.as_deref(), Some("05"));
    Ok(())
}

#[tokio::test]
async fn the_slow_card_is_processing_then_paid_when_looked_up() -> anyhow::Result<()> {
    let sim = Sim::start().await?;
    let gateway = sim.pagarme()?;
    let charge = request(&sim.token(PROCESSING).await?);
    let first = gateway.charge(&charge).await?;
    assert_eq!(first.status, ChargeStatus::Processing);
    let later = gateway
        .find_by_code(&charge.code)
        .await?
        .ok_or_else(|| anyhow::anyhow!("not found"))?;
    assert_eq!(later.charge_id, first.charge_id);
    assert_eq!(later.status, ChargeStatus::Paid);
    assert_eq!(
        gateway.find_by_code(&Uuid::now_v7().to_string()).await?,
        None
    );
    Ok(())
}

#[tokio::test]
async fn the_same_idempotency_key_answers_the_first_charge_again() -> anyhow::Result<()> {
    let sim = Sim::start().await?;
    let gateway = sim.pagarme()?;
    let charge = request(&sim.token(PAID).await?);
    let first = gateway.charge(&charge).await?;
    let again = gateway.charge(&charge).await?;
    assert_eq!(first, again);
    assert_eq!(sim.charges(&charge.code).await?, 1);
    Ok(())
}

#[tokio::test]
async fn a_cancel_voids_the_charge_once() -> anyhow::Result<()> {
    let sim = Sim::start().await?;
    let gateway = sim.pagarme()?;
    let charge = request(&sim.token(PAID).await?);
    let paid = gateway.charge(&charge).await?;
    let key = format!("void-{}", charge.code);
    let cancelled = gateway.cancel(&paid.charge_id, &key).await?;
    assert_eq!(cancelled.status, ChargeStatus::Canceled);
    assert_eq!(cancelled.status.ours(), Status::Voided);
    assert_eq!(gateway.cancel(&paid.charge_id, &key).await?, cancelled);
    Ok(())
}

#[tokio::test]
async fn a_wrong_secret_key_or_unknown_token_is_our_error() -> anyhow::Result<()> {
    let sim = Sim::start().await?;
    let wrong = PagarMe::new(sim.base(), SecretString::from("pk_not_secret".to_owned()))?;
    let charge = request(&sim.token(PAID).await?);
    match wrong.charge(&charge).await {
        Err(GatewayError::Status { status: 401, .. }) => {}
        other => anyhow::bail!("expected 401, got {other:?}"),
    }
    match sim.pagarme()?.charge(&request("token_unknown")).await {
        Err(GatewayError::Status { status: 422, .. }) => {}
        other => anyhow::bail!("expected 422, got {other:?}"),
    }
    assert_eq!(sim.charges(&charge.code).await?, 0);
    Ok(())
}

#[tokio::test]
async fn injected_faults_reach_the_adapter_as_transient_errors() -> anyhow::Result<()> {
    let sim = Sim::start().await?;
    let gateway = sim.pagarme()?;
    let charge = request(&sim.token(PAID).await?);

    sim.faults(json!({ "outage": true })).await?;
    match gateway.charge(&charge).await {
        Err(GatewayError::Status { status: 503, .. }) => {}
        other => anyhow::bail!("expected 503, got {other:?}"),
    }
    sim.faults(json!({ "error_rate": 1.0, "seed": 7 })).await?;
    match gateway.charge(&charge).await {
        Err(GatewayError::Status { status: 500, .. }) => {}
        other => anyhow::bail!("expected 500, got {other:?}"),
    }
    sim.faults(json!({ "rate_limit_per_s": 1 })).await?;
    let mut limited = None;
    for _ in 0..3 {
        if let Err(GatewayError::Status {
            status: 429,
            retry_after,
            ..
        }) = gateway.find_by_code(&charge.code).await
        {
            limited = retry_after;
        }
    }
    assert_eq!(limited.as_deref(), Some("1"), "429 with Retry-After");
    assert_eq!(sim.charges(&charge.code).await?, 0, "no fault charged");

    sim.clear_faults().await?;
    assert_eq!(gateway.charge(&charge).await?.status, ChargeStatus::Paid);
    Ok(())
}

#[tokio::test]
async fn latency_beyond_the_timeout_is_a_timeout_of_the_policy() -> anyhow::Result<()> {
    let sim = Sim::start().await?;
    let gateway = sim.pagarme()?;
    sim.faults(json!({ "latency_ms": 2000 })).await?;
    let policy = Policy::builder("test")
        .timeout(Duration::from_millis(100))
        .build();
    let code = Uuid::now_v7().to_string();
    let result = policy.call(|| gateway.find_by_code(&code)).await;
    assert!(matches!(result, Err(PolicyError::Timeout(_))), "{result:?}");
    Ok(())
}

/// `https://` gateways are spoken to over TLS (reqwest with rustls): against a server that is not
/// TLS the call fails in the handshake, not for an unsupported scheme as a TLS-less client does.
#[tokio::test]
async fn an_https_gateway_is_reached_over_tls() -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            use tokio::io::AsyncWriteExt;
            let _ = socket.write_all(b"HTTP/1.1 400 Not TLS\r\n\r\n").await;
        }
    });
    let gateway = PagarMe::new(
        format!("https://{addr}/core/v5"),
        SecretString::from("sk_test_summit".to_owned()),
    )?;
    let error = gateway.find_by_code("any").await.unwrap_err();
    let GatewayError::Unreachable(message) = error else {
        panic!("a TLS failure is no answer: {error:?}");
    };
    // rustls read the plain-HTTP answer as a TLS record: the handshake was attempted.
    assert!(message.contains("InvalidContentType"), "{message}");
    assert!(!message.contains("scheme"), "{message}");
    Ok(())
}
