use contracts::message::{KNOWN_TYPES, decode_body};
use serde_json::Value;

fn fixture(kind: &str) -> Vec<u8> {
    let path = format!("{}/tests/fixtures/{kind}.json", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("fixture {path}: {e}"))
}

/// Decodes the fixture, re-encodes the typed payload, and expects the same JSON back.
fn round_trip(kind: &str) {
    let body = fixture(kind);
    let original: Value = serde_json::from_slice(&body).unwrap();
    let (envelope, message) = decode_body(&body).unwrap_or_else(|e| panic!("{kind}: {e}"));
    assert_eq!(message.kind(), kind);
    assert_eq!(envelope.kind, kind);

    let reencoded = serde_json::to_value(&envelope).unwrap();
    assert_eq!(reencoded, original, "{kind} does not round-trip");

    // A newer producer may add fields: older consumers must still decode the message.
    let mut extended = original.clone();
    extended["payload"]["added_in_a_later_minor"] = Value::from("ignored");
    extended["added_to_the_envelope"] = Value::from(true);
    let (_, again) = decode_body(&serde_json::to_vec(&extended).unwrap()).unwrap();
    assert_eq!(again, message, "{kind} does not tolerate unknown fields");
}

macro_rules! round_trips {
    ($($test:ident => $kind:literal),* $(,)?) => {
        $(#[test] fn $test() { round_trip($kind); })*

        #[test]
        fn every_known_type_has_a_round_trip_test() {
            let tested = [$($kind),*];
            for kind in KNOWN_TYPES {
                assert!(tested.contains(kind), "{kind} has no fixture test");
            }
        }
    };
}

round_trips! {
    store_created => "catalog.StoreCreated",
    store_updated => "catalog.StoreUpdated",
    product_upserted => "catalog.ProductUpserted",
    product_deleted => "catalog.ProductDeleted",
    stock_reserved => "catalog.StockReserved",
    stock_reservation_rejected => "catalog.StockReservationRejected",
    stock_released => "catalog.StockReleased",
    reserve_stock => "catalog.reserve-stock",
    release_stock => "catalog.release-stock",
    commit_stock => "catalog.commit-stock",
    order_placed => "checkout.OrderPlaced",
    order_confirmed => "checkout.OrderConfirmed",
    order_cancelled => "checkout.OrderCancelled",
    payment_authorized => "payments.PaymentAuthorized",
    payment_completed => "payments.PaymentCompleted",
    payment_declined => "payments.PaymentDeclined",
    payment_failed => "payments.PaymentFailed",
    payment_pending_offline => "payments.PaymentPendingOffline",
    payment_voided => "payments.PaymentVoided",
    charge => "payments.charge",
    void => "payments.void",
    notification_sent => "notifications.NotificationSent",
    notification_failed => "notifications.NotificationFailed",
    send_email => "notifications.send-email",
    send_webhook => "notifications.send-webhook",
}
