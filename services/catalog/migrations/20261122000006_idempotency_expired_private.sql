-- Expired idempotency keys stay private to their store.
--
-- 20261122000005 let the housekeeping job see and delete expired keys of every store with
-- policies on age alone, so any transaction (a store's included) could read other stores'
-- expired rows: their response bodies and sealed admin keys. Now only a transaction that names
-- itself as the trim (`app.housekeeping = 'idempotency-trim'`, set transaction-locally by
-- `idempotency::trim`, never by a tenant transaction) gets past a store's own rows, and only
-- to expired ones. The age matches `idempotency::TTL`.
DROP POLICY idempotency_keys_expired_read ON idempotency_keys;
DROP POLICY idempotency_keys_expired_delete ON idempotency_keys;

CREATE POLICY idempotency_keys_trim_read ON idempotency_keys FOR SELECT
    USING (current_setting('app.housekeeping', true) = 'idempotency-trim'
           AND created_at < now() - interval '1 day');
CREATE POLICY idempotency_keys_trim_delete ON idempotency_keys FOR DELETE
    USING (current_setting('app.housekeeping', true) = 'idempotency-trim'
           AND created_at < now() - interval '1 day');
