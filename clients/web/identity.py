"""The identity service, called server-side: the web is the browser's edge (backend for
frontend). It keeps identity's opaque session in its own cookie, never a token, and asks
identity for a short-lived bearer token when a page calls a service, reusing it for less than
its life (services/identity/README.md).

The browser's address is forwarded (`X-Forwarded-For`) so identity throttles each person, not
the web; identity believes it from this host only (FORWARDED_ALLOW_IPS).
"""

from __future__ import annotations

import hashlib
import time
from collections import OrderedDict
from dataclasses import dataclass
from enum import StrEnum
from http.cookies import CookieError, SimpleCookie

import httpx

from contracts.identity import PrincipalKind, Role

IDENTITY_COOKIE = "__Host-ycc_session"  # identity's own session cookie (sessions.COOKIE)
CSRF_HEADER = {"X-Requested-By": "web"}  # identity wants it on what its cookie authenticates
MAX_CACHED = 10_000


@dataclass(frozen=True)
class Who:
    kind: PrincipalKind
    subject: str
    name: str | None
    roles: frozenset[Role]

    @property
    def is_staff(self) -> bool:
        return self.kind is PrincipalKind.STAFF

    @property
    def is_organisation(self) -> bool:
        return self.kind is PrincipalKind.ORGANISATION

    @property
    def is_citizen(self) -> bool:
        return self.kind is PrincipalKind.CITIZEN


@dataclass(frozen=True)
class Signed:
    """A bearer token for a session, and who it proves."""

    token: str
    who: Who


class Outcome(StrEnum):
    """What identity answered, in words the pages can show."""

    SENT = "sent"
    SIGNED_IN = "signed_in"
    REFUSED = "refused"  # wrong password, a used or expired link
    NOT_IN_GOOD_STANDING = "not_in_good_standing"  # the organisation is suspended or expired
    BAD_ADDRESS = "bad_address"
    THROTTLED = "throttled"
    UNAVAILABLE = "unavailable"


@dataclass(frozen=True)
class Answer:
    outcome: Outcome
    session: str | None = None  # identity's session secret, when one was opened
    retry_after_s: int | None = None


def session_of(response: httpx.Response) -> str | None:
    """Identity's session secret from its Set-Cookie (read by hand: a Secure cookie is not
    kept by a cookie jar over plain HTTP on the loopback)."""
    for header in response.headers.get_list("set-cookie"):
        try:
            parsed = SimpleCookie(header)
        except CookieError:
            continue
        if IDENTITY_COOKIE in parsed and parsed[IDENTITY_COOKIE].value:
            return parsed[IDENTITY_COOKIE].value
    return None


def _who(body: dict[str, object]) -> Who:
    roles = body.get("roles") or []
    assert isinstance(roles, list)
    name = body.get("name")
    return Who(PrincipalKind(str(body["kind"])), str(body["subject"]),
               str(name) if name is not None else None,
               frozenset(Role(r) for r in roles))  # fmt: skip


def _refusal(response: httpx.Response) -> Answer:
    if response.status_code == 429:
        retry = response.headers.get("retry-after", "60")
        return Answer(Outcome.THROTTLED, retry_after_s=int(retry) if retry.isdigit() else 60)
    if response.status_code == 403:
        return Answer(Outcome.NOT_IN_GOOD_STANDING)
    if response.status_code >= 500:
        return Answer(Outcome.UNAVAILABLE)
    return Answer(Outcome.REFUSED)


