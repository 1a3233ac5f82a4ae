-- Expert consultation days (experts.py): the kind of expert and the day, its slots, and the case
-- each slot is booked for. Nothing of a case's content lies here: the reminder reads the
-- requester's address from the sealed content when it goes out.
CREATE TABLE expert_days (
    id           uuid        PRIMARY KEY,
    expert       text        NOT NULL,
    day          date        NOT NULL,
    opened_by    text        NOT NULL,
    opened_at    timestamptz NOT NULL,
    cancelled_at timestamptz
);
CREATE INDEX expert_days_day ON expert_days (day);

CREATE TABLE expert_slots (
    id        uuid        PRIMARY KEY,
    day_id    uuid        NOT NULL REFERENCES expert_days (id),
    starts_at timestamptz NOT NULL,
    ends_at   timestamptz NOT NULL CHECK (ends_at > starts_at),
    case_id   uuid        REFERENCES cases (id),  -- the case it is booked for; NULL while free
    language  text,                               -- the requester's, for the reminder
    booked_by text,
    booked_at timestamptz,
    CHECK ((case_id IS NULL) = (booked_at IS NULL)),
    UNIQUE (day_id, case_id)                      -- one slot a day for a case
);
CREATE INDEX expert_slots_day ON expert_slots (day_id, starts_at);
CREATE INDEX expert_slots_case ON expert_slots (case_id) WHERE case_id IS NOT NULL;
