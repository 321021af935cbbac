-- Typo queries without touching the GIN index: a per-store vocabulary of every lexeme of live
-- products' names and descriptions, in byte order.
--
-- A typo ("chocolte") is a query whose word prefixes match nothing. Learning that took two
-- lookups in the `(store_id, search_doc)` GIN index, each reading the store's whole `store_id`
-- posting list. With this table, "no lexeme of the store starts with this word" is one btree
-- probe per word (COLLATE "C": the lexemes starting with w are exactly the first ones >= w),
-- and the search goes straight to the typo reading.
--
-- The trigger only adds lexemes (like `search_words`): a lexeme whose products are gone makes
-- the probe say "maybe", and the search then asks the GIN index as before. The probe only
-- ever rules a query out when no product could match it.
CREATE TABLE search_lexemes (
    store_id uuid NOT NULL REFERENCES stores (id),
    lexeme   text COLLATE "C" NOT NULL,
    PRIMARY KEY (store_id, lexeme)
);

-- Public like `search_words` (they come from what a storefront shows); only the store writes.
ALTER TABLE search_lexemes ENABLE ROW LEVEL SECURITY;
ALTER TABLE search_lexemes FORCE ROW LEVEL SECURITY;
CREATE POLICY search_lexemes_read ON search_lexemes FOR SELECT USING (true);
CREATE POLICY search_lexemes_insert ON search_lexemes FOR INSERT WITH CHECK (store_id = app_store_id());

-- Exactly the lexemes `search_doc` holds for a name and a description.
CREATE FUNCTION search_lexemes_of(text, text) RETURNS SETOF text
    LANGUAGE sql IMMUTABLE PARALLEL SAFE STRICT
    AS $$
        -- A tsvector (a concatenation too) holds each lexeme once.
        SELECT w
        FROM unnest(tsvector_to_array(
            to_tsvector('simple'::regconfig, f_unaccent($1))
            || to_tsvector('simple'::regconfig, f_unaccent($2)))) AS w
        ORDER BY w COLLATE "C"
    $$;

CREATE OR REPLACE FUNCTION product_search_sync() RETURNS trigger LANGUAGE plpgsql AS $$
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
        -- In word order, so two transactions adding the same new words wait, never deadlock.
        INSERT INTO search_words (store_id, word)
        SELECT NEW.store_id, w FROM search_words_of(NEW.name) AS w
        ON CONFLICT DO NOTHING;
        INSERT INTO search_lexemes (store_id, lexeme)
        SELECT NEW.store_id, w FROM search_lexemes_of(NEW.name, NEW.description) AS w
        ON CONFLICT DO NOTHING;
    ELSE
        DELETE FROM product_search WHERE product_id = NEW.id;
    END IF;
    RETURN NULL;
END;
$$;

-- Backfill, with the written table's forced policy lifted for this statement of the
-- migration's transaction (the owner acts for no store here).
ALTER TABLE search_lexemes NO FORCE ROW LEVEL SECURITY;
INSERT INTO search_lexemes (store_id, lexeme)
SELECT DISTINCT p.store_id, w FROM product_search p, search_lexemes_of(p.name, p.description) AS w
ON CONFLICT DO NOTHING;
ALTER TABLE search_lexemes FORCE ROW LEVEL SECURITY;
