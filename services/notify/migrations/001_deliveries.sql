-- One row per e-mail to send, written in the transaction that consumed the event which asked for it
-- (so a redelivered event, stopped by the inbox, never queues a second one). The sender claims rows
-- with SKIP LOCKED and stamps sent_at in the transaction that holds the row while sending.
CREATE TABLE deliveries (
    id              bigserial   PRIMARY KEY,
    source_id       uuid        NOT NULL,
    kind            text        NOT NULL,
    recipient       text        NOT NULL,
    subject         text        NOT NULL,
    body_text       text        NOT NULL,
    status          text        NOT NULL DEFAULT 'pending'
                                CHECK (status IN ('pending', 'sent', 'failed')),
    attempts        integer     NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    last_error      text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    sent_at         timestamptz,
    UNIQUE (source_id, kind, recipient)
);
CREATE INDEX deliveries_due ON deliveries (next_attempt_at) WHERE status = 'pending';
