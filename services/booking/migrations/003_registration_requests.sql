-- Registration requests: anyone asks (the public form); staff interview the organisation, then
-- register it naming the request, or close the request. One open request per address.
CREATE TABLE registration_requests (
    id                 uuid        PRIMARY KEY,
    name               text        NOT NULL,
    kind               text        NOT NULL,
    contact_name       text        NOT NULL,
    contact_email      text        NOT NULL,
    newsletter_consent boolean     NOT NULL,
    note               text        NOT NULL DEFAULT '',
    requested_at       timestamptz NOT NULL,
    closed_at          timestamptz,
    outcome            text        CHECK (outcome IN ('registered', 'closed')),
    organisation_id    uuid,
    close_reason       text        NOT NULL DEFAULT ''
);
CREATE UNIQUE INDEX registration_requests_open_per_address
    ON registration_requests (lower(contact_email)) WHERE closed_at IS NULL;