class Identity:
    def __init__(self, http: httpx.AsyncClient, reuse_s: float) -> None:
        self.http = http
        self.reuse_s = reuse_s
        self.tokens: OrderedDict[str, tuple[float, Signed]] = OrderedDict()

    @staticmethod
    def _from(client: str) -> dict[str, str]:
        return {"X-Forwarded-For": client}

    @staticmethod
    def _cookie(session: str) -> dict[str, str]:
        return {"Cookie": f"{IDENTITY_COOKIE}={session}", **CSRF_HEADER}

    async def ask_for_link(self, email: str, client: str, kind: str = "organisation") -> Answer:
        """Identity mails a sign-in link (or a note that the address may not sign in): for an
        organisation's contact, or for a citizen managing their registrations."""
        try:
            response = await self.http.post(
                "/sign-in/link",
                headers=self._from(client),
                json={"email": email, "kind": kind},
            )
        except httpx.TransportError:
            return Answer(Outcome.UNAVAILABLE)
        if response.status_code == 202:
            return Answer(Outcome.SENT)
        if response.status_code == 400:
            return Answer(Outcome.BAD_ADDRESS)
        return _refusal(response)

    async def use_link(self, token: str, client: str) -> Answer:
        """The mailed link, used once: a session, or why not."""
        try:
            response = await self.http.post(f"/links/{token}", headers=self._from(client))
        except httpx.TransportError:
            return Answer(Outcome.UNAVAILABLE)
        session = session_of(response)
        if response.status_code == 200 and session:
            return Answer(Outcome.SIGNED_IN, session)
        return _refusal(response)

    async def staff_sign_in(self, username: str, password: str, client: str) -> Answer:
        try:
            response = await self.http.post(
                "/staff/sign-in",
                headers=self._from(client),
                json={"username": username, "password": password},
            )
        except httpx.TransportError:
            return Answer(Outcome.UNAVAILABLE)
        session = session_of(response)
        if response.status_code == 200 and session:
            return Answer(Outcome.SIGNED_IN, session)
        if response.status_code in (400, 401, 403):
            return Answer(Outcome.REFUSED)
        return _refusal(response)

    async def signed(self, session: str, client: str) -> Signed | None:
        """A bearer token for the session and who it is (reused for TOKEN_REUSE_S); None when
        the session is over or identity cannot be reached."""
        key = hashlib.sha256(session.encode()).hexdigest()
        if (kept := self._kept(key)) is not None:
            return kept
        try:
            response = await self.http.post(
                "/token", headers={**self._cookie(session), **self._from(client)}
            )
        except httpx.TransportError:
            return None
        return self._keep(key, response)

    async def device_signed(self, device: str, secret: str, client: str) -> Signed | None:
        """A bearer token for the kiosk holding this device's secret (reused like a session's);
        None when identity refuses the secret or cannot be reached."""
        key = hashlib.sha256(f"device:{device}:{secret}".encode()).hexdigest()
        if (kept := self._kept(key)) is not None:
            return kept
        try:
            response = await self.http.post("/token/device", headers=self._from(client),
                                             json={"device": device, "secret": secret})  # fmt: skip
        except httpx.TransportError:
            return None
        return self._keep(key, response)

    def _kept(self, key: str) -> Signed | None:
        cached = self.tokens.get(key)
        if cached is None or cached[0] <= time.monotonic():
            return None
        self.tokens.move_to_end(key)
        return cached[1]

    def _keep(self, key: str, response: httpx.Response) -> Signed | None:
        """The token of identity's answer, kept under `key` for less than its life."""
        if response.status_code != 200:
            self.tokens.pop(key, None)
            return None
        body = response.json()
        signed = Signed(str(body["access_token"]), _who(body["who"]))
        life = min(self.reuse_s, float(body.get("expires_in", 300)) - 30)
        self.tokens[key] = (time.monotonic() + life, signed)
        while len(self.tokens) > MAX_CACHED:
            self.tokens.popitem(last=False)
        return signed

    async def sign_out(self, session: str, client: str) -> None:
        self.tokens.pop(hashlib.sha256(session.encode()).hexdigest(), None)
        try:
            await self.http.post(
                "/sign-out", headers={**self._cookie(session), **self._from(client)}
            )
        except httpx.TransportError:
            pass  # the cookie is cleared all the same; the session ends at its idle limit
