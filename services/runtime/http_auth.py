"""Locks on the HTTP routes: every route is public or says who may call it (ARCHITECTURE.md,
Security: "every route is public, organisation-scoped or staff-by-role").

A route declares its access with one of these dependencies:
- `PUBLIC`: anyone, without proof. The route never reads the `Authorization` header, so a stale
  token left in a browser never locks a person out of a public page.
- a `Door`: whatever decides who may call the route. The runtime's door is
  `doors.lock(rule)`, a caller admitted by `rule` (the allow-rules of
  services/runtime/identity.py: `staff(...)`, `kinds(...)`, `either(...)`). The lock reads
  `Authorization: Bearer <token>`, verifies the token with the service's keyring in real time
  and hands the route the proven `Caller`. What only the route can know (which
  organisation holds the reservation it read) the route checks itself with that Caller.
  A service with a proof of its own (the identity service also admits its session cookie)
  derives its own door from `Door`, and its routes count as locked as well.

Answers, in the runtime's one error body: no proof, or a proof that proves nothing (forged,
expired, signed by an unknown key, malformed, another scheme) is a 401 with `WWW-Authenticate:
Bearer` (RFC 6750); a proven caller the rule does not admit is a 403. The lock runs before the
route's parameters are judged, so an anonymous caller learns nothing of a locked route, not even
which parameters it takes. No header, however malformed, makes a 500.

Routes are built inside a function (they need the service's context), and modules use
`from __future__ import annotations`: FastAPI resolves a string annotation in the module's
globals, where a lock made in that function is not found. So a route takes its caller as a
default, `caller: Caller = Depends(doors.lock(rule))`, or names the lock in `dependencies=[...]`
when it needs no caller.

The time: tokens are judged in real time, never by a service's shiftable clock (a rehearsal
that moves a service's clock with `CLOCK_SHIFT_S` does not move the issuer's, and a token's
life is measured in real minutes), as the Kafka consumer judges a command's token.

`unclassified` names the routes that declare neither PUBLIC nor a door: `build_http_app` refuses
to build a service with one, so no route is added unlocked by forgetting to lock it.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated, Any, Protocol

from fastapi import Depends, HTTPException, Request
from fastapi.openapi.models import HTTPBearer as HTTPBearerModel
from fastapi.params import Depends as DependsParam
from fastapi.routing import APIRoute, RouteContext, iter_route_contexts
from fastapi.security.base import SecurityBase
from prometheus_client import CollectorRegistry, Counter
from starlette.routing import BaseRoute

from services.runtime.identity import ANONYMOUS, MAX_TOKEN_BYTES, Allow, Caller, ProofError
from services.runtime.metrics import Metrics

if TYPE_CHECKING:  # the service module builds the HTTP app, which imports this one
    from services.runtime.service import ServiceContext

log = logging.getLogger(__name__)

SCHEME_NAME = "bearer"
NO_PROOF = "this route needs proof of who calls: Authorization: Bearer <token>"
NOT_ADMITTED = "this route is not open to the caller the token proves"


class Verifier(Protocol):
    """What a lock needs of the keyring (services/runtime/identity.py's Keyring)."""

    def verify(self, token: str, at: datetime) -> Caller: ...


def bearer_of(value: str | None) -> str | None:
    """The token of an HTTP `Authorization` value; None when there is none. The scheme's name
    is case-insensitive (RFC 9110, 11.1). ProofError when the value is there but no bearer
    token."""
    if value is None or not value.strip():
        return None
    scheme, _, token = value.strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise ProofError("authorization is not a bearer token")
    if len(token) > MAX_TOKEN_BYTES:
        raise ProofError("token too long")
    return token


class BearerProof(SecurityBase):
    """The bearer scheme as the OpenAPI document declares it on every locked route; as a
    dependency, the raw `Authorization` value (the lock judges it)."""

    def __init__(self) -> None:
        self.model = HTTPBearerModel(
            bearerFormat="JWT",
            description="A short-lived token signed by the center's identity service (or by "
            "a service for itself), sent as `Authorization: Bearer <token>`.",
        )
        self.scheme_name = SCHEME_NAME

    async def __call__(self, request: Request) -> str | None:
        return request.headers.get("authorization")


PROOF = BearerProof()


def refusal_counter(registry: CollectorRegistry) -> Counter:
    return Counter(
        "http_requests_refused_total",
        "Requests a route's lock refused, by route template and reason (no_proof, "
        "invalid_token, not_admitted).",
        ["route", "reason"],
        registry=registry,
    )


def unauthorised(reason: str, invalid: bool) -> HTTPException:
    challenge = 'Bearer error="invalid_token"' if invalid else "Bearer"
    return HTTPException(401, reason, headers={"WWW-Authenticate": challenge})


class Door:
    """A route dependency that decides who may call the route: it refuses a caller it does not
    admit (401 or 403) and gives the route the proven Caller. `access_of` recognises every
    door by this class, so a service may judge a proof of its own (a session cookie) and its
    routes still count as locked rather than unclassified."""

    async def __call__(self, *args: Any, **kwargs: Any) -> Caller:
        raise NotImplementedError


class Lock(Door):
    """The runtime's door: a bearer token verified with the service's keyring, admitted when
    `rule` admits its caller; gives the route the Caller."""

    def __init__(self, doors: Doors, rule: Allow) -> None:
        self.doors = doors
        self.rule = rule

    async def __call__(
        self, request: Request, authorization: Annotated[str | None, Depends(PROOF)]
    ) -> Caller:
        try:
            caller = self.doors.prove(authorization)
        except HTTPException:
            self.doors.count_refusal(request, "invalid_token")
            raise
        if caller.anonymous:
            self.doors.count_refusal(request, "no_proof")
            raise unauthorised(NO_PROOF, invalid=False)
        if not self.rule(caller):
            self.doors.count_refusal(request, "not_admitted")
            raise HTTPException(403, NOT_ADMITTED)
        return caller


class Doors:
    """The locks of one service's routes: its keyring, and the count of refusals
    by route and reason (`http_requests_refused_total`): a wave of `invalid_token` is a clock
    out of step with the issuer's, or someone trying tokens."""

    def __init__(self, keyring: Verifier, metrics: Metrics | None = None) -> None:
        self.keyring = keyring
        self.refusals = metrics.once("http_refusals", refusal_counter) if metrics else None

    @classmethod
    def of(cls, ctx: ServiceContext) -> Doors:
        """The doors of a running service (its context's keyring and metrics)."""
        return cls(ctx.keyring, ctx.metrics)

    def prove(self, authorization: str | None) -> Caller:
        """The caller an `Authorization` value proves now; ANONYMOUS without one; a 401 for a
        value that proves nothing. An unforeseen failure of verification is a 401 too (it
        proved nothing), logged by its type only: the token is never logged."""
        try:
            token = bearer_of(authorization)
            if token is None:
                return ANONYMOUS
            return self.keyring.verify(token, datetime.now(UTC))
        except ProofError as refused:
            raise unauthorised(str(refused), invalid=True) from None
        except Exception as exc:
            log.error("verifying a token failed unexpectedly: %s", type(exc).__name__)
            raise unauthorised("token invalid", invalid=True) from None

    def count_refusal(self, request: Request, reason: str) -> None:
        if self.refusals is not None:
            route = getattr(request.scope.get("route"), "path", "(no route)")
            self.refusals.labels(route, reason).inc()

    def lock(self, rule: Allow) -> Lock:
        return Lock(self, rule)


async def _public() -> None:
    """Open to anyone: declared so that a route's openness is a decision, not an omission."""


PUBLIC: DependsParam = Depends(_public)


def access_of(route: APIRoute | RouteContext) -> Door | str | None:
    """The door of a route (a `Lock` or a service's own), "public", or None when it declares
    neither."""
    pending = list(route.dependant.dependencies)
    while pending:
        dependant = pending.pop()
        if isinstance(dependant.call, Door):
            return dependant.call
        if dependant.call is _public:
            return "public"
        pending.extend(dependant.dependencies)
    return None


class UnclassifiedRoutes(Exception):
    """A service declares a route without saying who may call it."""


def api_routes(routes: Sequence[BaseRoute]) -> list[RouteContext]:
    """Every API route as the app serves it: with the path and dependencies the routers it was
    included through gave it (an included router is not flattened into `app.routes`)."""
    return [
        route for route in iter_route_contexts(routes) if isinstance(route.original_route, APIRoute)
    ]


def unclassified(routes: Sequence[BaseRoute]) -> list[str]:
    """`METHOD /path` of every API route that is neither public nor locked."""
    return sorted(
        f"{method} {route.path}"
        for route in api_routes(routes)
        if access_of(route) is None
        for method in sorted(route.methods or ())
    )
