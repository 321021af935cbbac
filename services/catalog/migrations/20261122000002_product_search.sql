-- The public search reads its own copy of the live products.
--
-- Why: under row-level security Postgres may not evaluate a non-leakproof operator (`@@`,
-- `<%`, LIKE) before the policy, so such conditions cannot be index conditions on `products`:
-- every search scanned the whole store. `product_search` holds only what a storefront shows
-- anyone (live products' public fields), so its SELECT policy is `true` — which lets the
-- planner use the indexes — while writes stay confined to the acting store. A trigger keeps it
-- in step with `products` in the same transaction. Queries still always filter by store_id.

DROP INDEX products_live_doc;
DROP INDEX products_live_trgm;
DROP INDEX products_live_by_name;
ALTER TABLE products DROP COLUMN search_doc, DROP COLUMN search_name;

CREATE TABLE product_search (
    product_id  uuid    PRIMARY KEY REFERENCES products (id),
    store_id    uuid    NOT NULL REFERENCES stores (id),
    sku         text    NOT NULL,
    name        text    NOT NULL,
    description text    NOT NULL,
    price_minor bigint  NOT NULL,
    currency    text    NOT NULL,
    in_stock    boolean NOT NULL,
    -- The name lowercased without accents (typo tolerance, prefixes, name order), and the
    -- words of name [A] and description [B].
    search_name text GENERATED ALWAYS AS (lower(f_unaccent(name))) STORED,
    search_doc  tsvector GENERATED ALWAYS AS (
        setweight(to_tsvector('simple', f_unaccent(name)), 'A')
        || setweight(to_tsvector('simple', f_unaccent(description)), 'B')
    ) STORED
);

CREATE INDEX product_search_by_name ON product_search (store_id, search_name, product_id);
-- btree_gin puts store_id into the GIN indexes: one store's matches without other stores'.
CREATE INDEX product_search_doc ON product_search USING gin (store_id, search_doc);
CREATE INDEX product_search_trgm ON product_search USING gin (store_id, search_name gin_trgm_ops);

ALTER TABLE product_search ENABLE ROW LEVEL SECURITY;
ALTER TABLE product_search FORCE ROW LEVEL SECURITY;
CREATE POLICY product_search_read ON product_search FOR SELECT USING (true);
CREATE POLICY product_search_insert ON product_search FOR INSERT WITH CHECK (store_id = app_store_id());
CREATE POLICY product_search_update ON product_search FOR UPDATE
    USING (store_id = app_store_id()) WITH CHECK (store_id = app_store_id());
CREATE POLICY product_search_delete ON product_search FOR DELETE USING (store_id = app_store_id());

CREATE FUNCTION product_search_sync() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.active AND NEW.deleted_at IS NULL THEN
        INSERT INTO product_search
            (product_id, store_id, sku, name, description, price_minor, currency, in_stock)
        VALUES (NEW.id, NEW.store_id, NEW.sku, NEW.name, NEW.description, NEW.price_minor,
                NEW.currency, NEW.stock > 0)
        ON CONFLICT (product_id) DO UPDATE SET
            sku = EXCLUDED.sku, name = EXCLUDED.name, description = EXCLUDED.description,
            price_minor = EXCLUDED.price_minor, currency = EXCLUDED.currency,
            in_stock = EXCLUDED.in_stock;
    ELSE
        DELETE FROM product_search WHERE product_id = NEW.id;
    END IF;
    RETURN NULL;
END;
$$;

CREATE TRIGGER product_search_insert AFTER INSERT ON products
    FOR EACH ROW EXECUTE FUNCTION product_search_sync();
-- Reservations change stock all the time; only a change the search shows touches the copy.
CREATE TRIGGER product_search_update AFTER UPDATE ON products
    FOR EACH ROW
    WHEN ((OLD.sku, OLD.name, OLD.description, OLD.price_minor, OLD.currency, OLD.active,
           OLD.deleted_at, OLD.stock > 0)
          IS DISTINCT FROM
          (NEW.sku, NEW.name, NEW.description, NEW.price_minor, NEW.currency, NEW.active,
           NEW.deleted_at, NEW.stock > 0))
    EXECUTE FUNCTION product_search_sync();

-- Backfill. The owner is bound by the forced policies (and sees no store here), so lift them
-- for this one statement of the migration's transaction.
ALTER TABLE products NO FORCE ROW LEVEL SECURITY;
ALTER TABLE product_search NO FORCE ROW LEVEL SECURITY;
INSERT INTO product_search (product_id, store_id, sku, name, description, price_minor, currency, in_stock)
SELECT id, store_id, sku, name, description, price_minor, currency, stock > 0
FROM products WHERE active AND deleted_at IS NULL;
ALTER TABLE products FORCE ROW LEVEL SECURITY;
ALTER TABLE product_search FORCE ROW LEVEL SECURITY;
