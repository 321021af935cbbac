-- `Idempotency-Key` on the merchant's webhook writes (service_kit::idempotency): the same table
-- and policies as catalog's (its migrations 20261122000004 and 20261122000006). A response's
-- signing secret is kept sealed (XOR a pad from the idempotency key), never in the clear.
CREATE TABLE idempotency_keys (
    -- The store the key belongs to (its id as text).
    scope        text        NOT NULL,
    -- SHA-256 (hex) of the Idempotency-Key header.
    key_hash     text        NOT NULL,
    -- SHA-256 (hex) of method, path and body: the same key with another request is refused.
    fingerprint  text        NOT NULL,
    status       smallint,
    body         jsonb,
    -- The response's secret XOR a pad from the idempotency key, when it had one.
    sealed_key   bytea,
    created_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (scope, key_hash)
);
CREATE INDEX idempotency_keys_created_at ON idempotency_keys (created_at);

ALTER TABLE idempotency_keys ENABLE ROW LEVEL SECURITY;
ALTER TABLE idempotency_keys FORCE ROW LEVEL SECURITY;
CREATE POLICY idempotency_keys_store ON idempotency_keys FOR ALL
    USING (scope = 'public' OR scope = app_store_id()::text)
    WITH CHECK (scope = 'public' OR scope = app_store_id()::text);
-- Only the trim's own transaction (`app.housekeeping = 'idempotency-trim'`) reaches other
-- stores' rows, and only expired ones. The age matches `idempotency::TTL`.
CREATE POLICY idempotency_keys_trim_read ON idempotency_keys FOR SELECT
    USING (current_setting('app.housekeeping', true) = 'idempotency-trim'
           AND created_at < now() - interval '1 day');
CREATE POLICY idempotency_keys_trim_delete ON idempotency_keys FOR DELETE
    USING (current_setting('app.housekeeping', true) = 'idempotency-trim'
           AND created_at < now() - interval '1 day');
