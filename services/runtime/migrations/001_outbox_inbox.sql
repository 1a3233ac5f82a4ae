-- Transactional outbox: a handler's outgoing messages, written in the same transaction as its state.
-- The relay publishes unpublished rows in id order and stamps published_at.
CREATE TABLE outbox (
    id           bigserial PRIMARY KEY,
    topic        text        NOT NULL,
    key          text,
    value        bytea       NOT NULL,
    headers      jsonb       NOT NULL DEFAULT '{}'::jsonb,
    created_at   timestamptz NOT NULL DEFAULT now(),
    published_at timestamptz
);
CREATE INDEX outbox_unpublished ON outbox (id) WHERE published_at IS NULL;

-- Inbox: every consumed message_id, recorded with its effect. `replies` are the outbox ids the
-- message produced, so a retried command is answered again with the very same outcome.
CREATE TABLE inbox (
    message_id  uuid        PRIMARY KEY,
    type        text        NOT NULL,
    received_at timestamptz NOT NULL DEFAULT now(),
    replies     bigint[]    NOT NULL DEFAULT '{}'
);
