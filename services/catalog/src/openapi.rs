//! `GET /openapi.json`: the API in OpenAPI 3.1. Hand-maintained (a JSON document is cheaper
//! here than deriving one); the `openapi` integration test checks that every documented
//! operation is served and every served route is documented.

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

fn param(name: &str, location: &str, required: bool, schema: Value, description: &str) -> Value {
    json!({"name": name, "in": location, "required": required, "schema": schema, "description": description})
}

pub fn document() -> Value {
    let admin = json!([{"adminKey": []}]);
    let product_id = param(
        "id",
        "path",
        true,
        json!({"type": "string", "format": "uuid"}),
        "The product's id.",
    );
    let slug = param(
        "slug",
        "path",
        true,
        json!({"type": "string"}),
        "The store's slug.",
    );
    let cursor = param(
        "cursor",
        "query",
        false,
        json!({"type": "string"}),
        "`next_cursor` of the previous page.",
    );
    let limit = param(
        "limit",
        "query",
        false,
        json!({"type": "integer", "minimum": 1, "maximum": 100, "default": 20}),
        "Page size.",
    );
    let idempotency_key = param(
        "Idempotency-Key",
        "header",
        false,
        json!({"type": "string", "minLength": 1, "maxLength": 255}),
        "Makes the write safe to retry: a repeat with the same key and the same request returns \
         the first response (same status and body) and acts no second time; the same key with a \
         different request is refused (422 `idempotency-key-reused`). Use a fresh random value \
         (a UUID) per intended write. A failed request records nothing.",
    );
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "Summit catalog",
            "version": "1",
            "description": "Stores (tenants), their products and stock. Every error is application/problem+json."
        },
        "servers": [{"url": "http://127.0.0.1:8081"}],
        "paths": {
            "/stores": {"post": {
                "summary": "Create a store; the admin key is shown only in this response",
                "description": "With an Idempotency-Key, a repeat returns this same response, admin key included: whoever holds the idempotency key can read the admin key again, so keep it as secret as the admin key.",
                "operationId": "createStore",
                "parameters": [idempotency_key.clone()],
                "requestBody": body("CreateStore"),
                "responses": {"201": ok("The store and its admin key", "StoreWithKey"), "400": problem("Malformed JSON"), "409": problem("Slug taken"), "413": problem("Body too large"), "422": problem("Invalid or unknown field, invalid Idempotency-Key, or the key reused for another request")}
            }},
            "/stores/resolve": {"get": {
                "summary": "The store behind a temporary or custom domain",
                "operationId": "resolveStore",
                "parameters": [param("host", "query", true, json!({"type": "string"}), "A host name, optionally with a port.")],
                "responses": {"200": ok("The store", "PublicStore"), "404": problem("No store has that domain"), "422": problem("host missing")}
            }},
            "/stores/{slug}/products": {"get": {
                "summary": "Search a store's products on sale (prefix, typo and accent tolerant)",
                "operationId": "searchProducts",
                "parameters": [slug, param("q", "query", false, json!({"type": "string"}), "Search text; without it, every product by name."),
                    param("min_price", "query", false, json!({"type": "integer"}), "Lowest price_minor."),
                    param("max_price", "query", false, json!({"type": "integer"}), "Highest price_minor."), cursor, limit],
                "responses": {"200": ok("A page of hits, most relevant first", "SearchPage"), "404": problem("No such store"), "422": problem("Invalid parameter")}
            }},
            "/stores/{slug}/logo": {"get": {
                "summary": "The store's logo (cacheable; ETag and If-None-Match supported)",
                "operationId": "getLogo",
                "parameters": [slug, param("If-None-Match", "header", false, json!({"type": "string"}), "A previously seen ETag.")],
                "responses": {
                    "200": {"description": "The image", "headers": {"ETag": {"schema": {"type": "string"}}, "Cache-Control": {"schema": {"type": "string"}}},
                        "content": {"image/png": {}, "image/jpeg": {}, "image/webp": {}}},
                    "304": {"description": "Not modified"},
                    "404": problem("No logo")
                }
            }},
            "/admin/store": {"get": {
                "summary": "The key's store", "operationId": "getStore", "security": admin,
                "responses": {"200": ok("The store", "Store"), "401": problem("Missing or invalid admin key")}
            }},
            "/admin/store/domain": {
                "put": {
                    "summary": "Claim (or with null, drop) a custom domain; it stays pending until its TXT record is verified", "operationId": "setDomain", "security": admin,
                    "requestBody": body("SetDomain"),
                    "responses": {"200": ok("The store", "Store"), "401": problem("Missing or invalid admin key"), "409": problem("Domain verified by another store"), "422": problem("Not a valid hostname")}
                },
                "get": {
                    "summary": "The custom domain's claim and the DNS TXT record that proves it", "operationId": "getDomain", "security": admin,
                    "responses": {"200": ok("The claim", "DomainClaim"), "401": problem("Missing or invalid admin key"), "404": problem("No custom domain")}
                }
            },
            "/admin/store/domain/verify": {"post": {
                "summary": "Look the TXT record up now; the domain is verified (and resolves) when it holds the token", "operationId": "verifyDomain", "security": admin,
                "responses": {"200": ok("The claim, verified", "DomainClaim"), "401": problem("Missing or invalid admin key"), "404": problem("No custom domain"), "409": problem("Another store verified the domain first, or the claim changed meanwhile"), "422": problem("`domain-not-verified`: the record is missing or holds another value (the detail names what was found)")}
            }},
            "/admin/store/logo": {"put": {
                "summary": "Upload the logo: the raw image as the body; its type is read from the bytes", "operationId": "setLogo", "security": admin,
                "requestBody": {"required": true, "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}},
                "responses": {"200": ok("The store, with its new logo_url", "Store"), "401": problem("Missing or invalid admin key"), "413": problem("Over the size cap"), "415": problem("Not PNG, JPEG or WebP"), "422": problem("Empty body")}
            }},
            "/admin/store/rotate-key": {"post": {
                "summary": "Replace the admin key; the new one is shown only in this response", "operationId": "rotateKey", "security": admin,
                "responses": {"200": ok("The store and its new key", "StoreWithKey"), "401": problem("Missing or invalid admin key")}
            }},
            "/admin/products": {
                "post": {
                    "summary": "Create a product", "operationId": "createProduct", "security": admin,
                    "parameters": [idempotency_key],
                    "requestBody": body("NewProduct"),
                    "responses": {"201": ok("The product", "Product"), "400": problem("Malformed JSON"), "401": problem("Missing or invalid admin key"), "409": problem("SKU taken in this store"), "413": problem("Body too large"), "422": problem("Invalid or unknown field, invalid Idempotency-Key, or the key reused for another request")}
                },
                "get": {
                    "summary": "The store's products (not deleted), oldest first", "operationId": "listProducts", "security": admin,
                    "parameters": [cursor, limit],
                    "responses": {"200": ok("A page of products", "ProductPage"), "401": problem("Missing or invalid admin key"), "422": problem("Invalid cursor or limit")}
                }
            },
            "/admin/products/{id}": {
                "get": {
                    "summary": "A product, deleted or not", "operationId": "getProduct", "security": admin, "parameters": [product_id],
                    "responses": {"200": ok("The product", "Product"), "401": problem("Missing or invalid admin key"), "404": problem("Not this store's product")}
                },
                "patch": {
                    "summary": "Change some fields of a product", "operationId": "updateProduct", "security": admin, "parameters": [product_id],
                    "requestBody": body("ProductPatch"),
                    "responses": {"200": ok("The product", "Product"), "401": problem("Missing or invalid admin key"), "404": problem("Not this store's product, or deleted"), "409": problem("SKU taken"), "422": problem("Invalid or unknown field")}
                },
                "delete": {
                    "summary": "Soft-delete a product: gone from the store, still readable by id", "operationId": "deleteProduct", "security": admin, "parameters": [product_id],
                    "responses": {"204": {"description": "Deleted"}, "401": problem("Missing or invalid admin key"), "404": problem("Not this store's product")}
                }
            },
            "/openapi.json": {"get": {
                "summary": "This document", "operationId": "openapi",
                "responses": {"200": {"description": "OpenAPI 3.1", "content": {"application/json": {}}}}
            }}
        },
        "components": {
            "securitySchemes": {"adminKey": {"type": "http", "scheme": "bearer", "description": "The store's admin key"}},
            "schemas": {
                "CreateStore": {"type": "object", "additionalProperties": false, "required": ["name", "slug", "contact_email"], "properties": {
                    "name": {"type": "string", "minLength": 1, "maxLength": 100},
                    "slug": {"type": "string", "pattern": "^[a-z0-9]([a-z0-9-]{1,61})[a-z0-9]$", "description": "3-63 lowercase letters, digits, hyphens; reserved words refused"},
                    "contact_email": {"type": "string", "format": "email"}}},
                "Store": {"type": "object", "required": ["id", "slug", "name", "contact_email", "temporary_domain", "version"], "properties": {
                    "id": {"type": "string", "format": "uuid"}, "slug": {"type": "string"}, "name": {"type": "string"},
                    "contact_email": {"type": "string"}, "temporary_domain": {"type": "string"},
                    "custom_domain": {"type": ["string", "null"], "description": "Claimed; serves the store only once verified"},
                    "custom_domain_status": {"type": ["string", "null"], "enum": ["pending", "verified", null]},
                    "logo_url": {"type": ["string", "null"]},
                    "version": {"type": "integer"}, "created_at": {"type": "string", "format": "date-time"}, "updated_at": {"type": "string", "format": "date-time"}}},
                "StoreWithKey": {"allOf": [{"$ref": "#/components/schemas/Store"}, {"type": "object", "required": ["admin_key"], "properties": {"admin_key": {"type": "string", "description": "Shown once"}}}]},
                "PublicStore": {"type": "object", "properties": {
                    "id": {"type": "string", "format": "uuid"}, "slug": {"type": "string"}, "name": {"type": "string"},
                    "temporary_domain": {"type": "string"}, "custom_domain": {"type": ["string", "null"], "description": "Only a verified one"}, "logo_url": {"type": ["string", "null"]}}},
                "DomainClaim": {"type": "object", "required": ["domain", "status", "txt_record"], "properties": {
                    "domain": {"type": "string"}, "status": {"type": "string", "enum": ["pending", "verified"]},
                    "txt_record": {"type": "object", "required": ["name", "value"], "description": "The record to create in the domain's DNS", "properties": {
                        "name": {"type": "string", "example": "_summit-challenge.shop.example.com"}, "value": {"type": "string", "description": "The token: 256 random bits, hex"}}}}},
                "SetDomain": {"type": "object", "additionalProperties": false, "required": ["custom_domain"], "properties": {"custom_domain": {"type": ["string", "null"], "format": "hostname"}}},
                "NewProduct": {"type": "object", "additionalProperties": false, "required": ["name", "sku", "price_minor", "currency"], "properties": {
                    "name": {"type": "string", "minLength": 1, "maxLength": 200}, "description": {"type": "string", "maxLength": 5000, "default": ""},
                    "sku": {"type": "string", "pattern": "^[A-Za-z0-9._-]{1,64}$"}, "price_minor": {"type": "integer", "minimum": 0},
                    "currency": {"type": "string", "pattern": "^[A-Z]{3}$"}, "stock": {"type": "integer", "minimum": 0, "default": 0},
                    "active": {"type": "boolean", "default": true}}},
                "ProductPatch": {"type": "object", "additionalProperties": false, "properties": {
                    "name": {"type": "string"}, "description": {"type": "string"}, "sku": {"type": "string"}, "price_minor": {"type": "integer", "minimum": 0},
                    "currency": {"type": "string"}, "stock": {"type": "integer", "minimum": 0}, "active": {"type": "boolean"}}},
                "Product": {"type": "object", "properties": {
                    "id": {"type": "string", "format": "uuid"}, "store_id": {"type": "string", "format": "uuid"}, "sku": {"type": "string"},
                    "name": {"type": "string"}, "description": {"type": "string"}, "price_minor": {"type": "integer"}, "currency": {"type": "string"},
                    "stock": {"type": "integer"}, "active": {"type": "boolean"}, "version": {"type": "integer", "description": "Grows with every change"},
                    "created_at": {"type": "string", "format": "date-time"}, "updated_at": {"type": "string", "format": "date-time"},
                    "deleted_at": {"type": ["string", "null"], "format": "date-time"}}},
                "ProductPage": {"type": "object", "required": ["items", "next_cursor"], "properties": {
                    "items": {"type": "array", "items": {"$ref": "#/components/schemas/Product"}}, "next_cursor": {"type": ["string", "null"]}}},
                "SearchHit": {"type": "object", "properties": {
                    "id": {"type": "string", "format": "uuid"}, "sku": {"type": "string"}, "name": {"type": "string"}, "description": {"type": "string"},
                    "price_minor": {"type": "integer"}, "currency": {"type": "string"}, "in_stock": {"type": "boolean"}}},
                "SearchPage": {"type": "object", "required": ["items", "next_cursor"], "properties": {
                    "items": {"type": "array", "items": {"$ref": "#/components/schemas/SearchHit"}}, "next_cursor": {"type": ["string", "null"]}}},
                "Problem": {"type": "object", "required": ["type", "title"], "properties": {
                    "type": {"type": "string"}, "title": {"type": "string"}, "detail": {"type": "string"},
                    "errors": {"type": "array", "items": {"type": "object", "properties": {"field": {"type": "string"}, "message": {"type": "string"}}}}}}
            }
        }
    })
}
