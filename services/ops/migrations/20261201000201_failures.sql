-- The parking store: one row per dead-lettered message id.
--
-- A redelivery of a dead letter already parked changes nothing; a message that fails again
-- after a retry comes back to its row: the earlier failure moves into `history`.
CREATE TABLE failures (
    message_id     text PRIMARY KEY,
    -- The work queue it died in (`Q` of `Q.dlq`): where a retry sends it.
    queue          text NOT NULL,
    message_type   text,
    tenant_id      uuid,
    correlation_id text,
    -- The exact bytes (a retry republishes them), and the same as text for searching.
    body           bytea NOT NULL,
    body_text      text NOT NULL,
    -- Every AMQP header as JSON, x-death included.
    headers        jsonb NOT NULL,
    error          text,
    error_kind     text,
    attempts       bigint,
    first_seen     timestamptz NOT NULL DEFAULT now(),
    last_seen      timestamptz NOT NULL DEFAULT now(),
    failure_count  integer NOT NULL DEFAULT 1,
    -- Dead letters received for this id: failures plus redeliveries and duplicates.
    deliveries     integer NOT NULL DEFAULT 1,
    status         text NOT NULL DEFAULT 'parked'
                   CHECK (status IN ('parked', 'retried', 'discarded')),
    status_at      timestamptz NOT NULL DEFAULT now(),
    retried_at     timestamptz,
    retry_count    integer NOT NULL DEFAULT 0,
    -- Earlier failures of the same message id, oldest first.
    history        jsonb NOT NULL DEFAULT '[]'::jsonb
);

CREATE INDEX failures_listing ON failures (status, last_seen DESC, message_id DESC);
CREATE INDEX failures_groups ON failures (status, queue, message_type, error_kind);
CREATE INDEX failures_tenant ON failures (tenant_id, last_seen DESC);
