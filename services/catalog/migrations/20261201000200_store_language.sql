-- The language a store addresses shoppers and its merchant in (BCP 47). It travels in
-- StoreCreated/StoreUpdated so checkout and notifications speak it without asking catalog.
ALTER TABLE stores
    ADD COLUMN language text NOT NULL DEFAULT 'pt-BR' CHECK (language IN ('pt-BR', 'en'));
