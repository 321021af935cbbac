-- Custom domains are claimed, then proven: a claim is `pending` with a random token that the
-- merchant publishes as a DNS TXT record at `_summit-challenge.<domain>`; only a `verified`
-- domain resolves to its store.
--
-- Uniqueness moves from every claim to verified domains only, so a squatter's pending claim
-- cannot block the domain's real owner: any number of stores may have the same domain pending,
-- one at most has it verified (the index is the arbiter when two verify at once).
--
-- Domains claimed before this migration were never proven: they become pending, each with a
-- fresh token, and stop resolving until their merchant publishes the record and verifies.

ALTER TABLE stores
    ADD COLUMN custom_domain_status      text CHECK (custom_domain_status IN ('pending', 'verified')),
    -- 256 random bits, hex. Not a secret: it is published in DNS.
    ADD COLUMN custom_domain_token       text,
    ADD COLUMN custom_domain_verified_at timestamptz,
    -- When the last check (by the merchant or the periodic job) looked the record up.
    ADD COLUMN custom_domain_checked_at  timestamptz;

-- Row-level security is forced on stores and no store is named here, so an UPDATE would touch
-- no row: release the owner (the role migrating) for this transaction's data fix only.
ALTER TABLE stores NO FORCE ROW LEVEL SECURITY;
UPDATE stores
SET custom_domain_status = 'pending',
    custom_domain_token = encode(
        sha256(convert_to(gen_random_uuid()::text || gen_random_uuid()::text, 'UTF8')), 'hex')
WHERE custom_domain IS NOT NULL;
ALTER TABLE stores FORCE ROW LEVEL SECURITY;

-- A domain, its status and its token come and go together.
ALTER TABLE stores ADD CONSTRAINT stores_custom_domain_claim CHECK (
    (custom_domain IS NULL) = (custom_domain_status IS NULL)
    AND (custom_domain IS NULL) = (custom_domain_token IS NULL)
    AND (custom_domain_status = 'verified') = (custom_domain_verified_at IS NOT NULL)
);

ALTER TABLE stores DROP CONSTRAINT stores_custom_domain_key;
-- One store at most owns a domain, and owning means verified. Also serves resolve by host.
CREATE UNIQUE INDEX stores_verified_domain_key ON stores (custom_domain)
    WHERE custom_domain_status = 'verified';
-- The periodic re-check walks the pending claims, least recently checked first.
CREATE INDEX stores_pending_domains ON stores (custom_domain_checked_at NULLS FIRST, id)
    WHERE custom_domain_status = 'pending';
