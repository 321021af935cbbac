-- Notifications: the stores it writes for, the orders it needs to address mail, merchants'
-- templates and webhook endpoints, and the delivery log with every attempt.
--
-- Invariants:
-- - One delivery per (event, channel, recipient, template): a redelivered or replayed event
--   inserts nothing new (the unique key), and the log row is written in the inbox's
--   transaction.
-- - Row-level security (forced) keyed on the transaction-local `app.store_id`, as in the
--   other services: a query that forgets its `store_id` filter still sees one store only.

-- The store the current transaction acts for, or NULL.
CREATE FUNCTION app_store_id() RETURNS uuid
    LANGUAGE sql STABLE PARALLEL SAFE
    AS $$ SELECT NULLIF(current_setting('app.store_id', true), '')::uuid $$;

-- Stores as catalog announces them (the newest version wins), plus the one setting that is
-- notifications' own: the language mail is written in (catalog publishes none yet).
CREATE TABLE stores (
    id               uuid        PRIMARY KEY,
    admin_key_hash   text        NOT NULL,
    version          bigint      NOT NULL,
    name             text        NOT NULL,
    slug             text        NOT NULL,
    -- Only StoreCreated carries it; a StoreUpdated that overtakes it leaves it NULL until then.
    contact_email    text,
    temporary_domain text        NOT NULL,
    custom_domain    text,
    logo_url         text,
    language         text        NOT NULL DEFAULT 'pt' CHECK (language IN ('pt', 'en')),
    updated_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX stores_admin_key_hash ON stores (admin_key_hash);
ALTER TABLE stores ENABLE ROW LEVEL SECURITY;
ALTER TABLE stores FORCE ROW LEVEL SECURITY;
-- The directory an admin request starts from: readable by anyone; written only by the
-- store's own transaction.
CREATE POLICY stores_read ON stores FOR SELECT USING (true);
CREATE POLICY stores_insert ON stores FOR INSERT WITH CHECK (id = app_store_id());
CREATE POLICY stores_update ON stores FOR UPDATE
    USING (id = app_store_id()) WITH CHECK (id = app_store_id());

-- What OrderPlaced said, so later order events (which carry ids only) can be addressed.
CREATE TABLE orders (
    id             uuid        PRIMARY KEY,
    store_id       uuid        NOT NULL,
    customer_email text        NOT NULL,
    total_minor    bigint      NOT NULL,
    currency       text        NOT NULL,
    lines          jsonb       NOT NULL,
    placed_at      timestamptz NOT NULL DEFAULT now()
);
ALTER TABLE orders ENABLE ROW LEVEL SECURITY;
ALTER TABLE orders FORCE ROW LEVEL SECURITY;
CREATE POLICY orders_store ON orders FOR ALL
    USING (store_id = app_store_id()) WITH CHECK (store_id = app_store_id());

-- A merchant's own version of a mail; absent: the default of src/templates.rs.
CREATE TABLE templates (
    store_id   uuid        NOT NULL,
    kind       text        NOT NULL,
    language   text        NOT NULL CHECK (language IN ('pt', 'en')),
    subject    text        NOT NULL,
    html       text        NOT NULL,
    text       text        NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (store_id, kind, language)
);
ALTER TABLE templates ENABLE ROW LEVEL SECURITY;
ALTER TABLE templates FORCE ROW LEVEL SECURITY;
CREATE POLICY templates_store ON templates FOR ALL
    USING (store_id = app_store_id()) WITH CHECK (store_id = app_store_id());

CREATE TABLE webhook_endpoints (
    id                   uuid        PRIMARY KEY,
    store_id             uuid        NOT NULL,
    url                  text        NOT NULL,
    event_types          text[]      NOT NULL,
    -- `whsec_<base64>`: needed in the clear to sign. Shown to the merchant once.
    secret               text        NOT NULL,
    -- After a rotation the old secret signs too (a second signature) until it expires, so a
    -- receiver can switch without dropping deliveries.
    previous_secret      text,
    previous_expires_at  timestamptz,
    enabled              boolean     NOT NULL DEFAULT true,
    disabled_reason      text,
    -- The failure streak: since when every attempt failed, and how many.
    failing_since        timestamptz,
    consecutive_failures integer     NOT NULL DEFAULT 0,
    created_at           timestamptz NOT NULL DEFAULT now(),
    updated_at           timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX webhook_endpoints_store ON webhook_endpoints (store_id, id);
ALTER TABLE webhook_endpoints ENABLE ROW LEVEL SECURITY;
ALTER TABLE webhook_endpoints FORCE ROW LEVEL SECURITY;
CREATE POLICY webhook_endpoints_store ON webhook_endpoints FOR ALL
    USING (store_id = app_store_id()) WITH CHECK (store_id = app_store_id());

-- The delivery log: the record of "this event told this recipient this".
CREATE TABLE deliveries (
    id          uuid        PRIMARY KEY,
    store_id    uuid        NOT NULL,
    event_id    uuid        NOT NULL,
    event_type  text        NOT NULL,
    -- When the event happened: the bench measures from here to sent_at.
    event_at    timestamptz NOT NULL,
    order_id    uuid,
    channel     text        NOT NULL CHECK (channel IN ('email', 'webhook')),
    -- The mail's template kind; for a webhook, the event type.
    template    text        NOT NULL,
    -- An email address, or the endpoint's id.
    recipient   text        NOT NULL,
    endpoint_id uuid        REFERENCES webhook_endpoints (id) ON DELETE SET NULL,
    -- The Message-ID of a mail, the webhook-id of a webhook: stable across every attempt.
    message_id  text        NOT NULL,
    -- What the mail is rendered from, or the webhook's body: fixed when the event arrived.
    data        jsonb       NOT NULL,
    status      text        NOT NULL DEFAULT 'pending'
                    CHECK (status IN ('pending', 'failed', 'sent', 'dead')),
    attempts    integer     NOT NULL DEFAULT 0,
    last_error  text,
    -- A sender holds the delivery until then while it talks to SMTP or the endpoint, so a
    -- duplicate command never sends beside it; a lease that expires means the sender died.
    leased_until timestamptz,
    created_at  timestamptz NOT NULL DEFAULT clock_timestamp(),
    updated_at  timestamptz NOT NULL DEFAULT clock_timestamp(),
    sent_at     timestamptz,
    UNIQUE (event_id, channel, recipient, template)
);
CREATE INDEX deliveries_store ON deliveries (store_id, id);
ALTER TABLE deliveries ENABLE ROW LEVEL SECURITY;
ALTER TABLE deliveries FORCE ROW LEVEL SECURITY;
CREATE POLICY deliveries_store ON deliveries FOR ALL
    USING (store_id = app_store_id()) WITH CHECK (store_id = app_store_id());

-- Every try: status code, latency, a response excerpt, or the error.
CREATE TABLE delivery_attempts (
    id          bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    delivery_id uuid        NOT NULL REFERENCES deliveries (id) ON DELETE CASCADE,
    store_id    uuid        NOT NULL,
    ok          boolean     NOT NULL,
    status_code integer,
    latency_ms  integer     NOT NULL,
    excerpt     text,
    error       text,
    at          timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX delivery_attempts_delivery ON delivery_attempts (delivery_id, id);
ALTER TABLE delivery_attempts ENABLE ROW LEVEL SECURITY;
ALTER TABLE delivery_attempts FORCE ROW LEVEL SECURITY;
CREATE POLICY delivery_attempts_store ON delivery_attempts FOR ALL
    USING (store_id = app_store_id()) WITH CHECK (store_id = app_store_id());
