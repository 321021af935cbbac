use contracts::catalog::StockReleased;
use contracts::message::{DecodeError, decode_body, decode_typed};
use contracts::{Contract, Destination, Envelope, Message};
use uuid::Uuid;

fn released() -> Envelope<StockReleased> {
    let store = Uuid::now_v7();
    Envelope::new(
        Some(store),
        StockReleased {
            order_id: Uuid::now_v7(),
            store_id: store,
        },
    )
}

#[test]
fn a_new_envelope_carries_the_contract_identity() {
    let envelope = released();
    assert_eq!(envelope.kind, "catalog.StockReleased");
    assert_eq!(envelope.version, StockReleased::VERSION);
    assert_eq!(envelope.id.get_version_num(), 7);
    assert_eq!(
        StockReleased::DESTINATION,
        Destination::Event {
            exchange: "catalog.events"
        }
    );
}

#[test]
fn typed_and_raw_envelopes_agree() {
    let envelope = released();
    let raw = envelope.clone().into_raw();
    let typed = decode_typed::<StockReleased>(&raw).unwrap();
    assert_eq!(typed, envelope);
    let (_, message) = decode_body(&raw.to_vec()).unwrap();
    assert_eq!(message, Message::StockReleased(envelope.payload));
}

#[test]
fn causation_inherits_the_correlation_id() {
    let order = Uuid::now_v7();
    let cause = released().correlated(order);
    let effect = released().caused_by(&cause);
    assert_eq!(effect.causation_id, Some(cause.id));
    assert_eq!(effect.correlation_id, Some(order));
}

#[test]
fn a_body_that_is_not_an_envelope_is_malformed() {
    let err = decode_body(b"{not json").unwrap_err();
    assert!(matches!(err, DecodeError::Malformed(_)));
    assert_eq!(err.kind(), "malformed");
    let err = decode_body(br#"{"id": "x"}"#).unwrap_err();
    assert!(matches!(err, DecodeError::Malformed(_)));
}

#[test]
fn an_unknown_type_says_which() {
    let mut raw = released().into_raw();
    raw.kind = "catalog.Teleported".into();
    let err = decode_body(&raw.to_vec()).unwrap_err();
    assert_eq!(err, DecodeError::UnknownType("catalog.Teleported".into()));
    assert_eq!(err.kind(), "unknown-type");
}

#[test]
fn an_unknown_major_version_is_refused() {
    let mut raw = released().into_raw();
    raw.version = 2;
    let err = decode_body(&raw.to_vec()).unwrap_err();
    assert_eq!(err.kind(), "unsupported-version");
}

#[test]
fn a_payload_missing_a_field_is_malformed_and_named() {
    let mut raw = released().into_raw();
    raw.payload.as_object_mut().unwrap().remove("order_id");
    let err = decode_body(&raw.to_vec()).unwrap_err();
    match err {
        DecodeError::Malformed(reason) => assert!(reason.contains("order_id"), "{reason}"),
        other => panic!("expected malformed, got {other:?}"),
    }
}

#[test]
fn a_payload_naming_another_tenant_s_store_is_refused() {
    let mut raw = released().into_raw();
    let other = Uuid::now_v7();
    raw.payload["store_id"] = serde_json::json!(other);
    let err = decode_body(&raw.to_vec()).unwrap_err();
    assert_eq!(err.kind(), "tenant-mismatch");
    assert!(err.to_string().contains(&other.to_string()), "{err}");
    // Nor is an envelope whose store id is no id at all let through as some other store's.
    raw.payload["store_id"] = serde_json::json!("not-a-uuid");
    assert_eq!(
        decode_body(&raw.to_vec()).unwrap_err().kind(),
        "tenant-mismatch"
    );
    // A platform message (no tenant) is not a tenant's: nothing to compare.
    let mut platform = released().into_raw();
    platform.tenant_id = None;
    assert!(decode_body(&platform.to_vec()).is_ok());
}
