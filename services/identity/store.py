"""asyncpg queries of the identity service. Times are passed in (the service's clock), never
taken from the database's `now()`, so that rehearsals with CLOCK_SHIFT_S and tests agree."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TypeAlias
from uuid import UUID

import asyncpg

from contracts.identity import PrincipalKind, Role
from services.identity.domain import Organisation, Outcome, StaffAccount

Conn: TypeAlias = asyncpg.Connection | asyncpg.Pool

# --- staff accounts ---------------------------------------------------------------------------


@dataclass(frozen=True)
class StoredAccount:
    account: StaffAccount
    password_hash: str


def _account(row: asyncpg.Record) -> StaffAccount:
    return StaffAccount(
        username=row["username"],
        display_name=row["display_name"],
        roles=frozenset(Role(r) for r in row["roles"] if r in Role._value2member_map_),
        disabled=row["disabled_at"] is not None,
    )


async def load_account(conn: Conn, username: str) -> StoredAccount | None:
    row = await conn.fetchrow("SELECT * FROM staff_accounts WHERE username = $1", username)
    return None if row is None else StoredAccount(_account(row), row["password_hash"])


async def list_accounts(conn: Conn) -> list[StaffAccount]:
    rows = await conn.fetch("SELECT * FROM staff_accounts ORDER BY username")
    return [_account(r) for r in rows]


async def insert_account(
    conn: Conn, account: StaffAccount, password_hash: str, now: datetime
) -> bool:
    """False when the username is taken."""
    done = await conn.fetchval(
        "INSERT INTO staff_accounts (username, display_name, roles, password_hash, created_at,"
        " updated_at) VALUES ($1, $2, $3, $4, $5, $5) ON CONFLICT DO NOTHING RETURNING 1",
        account.username, account.display_name, sorted(r.value for r in account.roles),
        password_hash, now,
    )  # fmt: skip
    return done is not None


async def update_account(conn: Conn, account: StaffAccount, now: datetime) -> None:
    await conn.execute(
        "UPDATE staff_accounts SET display_name = $2, roles = $3, updated_at = $4,"
        " disabled_at = CASE WHEN $5 THEN coalesce(disabled_at, $4) END WHERE username = $1",
        account.username, account.display_name, sorted(r.value for r in account.roles), now,
        account.disabled,
    )  # fmt: skip


async def set_password_hash(conn: Conn, username: str, password_hash: str, now: datetime) -> None:
    await conn.execute(
        "UPDATE staff_accounts SET password_hash = $2, updated_at = $3 WHERE username = $1",
        username, password_hash, now,
    )  # fmt: skip


async def lock_accounts(conn: asyncpg.Connection) -> None:
    """Serialises changes of roles and accounts, so two administrators stepping down at once
    cannot both pass the last-administrator rule."""
    await conn.execute("LOCK TABLE staff_accounts IN SHARE ROW EXCLUSIVE MODE")


# --- attempts (throttles) ---------------------------------------------------------------------


async def attempts(conn: Conn, purpose: str, key: str, since: datetime) -> list[datetime]:
    rows = await conn.fetch(
        "SELECT at FROM attempts WHERE purpose = $1 AND key = $2 AND at > $3",
        purpose, key, since,
    )  # fmt: skip
    return [r["at"] for r in rows]


async def add_attempts(conn: Conn, entries: Sequence[tuple[str, str]], at: datetime) -> None:
    await conn.executemany(
        "INSERT INTO attempts (purpose, key, at) VALUES ($1, $2, $3)",
        [(purpose, key, at) for purpose, key in entries],
    )


async def lock_keys(conn: asyncpg.Connection, keys: Sequence[str]) -> None:
    """Take turns on these counts with every other instance until the transaction ends
    (advisory locks, in one order so that two requests never wait for each other)."""
    for key in sorted(set(keys)):
        await conn.execute("SELECT pg_advisory_xact_lock(hashtextextended($1, 7402512))", key)


async def clear_attempts(conn: Conn, purpose: str, key: str) -> None:
    await conn.execute("DELETE FROM attempts WHERE purpose = $1 AND key = $2", purpose, key)


# --- sessions ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Session:
    kind: PrincipalKind
    subject: str
    name: str | None
    created_at: datetime
    last_seen_at: datetime


SESSION_COLUMNS = "kind, subject, name, created_at, last_seen_at"


def _session(row: asyncpg.Record | None) -> Session | None:
    if row is None:
        return None
    return Session(PrincipalKind(row["kind"]), row["subject"], row["name"], row["created_at"],
                   row["last_seen_at"])  # fmt: skip


async def insert_session(
    conn: Conn, digest: bytes, kind: PrincipalKind, subject: str, name: str | None,
    now: datetime, client: str,
) -> None:  # fmt: skip
    await conn.execute(
        "INSERT INTO sessions (id_digest, kind, subject, name, created_at, last_seen_at, client)"
        " VALUES ($1, $2, $3, $4, $5, $5, $6)",
        digest, kind.value, subject, name, now, client,
    )  # fmt: skip


async def load_session(conn: Conn, digest: bytes) -> Session | None:
    row = await conn.fetchrow(f"SELECT {SESSION_COLUMNS} FROM sessions WHERE id_digest = $1",
                              digest)  # fmt: skip
    return _session(row)


async def touch_session(conn: Conn, digest: bytes, now: datetime) -> None:
    await conn.execute(
        "UPDATE sessions SET last_seen_at = greatest(last_seen_at, $2) WHERE id_digest = $1",
        digest, now,
    )  # fmt: skip


async def delete_session(conn: Conn, digest: bytes) -> Session | None:
    row = await conn.fetchrow(
        f"DELETE FROM sessions WHERE id_digest = $1 RETURNING {SESSION_COLUMNS}", digest
    )
    return _session(row)


async def delete_sessions_of(
    conn: Conn, kind: PrincipalKind, subject: str, keep: bytes | None = None
) -> int:
    """End every session of the principal (but the one whose digest is `keep`)."""
    found: str = await conn.execute(
        "DELETE FROM sessions WHERE kind = $1 AND subject = $2"
        " AND ($3::bytea IS NULL OR id_digest <> $3)",
        kind.value, subject, keep,
    )  # fmt: skip
    return int(found.split()[-1])


# --- sign-in links ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Link:
    kind: PrincipalKind
    subject: str


async def insert_link(
    conn: Conn, digest: bytes, kind: PrincipalKind, subject: str, now: datetime,
    expires_at: datetime,
) -> None:  # fmt: skip
    await conn.execute(
        "INSERT INTO sign_in_links (digest, kind, subject, created_at, expires_at)"
        " VALUES ($1, $2, $3, $4, $5)",
        digest, kind.value, subject, now, expires_at,
    )  # fmt: skip


async def peek_link(conn: Conn, digest: bytes, now: datetime) -> Link | None:
    """The link, if it could still be used (the page shown before its button is pressed)."""
    row = await conn.fetchrow(
        "SELECT kind, subject FROM sign_in_links"
        " WHERE digest = $1 AND used_at IS NULL AND expires_at > $2",
        digest, now,
    )  # fmt: skip
    return None if row is None else Link(PrincipalKind(row["kind"]), row["subject"])


async def consume_link(conn: Conn, digest: bytes, now: datetime) -> Link | None:
    """Use the link: one statement marks it used only if it is unused and unexpired, so of two
    presses at once exactly one gets the session."""
    row = await conn.fetchrow(
        "UPDATE sign_in_links SET used_at = $2"
        " WHERE digest = $1 AND used_at IS NULL AND expires_at > $2 RETURNING kind, subject",
        digest, now,
    )  # fmt: skip
    return None if row is None else Link(PrincipalKind(row["kind"]), row["subject"])


async def drop_unused_links(conn: Conn, kind: PrincipalKind, subject: str) -> None:
    await conn.execute(
        "DELETE FROM sign_in_links WHERE kind = $1 AND subject = $2 AND used_at IS NULL",
        kind.value, subject,
    )  # fmt: skip


# --- organisations ----------------------------------------------------------------------------


def _organisation(row: asyncpg.Record) -> Organisation:
    return Organisation(row["id"], row["name"], row["contact_key"], row["valid_until"],
                        row["suspended"], row["expired"])  # fmt: skip


async def load_organisation(conn: Conn, organisation_id: UUID) -> Organisation | None:
    row = await conn.fetchrow("SELECT * FROM organisations WHERE id = $1", organisation_id)
    return None if row is None else _organisation(row)


async def organisations_of_contact(conn: Conn, contact_key: str, limit: int) -> list[Organisation]:
    rows = await conn.fetch(
        "SELECT * FROM organisations WHERE contact_key = $1 ORDER BY name, id LIMIT $2",
        contact_key, limit,
    )  # fmt: skip
    return [_organisation(r) for r in rows]


async def save_organisation(conn: Conn, org: Organisation, now: datetime) -> None:
    await conn.execute(
        "INSERT INTO organisations (id, name, contact_key, valid_until, suspended, expired,"
        " updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7)"
        " ON CONFLICT (id) DO UPDATE SET name = $2, contact_key = $3, valid_until = $4,"
        " suspended = $5, expired = $6, updated_at = $7",
        org.id, org.name, org.contact_key, org.valid_until, org.suspended, org.expired, now,
    )  # fmt: skip


# --- devices ----------------------------------------------------------------------------------


async def insert_device(conn: Conn, name: str, digest: bytes, now: datetime) -> bool:
    """A new device, or a revoked one registered again with a new secret; False when a device
    of that name is registered and not revoked."""
    done = await conn.fetchval(
        "INSERT INTO devices (name, secret_digest, created_at) VALUES ($1, $2, $3)"
        " ON CONFLICT (name) DO UPDATE SET secret_digest = $2, created_at = $3, revoked_at = NULL"
        " WHERE devices.revoked_at IS NOT NULL RETURNING 1",
        name, digest, now,
    )  # fmt: skip
    return done is not None


async def device_secret(conn: Conn, name: str) -> bytes | None:
    found: bytes | None = await conn.fetchval(
        "SELECT secret_digest FROM devices WHERE name = $1 AND revoked_at IS NULL", name
    )
    return found


async def revoke_device(conn: Conn, name: str, now: datetime) -> bool:
    done = await conn.fetchval(
        "UPDATE devices SET revoked_at = $2 WHERE name = $1 AND revoked_at IS NULL RETURNING 1",
        name, now,
    )  # fmt: skip
    return done is not None


async def list_devices(conn: Conn) -> list[asyncpg.Record]:
    rows: list[asyncpg.Record] = await conn.fetch(
        "SELECT name, created_at, revoked_at FROM devices ORDER BY name"
    )
    return rows


# --- audit ------------------------------------------------------------------------------------


async def audit(
    conn: Conn, outcome: Outcome, kind: PrincipalKind | None, subject: str | None, client: str,
    at: datetime,
) -> None:  # fmt: skip
    await conn.execute(
        "INSERT INTO sign_in_audit (at, outcome, kind, subject, client)"
        " VALUES ($1, $2, $3, $4, $5)",
        at, outcome.value, kind.value if kind else None, subject, client,
    )  # fmt: skip


async def audit_entries(conn: Conn, before_id: int | None, limit: int) -> list[asyncpg.Record]:
    rows: list[asyncpg.Record] = await conn.fetch(
        "SELECT id, at, outcome, kind, subject, client FROM sign_in_audit"
        " WHERE $1::bigint IS NULL OR id < $1 ORDER BY id DESC LIMIT $2",
        before_id, limit,
    )  # fmt: skip
    return rows


# --- housekeeping -----------------------------------------------------------------------------


async def purge(conn: Conn, attempts_before: datetime, sessions_idle_before: datetime,
                sessions_started_before: datetime, links_before: datetime) -> None:  # fmt: skip
    """Forget what no rule can use any more: old attempts, ended sessions, dead links."""
    await conn.execute("DELETE FROM attempts WHERE at < $1", attempts_before)
    await conn.execute(
        "DELETE FROM sessions WHERE last_seen_at < $1 OR created_at < $2",
        sessions_idle_before, sessions_started_before,
    )  # fmt: skip
    await conn.execute("DELETE FROM sign_in_links WHERE expires_at < $1", links_before)
