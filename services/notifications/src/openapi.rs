//! `GET /openapi.json`: notifications' merchant API in OpenAPI 3.1, hand-maintained like
//! payments' and checkout's; an integration test checks that every documented operation is
//! routed and every documented `GET` answers.

use axum::Json;
use serde_json::{Value, json};

use crate::mail::{Kind, Language};

pub async fn serve() -> Json<Value> {
    Json(document())
}

fn problem(description: &str) -> Value {
    json!({"description": description, "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}})
}

fn ok(description: &str, schema: &str) -> Value {
    json!({"description": description, "content": {"application/json": {"schema": {"$ref": format!("#/components/schemas/{schema}")}}}})
}

fn body(schema: &str) -> Value {
    json!({"required": true, "content": {"application/json": {"schema": {"$ref": format!("#/components/schemas/{schema}")}}}})
}

fn id(name: &str, what: &str) -> Value {
    json!({"name": name, "in": "path", "required": true, "schema": {"type": "string", "format": "uuid"}, "description": what})
}

pub fn document() -> Value {
    let admin = json!([{"adminKey": []}]);
    let kinds: Vec<&str> = Kind::ALL.iter().map(|k| k.as_str()).collect();
    let languages: Vec<&str> = Language::ALL.iter().map(|l| l.as_str()).collect();
    let event_types = crate::intake::webhook_event_types();
    let unauthorized = problem("No admin key, or not a store's");
    let not_found = problem("Unknown here, or another store's");
    let invalid = problem("A field is invalid (the problem names it)");
    let malformed = problem("Malformed JSON");
    let too_large = problem("Body too large");
    let not_json = problem("Not Content-Type: application/json");
    let idempotency_key = json!([{"name": "Idempotency-Key", "in": "header", "required": false,
        "schema": {"type": "string", "maxLength": 255},
        "description": "A repeat within a day gets the first answer (secret included) and acts once."}]);
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "Summit notifications",
            "version": "1",
            "description": "Mail templates, Standard Webhooks endpoints and the delivery log of a store (docs/notifications.md)."
        },
        "paths": {
            "/admin/settings": {
                "get": {"summary": "The language of the store's mail", "security": admin,
                        "responses": {"200": ok("Settings", "Settings"), "401": unauthorized}},
                "put": {"summary": "Set the language of the store's mail", "security": admin,
                        "requestBody": body("Settings"),
                        "responses": {"200": ok("Settings", "Settings"), "400": malformed, "401": unauthorized,
                                      "413": too_large, "415": not_json, "422": invalid}}
            },
            "/admin/templates": {
                "get": {"summary": "Every kind in every language: the store's own or the default", "security": admin,
                        "responses": {"200": ok("Templates", "TemplateList"), "401": unauthorized}}
            },
            "/admin/templates/{kind}": {
                "parameters": [{"name": "kind", "in": "path", "required": true, "schema": {"type": "string", "enum": kinds}}],
                "put": {"summary": "Save the store's own template (refused with the part, line and reason if broken)", "security": admin,
                        "requestBody": body("TemplateInput"),
                        "responses": {"200": ok("Saved", "Template"), "400": malformed, "401": unauthorized, "404": problem("Unknown kind"),
                                      "413": too_large, "415": not_json, "422": invalid}},
                "delete": {"summary": "Back to the default", "security": admin,
                           "parameters": [{"name": "language", "in": "query", "required": false, "schema": {"type": "string", "enum": languages}}],
                           "responses": {"204": {"description": "The default applies again"}, "401": unauthorized, "404": problem("Unknown kind"),
                                         "422": invalid}}
            },
            "/admin/webhooks": {
                "post": {"summary": "Register an endpoint; the answer is the only one with its secret", "security": admin,
                         "parameters": idempotency_key,
                         "requestBody": body("EndpointInput"),
                         "responses": {"201": ok("Created, with `secret`", "EndpointWithSecret"), "400": malformed, "401": unauthorized,
                                       "413": too_large, "415": not_json, "422": invalid}},
                "get": {"summary": "The store's endpoints", "security": admin,
                        "responses": {"200": ok("Endpoints", "EndpointList"), "401": unauthorized}}
            },
            "/admin/webhooks/{id}": {
                "parameters": [id("id", "The endpoint")],
                "get": {"summary": "One endpoint", "security": admin,
                        "responses": {"200": ok("The endpoint", "Endpoint"), "401": unauthorized, "404": not_found}},
                "patch": {"summary": "Change the URL or event types, enable or disable", "security": admin,
                          "requestBody": body("EndpointPatch"),
                          "responses": {"200": ok("The endpoint", "Endpoint"), "400": malformed, "401": unauthorized, "404": not_found,
                                        "413": too_large, "415": not_json, "422": invalid}},
                "delete": {"summary": "Delete the endpoint", "security": admin,
                           "responses": {"204": {"description": "Deleted"}, "401": unauthorized, "404": not_found}}
            },
            "/admin/webhooks/{id}/rotate-secret": {
                "parameters": [id("id", "The endpoint")],
                "post": {"summary": "A new secret; the old one signs beside it for 24 h", "security": admin,
                         "parameters": idempotency_key,
                         "responses": {"200": ok("The new secret", "RotatedSecret"), "401": unauthorized, "404": not_found,
                                       "422": problem("An invalid Idempotency-Key, or the key reused for another request")}}
            },
            "/admin/deliveries": {
                "get": {"summary": "The delivery log, newest first, with every attempt", "security": admin,
                        "parameters": [
                            {"name": "endpoint", "in": "query", "required": false, "schema": {"type": "string", "format": "uuid"}},
                            {"name": "status", "in": "query", "required": false, "schema": {"type": "string", "enum": ["pending", "failed", "sent", "dead"]}},
                            {"name": "channel", "in": "query", "required": false, "schema": {"type": "string", "enum": ["email", "webhook"]}},
                            {"name": "cursor", "in": "query", "required": false, "schema": {"type": "string"}}
                        ],
                        "responses": {"200": ok("A page", "DeliveryPage"), "401": unauthorized, "422": invalid}}
            },
            "/admin/deliveries/{id}": {
                "parameters": [id("id", "The delivery")],
                "get": {"summary": "One delivery with its attempts", "security": admin,
                        "responses": {"200": ok("The delivery", "Delivery"), "401": unauthorized, "404": not_found}}
            },
            "/admin/deliveries/{id}/resend": {
                "parameters": [id("id", "The delivery")],
                "post": {"summary": "Send again, with the same Message-ID / webhook-id", "security": admin,
                         "responses": {"202": {"description": "Queued"}, "401": unauthorized, "404": not_found,
                                       "409": problem("The endpoint is disabled or deleted")}}
            }
        },
        "components": {
            "securitySchemes": {"adminKey": {"type": "http", "scheme": "bearer", "description": "The store's admin key (sk_…)"}},
            "schemas": {
                "Problem": {"type": "object", "properties": {
                    "type": {"type": "string"}, "title": {"type": "string"}, "detail": {"type": "string"},
                    "errors": {"type": "array", "items": {"type": "object", "properties": {"field": {"type": "string"}, "message": {"type": "string"}}}}}},
                "Settings": {"type": "object", "required": ["language"], "properties": {"language": {"type": "string", "enum": languages}}},
                "TemplateInput": {"type": "object", "required": ["subject", "html", "text"], "properties": {
                    "language": {"type": "string", "enum": languages, "description": "Default: the store's"},
                    "subject": {"type": "string"}, "html": {"type": "string"}, "text": {"type": "string"}}},
                "Template": {"type": "object", "properties": {
                    "kind": {"type": "string", "enum": kinds}, "language": {"type": "string", "enum": languages},
                    "custom": {"type": "boolean"}, "subject": {"type": "string"}, "html": {"type": "string"}, "text": {"type": "string"}}},
                "TemplateList": {"type": "object", "properties": {"items": {"type": "array", "items": {"$ref": "#/components/schemas/Template"}}}},
                "EndpointInput": {"type": "object", "required": ["url", "event_types"], "properties": {
                    "url": {"type": "string", "format": "uri", "description": "https, a public address"},
                    "event_types": {"type": "array", "minItems": 1, "items": {"type": "string", "enum": event_types}}}},
                "EndpointPatch": {"type": "object", "properties": {
                    "url": {"type": "string", "format": "uri"},
                    "event_types": {"type": "array", "minItems": 1, "items": {"type": "string", "enum": event_types}},
                    "enabled": {"type": "boolean"}}},
                "Endpoint": {"type": "object", "properties": {
                    "id": {"type": "string", "format": "uuid"}, "url": {"type": "string"},
                    "event_types": {"type": "array", "items": {"type": "string"}},
                    "enabled": {"type": "boolean"}, "disabled_reason": {"type": ["string", "null"]},
                    "failing_since": {"type": ["string", "null"], "format": "date-time"},
                    "consecutive_failures": {"type": "integer"},
                    "previous_secret_expires_at": {"type": ["string", "null"], "format": "date-time"},
                    "created_at": {"type": "string", "format": "date-time"},
                    "updated_at": {"type": "string", "format": "date-time"}}},
                "EndpointWithSecret": {"allOf": [{"$ref": "#/components/schemas/Endpoint"},
                    {"type": "object", "properties": {"secret": {"type": "string", "pattern": "^whsec_"}}}]},
                "EndpointList": {"type": "object", "properties": {"items": {"type": "array", "items": {"$ref": "#/components/schemas/Endpoint"}}}},
                "RotatedSecret": {"type": "object", "properties": {
                    "id": {"type": "string", "format": "uuid"}, "secret": {"type": "string", "pattern": "^whsec_"},
                    "previous_secret_expires_at": {"type": "string", "format": "date-time"}}},
                "Attempt": {"type": "object", "properties": {
                    "ok": {"type": "boolean"}, "status_code": {"type": ["integer", "null"]},
                    "latency_ms": {"type": "integer"}, "response_excerpt": {"type": ["string", "null"]},
                    "error": {"type": ["string", "null"]}, "at": {"type": "string", "format": "date-time"}}},
                "Delivery": {"type": "object", "properties": {
                    "id": {"type": "string", "format": "uuid"}, "event_id": {"type": "string", "format": "uuid"},
                    "event_type": {"type": "string"}, "order_id": {"type": ["string", "null"], "format": "uuid"},
                    "channel": {"type": "string", "enum": ["email", "webhook"]},
                    "template": {"type": "string"}, "recipient": {"type": "string"},
                    "endpoint_id": {"type": ["string", "null"], "format": "uuid"},
                    "message_id": {"type": "string", "description": "The mail's Message-ID or the webhook-id"},
                    "status": {"type": "string", "enum": ["pending", "failed", "sent", "dead"]},
                    "attempt_count": {"type": "integer"}, "last_error": {"type": ["string", "null"]},
                    "created_at": {"type": "string", "format": "date-time"},
                    "sent_at": {"type": ["string", "null"], "format": "date-time"},
                    "attempts": {"type": "array", "items": {"$ref": "#/components/schemas/Attempt"}}}},
                "DeliveryPage": {"type": "object", "properties": {
                    "items": {"type": "array", "items": {"$ref": "#/components/schemas/Delivery"}},
                    "next_cursor": {"type": ["string", "null"]}}}
            }
        }
    })
}
