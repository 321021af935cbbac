-- Faster search: prefix pages straight off the name index, typos through a word vocabulary.
--
-- 1. `search_name` compares in byte order (COLLATE "C"). Then the btree
--    (store_id, search_name, product_id) serves `starts_with(search_name, $q)` as a range scan in
--    name order (Postgres 15 plans `starts_with`/`^@` on a btree only under the C collation, and
--    a prefix range is only a range in an order that ignores nothing). The first page of "choc"
--    is then the first rows of that range, instead of ranking every match. The names are
--    lowercased and unaccented already, so byte order is also a sensible display order.
ALTER TABLE product_search ALTER COLUMN search_name TYPE text COLLATE "C";

-- 2. Typo tolerance the way pg_trgm's documentation suggests for full text search (F.35,
--    "Text Search Integration"): a per-store vocabulary of the words in live products' names,
--    with a trigram index. A query word that starts nothing is replaced by its closest words
--    (`word % $w`), and the corrected query runs as an ordinary prefix search. That is a
--    lookup among a store's distinct words instead of a similarity ranking of every product.
--    The trigger only adds words; a word whose products are gone is harmless (the corrected
--    search simply finds nothing for it).
CREATE TABLE search_words (
    store_id uuid NOT NULL REFERENCES stores (id),
    word     text NOT NULL,
    PRIMARY KEY (store_id, word)
);
-- btree_gin puts store_id into the GIN index: one store's words only.
CREATE INDEX search_words_trgm ON search_words USING gin (store_id, word gin_trgm_ops);

-- Words are public (they come from names anyone can search); only the store writes its own.
ALTER TABLE search_words ENABLE ROW LEVEL SECURITY;
ALTER TABLE search_words FORCE ROW LEVEL SECURITY;
CREATE POLICY search_words_read ON search_words FOR SELECT USING (true);
CREATE POLICY search_words_insert ON search_words FOR INSERT WITH CHECK (store_id = app_store_id());
CREATE POLICY search_words_delete ON search_words FOR DELETE USING (store_id = app_store_id());

-- The words worth correcting towards: the lexemes `search_doc` holds for a name (so a correction
-- is something `@@` can find), made of letters and digits only, with a letter, 3+ long.
CREATE FUNCTION search_words_of(text) RETURNS SETOF text
    LANGUAGE sql IMMUTABLE PARALLEL SAFE STRICT
    AS $$
        SELECT DISTINCT w
        FROM unnest(tsvector_to_array(to_tsvector('simple'::regconfig, f_unaccent($1)))) AS w
        WHERE w ~ '^[[:alnum:]]{3,}$' AND w ~ '[[:alpha:]]'
        ORDER BY w
    $$;

-- The typo reading no longer ranks names by trigram similarity.
DROP INDEX product_search_trgm;

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
    ELSE
        DELETE FROM product_search WHERE product_id = NEW.id;
    END IF;
    RETURN NULL;
END;
$$;

-- Backfill. The owner is bound by the forced policies (and acts for no store here), so lift
-- them on the written table for this statement of the migration's transaction.
ALTER TABLE search_words NO FORCE ROW LEVEL SECURITY;
INSERT INTO search_words (store_id, word)
SELECT DISTINCT p.store_id, w FROM product_search p, search_words_of(p.name) AS w
ON CONFLICT DO NOTHING;
ALTER TABLE search_words FORCE ROW LEVEL SECURITY;
