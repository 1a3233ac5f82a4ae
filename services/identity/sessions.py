"""Browser sessions: opened after a sign-in, read back into the proven caller, ended.

A session names who signed in (kind and subject); what they may do is read again each time it
is used: a staff member's roles and whether the account is still enabled, an organisation's
standing. So disabling an account or suspending an organisation takes effect on the next
request of that session, and on other services within a token's five minutes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

import asyncpg

from contracts.identity import PrincipalKind
from services.identity import lifetimes, store
from services.identity.domain import Standing, standing
from services.identity.lifetimes import SessionLifetime
from services.runtime.identity import Caller

COOKIE = "__Host-ycc_session"
"""The `__Host-` prefix makes browsers accept the cookie only with Secure, Path=/ and no Domain:
no sibling subdomain can set or shadow it."""


@dataclass(frozen=True)
class Opened:
    """`secret` goes into the cookie, once (only its digest is kept). The cookie lives until
    the session's absolute end; the idle limit is the service's to enforce, as a cookie's
    Max-Age is not renewed when the session is used."""

    secret: str
    cookie_until: datetime


async def open_session(
    conn: store.Conn, kind: PrincipalKind, subject: str, name: str | None, now: datetime,
    client: str, rule: SessionLifetime,
) -> Opened:  # fmt: skip
    secret = lifetimes.new_secret()
    await store.insert_session(conn, lifetimes.digest(secret), kind, subject, name, now, client)
    return Opened(secret, now + rule.absolute)


async def caller_of_session(
    pool: asyncpg.Pool, secret: str | None, now: datetime, rule: SessionLifetime
) -> Caller | None:
    """The caller a session cookie proves now, or None (no cookie, unknown, ended, or its owner
    is no longer allowed in: then the session is deleted). A valid session is marked used."""
    if not secret or not lifetimes.plausible(secret):
        return None
    digest = lifetimes.digest(secret)
    session = await store.load_session(pool, digest)
    if session is None:
        return None
    caller = None
    if lifetimes.session_valid(session.created_at, session.last_seen_at, now, rule):
        caller = await _current(pool, session, now)
    if caller is None:
        await store.delete_session(pool, digest)
        return None
    await store.touch_session(pool, digest, now)
    return caller


async def _current(pool: asyncpg.Pool, session: store.Session, now: datetime) -> Caller | None:
    if session.kind is PrincipalKind.STAFF:
        found = await store.load_account(pool, session.subject)
        if found is None or found.account.disabled:
            return None
        account = found.account
        return Caller(PrincipalKind.STAFF, account.username, account.roles, account.display_name)
    if session.kind is PrincipalKind.ORGANISATION:
        org = await store.load_organisation(pool, UUID(session.subject))
        if org is None or standing(org, now) is not Standing.ACTIVE:
            return None
        return Caller(PrincipalKind.ORGANISATION, str(org.id), name=org.name)
    return Caller(session.kind, session.subject, name=session.name)
