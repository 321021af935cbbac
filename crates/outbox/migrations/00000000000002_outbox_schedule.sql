-- Retries scheduled in the service's own database, leases instead of a transaction held across
-- a broker round trip, and rows set aside when they can never be published.

-- A message may now have several rows: the first publish (attempt 1) and a retry per attempt,
-- each to its own queue. Unique per (message, destination, attempt), so a redelivered failure
-- never schedules the same retry twice.
ALTER TABLE outbox DROP CONSTRAINT outbox_message_id_key;
ALTER TABLE outbox
    ADD COLUMN attempt      integer     NOT NULL DEFAULT 1,
    -- Commands and retries must reach a queue; an event to a fanout with no subscriber need not.
    ADD COLUMN mandatory    boolean     NOT NULL DEFAULT true,
    -- Not published before this instant: now() for events, now() + backoff for retries.
    ADD COLUMN due_at       timestamptz NOT NULL DEFAULT now(),
    -- A relay holds the row until then while it publishes; an expired lease means it died.
    ADD COLUMN leased_until timestamptz,
    -- Publishes the broker refused because of the message itself (unroutable, nacked).
    ADD COLUMN tries        integer     NOT NULL DEFAULT 0,
    ADD COLUMN last_error   text,
    -- Set aside after too many refusals: kept, counted, never blocking the rows behind it.
    ADD COLUMN parked_at    timestamptz;

UPDATE outbox SET mandatory = false WHERE exchange LIKE '%.events';

CREATE UNIQUE INDEX outbox_message_attempt ON outbox (message_id, routing_key, attempt);
DROP INDEX outbox_unpublished;
CREATE INDEX outbox_due ON outbox (due_at, id) WHERE published_at IS NULL AND parked_at IS NULL;
CREATE INDEX outbox_parked ON outbox (parked_at) WHERE parked_at IS NOT NULL AND published_at IS NULL;
