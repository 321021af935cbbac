-- Payments: one payment per order and store, and every gateway call and status change made
-- for it (payment_attempts).
--
-- Invariants:
-- - A payment is written `processing` with its idempotency key before the gateway is called.
-- - The state machine of src/payment.rs is enforced again here: a trigger refuses an update
--   that moves `status` along an edge the code does not allow.
-- - Row-level security (forced) keyed on the transaction-local `app.store_id`; the settle job
--   sees unsettled payments of every store through `app.housekeeping = 'payments-settle'`.

-- The store the current transaction acts for, or NULL.
CREATE FUNCTION app_store_id() RETURNS uuid
    LANGUAGE sql STABLE PARALLEL SAFE
    AS $$ SELECT NULLIF(current_setting('app.store_id', true), '')::uuid $$;

CREATE TABLE payments (
    id                uuid        PRIMARY KEY,
    store_id          uuid        NOT NULL,
    order_id          uuid        NOT NULL,
    status            text        NOT NULL CHECK (status IN
                          ('processing', 'authorized', 'completed', 'declined', 'voided',
                           'pending_offline', 'gateway_error', 'error')),
    -- Integer minor units and an ISO 4217 code: money never passes through a float.
    amount_minor      bigint      NOT NULL CHECK (amount_minor > 0),
    currency          text        NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    customer_name     text        NOT NULL,
    customer_email    text        NOT NULL,
    -- Sent on every charge call for this order; derived from the order, so unique.
    idempotency_key   text        NOT NULL UNIQUE,
    -- The gateway's card token, kept only while the payment is unsettled (a settle may need to
    -- charge again with the same key); cleared when the payment settles.
    card_token        text,
    gateway           text        NOT NULL DEFAULT 'pagarme',
    gateway_order_id  text,
    gateway_charge_id text,
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now(),
    UNIQUE (store_id, order_id)
);
CREATE INDEX payments_unsettled ON payments (updated_at)
    WHERE status IN ('processing', 'pending_offline', 'gateway_error');
ALTER TABLE payments ENABLE ROW LEVEL SECURITY;
ALTER TABLE payments FORCE ROW LEVEL SECURITY;
CREATE POLICY payments_store ON payments FOR ALL
    USING (store_id = app_store_id()) WITH CHECK (store_id = app_store_id());
CREATE POLICY payments_settle ON payments FOR SELECT
    USING (current_setting('app.housekeeping', true) = 'payments-settle'
           AND status IN ('processing', 'pending_offline', 'gateway_error'));

-- src/payment.rs's allowed moves, once more.
CREATE FUNCTION payment_move_allowed(from_status text, to_status text) RETURNS boolean
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$
        SELECT CASE from_status
            WHEN 'processing' THEN to_status IN
                ('authorized', 'completed', 'declined', 'voided', 'pending_offline',
                 'gateway_error', 'error')
            WHEN 'pending_offline' THEN to_status IN
                ('processing', 'authorized', 'completed', 'declined', 'voided',
                 'gateway_error', 'error')
            WHEN 'gateway_error' THEN to_status IN
                ('processing', 'authorized', 'completed', 'declined', 'voided',
                 'pending_offline', 'error')
            WHEN 'authorized' THEN to_status IN ('completed', 'voided')
            WHEN 'completed' THEN to_status = 'voided'
            ELSE false
        END
    $$;

CREATE FUNCTION payments_refuse_illegal_move() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
    BEGIN
        IF NOT payment_move_allowed(OLD.status, NEW.status) THEN
            RAISE EXCEPTION 'a payment cannot move from % to %', OLD.status, NEW.status
                USING ERRCODE = 'check_violation';
        END IF;
        RETURN NEW;
    END
    $$;

CREATE TRIGGER payments_status_move
    BEFORE UPDATE OF status ON payments
    FOR EACH ROW WHEN (OLD.status IS DISTINCT FROM NEW.status)
    EXECUTE FUNCTION payments_refuse_illegal_move();

-- Every gateway call and every status change: when, from, to, why, the gateway's response
-- code, which attempt. A call that changed nothing has from_status = to_status.
CREATE TABLE payment_attempts (
    id            bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    payment_id    uuid        NOT NULL REFERENCES payments (id),
    store_id      uuid        NOT NULL,
    operation     text        NOT NULL CHECK (operation IN ('charge', 'lookup', 'void')),
    from_status   text,
    to_status     text        NOT NULL,
    why           text        NOT NULL,
    response_code text,
    attempt       integer     NOT NULL,
    at            timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX payment_attempts_payment ON payment_attempts (payment_id, id);
ALTER TABLE payment_attempts ENABLE ROW LEVEL SECURITY;
ALTER TABLE payment_attempts FORCE ROW LEVEL SECURITY;
CREATE POLICY payment_attempts_store ON payment_attempts FOR ALL
    USING (store_id = app_store_id()) WITH CHECK (store_id = app_store_id());
