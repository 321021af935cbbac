-- Edit-and-retry keeps what a message was before each edit: the audit of the original.
CREATE TABLE edits (
    id            bigserial PRIMARY KEY,
    message_id    text NOT NULL REFERENCES failures (message_id) ON DELETE CASCADE,
    edited_at     timestamptz NOT NULL DEFAULT now(),
    -- The bytes as they were parked (or as the previous edit left them), and as edited.
    original_body bytea NOT NULL,
    edited_body   bytea NOT NULL
);

CREATE INDEX edits_message ON edits (message_id, id);

-- The archive (discarded rows) is trimmed by age.
CREATE INDEX failures_archive ON failures (status_at) WHERE status = 'discarded';
