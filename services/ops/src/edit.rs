//! Edit-and-retry: an operator's corrected body, checked against the message's contract before
//! anything changes.
//!
//! Invariants: an edited body is accepted only when it decodes as the message it claims to be
//! (`contracts::message::decode_body`: an envelope, a known type, a supported version and a
//! payload of that type), keeps the parked message's id (the consumer's inbox must still know
//! it), its type (an edit corrects a message; it does not send a different one) and its
//! tenant (an operator's edit never moves a message into another store's data), and differs
//! from what is parked. This is the one place edits are validated: the CLI only sends.
//! Storing the audit, replacing the body and publishing happen in [`crate::retry`].

use contracts::RawEnvelope;
use contracts::message::DecodeError;
use serde_json::Value;

use crate::store::Row;

/// Why an edit is refused: the field at fault and what it must be.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {reason}")]
pub struct Invalid {
    pub field: &'static str,
    pub reason: String,
}

fn invalid(field: &'static str, reason: impl Into<String>) -> Invalid {
    Invalid {
        field,
        reason: reason.into(),
    }
}

fn moved_tenant() -> Invalid {
    invalid(
        "body.tenant_id",
        "must stay the same store (an edit never moves a message to another tenant)",
    )
}

/// Whether `document` names a tenant other than the parked message's.
fn tenant_moved(row: &Row, document: &Value) -> bool {
    row.tenant_id.is_some_and(|tenant| {
        document.get("tenant_id").and_then(Value::as_str) != Some(tenant.to_string().as_str())
    })
}

/// An edit that passed: the envelope and the bytes to publish.
#[derive(Debug, Clone, PartialEq)]
pub struct Edited {
    pub envelope: RawEnvelope,
    pub body: Vec<u8>,
}

/// Checks `edited` — the new body as JSON, or as text (a JSON string holding the document, the
/// way an editor's file arrives) — against `row`'s message.
pub fn validate(row: &Row, edited: &Value) -> Result<Edited, Invalid> {
    let document: Value = match edited {
        Value::String(text) => {
            serde_json::from_str(text).map_err(|e| invalid("body", format!("not JSON: {e}")))?
        }
        other => other.clone(),
    };
    let body = serde_json::to_vec(&document).expect("a JSON value always serializes");
    let (envelope, _message) = contracts::message::decode_body(&body).map_err(|e| match e {
        DecodeError::TenantMismatch { .. } if tenant_moved(row, &document) => moved_tenant(),
        DecodeError::TenantMismatch { .. } => invalid(
            "body.payload.store_id",
            format!("must be the envelope's tenant: {e}"),
        ),
        _ => invalid("body", format!("does not match the contract: {e}")),
    })?;
    if envelope.id.to_string() != row.message_id {
        return Err(invalid(
            "body.id",
            format!(
                "must stay {} (a retry keeps the message id)",
                row.message_id
            ),
        ));
    }
    if let Some(kind) = row.message_type.as_deref()
        && envelope.kind != kind
    {
        return Err(invalid("body.type", format!("must stay {kind}")));
    }
    if row.tenant_id.is_some() && envelope.tenant_id != row.tenant_id {
        return Err(moved_tenant());
    }
    let unchanged = serde_json::from_slice::<Value>(&row.body).is_ok_and(|was| was == document);
    if unchanged {
        return Err(invalid(
            "body",
            "unchanged: retry the message instead of editing it",
        ));
    }
    Ok(Edited { envelope, body })
}

#[cfg(test)]
mod tests {
    use super::*;
    use contracts::payments::{Charge, Customer};
    use contracts::{Envelope, RawEnvelope};
    use uuid::Uuid;

    fn charge() -> RawEnvelope {
        let store = Uuid::now_v7();
        Envelope::new(
            Some(store),
            Charge {
                order_id: Uuid::now_v7(),
                store_id: store,
                amount_minor: 100,
                currency: "BRL".into(),
                customer: Customer {
                    email: "a@example.com".into(),
                    name: None,
                },
                payment_token: "tok".into(),
            },
        )
        .into_raw()
    }

    fn row(raw: &RawEnvelope) -> Row {
        let body = raw.to_vec();
        Row {
            message_id: raw.id.to_string(),
            queue: "payments.commands".into(),
            message_type: Some(raw.kind.clone()),
            tenant_id: raw.tenant_id,
            correlation_id: None,
            body_text: String::from_utf8_lossy(&body).into_owned(),
            body,
            headers: Value::Null,
            error: None,
            error_kind: None,
            attempts: None,
            first_seen: chrono::Utc::now(),
            last_seen: chrono::Utc::now(),
            failure_count: 1,
            deliveries: 1,
            status: "parked".into(),
            status_at: chrono::Utc::now(),
            retried_at: None,
            retry_count: 0,
            history: Value::Null,
        }
    }

    #[test]
    fn an_edit_that_keeps_the_contract_passes_as_json_or_text() {
        let raw = charge();
        let mut edited = serde_json::to_value(&raw).unwrap();
        edited["payload"]["payment_token"] = "tok_fixed".into();
        let ok = validate(&row(&raw), &edited).unwrap();
        assert_eq!(ok.envelope.payload["payment_token"], "tok_fixed");
        let as_text = validate(&row(&raw), &Value::String(edited.to_string())).unwrap();
        assert_eq!(as_text.body, ok.body);
    }

    #[test]
    fn edits_that_break_the_contract_or_the_identity_are_refused() {
        let raw = charge();
        let parked = row(&raw);
        let with = |f: &dyn Fn(&mut Value)| {
            let mut v = serde_json::to_value(&raw).unwrap();
            f(&mut v);
            validate(&parked, &v).unwrap_err()
        };
        let e = with(&|v| v["payload"]["amount_minor"] = "lots".into());
        assert_eq!(e.field, "body");
        assert!(
            e.reason.contains("amount_minor") || e.reason.contains("payload"),
            "{e}"
        );
        assert_eq!(
            with(&|v| v["id"] = Uuid::now_v7().to_string().into()).field,
            "body.id"
        );
        assert_eq!(with(&|v| v["type"] = "payments.void".into()).field, "body");
        assert_eq!(
            with(&|v| v["tenant_id"] = Uuid::now_v7().to_string().into()).field,
            "body.tenant_id"
        );
        assert_eq!(
            with(&|v| v["payload"]["store_id"] = Uuid::now_v7().to_string().into()).field,
            "body.payload.store_id"
        );
        assert_eq!(with(&|v| v["version"] = 9.into()).field, "body");
        assert!(with(&|_| {}).reason.starts_with("unchanged"));
        let not_json = validate(&parked, &Value::String("{oops".into())).unwrap_err();
        assert!(not_json.reason.starts_with("not JSON"), "{not_json}");
    }
}
