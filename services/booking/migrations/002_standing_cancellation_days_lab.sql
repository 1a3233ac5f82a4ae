-- Organisations: a registration term, and suspension by staff.
ALTER TABLE organisations
    ADD COLUMN valid_until       timestamptz,
    ADD COLUMN suspended_at      timestamptz,
    ADD COLUMN suspension_reason text NOT NULL DEFAULT '';
UPDATE organisations SET valid_until = registered_at + interval '3 years';
ALTER TABLE organisations ALTER COLUMN valid_until SET NOT NULL;

-- Staff and the events service book on behalf of the city, which is no registered organisation.
ALTER TABLE reservations DROP CONSTRAINT reservations_organisation_id_fkey;

-- Cancellation keeps the reservation (for reports) and frees its rooms at once.
ALTER TABLE reservations
    ADD COLUMN cancelled_at timestamptz,
    ADD COLUMN cancelled_by text;
-- No new index on reservations: each one costs every insert on the hot path, and an index on
-- starts_at alone lures the planner away from reservations_by_organisation for the quota count
-- (a reservation lies within one day, so "not yet ended" is a starts_at range of one organisation).
DROP INDEX reservations_lab_time;
CREATE INDEX reservations_lab_time ON reservations USING gist (tstzrange(starts_at, ends_at))
    WHERE space = 'lab' AND cancelled_at IS NULL;

-- Days staff closed (blackouts), and the closing time decided at each weekday's evening cut-off.
CREATE TABLE blackouts (
    day        date        PRIMARY KEY,
    reason     text        NOT NULL,
    request_id uuid        NOT NULL,
    set_at     timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE day_closings (
    day        date        PRIMARY KEY,
    closes_at  timestamptz NOT NULL,
    decided_at timestamptz NOT NULL DEFAULT now()
);

-- Lab drop-in visits at the kiosk: one usage slip (利用票) per check-in, numbered per day.
CREATE TABLE lab_slip_counters (
    day  date    PRIMARY KEY,
    last integer NOT NULL
);
CREATE TABLE lab_visits (
    slip_number     text        PRIMARY KEY,
    request_id      uuid        NOT NULL UNIQUE,
    organisation_id uuid        NOT NULL REFERENCES organisations (id),
    people          integer     NOT NULL CHECK (people > 0),
    day             date        NOT NULL,
    checked_in_at   timestamptz NOT NULL,
    checked_out_at  timestamptz
);
CREATE INDEX lab_visits_by_day ON lab_visits (day);
