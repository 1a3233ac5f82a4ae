-- One row per e-mail to send, written in the transaction that consumed the event which asked for it
-- (so a redelivered event, stopped by the inbox, never queues a second one). A sender leases a few
-- due rows at a time ('sending' until lease_until) and marks each one the moment the SMTP server
-- accepted it, so after a crash only the message in flight can be sent again.
CREATE TABLE deliveries (
    id              bigserial   PRIMARY KEY,
    source_id       uuid        NOT NULL,
    kind            text        NOT NULL,
    recipient       text        NOT NULL,
    subject         text        NOT NULL,
    body_text       text        NOT NULL,
    status          text        NOT NULL DEFAULT 'pending'
                                CHECK (status IN ('pending', 'sending', 'sent', 'failed')),
    attempts        integer     NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    lease_until     timestamptz,
    last_error      text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    sent_at         timestamptz,
    UNIQUE (source_id, kind, recipient)
);
CREATE INDEX deliveries_due ON deliveries (next_attempt_at) WHERE status = 'pending';
CREATE INDEX deliveries_leased ON deliveries (lease_until) WHERE status = 'sending';
