CREATE EXTENSION IF NOT EXISTS btree_gist;

CREATE TABLE organisations (
    id                 uuid        PRIMARY KEY,
    request_id         uuid        NOT NULL UNIQUE,
    name               text        NOT NULL,
    kind               text        NOT NULL,
    contact_name       text        NOT NULL,
    contact_email      text        NOT NULL,
    newsletter_consent boolean     NOT NULL,
    registered_at      timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE reservations (
    id              uuid        PRIMARY KEY,
    request_id      uuid        NOT NULL UNIQUE,
    organisation_id uuid        NOT NULL REFERENCES organisations (id),
    space           text        NOT NULL,
    starts_at       timestamptz NOT NULL,
    ends_at         timestamptz NOT NULL CHECK (ends_at > starts_at),
    attendees       integer     NOT NULL CHECK (attendees > 0),
    purpose         text        NOT NULL,
    atrium          boolean     NOT NULL,
    channel         text        NOT NULL,
    session_id      uuid,
    created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX reservations_by_organisation ON reservations (organisation_id, starts_at);
CREATE INDEX reservations_lab_time ON reservations USING gist (tstzrange(starts_at, ends_at))
    WHERE space = 'lab';

-- The rooms a reservation holds exclusively (A+B holds a and b; atrium use holds the atrium too).
-- The exclusion constraint makes a double booking impossible, whatever races the consumers run;
-- rooms are claimed first with ON CONFLICT DO NOTHING (race-safe, no error to recover from), and
-- the reservation row follows in the same statement, hence the deferred foreign key.
CREATE TABLE reservation_rooms (
    reservation_id uuid      NOT NULL REFERENCES reservations (id) ON DELETE CASCADE
                             DEFERRABLE INITIALLY DEFERRED,
    room           text      NOT NULL,
    during         tstzrange NOT NULL,
    PRIMARY KEY (reservation_id, room),
    EXCLUDE USING gist (room WITH =, during WITH &&)
);
