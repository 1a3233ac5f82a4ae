-- The durable schedule (ARCHITECTURE.md: time-based work lives in PostgreSQL, not in timers).
-- One row per future piece of work; (kind, key) names it, so scheduling twice is harmless and a
-- job can be cancelled by name. A job runs once: its effects and its 'done' mark share a
-- transaction.
CREATE TABLE scheduled_jobs (
    id         bigserial   PRIMARY KEY,
    kind       text        NOT NULL,
    key        text        NOT NULL,
    due_at     timestamptz NOT NULL,
    payload    jsonb       NOT NULL DEFAULT '{}'::jsonb,
    status     text        NOT NULL DEFAULT 'pending'
                           CHECK (status IN ('pending', 'done', 'cancelled', 'failed')),
    attempts   integer     NOT NULL DEFAULT 0,
    last_error text,
    created_at timestamptz NOT NULL DEFAULT now(),
    done_at    timestamptz,
    UNIQUE (kind, key)
);
CREATE INDEX scheduled_jobs_due ON scheduled_jobs (due_at) WHERE status = 'pending';
