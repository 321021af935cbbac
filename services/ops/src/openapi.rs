//! `GET /openapi.json`: the operators' API in OpenAPI 3.1, hand-maintained like the other
//! services'. Served without the operator token (it describes, it reveals nothing); the
//! platform's API fuzzing test (tests/platform, schemathesis) holds the service to it.

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

fn body(schema: &str) -> Value {
    json!({"required": true, "content": {"application/json": {"schema": {"$ref": format!("#/components/schemas/{schema}")}}}})
}

/// The filters the listing, groups, ids and bulk operations share, as query parameters.
fn filter_parameters(limit_max: u64) -> Value {
    let text = |name: &str, description: &str| json!({"name": name, "in": "query", "required": false, "schema": {"type": "string"}, "description": description});
    json!([
        text("queue", "The work queue it died in"),
        text("type", "The message type, e.g. payments.Charge"),
        text("kind", "The error kind (rejected, retries-exhausted, malformed, …)"),
        {"name": "tenant", "in": "query", "required": false, "schema": {"type": "string", "format": "uuid"}, "description": "The store"},
        {"name": "since", "in": "query", "required": false, "schema": {"type": "string", "format": "date-time"}, "description": "Last seen at or after"},
        text("grep", "Text in the body or a header (case-insensitive)"),
        {"name": "status", "in": "query", "required": false, "schema": {"type": "string", "enum": ["parked", "retried", "discarded", "any"]}},
        text("group", "A group's id, as the groups show it"),
        {"name": "limit", "in": "query", "required": false, "schema": {"type": "integer", "minimum": 1, "maximum": limit_max}}
    ])
}

