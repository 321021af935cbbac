-- Stores as catalog announces them (StoreCreated, StoreUpdated; the newest version wins), for
-- one thing: the SHA-256 of each store's admin key, which merchants authenticate against. The
-- key itself never reaches payments' database.
CREATE TABLE stores (
    id             uuid        PRIMARY KEY,
    admin_key_hash text        NOT NULL,
    version        bigint      NOT NULL,
    updated_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX stores_admin_key_hash ON stores (admin_key_hash);
-- The directory an admin request starts from: readable by anyone; written only by the store's
-- own transaction (the consumer acts as the store).
ALTER TABLE stores ENABLE ROW LEVEL SECURITY;
ALTER TABLE stores FORCE ROW LEVEL SECURITY;
CREATE POLICY stores_read ON stores FOR SELECT USING (true);
CREATE POLICY stores_insert ON stores FOR INSERT WITH CHECK (id = app_store_id());
CREATE POLICY stores_update ON stores FOR UPDATE USING (id = app_store_id()) WITH CHECK (id = app_store_id());
