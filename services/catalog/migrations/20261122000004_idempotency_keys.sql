-- HTTP writes with an `Idempotency-Key` (design.md): the first result of a key, recorded in the
-- transaction of its effect, so a repeat returns it instead of acting twice.
--
-- A row is claimed (status NULL) before the effect and completed with the response in the same
-- transaction, so a concurrent repeat waits on the claim and then replays; a failed request
-- rolls its claim back and a retry acts afresh. Only the key's SHA-256 is kept. A response
-- holding an admin key (store creation) keeps that key sealed with a pad derived from the
-- idempotency key: the database alone never holds a usable admin key.
CREATE TABLE idempotency_keys (
    -- The store the key belongs to (its id as text), or 'public' for store creation.
    scope        text        NOT NULL,
    -- SHA-256 (hex) of the Idempotency-Key header.
    key_hash     text        NOT NULL,
    -- SHA-256 (hex) of method, path and body: the same key with another request is refused.
    fingerprint  text        NOT NULL,
    status       smallint,
    body         jsonb,
    -- The response's admin key XOR a pad from the idempotency key, when it had one.
    sealed_key   bytea,
    created_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (scope, key_hash)
);
-- For trimming old keys.
CREATE INDEX idempotency_keys_created_at ON idempotency_keys (created_at);

-- A store sees its own keys; 'public' keys (store creation) belong to no store yet.
ALTER TABLE idempotency_keys ENABLE ROW LEVEL SECURITY;
ALTER TABLE idempotency_keys FORCE ROW LEVEL SECURITY;
CREATE POLICY idempotency_keys_store ON idempotency_keys FOR ALL
    USING (scope = 'public' OR scope = app_store_id()::text)
    WITH CHECK (scope = 'public' OR scope = app_store_id()::text);
