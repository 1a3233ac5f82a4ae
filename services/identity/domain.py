"""The rules of identity that are neither passwords, throttles nor lifetimes (see those modules):
what an organisation's standing allows, what a staff account may look like, which staff changes
are refused, and which requests a cookie may authenticate. Pure functions, no I/O.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum
from urllib.parse import urlsplit
from uuid import UUID

from contracts.identity import Role

# --- organisations ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Organisation:
    """What identity knows of a registered organisation, learnt from `booking.events`. The
    contact's `contact_key` is the normalised address (`addresses.normalise`), None when the
    center cannot write to it (then nobody can sign in for the organisation by link)."""

    id: UUID
    name: str
    contact_key: str | None
    valid_until: datetime | None = None
    suspended: bool = False
    expired: bool = False


class Standing(StrEnum):
    ACTIVE = "active"
    SUSPENDED = "suspended"
    EXPIRED = "expired"


def standing(org: Organisation, now: datetime) -> Standing:
    """As booking decides it (services/booking/domain.py, check_standing): suspended until
    reinstated; expired when booking said so or the term has run out, until renewed."""
    if org.suspended:
        return Standing.SUSPENDED
    if org.expired or (org.valid_until is not None and org.valid_until <= now):
        return Standing.EXPIRED
    return Standing.ACTIVE


def renewed(org: Organisation, valid_until: datetime) -> Organisation:
    return replace(org, valid_until=valid_until, expired=False)


def contact_changed(before: Organisation | None, after: Organisation) -> bool:
    """A new contact person must not inherit the former one's sessions or unused links."""
    return before is not None and before.contact_key != after.contact_key


# --- staff accounts --------------------------------------------------------------------------

USERNAME = re.compile(r"[a-z0-9][a-z0-9._-]{1,63}")


# --- devices ----------------------------------------------------------------------------------

DEVICE_NAME = r"^[a-z0-9][a-z0-9._-]*$"
"""A kiosk's name, as registered (`POST /devices`) and as offered with its secret: a name no
device can have is refused before it reaches the database (which holds no NUL in text)."""


def normalise_username(typed: str) -> str | None:
    """The account a typed username names (lower case, trimmed), or None when no account can
    have such a name. Several spellings of one name are one account, and so one throttle."""
    name = typed.strip().lower()
    return name if USERNAME.fullmatch(name) else None


@dataclass(frozen=True)
class StaffAccount:
    username: str
    display_name: str
    roles: frozenset[Role]
    disabled: bool = False

    @property
    def active_administrator(self) -> bool:
        return not self.disabled and Role.ADMINISTRATOR in self.roles


def last_administrator_refusal(
    accounts: Iterable[StaffAccount], username: str, roles: Collection[Role], disabled: bool
) -> str | None:
    """An administrator may not leave the center without one: a change that would remove the
    last active administrator (taking the role away, or disabling the account) is refused, as
    the first administrator can only be made again from a shell on the server."""
    accounts = list(accounts)
    if not any(a.username == username and a.active_administrator for a in accounts):
        return None  # only an administrator leaving can leave the center without one
    remaining = [a for a in accounts if a.active_administrator and a.username != username]
    keeps_role = Role.ADMINISTRATOR in roles and not disabled
    if not remaining and not keeps_role:
        return "this is the last active administrator; make another one first"
    return None


# --- requests authenticated by the session cookie --------------------------------------------

CSRF_HEADER = "x-requested-by"
"""The custom header every cookie-authenticated POST carries (any value). A page of another
site cannot add it: a cross-site form cannot set headers, and a script would need a CORS
preflight this service never approves."""


def origin_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()


def csrf_refusal(
    headers: Mapping[str, str], allowed_origins: Collection[str], cookie_authenticated: bool
) -> str | None:
    """Why a POST is refused as a possible cross-site request forgery, or None.

    SameSite=Strict already keeps the cookie off cross-site requests in current browsers; this is
    the second lock, for older browsers and a sibling subdomain (same site, other origin):
    * an `Origin` header, when sent (browsers send it on every POST), must be one of ours;
    * a POST that the session cookie authenticates must carry `X-Requested-By`.
    """
    origin = headers.get("origin")
    if origin is not None and origin.lower() not in allowed_origins:
        return "the request comes from another site"
    if cookie_authenticated and not headers.get(CSRF_HEADER):
        return f"a request authenticated by the session cookie must carry {CSRF_HEADER}"
    return None


# --- the audit -------------------------------------------------------------------------------


class Outcome(StrEnum):
    """What the audit of sign-ins records (table sign_in_audit)."""

    SUCCESS = "success"
    FAILURE = "failure"
    THROTTLED = "throttled"
    SIGN_OUT = "sign_out"
    LINK_SENT = "link_sent"  # a sign-in link left by e-mail
    LINK_REFUSED = (
        "link_refused"  # a link used twice, expired, or for an organisation in bad standing
    )
    DEVICE_TOKEN = "device_token"
    DEVICE_REFUSED = "device_refused"
