-- Key rotation of stores' sealed gateway secrets (src/settings.rs): the job that re-seals rows
-- sealed under a previous GATEWAY_SETTINGS_KEY, and the readiness check that counts rows sealed
-- under a key no process has, look at every store's row through the housekeeping door
-- `app.housekeeping = 'payments-key-rotation'` — reading only; each re-seal is then written in
-- the store's own transaction (`app.store_id`), under the table's tenant policy.
CREATE POLICY gateway_settings_rotation ON gateway_settings FOR SELECT
    USING (current_setting('app.housekeeping', true) = 'payments-key-rotation');
