-- The consultation desk's cases (DOMAIN.md, "Consultations"). What a case *is* (kind, channel,
-- state, topics, times, who worked it) lies in plain columns: the statistics count it and the
-- rules decide on it. What a case is *about* (access.CONTENT: the requester, the narrative,
-- notes, referral details) lies only in bytea columns sealed by services/consultation/sealing.py,
-- each value bound to its case and field, so a database dump shows no content.

CREATE TABLE cases (
    id                uuid        PRIMARY KEY,
    reference         text        NOT NULL UNIQUE,
    kind              text        NOT NULL,
    channel           text        NOT NULL,
    state             text        NOT NULL,
    topics            text[]      NOT NULL DEFAULT '{}',
    parent_id         uuid        REFERENCES cases (id),
    assignee          text,         -- who works it now (the last of case_assignments)
    received_at       timestamptz NOT NULL,
    first_response_at timestamptz,
    closed_at         timestamptz,  -- the last closing while the case is closed
    outcome           text,         -- likewise
    erased_at         timestamptz   -- its personal data erased after the retention period
);
CREATE INDEX cases_received_at ON cases (received_at);
CREATE INDEX cases_assignee ON cases (assignee);
CREATE INDEX cases_closed_at ON cases (closed_at) WHERE state = 'closed' AND erased_at IS NULL;

-- The reference numbers given per fiscal year (C2024-0001, ...).
CREATE TABLE case_references (
    fiscal_year integer PRIMARY KEY,
    last        integer NOT NULL
);

-- Sealed content, one value per case and field (requester_name, requester_contact,
-- organisation_name, narrative); erased by the retention sweep.
CREATE TABLE case_content (
    case_id    uuid        NOT NULL REFERENCES cases (id),
    field      text        NOT NULL,
    sealed     bytea       NOT NULL,
    written_by text        NOT NULL,  -- 'web' or the staff member's username
    written_at timestamptz NOT NULL,
    PRIMARY KEY (case_id, field)
);

-- The staff's working notes, each sealed on its own (field `notes/<id>`).
CREATE TABLE case_notes (
    id         bigserial   PRIMARY KEY,
    case_id    uuid        NOT NULL REFERENCES cases (id),
    sealed     bytea       NOT NULL,
    written_by text        NOT NULL,
    written_at timestamptz NOT NULL
);
CREATE INDEX case_notes_case ON case_notes (case_id, id);

-- Every step a case took, in order: the state history.
CREATE TABLE case_steps (
    id      bigserial   PRIMARY KEY,
    case_id uuid        NOT NULL REFERENCES cases (id),
    step    text        NOT NULL,  -- the event type, e.g. case.assigned
    state   text        NOT NULL,  -- the state the step left the case in
    by      text,                  -- the staff member; NULL for the web form or the schedule
    at      timestamptz NOT NULL
);
CREATE INDEX case_steps_case ON case_steps (case_id, id);

-- Assignments, the earlier ones kept: the last one is who works the case.
CREATE TABLE case_assignments (
    id       bigserial   PRIMARY KEY,
    case_id  uuid        NOT NULL REFERENCES cases (id),
    assignee text        NOT NULL,
    by       text        NOT NULL,
    at       timestamptz NOT NULL
);
CREATE INDEX case_assignments_case ON case_assignments (case_id, id);
CREATE INDEX case_assignments_assignee ON case_assignments (assignee);

-- Every closing, the reopened ones included.
CREATE TABLE case_closings (
    id      bigserial   PRIMARY KEY,
    case_id uuid        NOT NULL REFERENCES cases (id),
    outcome text        NOT NULL,
    by      text        NOT NULL,
    at      timestamptz NOT NULL
);
CREATE INDEX case_closings_case ON case_closings (case_id, id);

-- Referrals: the category of whom, when, the outcome in plain; to whom exactly and why sealed.
CREATE TABLE referrals (
    id          uuid        PRIMARY KEY,
    case_id     uuid        NOT NULL REFERENCES cases (id),
    seq         bigserial,
    target      text        NOT NULL,
    by          text        NOT NULL,
    referred_at timestamptz NOT NULL,
    outcome     text,
    ended_at    timestamptz,
    details     bytea       -- sealed, field `referral_details/<id>`
);
CREATE INDEX referrals_case ON referrals (case_id, seq);

-- Simple facility questions: counted, never cases.
CREATE TABLE inquiries (
    id        uuid        PRIMARY KEY,
    channel   text        NOT NULL,
    topics    text[]      NOT NULL DEFAULT '{}',
    by        text,
    logged_at timestamptz NOT NULL
);

-- Who read which case, when, which fields; refused attempts too. Append-only: rows can be added
-- and read, never changed or removed, not even by the service's own login (the trigger stands
-- whatever privileges a connection holds; only dropping it, a migration's business, lifts it).
CREATE TABLE case_reads (
    id        bigserial   PRIMARY KEY,
    at        timestamptz NOT NULL DEFAULT now(),
    principal text        NOT NULL,  -- kind:subject
    roles     text[]      NOT NULL DEFAULT '{}',
    case_id   uuid,                  -- NULL for a list or a search
    action    text        NOT NULL,  -- read | list | audit
    fields    text[]      NOT NULL DEFAULT '{}',
    outcome   text        NOT NULL CHECK (outcome IN ('shown', 'refused', 'not_found'))
);
CREATE INDEX case_reads_case ON case_reads (case_id, id);
CREATE INDEX case_reads_principal ON case_reads (principal, id);

CREATE FUNCTION case_reads_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'case_reads is append-only: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END
$$;
CREATE TRIGGER case_reads_no_update_delete BEFORE UPDATE OR DELETE ON case_reads
    FOR EACH ROW EXECUTE FUNCTION case_reads_append_only();
CREATE TRIGGER case_reads_no_truncate BEFORE TRUNCATE ON case_reads
    FOR EACH STATEMENT EXECUTE FUNCTION case_reads_append_only();