pub fn document() -> Value {
    let operator = json!([{"operatorToken": []}]);
    let unauthorized = problem("No operator token, or a wrong one");
    let invalid = problem("A field or parameter is invalid (the problem names it)");
    let malformed = problem("Malformed JSON");
    let too_large = problem("Body too large");
    let not_json = problem("Not Content-Type: application/json");
    let not_found = problem("No such failure");
    let conflict = problem("The failure is not in the state the action needs");
    let unavailable = problem("The broker is not connected yet, or did not confirm (Retry-After)");
    let not_delivered = problem("The broker refused the message");
    let message_id = json!([{"name": "message_id", "in": "path", "required": true, "schema": {"type": "string"}}]);
    let mut list_parameters = filter_parameters(500);
    list_parameters.as_array_mut().expect("an array").push(
        json!({"name": "cursor", "in": "query", "required": false, "schema": {"type": "string"}, "description": "next_cursor of the previous page"}),
    );
    let filters = json!({
        "queue": {"type": ["string", "null"]}, "type": {"type": ["string", "null"]},
        "kind": {"type": ["string", "null"]}, "tenant": {"type": ["string", "null"], "format": "uuid"},
        "since": {"type": ["string", "null"], "format": "date-time"}, "grep": {"type": ["string", "null"]},
        "status": {"type": ["string", "null"]}, "group": {"type": ["string", "null"]}
    });
    let mut bulk_retry = filters.clone();
    bulk_retry["rate_per_s"] =
        json!({"type": ["number", "null"], "exclusiveMinimum": 0, "maximum": 10000});
    bulk_retry["limit"] = json!({"type": ["integer", "null"], "minimum": 1, "maximum": 100000});
    let mut bulk_discard = filters;
    bulk_discard["message_ids"] = json!({"type": ["array", "null"], "items": {"type": "string"}});
    let summary_one = |summary: &str| {
        json!({"summary": summary, "security": operator.clone(), "parameters": message_id.clone(),
               "responses": {"200": ok("The failure", "Summary"), "401": unauthorized.clone(),
                             "404": not_found.clone(), "409": conflict.clone()}})
    };
    let mut retry_one = summary_one("Send it back to its queue (confirmed), then mark it retried");
    retry_one["responses"]["502"] = not_delivered.clone();
    retry_one["responses"]["503"] = unavailable.clone();
    json!({
        "openapi": "3.1.0",
        "info": {"title": "Summit ops", "version": "1",
                 "description": "The parking store of dead letters and the work queues, for operators (docs/ops.md)."},
        "paths": {
            "/ops/queues": {"get": {
                "summary": "Every work queue ops drains: depth, consumers, dead letters, parked failures, rates",
                "security": operator.clone(),
                "responses": {"200": ok("The queues", "Queues"), "401": unauthorized.clone(), "503": unavailable.clone()}}},
            "/ops/failures": {"get": {
                "summary": "Parked failures, newest first", "security": operator.clone(),
                "parameters": list_parameters,
                "responses": {"200": ok("A page", "Page"), "401": unauthorized.clone(), "422": invalid.clone()}}},
            "/ops/failures/groups": {"get": {
                "summary": "Failures grouped by queue, type, error kind and the error's first line",
                "security": operator.clone(), "parameters": filter_parameters(500),
                "responses": {"200": {"description": "The groups", "content": {"application/json": {"schema": {
                    "type": "array", "items": {"$ref": "#/components/schemas/Group"}}}}},
                    "401": unauthorized.clone(), "422": invalid.clone()}}},
            "/ops/failures/ids": {"get": {
                "summary": "The matching ids, oldest first", "security": operator.clone(),
                "parameters": filter_parameters(100_000),
                "responses": {"200": ok("The ids", "Ids"), "401": unauthorized.clone(), "422": invalid.clone()}}},
            "/ops/failures/retry": {"post": {
                "summary": "Retry every match in the background at a rate", "security": operator.clone(),
                "requestBody": body("BulkRetry"),
                "responses": {"202": ok("Started", "BulkStarted"), "400": malformed.clone(), "401": unauthorized.clone(),
                              "413": too_large.clone(), "415": not_json.clone(), "422": invalid.clone(),
                              "503": unavailable.clone()}}},
            "/ops/failures/discard": {"post": {
                "summary": "Discard many (by ids or filters)", "security": operator.clone(),
                "requestBody": body("BulkDiscard"),
                "responses": {"200": ok("How many", "Discarded"), "400": malformed.clone(), "401": unauthorized.clone(),
                              "413": too_large.clone(), "415": not_json.clone(), "422": invalid.clone()}}},
            "/ops/failures/{message_id}": {"get": {
                "summary": "One failure, whole: headers, payload, history, edits", "security": operator.clone(),
                "parameters": message_id.clone(),
                "responses": {"200": ok("The failure", "Detail"), "401": unauthorized.clone(), "404": not_found.clone()}}},
            "/ops/failures/{message_id}/retry": {"post": retry_one},
            "/ops/failures/{message_id}/edit": {"post": {
                "summary": "Replace the body (checked against the message's contract), then retry",
                "security": operator.clone(), "parameters": message_id.clone(),
                "requestBody": body("Edit"),
                "responses": {"200": ok("The failure", "Summary"), "400": malformed, "401": unauthorized.clone(),
                              "404": not_found.clone(), "409": conflict.clone(), "413": too_large, "415": not_json,
                              "422": invalid, "502": not_delivered, "503": unavailable}}},
            "/ops/failures/{message_id}/discard": {"post": summary_one("Parked → discarded (archived)")},
            "/ops/failures/{message_id}/restore": {"post": summary_one("Discarded → parked")},
            "/openapi.json": {"get": {"summary": "This document", "responses": {"200": {"description": "OpenAPI 3.1"}}}}
        },
        "components": {
            "securitySchemes": {"operatorToken": {"type": "http", "scheme": "bearer",
                "description": "OPS_TOKEN"}},
            "schemas": {
                "Summary": {"type": "object",
                    "required": ["message_id", "queue", "first_seen", "last_seen", "failure_count"],
                    "properties": {
                        "message_id": {"type": "string"}, "queue": {"type": "string"},
                        "type": {"type": ["string", "null"]}, "tenant_id": {"type": ["string", "null"], "format": "uuid"},
                        "correlation_id": {"type": ["string", "null"]}, "error": {"type": ["string", "null"]},
                        "error_kind": {"type": ["string", "null"]}, "attempts": {"type": ["integer", "null"]},
                        "first_seen": {"type": "string", "format": "date-time"},
                        "last_seen": {"type": "string", "format": "date-time"},
                        "failure_count": {"type": "integer"}
                    }},
                "Detail": {"allOf": [{"$ref": "#/components/schemas/Summary"},
                    {"type": "object", "required": ["headers", "body", "history"], "properties": {
                        "edits": {"type": "array", "items": {"type": "object"}}}}]},
                "Page": {"type": "object", "required": ["items", "next_cursor"], "properties": {
                    "items": {"type": "array", "items": {"$ref": "#/components/schemas/Summary"}},
                    "next_cursor": {"type": ["string", "null"]}}},
                "Group": {"type": "object", "required": ["id", "queue", "error", "count", "first_seen", "last_seen", "tenants"],
                    "properties": {"id": {"type": "string"}, "queue": {"type": "string"},
                        "type": {"type": ["string", "null"]}, "error_kind": {"type": ["string", "null"]},
                        "error": {"type": "string"}, "count": {"type": "integer"},
                        "first_seen": {"type": "string", "format": "date-time"},
                        "last_seen": {"type": "string", "format": "date-time"},
                        "tenants": {"type": "array", "items": {"type": "string", "format": "uuid"}}}},
                "Ids": {"type": "object", "required": ["ids"], "properties": {"ids": {"type": "array", "items": {"type": "string"}}}},
                "Queues": {"type": "object", "required": ["queues"], "properties": {
                    "queues": {"type": "array", "items": {"type": "object",
                        "required": ["queue", "dead_letter_queue", "parked"],
                        "properties": {"queue": {"type": "string"}, "depth": {"type": ["integer", "null"]},
                            "consumers": {"type": ["integer", "null"]}, "dead_letter_queue": {"type": "string"},
                            "dead_letters": {"type": ["integer", "null"]}, "dead_letter_consumers": {"type": ["integer", "null"]},
                            "parked": {"type": "integer"}}}},
                    "rates_note": {"type": ["string", "null"]}}},
                "BulkRetry": {"type": "object", "additionalProperties": false, "properties": bulk_retry},
                "BulkStarted": {"type": "object", "required": ["matched", "rate_per_s"], "properties": {
                    "matched": {"type": "integer"}, "rate_per_s": {"type": "number"}}},
                "BulkDiscard": {"type": "object", "properties": bulk_discard},
                "Discarded": {"type": "object", "required": ["discarded"], "properties": {"discarded": {"type": "integer"}}},
                "Edit": {"type": "object", "required": ["body"], "properties": {"body": {"description": "The edited message: a whole envelope"}}},
                "Problem": {"type": "object", "required": ["type", "title"], "properties": {
                    "type": {"type": "string"}, "title": {"type": "string"}, "detail": {"type": "string"},
                    "errors": {"type": "array", "items": {"type": "object", "required": ["field", "message"], "properties": {
                        "field": {"type": "string"}, "message": {"type": "string"}}}}}}
            }
        }
    })
}
