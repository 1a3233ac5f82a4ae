-- Staff accounts: the only table holding password hashes (argon2id, parameters in the hash).
CREATE TABLE staff_accounts (
    username      text PRIMARY KEY,
    display_name  text NOT NULL,
    roles         text[] NOT NULL,
    password_hash text NOT NULL,
    disabled_at   timestamptz,
    created_at    timestamptz NOT NULL,
    updated_at    timestamptz NOT NULL
);

-- Browser sessions: the cookie's random id is stored only as its SHA-256 digest.
CREATE TABLE sessions (
    id_digest    bytea PRIMARY KEY,
    kind         text NOT NULL,
    subject      text NOT NULL,
    name         text,
    created_at   timestamptz NOT NULL,
    last_seen_at timestamptz NOT NULL,
    client       text NOT NULL
);
CREATE INDEX sessions_by_subject ON sessions (kind, subject);
CREATE INDEX sessions_by_last_seen ON sessions (last_seen_at);

-- Attempts that throttles count: password failures per account and per client, sign-in link
-- requests per address (its digest) and per client.
CREATE TABLE attempts (
    purpose text NOT NULL,
    key     text NOT NULL,
    at      timestamptz NOT NULL
);
CREATE INDEX attempts_by_key ON attempts (purpose, key, at);
CREATE INDEX attempts_by_time ON attempts (at);

-- Single-use sign-in links (organisation contacts, citizens), stored as their digests.
CREATE TABLE sign_in_links (
    digest     bytea PRIMARY KEY,
    kind       text NOT NULL,
    subject    text NOT NULL,
    created_at timestamptz NOT NULL,
    expires_at timestamptz NOT NULL,
    used_at    timestamptz
);
CREATE INDEX sign_in_links_by_subject ON sign_in_links (kind, subject);
CREATE INDEX sign_in_links_by_expiry ON sign_in_links (expires_at);

-- Registered organisations as booking.events tell them: who may sign in for which.
CREATE TABLE organisations (
    id          uuid PRIMARY KEY,
    name        text NOT NULL,
    contact_key text,
    valid_until timestamptz,
    suspended   boolean NOT NULL DEFAULT false,
    expired     boolean NOT NULL DEFAULT false,
    updated_at  timestamptz NOT NULL
);
CREATE INDEX organisations_by_contact ON organisations (contact_key);

-- Kiosk devices: the secret is shown once and stored as its digest.
CREATE TABLE devices (
    name          text PRIMARY KEY,
    secret_digest bytea NOT NULL,
    created_at    timestamptz NOT NULL,
    revoked_at    timestamptz
);

-- The audit of sign-ins; never a password, never a session id or link.
CREATE TABLE sign_in_audit (
    id      bigserial PRIMARY KEY,
    at      timestamptz NOT NULL,
    outcome text NOT NULL,
    kind    text,  -- unknown for a link that is no link of ours
    subject text,
    client  text NOT NULL
);
CREATE INDEX sign_in_audit_by_time ON sign_in_audit (at);
