//! `GET /openapi.json`: payments' HTTP API in OpenAPI 3.1, hand-maintained like checkout's; the
//! admin integration test checks that every documented path is served.

use axum::Json;
use serde_json::{Value, json};

use crate::payment::Status;

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
    let statuses: Vec<&str> = Status::ALL.iter().map(|s| s.as_str()).collect();
    let status = json!({"type": "string", "enum": statuses});
    let transaction = json!({
        "type": "object",
        "required": ["id", "order_id", "status", "amount_minor", "currency", "gateway", "created_at", "updated_at"],
        "properties": {
            "id": {"type": "string", "format": "uuid"},
            "order_id": {"type": "string", "format": "uuid"},
            "status": status,
            "amount_minor": {"type": "integer", "description": "Integer minor units (cents)."},
            "currency": {"type": "string", "pattern": "^[A-Z]{3}$"},
            "gateway": {"type": "string"},
            "gateway_charge_id": {"type": ["string", "null"]},
            "created_at": {"type": "string", "format": "date-time"},
            "updated_at": {"type": "string", "format": "date-time"}
        }
    });
    json!({
        "openapi": "3.1.0",
        "info": {"title": "Summit payments", "version": "1.0.0",
                 "description": "A store's card transactions and their history."},
        "paths": {
            "/admin/transactions": {"get": {
                "operationId": "listTransactions",
                "summary": "The store's transactions, newest first (50 a page)",
                "security": admin.clone(),
                "parameters": [
                    {"name": "status", "in": "query", "required": false, "schema": status},
                    {"name": "cursor", "in": "query", "required": false, "schema": {"type": "string"},
                     "description": "`next_cursor` of the previous page."}
                ],
                "responses": {
                    "200": ok("A page of transactions", "TransactionPage"),
                    "401": problem("No admin key, or an unknown one"),
                    "422": problem("Unknown status or malformed cursor")
                }
            }},
            "/admin/gateway": {
                "get": {
                    "operationId": "getGatewaySettings",
                    "summary": "The store's gateway: provider, public key, the secret's last 4 characters (the platform's pagar.me account when not customised)",
                    "security": admin.clone(),
                    "responses": {
                        "200": ok("The store's gateway settings", "GatewaySettings"),
                        "401": problem("No admin key, or an unknown one")
                    }
                },
                "put": {
                    "operationId": "putGatewaySettings",
                    "summary": "Charge through the store's own gateway account (the secret key is sealed at rest, never shown again)",
                    "security": admin.clone(),
                    "requestBody": {"required": true, "content": {"application/json": {"schema": {
                        "type": "object", "additionalProperties": false,
                        "required": ["provider", "secret_key", "public_key"],
                        "properties": {
                            "provider": {"type": "string", "enum": ["pagarme", "stripe"]},
                            "secret_key": {"type": "string", "writeOnly": true,
                                "description": "pagar.me: sk_…; Stripe: sk_test_… or sk_live_…"},
                            "public_key": {"type": "string",
                                "description": "pagar.me: pk_…; Stripe: pk_test_… or pk_live_…"}
                        }
                    }}}},
                    "responses": {
                        "200": ok("The saved settings, as GET shows them", "GatewaySettings"),
                        "401": problem("No admin key, or an unknown one"),
                        "422": problem("A field is missing, unknown or malformed (named in `errors`); nothing changed")
                    }
                }
            },
            "/admin/transactions/{id}": {"get": {
                "operationId": "getTransaction",
                "summary": "One transaction with its history",
                "security": admin,
                "parameters": [{"name": "id", "in": "path", "required": true, "schema": {"type": "string", "format": "uuid"}}],
                "responses": {
                    "200": ok("The transaction", "TransactionWithHistory"),
                    "401": problem("No admin key, or an unknown one"),
                    "404": problem("Unknown transaction, or another store's")
                }
            }}
        },
        "components": {
            "securitySchemes": {"adminKey": {"type": "http", "scheme": "bearer",
                "description": "The store's admin key (catalog issues it; payments checks its SHA-256)."}},
            "schemas": {
                "Transaction": transaction,
                "TransactionPage": {"type": "object", "required": ["items", "next_cursor"], "properties": {
                    "items": {"type": "array", "items": {"$ref": "#/components/schemas/Transaction"}},
                    "next_cursor": {"type": ["string", "null"]}
                }},
                "TransactionWithHistory": {"allOf": [{"$ref": "#/components/schemas/Transaction"}, {
                    "type": "object", "required": ["history"], "properties": {"history": {"type": "array", "items": {
                        "type": "object",
                        "required": ["operation", "to", "why", "attempt", "at"],
                        "properties": {
                            "operation": {"type": "string", "enum": ["charge", "lookup", "void"]},
                            "from": {"type": ["string", "null"]},
                            "to": {"type": "string"},
                            "why": {"type": "string"},
                            "response_code": {"type": ["string", "null"]},
                            "attempt": {"type": "integer"},
                            "at": {"type": "string", "format": "date-time"}
                        }
                    }}}
                }]},
                "GatewaySettings": {"type": "object",
                    "required": ["provider", "public_key", "secret_key_last4", "customised"],
                    "properties": {
                        "provider": {"type": "string", "enum": ["pagarme", "stripe"]},
                        "public_key": {"type": ["string", "null"]},
                        "secret_key_last4": {"type": ["string", "null"]},
                        "customised": {"type": "boolean", "description": "false: the platform's pagar.me account"}
                    }},
                "Problem": {"type": "object", "required": ["type", "title"], "properties": {
                    "type": {"type": "string"}, "title": {"type": "string"},
                    "detail": {"type": "string"},
                    "errors": {"type": "array", "items": {"type": "object", "required": ["field", "message"],
                        "properties": {"field": {"type": "string"}, "message": {"type": "string"}}}}
                }}
            }
        }
    })
}
