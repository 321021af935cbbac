-- Each store's own gateway account (PUT /admin/gateway): the provider, the public key, and the
-- secret key sealed with ChaCha20-Poly1305 under GATEWAY_SETTINGS_KEY (nonce ‖ ciphertext ‖ tag,
-- the store's id as associated data). A store without a row charges through the platform's
-- pagar.me account.
--
-- Invariants: the secret key is never stored in the clear (only its last four characters, which
-- is what GET shows); `key_id` names the sealing key (the first bytes of its SHA-256) so a row
-- sealed with a key no longer configured is recognised, not mis-opened; row-level security
-- (forced) keyed on `app.store_id`, like every payments table.
CREATE TABLE gateway_settings (
    store_id          uuid        PRIMARY KEY,
    provider          text        NOT NULL CHECK (provider IN ('pagarme', 'stripe')),
    public_key        text        NOT NULL,
    secret_key_sealed bytea       NOT NULL CHECK (length(secret_key_sealed) > 28),
    secret_key_last4  text        NOT NULL CHECK (length(secret_key_last4) = 4),
    key_id            text        NOT NULL,
    updated_at        timestamptz NOT NULL DEFAULT now()
);
ALTER TABLE gateway_settings ENABLE ROW LEVEL SECURITY;
ALTER TABLE gateway_settings FORCE ROW LEVEL SECURITY;
CREATE POLICY gateway_settings_store ON gateway_settings FOR ALL
    USING (store_id = app_store_id()) WITH CHECK (store_id = app_store_id());
