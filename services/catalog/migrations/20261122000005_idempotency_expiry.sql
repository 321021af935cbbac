-- Idempotency keys expire after a day (a client retries within minutes). The housekeeping job
-- deletes expired keys of every store; these policies let it see and delete exactly those rows
-- and nothing current (policies of one command are OR'ed).
CREATE POLICY idempotency_keys_expired_read ON idempotency_keys FOR SELECT
    USING (created_at < now() - interval '1 day');
CREATE POLICY idempotency_keys_expired_delete ON idempotency_keys FOR DELETE
    USING (created_at < now() - interval '1 day');
