-- Who sent each command (the proven caller, `kind:subject`), so its answers are served over HTTP
-- to that caller alone; and the audit of what staff did and of every refused command.
ALTER TABLE inbox ADD COLUMN sender text;

CREATE TABLE audit_log (
    id          bigserial PRIMARY KEY,
    at          timestamptz NOT NULL DEFAULT now(),
    principal   text        NOT NULL,  -- kind:subject, or 'anonymous'
    roles       text[]      NOT NULL DEFAULT '{}',
    action      text        NOT NULL,  -- the command's type
    message_id  uuid,
    outcome     text        NOT NULL,  -- done | unauthorized | forbidden
    reason      text
);
CREATE INDEX audit_log_at ON audit_log (at);
CREATE INDEX audit_log_principal ON audit_log (principal, at);
