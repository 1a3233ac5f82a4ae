"""Opaque secrets (session ids, link tokens, device secrets) and how long each one counts.

A secret is 256 random bits, given out once and stored only as its SHA-256 digest: a copy of the
database holds nothing that opens a session, follows a link or passes for the kiosk. A salted
slow hash is needed for passwords, which people choose; a random secret of this size cannot be
guessed from its digest.

Sessions (the browser's cookie) end 12 hours after sign-in whatever happens (absolute), or one
hour after they were last used (idle), whichever comes first; a sign-in link works once, within
15 minutes (`IdentitySettings.link_lifetime`; `store.consume_link` judges it in one
statement). Every rule takes `now`: the service's clock, never the database's.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

SECRET_BYTES = 32
MAX_SECRET_CHARS = 128  # a genuine secret is 43 characters; anything far longer is not ours


def new_secret() -> str:
    return secrets.token_urlsafe(SECRET_BYTES)


def digest(secret: str) -> bytes:
    """What is stored of a secret; also what an offered secret is looked up by."""
    return hashlib.sha256(secret.encode("utf-8", "replace")).digest()


def plausible(secret: str) -> bool:
    """Worth a database lookup: URL-safe base64 of a sane length (anything else cannot match)."""
    return 0 < len(secret) <= MAX_SECRET_CHARS and all(
        c.isascii() and (c.isalnum() or c in "-_") for c in secret
    )


@dataclass(frozen=True)
class SessionLifetime:
    absolute: timedelta = timedelta(hours=12)
    idle: timedelta = timedelta(hours=1)


def session_ends_at(
    created_at: datetime, last_seen_at: datetime, rule: SessionLifetime
) -> datetime:
    """The moment the session stops counting unless it is used again before then."""
    return min(created_at + rule.absolute, last_seen_at + rule.idle)


def session_valid(
    created_at: datetime, last_seen_at: datetime, now: datetime, rule: SessionLifetime
) -> bool:
    return created_at <= now < session_ends_at(created_at, last_seen_at, rule)
