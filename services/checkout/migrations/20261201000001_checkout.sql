-- Checkout: a read model of catalog's stores and products, orders with their lines and
-- timeline, and HTTP idempotency keys.
--
-- Isolation: every tenant row carries store_id, and row-level security is FORCED so that even
-- the owning role sees only the rows of the store named by the transaction-local setting
-- `app.store_id`. Two narrow doors, each opened by a transaction-local setting only checkout's
-- code sets: a shopper's order by its id AND its token's hash (`app.order_id`,
-- `app.order_token_hash`), and the deadline job's view of unfinished orders past their
-- deadline (`app.housekeeping = 'order-deadline'`).

-- The store the current transaction acts for, or NULL.
CREATE FUNCTION app_store_id() RETURNS uuid
    LANGUAGE sql STABLE PARALLEL SAFE
    AS $$ SELECT NULLIF(current_setting('app.store_id', true), '')::uuid $$;

-- Read model: catalog's stores (StoreCreated, StoreUpdated), the newest version wins.
CREATE TABLE stores (
    id             uuid        PRIMARY KEY,
    slug           text        NOT NULL,
    name           text        NOT NULL,
    -- SHA-256 (hex) of the admin key, as catalog's events carry it; merchants authenticate
    -- against it. The key itself never reaches checkout's database.
    admin_key_hash text        NOT NULL,
    -- The language of shopper-facing messages (catalog publishes none yet: Portuguese).
    language       text        NOT NULL DEFAULT 'pt-BR',
    version        bigint      NOT NULL,
    updated_at     timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX stores_slug ON stores (slug);
CREATE INDEX stores_admin_key_hash ON stores (admin_key_hash);
-- The directory every lookup starts from (slug, key hash): readable by anyone; written only
-- by the store's own transaction (the read model consumer acts as the store).
ALTER TABLE stores ENABLE ROW LEVEL SECURITY;
ALTER TABLE stores FORCE ROW LEVEL SECURITY;
CREATE POLICY stores_read ON stores FOR SELECT USING (true);
CREATE POLICY stores_insert ON stores FOR INSERT WITH CHECK (id = app_store_id());
CREATE POLICY stores_update ON stores FOR UPDATE USING (id = app_store_id()) WITH CHECK (id = app_store_id());

-- Read model: catalog's products (ProductUpserted, ProductDeleted), the newest version wins; a
-- deletion stays as a tombstone so an older upsert arriving late cannot bring it back.
CREATE TABLE products (
    id          uuid        PRIMARY KEY,
    store_id    uuid        NOT NULL,
    sku         text        NOT NULL DEFAULT '',
    name        text        NOT NULL DEFAULT '',
    price_minor bigint      NOT NULL DEFAULT 0,
    currency    text        NOT NULL DEFAULT '',
    active      boolean     NOT NULL DEFAULT false,
    deleted     boolean     NOT NULL DEFAULT false,
    version     bigint      NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT now()
);
ALTER TABLE products ENABLE ROW LEVEL SECURITY;
ALTER TABLE products FORCE ROW LEVEL SECURITY;
CREATE POLICY products_store ON products FOR ALL
    USING (store_id = app_store_id()) WITH CHECK (store_id = app_store_id());

CREATE TABLE orders (
    id               uuid        PRIMARY KEY,
    store_id         uuid        NOT NULL,
    status           text        NOT NULL CHECK (status IN
                         ('pending', 'reserved', 'awaiting_payment', 'confirmed', 'cancelled')),
    reason           text        CHECK (reason IN
                         ('out_of_stock', 'payment_declined', 'payment_failed', 'expired')),
    -- SHA-256 (hex) of the shopper's status token; the token itself is never stored.
    token_hash       text        NOT NULL,
    customer_name    text        NOT NULL,
    customer_email   text        NOT NULL,
    shipping_address jsonb       NOT NULL,
    total_minor      bigint      NOT NULL,
    currency         text        NOT NULL,
    -- Needed only until the charge command leaves (in the same transaction it is cleared).
    card_token       text,
    payment_deadline timestamptz NOT NULL,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    CHECK ((status = 'cancelled') = (reason IS NOT NULL))
);
-- Admin listing: newest first, per store.
CREATE INDEX orders_store_created ON orders (store_id, created_at DESC, id DESC);
-- The deadline job: unfinished orders by deadline.
CREATE INDEX orders_unfinished_deadline ON orders (payment_deadline)
    WHERE status IN ('pending', 'reserved', 'awaiting_payment');
ALTER TABLE orders ENABLE ROW LEVEL SECURITY;
ALTER TABLE orders FORCE ROW LEVEL SECURITY;
CREATE POLICY orders_store ON orders FOR ALL
    USING (store_id = app_store_id()) WITH CHECK (store_id = app_store_id());
CREATE POLICY orders_by_token ON orders FOR SELECT
    USING (id = NULLIF(current_setting('app.order_id', true), '')::uuid
           AND token_hash = current_setting('app.order_token_hash', true));
CREATE POLICY orders_deadline ON orders FOR SELECT
    USING (current_setting('app.housekeeping', true) = 'order-deadline'
           AND status IN ('pending', 'reserved', 'awaiting_payment')
           AND payment_deadline < now());

-- Each line keeps a snapshot of the product at order time: a later change or deletion of the
-- product never changes an order.
CREATE TABLE order_lines (
    order_id         uuid    NOT NULL REFERENCES orders (id),
    position         integer NOT NULL,
    store_id         uuid    NOT NULL,
    product_id       uuid    NOT NULL,
    sku              text    NOT NULL,
    name             text    NOT NULL,
    unit_price_minor bigint  NOT NULL,
    quantity         integer NOT NULL CHECK (quantity BETWEEN 1 AND 1000),
    PRIMARY KEY (order_id, position)
);
ALTER TABLE order_lines ENABLE ROW LEVEL SECURITY;
ALTER TABLE order_lines FORCE ROW LEVEL SECURITY;
CREATE POLICY order_lines_store ON order_lines FOR ALL
    USING (store_id = app_store_id()) WITH CHECK (store_id = app_store_id());

-- Every transition (and every repair of a late reply), written with the change it records.
CREATE TABLE order_timeline (
    id       bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    order_id uuid        NOT NULL REFERENCES orders (id),
    store_id uuid        NOT NULL,
    status   text        NOT NULL,
    reason   text,
    -- What happened without a status change (e.g. payment_voided).
    note     text,
    at       timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX order_timeline_order ON order_timeline (order_id, id);
ALTER TABLE order_timeline ENABLE ROW LEVEL SECURITY;
ALTER TABLE order_timeline FORCE ROW LEVEL SECURITY;
CREATE POLICY order_timeline_store ON order_timeline FOR ALL
    USING (store_id = app_store_id()) WITH CHECK (store_id = app_store_id());

-- HTTP writes with an `Idempotency-Key` (service_kit::idempotency): the same table and
-- policies as catalog's (its migrations 20261122000004 and 20261122000006).
CREATE TABLE idempotency_keys (
    scope        text        NOT NULL,
    key_hash     text        NOT NULL,
    fingerprint  text        NOT NULL,
    status       smallint,
    body         jsonb,
    sealed_key   bytea,
    created_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (scope, key_hash)
);
CREATE INDEX idempotency_keys_created_at ON idempotency_keys (created_at);
ALTER TABLE idempotency_keys ENABLE ROW LEVEL SECURITY;
ALTER TABLE idempotency_keys FORCE ROW LEVEL SECURITY;
CREATE POLICY idempotency_keys_store ON idempotency_keys FOR ALL
    USING (scope = app_store_id()::text) WITH CHECK (scope = app_store_id()::text);
CREATE POLICY idempotency_keys_trim_read ON idempotency_keys FOR SELECT
    USING (current_setting('app.housekeeping', true) = 'idempotency-trim'
           AND created_at < now() - interval '1 day');
CREATE POLICY idempotency_keys_trim_delete ON idempotency_keys FOR DELETE
    USING (current_setting('app.housekeeping', true) = 'idempotency-trim'
           AND created_at < now() - interval '1 day');
