//! Catalog's events (on `catalog.events`) and the stock commands it takes.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::exchanges::CATALOG_EVENTS;

/// A store came to be. Carries the admin key's hash (never the key) so every service can
/// authenticate the store's admin without calling catalog. `version` is the store's version
/// (1 at creation), the same counter [`StoreUpdated`] carries: events of one store may arrive
/// out of order, and a consumer keeps the highest version it has applied.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoreCreated {
    pub store_id: Uuid,
    pub slug: String,
    pub name: String,
    pub contact_email: String,
    pub temporary_domain: String,
    pub admin_key_hash: String,
    /// The language shoppers and the merchant are addressed in (BCP 47: `pt-BR`, `en`).
    /// Absent in events written before it existed: consumers keep their default (`pt-BR`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub language: Option<String>,
    /// Absent in events written before it existed: those were the first version.
    #[serde(default = "first_version")]
    pub version: i64,
}

fn first_version() -> i64 {
    1
}
contract!(StoreCreated, event "catalog.StoreCreated" on CATALOG_EVENTS);

/// A store's settings changed; the full current state, with a version that only grows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoreUpdated {
    pub store_id: Uuid,
    pub slug: String,
    pub name: String,
    pub temporary_domain: String,
    pub custom_domain: Option<String>,
    pub logo_url: Option<String>,
    pub admin_key_hash: String,
    /// As in [`StoreCreated`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub language: Option<String>,
    pub version: i64,
}
contract!(StoreUpdated, event "catalog.StoreUpdated" on CATALOG_EVENTS);

/// The full current state of a product; consumers drop it when `version` is not newer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProductUpserted {
    pub product_id: Uuid,
    pub store_id: Uuid,
    pub sku: String,
    pub name: String,
    pub description: String,
    pub price_minor: i64,
    pub currency: String,
    pub active: bool,
    pub version: i64,
}
contract!(ProductUpserted, event "catalog.ProductUpserted" on CATALOG_EVENTS);

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProductDeleted {
    pub product_id: Uuid,
    pub store_id: Uuid,
    pub version: i64,
}
contract!(ProductDeleted, event "catalog.ProductDeleted" on CATALOG_EVENTS);

/// One line of an order as stock sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StockLine {
    pub product_id: Uuid,
    pub quantity: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StockReserved {
    pub order_id: Uuid,
    pub store_id: Uuid,
    pub lines: Vec<StockLine>,
}
contract!(StockReserved, event "catalog.StockReserved" on CATALOG_EVENTS);

/// Nothing was reserved: at least one line could not be met.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StockReservationRejected {
    pub order_id: Uuid,
    pub store_id: Uuid,
    pub reason: String,
    /// The lines that could not be met.
    pub unavailable: Vec<StockLine>,
}
contract!(StockReservationRejected, event "catalog.StockReservationRejected" on CATALOG_EVENTS);

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StockReleased {
    pub order_id: Uuid,
    pub store_id: Uuid,
}
contract!(StockReleased, event "catalog.StockReleased" on CATALOG_EVENTS);

/// Reserve every line of an order, or none. Idempotent by `order_id`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReserveStock {
    pub order_id: Uuid,
    pub store_id: Uuid,
    pub lines: Vec<StockLine>,
}
contract!(ReserveStock, command "catalog.reserve-stock");

/// Give an order's reservation back to the shelf.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReleaseStock {
    pub order_id: Uuid,
    pub store_id: Uuid,
}
contract!(ReleaseStock, command "catalog.release-stock");

/// The order is paid: its reservation becomes a sale.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CommitStock {
    pub order_id: Uuid,
    pub store_id: Uuid,
}
contract!(CommitStock, command "catalog.commit-stock");

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn store_created_carries_a_version_and_old_events_read_as_the_first() {
        let old = serde_json::json!({
            "store_id": Uuid::nil(), "slug": "s", "name": "S", "contact_email": "a@b.c",
            "temporary_domain": "s.summit.test", "admin_key_hash": "h"
        });
        let decoded: StoreCreated = serde_json::from_value(old).expect("an old StoreCreated");
        assert_eq!(decoded.version, 1);
        let newer = StoreCreated {
            language: None,
            version: 7,
            ..decoded
        };
        let round: StoreCreated =
            serde_json::from_value(serde_json::to_value(&newer).expect("serializes"))
                .expect("decodes");
        assert_eq!(round.version, 7);
    }
}
