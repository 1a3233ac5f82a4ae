-- Programs and their sessions (DOMAIN.md, "Programs and events"). A program's row is the lock
-- every registration decision of the program takes: requests keyed by session and by program
-- arrive on different partitions, and are decided one at a time per program.
CREATE TABLE programs (
    id                     uuid        PRIMARY KEY,
    kind                   text        NOT NULL,
    title                  text        NOT NULL,
    title_en               text,
    description            text        NOT NULL DEFAULT '',
    description_en         text,
    status                 text        NOT NULL DEFAULT 'draft'
                                       CHECK (status IN ('draft', 'published', 'cancelled')),
    registration_opens_at  timestamptz NOT NULL,
    registration_closes_at timestamptz,
    priority_until         timestamptz,
    promotion              text        NOT NULL CHECK (promotion IN ('auto', 'offer')),
    offer_hours            integer     NOT NULL CHECK (offer_hours > 0),
    waitlist               boolean     NOT NULL,
    created_at             timestamptz NOT NULL DEFAULT now(),
    published_at           timestamptz,
    cancelled_at           timestamptz
);

CREATE TABLE sessions (
    id                uuid        PRIMARY KEY,
    program_id        uuid        NOT NULL REFERENCES programs (id),
    number            integer     NOT NULL CHECK (number > 0),
    starts_at         timestamptz NOT NULL,
    ends_at           timestamptz NOT NULL CHECK (ends_at > starts_at),
    venue             text        NOT NULL,
    venue_name        text,
    online_url        text,
    state             text        NOT NULL DEFAULT 'draft' CHECK (state IN
                          ('draft', 'pending_venue', 'open', 'venue_rejected', 'cancelled')),
    -- the venue's reservation at the booking service: the request sent, and once confirmed, it
    venue_request_id  uuid UNIQUE,
    reservation_id    uuid,
    venue_reason      text,
    venue_detail      text,
    UNIQUE (program_id, number)
);

-- A place: one session's seat frame. `held` counts the seats of confirmed registrations and open
-- offers, `waiting` the registrations on its waitlist; the check makes overselling impossible
-- whatever a handler computes.
CREATE TABLE places (
    session_id uuid    NOT NULL REFERENCES sessions (id),
    frame      text    NOT NULL CHECK (frame IN ('onsite', 'online')),
    capacity   integer NOT NULL CHECK (capacity >= 0),
    held       integer NOT NULL DEFAULT 0 CHECK (held >= 0 AND held <= capacity),
    waiting    integer NOT NULL DEFAULT 0 CHECK (waiting >= 0),
    PRIMARY KEY (session_id, frame)
);

-- One row per registration request that got a place or a place in the waitlists. `seq` is the
-- order of arrival (assigned under the program's lock, so it is the order of decision).
CREATE TABLE registrations (
    id               uuid        PRIMARY KEY,
    seq              bigserial   UNIQUE,
    request_id       uuid        NOT NULL UNIQUE,
    program_id       uuid        NOT NULL REFERENCES programs (id),
    series           boolean     NOT NULL,
    frame            text        NOT NULL,
    party            integer     NOT NULL CHECK (party BETWEEN 1 AND 4),
    name             text        NOT NULL,
    email            text        NOT NULL,
    email_key        text        NOT NULL,  -- lower case: one mailbox, one registrant
    language         text        NOT NULL,
    note             text        NOT NULL DEFAULT '',
    status           text        NOT NULL CHECK (status IN
                         ('confirmed', 'waitlisted', 'offered', 'cancelled', 'expired', 'declined')),
    check_in_code    text        NOT NULL UNIQUE,
    offer_expires_at timestamptz,
    created_at       timestamptz NOT NULL,
    confirmed_at     timestamptz,
    ended_at         timestamptz
);
CREATE INDEX registrations_waiting ON registrations (program_id, seq) WHERE status = 'waitlisted';

CREATE TABLE registration_sessions (
    registration_id uuid NOT NULL REFERENCES registrations (id),
    session_id      uuid NOT NULL REFERENCES sessions (id),
    PRIMARY KEY (registration_id, session_id)
);
CREATE INDEX registration_sessions_by_session ON registration_sessions (session_id);

-- Who came: one row per registration and session, at most once.
CREATE TABLE attendance (
    registration_id uuid        NOT NULL REFERENCES registrations (id),
    session_id      uuid        NOT NULL REFERENCES sessions (id),
    recorded_at     timestamptz NOT NULL,
    recorded_by     text        NOT NULL,
    PRIMARY KEY (registration_id, session_id)
);
