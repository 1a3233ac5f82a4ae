-- Newsletter subscribers (DOMAIN.md, "Information and notifications"). One row per address.
-- `generation` grows with every subscription request, and confirmation links carry it, so an old
-- confirmation link cannot re-activate an address that unsubscribed since.
CREATE TABLE subscribers (
    id                 bigserial   PRIMARY KEY,
    email              text        NOT NULL UNIQUE,
    language           text        NOT NULL DEFAULT 'ja' CHECK (language IN ('ja', 'en')),
    status             text        NOT NULL DEFAULT 'pending'
                                   CHECK (status IN ('pending', 'active', 'unsubscribed')),
    source             text        NOT NULL DEFAULT 'web' CHECK (source IN ('web', 'organisation')),
    organisation_id    uuid,
    generation         integer     NOT NULL DEFAULT 1,
    confirm_expires_at timestamptz,
    created_at         timestamptz NOT NULL DEFAULT now(),
    confirmed_at       timestamptz,
    unsubscribed_at    timestamptz
);
CREATE INDEX subscribers_active ON subscribers (id) WHERE status = 'active';
CREATE INDEX subscribers_organisation ON subscribers (organisation_id)
    WHERE organisation_id IS NOT NULL;

-- Permanent refusals (SMTP 5xx) per address; at BOUNCE_LIMIT the address gets no newsletter.
CREATE TABLE bounces (
    recipient  text        PRIMARY KEY,
    count      integer     NOT NULL DEFAULT 0,
    last_code  integer,
    last_at    timestamptz NOT NULL DEFAULT now()
);

-- Newsletter issues; the id is the message_id of the staff's `newsletter.publish` command. The
-- parts are rendered once at publication; the sender adds what differs per recipient.
CREATE TABLE newsletter_issues (
    id            uuid        PRIMARY KEY,
    subject       text        NOT NULL,
    body_markdown text        NOT NULL,
    body_html     text        NOT NULL,
    body_text     text        NOT NULL,
    send_at       timestamptz NOT NULL,
    status        text        NOT NULL DEFAULT 'scheduled'
                              CHECK (status IN ('scheduled', 'sending')),
    recipients    integer,
    created_at    timestamptz NOT NULL DEFAULT now(),
    started_at    timestamptz
);

-- Newsletter deliveries point at their issue and subscriber instead of carrying a body each;
-- opened_at is the first time the tracking pixel was fetched.
ALTER TABLE deliveries
    ADD COLUMN issue_id      uuid REFERENCES newsletter_issues (id),
    ADD COLUMN subscriber_id bigint,
    ADD COLUMN language      text NOT NULL DEFAULT 'ja',
    ADD COLUMN opened_at     timestamptz;
CREATE INDEX deliveries_issue ON deliveries (issue_id, status) WHERE issue_id IS NOT NULL;
CREATE INDEX deliveries_sent_at ON deliveries (sent_at) WHERE issue_id IS NOT NULL;
