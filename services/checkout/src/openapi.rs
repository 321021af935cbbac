//! `GET /openapi.json`: the whole API in OpenAPI 3.1, hand-maintained like catalog's; the
//! `openapi` integration test checks that every documented operation is served.

use axum::Json;
use serde_json::{Value, json};

pub async fn serve() -> Json<Value> {
    Json(document())
}

fn problem(description: &str) -> Value {
    json!({"description": description, "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}})
}

fn ok(description: &str, schema: &str) -> Value {
    json!({"description": description, "content": {"application/json": {"schema": {"$ref": format!("#/components/schemas/{schema}")}}}})
}

pub fn document() -> Value {
    let admin = json!([{"adminKey": []}]);
    let order_id = json!({"name": "id", "in": "path", "required": true, "schema": {"type": "string", "format": "uuid"}});
    let lang = json!({"name": "lang", "in": "query", "required": false, "schema": {"type": "string", "enum": ["pt", "en"]}, "description": "Language of `reason_message` (else Accept-Language, else the store's)."});
    let status = json!({"type": "string", "enum": ["pending", "reserved", "awaiting_payment", "confirmed", "cancelled"]});
    let reason = json!({"type": ["string", "null"], "enum": ["out_of_stock", "payment_declined", "payment_failed", "expired", null]});
    json!({
        "openapi": "3.1.0",
        "info": {"title": "Summit checkout", "version": "1.0.0",
                 "description": "Guest orders, the order saga, and their status."},
        "paths": {
            "/stores/{slug}/orders": {"post": {
                "operationId": "placeOrder",
                "summary": "Place an order (prices come from checkout's read model)",
                "parameters": [
                    {"name": "slug", "in": "path", "required": true, "schema": {"type": "string"}},
                    {"name": "Idempotency-Key", "in": "header", "required": true, "schema": {"type": "string", "maxLength": 255},
                     "description": "A repeat with the same request answers the first result; with another request, 422 `idempotency-key-reused`."}
                ],
                "requestBody": {"required": true, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/NewOrder"}}}},
                "responses": {
                    "202": ok("Accepted, pending", "Placed"),
                    "400": problem("Malformed JSON or no Idempotency-Key"),
                    "404": problem("Unknown store"),
                    "413": problem("Body over 64 KiB"),
                    "415": problem("Not JSON"),
                    "422": problem("A field breaks a rule (named, e.g. lines[2].quantity), or the key was reused"),
                    "503": problem("Temporarily unavailable (Retry-After)")
                }
            }},
            "/orders/{id}": {"get": {
                "operationId": "getOrder",
                "summary": "An order's status, for whoever holds its token",
                "parameters": [order_id.clone(),
                    {"name": "token", "in": "query", "required": true, "schema": {"type": "string"}}, lang.clone()],
                "responses": {"200": ok("The order", "Order"), "404": problem("Unknown order or wrong token")}
            }},
            "/admin/orders": {"get": {
                "operationId": "listOrders",
                "summary": "The store's orders, newest first",
                "security": admin.clone(),
                "parameters": [
                    {"name": "status", "in": "query", "required": false, "schema": status.clone()},
                    {"name": "from", "in": "query", "required": false, "schema": {"type": "string", "format": "date-time"}},
                    {"name": "to", "in": "query", "required": false, "schema": {"type": "string", "format": "date-time"}},
                    {"name": "cursor", "in": "query", "required": false, "schema": {"type": "string"}},
                    {"name": "limit", "in": "query", "required": false, "schema": {"type": "integer", "minimum": 1, "maximum": 100, "default": 20}}
                ],
                "responses": {"200": ok("A page", "OrderPage"), "401": problem("Missing or invalid admin key"), "422": problem("A bad filter")}
            }},
            "/admin/orders/{id}": {"get": {
                "operationId": "getAdminOrder",
                "summary": "One of the store's orders, with customer, lines and timeline",
                "security": admin,
                "parameters": [order_id, lang],
                "responses": {"200": ok("The order", "Order"), "401": problem("Missing or invalid admin key"), "404": problem("Unknown, or another store's")}
            }},
            "/openapi.json": {"get": {"operationId": "openapi", "summary": "This document",
                "responses": {"200": {"description": "OpenAPI 3.1"}}}}
        },
        "components": {
            "securitySchemes": {"adminKey": {"type": "http", "scheme": "bearer"}},
            "schemas": {
                "NewOrder": {"type": "object", "additionalProperties": false,
                    "required": ["lines", "customer", "shipping_address", "payment"],
                    "properties": {
                        "lines": {"type": "array", "minItems": 1, "maxItems": 100, "items": {
                            "type": "object", "additionalProperties": false, "required": ["product_id", "quantity"],
                            "properties": {"product_id": {"type": "string", "format": "uuid"},
                                           "quantity": {"type": "integer", "minimum": 1, "maximum": 1000}}}},
                        "customer": {"type": "object", "additionalProperties": false, "required": ["name", "email"],
                            "properties": {"name": {"type": "string"}, "email": {"type": "string", "format": "email"}}},
                        "shipping_address": {"type": "object", "additionalProperties": false,
                            "required": ["line1", "city", "postal_code", "country"],
                            "properties": {"line1": {"type": "string"}, "line2": {"type": "string"}, "city": {"type": "string"},
                                           "state": {"type": "string"}, "postal_code": {"type": "string"},
                                           "country": {"type": "string", "pattern": "^[A-Z]{2}$"}}},
                        "payment": {"type": "object", "additionalProperties": false, "required": ["card_token"],
                            "properties": {"card_token": {"type": "string", "description": "A gateway card token; never a card number."}}}
                    }},
                "Placed": {"type": "object", "required": ["order_id", "status", "status_url", "token"],
                    "properties": {"order_id": {"type": "string", "format": "uuid"}, "status": {"const": "pending"},
                                   "status_url": {"type": "string"}, "token": {"type": "string"}}},
                "Order": {"type": "object",
                    "required": ["id", "store_id", "status", "reason", "reason_message", "lines", "total_minor", "currency", "created_at", "timeline"],
                    "properties": {
                        "id": {"type": "string", "format": "uuid"}, "store_id": {"type": "string", "format": "uuid"},
                        "status": status, "reason": reason, "reason_message": {"type": ["string", "null"]},
                        "lines": {"type": "array", "items": {"type": "object", "properties": {
                            "product_id": {"type": "string", "format": "uuid"}, "sku": {"type": "string"}, "name": {"type": "string"},
                            "unit_price_minor": {"type": "integer"}, "quantity": {"type": "integer"}, "line_total_minor": {"type": "integer"}}}},
                        "total_minor": {"type": "integer"}, "currency": {"type": "string"},
                        "created_at": {"type": "string", "format": "date-time"},
                        "timeline": {"type": "array", "items": {"type": "object", "required": ["status", "at"], "properties": {
                            "status": {"type": "string"}, "at": {"type": "string", "format": "date-time"},
                            "reason": {"type": "string"}, "note": {"type": "string"}}}},
                        "customer": {"type": "object", "description": "Admin view only"},
                        "shipping_address": {"type": "object", "description": "Admin view only"}
                    }},
                "OrderPage": {"type": "object", "required": ["items", "next_cursor"], "properties": {
                    "items": {"type": "array", "items": {"type": "object"}},
                    "next_cursor": {"type": ["string", "null"]}}},
                "Problem": {"type": "object", "required": ["type", "title"], "properties": {
                    "type": {"type": "string"}, "title": {"type": "string"}, "detail": {"type": "string"},
                    "errors": {"type": "array", "items": {"type": "object", "properties": {
                        "field": {"type": "string"}, "message": {"type": "string"}}}}}}
            }
        }
    })
}
