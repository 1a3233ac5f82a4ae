"""Who may call which route of the identity service, checked in one place.

Every route is classified (`Access`): public, signed-in, administrator, or auditor (an auditor or
an administrator). The class is written into the OpenAPI document (`x-access` on the operation)
and the schemes a route accepts are declared there (a bearer token, or the session cookie), so a
client, a reviewer and the route x role test all read the same list.

A caller proves who they are with a bearer token in `Authorization` (verified offline with the
keyring in real time, like every service does), or with the session cookie of this service. A
request that the cookie authenticates and that changes something must pass the CSRF check
(`domain.csrf_refusal`); every POST must come from no origin or one of ours.

The runtime refuses to serve a route that is neither `PUBLIC` nor behind a door
(services/runtime/http_auth.py): identity's doors (`CallerDoor`, and `SessionDoor` for the
routes that take the cookie alone) derive from its `Door`, so they count as locks, and every
public route names `PUBLIC`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from enum import StrEnum
from typing import Annotated, Any

from fastapi import HTTPException, Request, Security
from fastapi.security import APIKeyCookie, HTTPBearer

from contracts.identity import Role
from services.identity import domain, sessions
from services.identity.settings import IdentitySettings
from services.runtime.http import ERROR_TEXT, ErrorBody
from services.runtime.http_auth import Door, Doors
from services.runtime.identity import Allow, Caller, anyone, signed_in, staff
from services.runtime.service import ServiceContext


class Access(StrEnum):
    PUBLIC = "public"
    SIGNED_IN = "signed-in"
    ADMINISTRATOR = "administrator"
    AUDITOR = "auditor"


RULES: dict[Access, Allow] = {
    Access.PUBLIC: anyone,
    Access.SIGNED_IN: signed_in,
    Access.ADMINISTRATOR: staff(Role.ADMINISTRATOR),
    Access.AUDITOR: staff(Role.AUDITOR),  # `staff` lets an administrator in too
}

BEARER = HTTPBearer(
    auto_error=False,
    scheme_name="bearer",
    bearerFormat="JWT (EdDSA), from POST /token or POST /token/device",
    description="A short-lived token of the people issuer.",
)
COOKIE = APIKeyCookie(
    name=sessions.COOKIE,
    auto_error=False,
    scheme_name="session",
    description="The browser session of this service (HttpOnly, Secure, SameSite=Strict). "
    "A POST it authenticates must carry the header X-Requested-By.",
)

UNSAFE = {"POST", "PUT", "PATCH", "DELETE"}


MORE_TEXT = {
    401: "Nobody is proven: no or a bad token, no or an ended session, or a wrong password.",
    403: "The caller may not do this (role), or the request comes from another site (CSRF).",
    409: "The request contradicts what exists (a name taken, the last administrator).",
    503: "The mail could not be sent now; `Retry-After` says when to try again.",
}


def answers(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` for the error answers a route gives, in the services' error shape."""
    return {code: {"model": ErrorBody, "description": MORE_TEXT.get(code) or ERROR_TEXT[code]}
            for code in codes}  # fmt: skip


def documented(access: Access, **extra: Any) -> dict[str, Any]:
    """The route decorator's arguments that state its class in the OpenAPI document."""
    return {"openapi_extra": {"x-access": access.value, **extra.pop("openapi_extra", {})},
            **extra}  # fmt: skip


class Guards:
    def __init__(self, ctx: ServiceContext, settings: IdentitySettings) -> None:
        self.ctx = ctx
        self.settings = settings
        self.doors = Doors.of(ctx)

    def same_origin(self) -> Callable[[Request], Awaitable[None]]:
        """For every POST: refused with 403 when it comes from a page of another site."""

        async def check(request: Request) -> None:
            if request.method in UNSAFE and (
                why := domain.csrf_refusal(request.headers, self.settings.allowed_origins, False)
            ):
                raise HTTPException(403, why)

        return check

    async def session_caller(self, request: Request) -> Caller | None:
        """The caller the session cookie proves (None without one), after the CSRF check when
        the request changes something."""
        secret = request.cookies.get(sessions.COOKIE)
        if not secret:
            return None
        if request.method in UNSAFE and (
            why := domain.csrf_refusal(request.headers, self.settings.allowed_origins, True)
        ):
            raise HTTPException(403, why)
        return await sessions.caller_of_session(
            self.ctx.pool, secret, self.ctx.clock.now(), self.settings.session
        )

    def caller(self, access: Access) -> CallerDoor:
        """A door: the proven caller (a bearer token or the session cookie) if `access` lets
        them in; 401 when nobody is proven (or the proof is bad), 403 when the proven caller
        may not."""
        return CallerDoor(self, access)

    def session(self) -> SessionDoor:
        """A door for the routes that serve the browser's session alone (its token, who it
        is): the caller the session cookie proves, or 401."""
        return SessionDoor(self)

    async def prove(self, request: Request) -> Caller | None:
        """A bearer token, judged as every service's lock judges it (`Doors.prove`: a 401 for
        one that proves nothing, never a 500); without one, the session cookie."""
        caller = self.doors.prove(request.headers.get("authorization"))
        return await self.session_caller(request) if caller.anonymous else caller


class CallerDoor(Door):
    """Who may call a route of `access`, proven by a bearer token or by the session cookie."""

    def __init__(self, guards: Guards, access: Access) -> None:
        self.guards = guards
        self.access = access
        self.rule = RULES[access]

    async def __call__(
        self,
        request: Request,
        _bearer: Annotated[Any, Security(BEARER)],
        _cookie: Annotated[Any, Security(COOKIE)],
    ) -> Caller:
        caller = await self.guards.prove(request)
        if caller is None:
            raise HTTPException(401, "sign in first", headers={"WWW-Authenticate": "Bearer"})
        if not self.rule(caller):
            raise HTTPException(403, f"this route is for the {self.access.value} role")
        return caller


class SessionDoor(Door):
    """The session cookie alone: a bearer token is no session, so it opens nothing here (a
    token is what these routes hand out, never what they take). A request that changes
    something passes the CSRF check first."""

    def __init__(self, guards: Guards) -> None:
        self.guards = guards

    async def __call__(self, request: Request, _cookie: Annotated[Any, Security(COOKIE)]) -> Caller:
        caller = await self.guards.session_caller(request)
        if caller is None:
            raise HTTPException(401, "no session: sign in first")
        return caller
