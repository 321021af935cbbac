-- Catalog: stores (tenants), their products, stock reservations, logos.
--
-- Isolation: every tenant row carries store_id, and row-level security is FORCED so that even
-- the owning role (the service's own) sees only the rows of the store named by the
-- transaction-local setting `app.store_id`. Without it set, nothing is visible. Superusers
-- bypass RLS, which is why the test of this wall runs under a plain role.

CREATE EXTENSION IF NOT EXISTS unaccent;
CREATE EXTENSION IF NOT EXISTS pg_trgm;
CREATE EXTENSION IF NOT EXISTS btree_gin;

-- unaccent() is STABLE (its dictionary could change); pinning the dictionary makes the result
-- depend on the input only, so it can feed generated columns and indexes.
CREATE FUNCTION f_unaccent(text) RETURNS text
    LANGUAGE sql IMMUTABLE PARALLEL SAFE STRICT
    AS $$ SELECT public.unaccent('public.unaccent'::regdictionary, $1) $$;

-- The store the current transaction acts for, or NULL.
CREATE FUNCTION app_store_id() RETURNS uuid
    LANGUAGE sql STABLE PARALLEL SAFE
    AS $$ SELECT NULLIF(current_setting('app.store_id', true), '')::uuid $$;

CREATE TABLE stores (
    id               uuid        PRIMARY KEY,
    slug             text        NOT NULL,
    name             text        NOT NULL,
    contact_email    text        NOT NULL,
    temporary_domain text        NOT NULL,
    custom_domain    text,
    -- SHA-256 of the admin key, hex. The key itself is never stored.
    admin_key_hash   text        NOT NULL,
    -- Grows with every change, so consumers of StoreUpdated drop stale copies.
    version          bigint      NOT NULL DEFAULT 1,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT stores_slug_key UNIQUE (slug),
    CONSTRAINT stores_custom_domain_key UNIQUE (custom_domain),
    CONSTRAINT stores_admin_key_hash_key UNIQUE (admin_key_hash)
);

-- Stores are the directory every lookup starts from (by key hash, host, slug), so anyone may
-- read them; only the store itself may change its row.
ALTER TABLE stores ENABLE ROW LEVEL SECURITY;
ALTER TABLE stores FORCE ROW LEVEL SECURITY;
CREATE POLICY stores_read ON stores FOR SELECT USING (true);
CREATE POLICY stores_insert ON stores FOR INSERT WITH CHECK (id = app_store_id());
CREATE POLICY stores_update ON stores FOR UPDATE USING (id = app_store_id()) WITH CHECK (id = app_store_id());
CREATE POLICY stores_delete ON stores FOR DELETE USING (id = app_store_id());

CREATE TABLE store_logos (
    store_id     uuid        PRIMARY KEY REFERENCES stores (id),
    content_type text        NOT NULL,
    bytes        bytea       NOT NULL,
    etag         text        NOT NULL,
    updated_at   timestamptz NOT NULL DEFAULT now()
);
-- A logo is public: readable by anyone, written by its store only.
ALTER TABLE store_logos ENABLE ROW LEVEL SECURITY;
ALTER TABLE store_logos FORCE ROW LEVEL SECURITY;
CREATE POLICY store_logos_read ON store_logos FOR SELECT USING (true);
CREATE POLICY store_logos_write ON store_logos FOR ALL
    USING (store_id = app_store_id()) WITH CHECK (store_id = app_store_id());

CREATE TABLE products (
    id          uuid        PRIMARY KEY,
    store_id    uuid        NOT NULL REFERENCES stores (id),
    sku         text        NOT NULL,
    name        text        NOT NULL,
    description text        NOT NULL DEFAULT '',
    price_minor bigint      NOT NULL CHECK (price_minor >= 0),
    currency    text        NOT NULL,
    -- Units on the shelf, not yet reserved by an order.
    stock       bigint      NOT NULL CHECK (stock >= 0),
    active      boolean     NOT NULL DEFAULT true,
    version     bigint      NOT NULL DEFAULT 1,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    -- Soft delete: gone from the store, still readable for orders that name it.
    deleted_at  timestamptz,
    -- Search keys: the name lowercased without accents (trigram typo tolerance, prefix match,
    -- name order), and the words of name and description (full text, prefix queries).
    search_name text GENERATED ALWAYS AS (lower(f_unaccent(name))) STORED,
    search_doc  tsvector GENERATED ALWAYS AS (
        setweight(to_tsvector('simple', f_unaccent(name)), 'A')
        || setweight(to_tsvector('simple', f_unaccent(description)), 'B')
    ) STORED
);

-- A SKU names one live product per store; a deleted product frees its SKU.
CREATE UNIQUE INDEX products_store_sku_key ON products (store_id, sku) WHERE deleted_at IS NULL;
-- Admin listing, keyset on id.
CREATE INDEX products_store_id ON products (store_id, id);
-- Public listing by name, keyset on (search_name, id); only what is on sale.
CREATE INDEX products_live_by_name ON products (store_id, search_name, id)
    WHERE active AND deleted_at IS NULL;
-- Search: btree_gin puts store_id into the GIN indexes so one store's matches are found
-- without visiting other stores' postings.
CREATE INDEX products_live_doc ON products USING gin (store_id, search_doc)
    WHERE active AND deleted_at IS NULL;
CREATE INDEX products_live_trgm ON products USING gin (store_id, search_name gin_trgm_ops)
    WHERE active AND deleted_at IS NULL;

ALTER TABLE products ENABLE ROW LEVEL SECURITY;
ALTER TABLE products FORCE ROW LEVEL SECURITY;
CREATE POLICY products_store ON products FOR ALL
    USING (store_id = app_store_id()) WITH CHECK (store_id = app_store_id());

-- One row per order that asked for stock; the order id makes reserve-stock idempotent.
CREATE TABLE reservations (
    store_id    uuid        NOT NULL REFERENCES stores (id),
    order_id    uuid        NOT NULL,
    -- reserved → committed | released; rejected and released are final.
    status      text        NOT NULL CHECK (status IN ('reserved', 'rejected', 'released', 'committed')),
    reason      text,
    -- The lines as asked ([{product_id, quantity}]), merged per product: what a release gives back.
    lines       jsonb       NOT NULL DEFAULT '[]',
    -- For a rejection: the lines that could not be met.
    unavailable jsonb       NOT NULL DEFAULT '[]',
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (store_id, order_id)
);

ALTER TABLE reservations ENABLE ROW LEVEL SECURITY;
ALTER TABLE reservations FORCE ROW LEVEL SECURITY;
CREATE POLICY reservations_store ON reservations FOR ALL
    USING (store_id = app_store_id()) WITH CHECK (store_id = app_store_id());
