"""Locks on HTTP routes: a route is public or says who may call it; a caller proves who it is
with a bearer token verified at the service's time; no proof is a 401 with `WWW-Authenticate`,
proof of the wrong caller a 403, both with the one error body; no header, however malformed,
makes a 500; the OpenAPI document declares the bearer scheme on locked routes only; and a
service cannot be built with a route that declares neither, though any door counts, not only
the runtime's lock."""

from __future__ import annotations

import base64
from datetime import datetime, timedelta
from pathlib import Path

import httpx
import pytest
from fastapi import APIRouter, Depends, HTTPException, Request

from contracts.identity import PrincipalKind, Role
from services.runtime.clock import Clock
from services.runtime.http import build_http_app
from services.runtime.http_auth import (
    PUBLIC,
    Door,
    Doors,
    UnclassifiedRoutes,
    access_of,
    api_routes,
    bearer_of,
)
from services.runtime.identity import (
    Caller,
    ProofError,
    Signer,
    generate_key_pair,
    kinds,
    staff,
)
from services.runtime.metrics import Metrics
from tests import identity_support
from tests.identity_support import http_headers, organisation_token, staff_token, token


class Ready:
    async def check(self) -> tuple[bool, str]:
        return True, "ready"


class BrokenKeyring:
    """Verification failing in a way nobody foresaw."""

    def verify(self, token: str, at: datetime) -> Caller:
        raise RuntimeError("unforeseen")


def locked_app(keyring: object = None, metrics: Metrics | None = None) -> httpx.AsyncClient:
    keys = keyring or identity_support.keyring()
    doors = Doors(keys, metrics)  # type: ignore[arg-type]
    router = APIRouter()
    editors = doors.lock(staff(Role.NEWSLETTER_EDITOR))

    @router.get("/open", dependencies=[PUBLIC])
    async def open_to_all() -> dict[str, str]:
        return {"door": "open"}

    @router.get("/newsletters")
    async def newsletters(
        caller: Caller = Depends(editors),
    ) -> dict[str, str]:
        return {"subject": caller.subject}

    @router.get("/mine/{number}", dependencies=[Depends(doors.lock(kinds(PrincipalKind.CITIZEN)))])
    async def mine(number: int) -> dict[str, int]:
        return {"number": number}

    app = build_http_app("booking", Metrics(), Ready(), [router])
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test")


async def test_a_public_route_needs_no_proof_and_ignores_a_broken_one() -> None:
    async with locked_app() as http:
        plain = await http.get("/open")
        stale = await http.get("/open", headers={"Authorization": "Bearer expired.or.forged"})
    assert plain.status_code == 200 and stale.status_code == 200


async def test_a_locked_route_without_proof_is_a_401_asking_for_a_bearer_token() -> None:
    async with locked_app() as http:
        response = await http.get("/newsletters")
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert set(response.json()) == {"error"}


async def test_the_caller_a_token_proves_reaches_the_route() -> None:
    bearer = staff_token(Role.NEWSLETTER_EDITOR, subject="editor-7")
    async with locked_app() as http:
        response = await http.get("/newsletters", headers=http_headers(bearer))
    assert response.status_code == 200 and response.json() == {"subject": "editor-7"}


async def test_the_scheme_name_is_case_insensitive() -> None:
    bearer = staff_token(Role.NEWSLETTER_EDITOR)
    async with locked_app() as http:
        response = await http.get("/newsletters", headers={"Authorization": f"bearer {bearer}"})
    assert response.status_code == 200


async def test_a_proven_caller_the_rule_does_not_admit_is_a_403() -> None:
    async with locked_app() as http:
        reception = await http.get(
            "/newsletters", headers=http_headers(staff_token(Role.RECEPTION))
        )
        organisation = await http.get(
            "/newsletters", headers=http_headers(organisation_token("org-1"))
        )
    for response in (reception, organisation):
        assert response.status_code == 403
        assert set(response.json()) == {"error"}


async def test_an_administrator_may_call_what_any_staff_role_may() -> None:
    async with locked_app() as http:
        response = await http.get(
            "/newsletters", headers=http_headers(staff_token(Role.ADMINISTRATOR))
        )
    assert response.status_code == 200


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


MALFORMED = [
    "Bearer",
    "Bearer ",
    "Basic dXNlcjpwYXNz",
    "Token abc",
    "Bearer a.b.c",
    "Bearer " + "x" * 100_000,
    "Bearer \u00e9\u00e9.\u00e9.\u00e9",
    "Bearer " + _b64(b"[" * 3000) + "." + _b64(b"{}") + ".sig",
    "Bearer " + _b64(b'{"alg":"none"}') + "." + _b64(b'{"iss":"identity","sub":"x"}') + ".",
    "Bearer " + _b64(b'{"alg":"HS256"}') + "." + _b64(b'{"iss":["x"]}') + "." + _b64(b"x"),
    "Bearer   spaced   out  ",
]


@pytest.mark.parametrize("value", MALFORMED)
async def test_a_malformed_authorization_is_a_401_never_a_500(value: str) -> None:
    async with locked_app() as http:
        response = await http.get("/newsletters", headers=[(b"authorization", value.encode())])
    assert response.status_code == 401, response.text
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert set(response.json()) == {"error"}


async def test_a_header_of_bytes_that_are_no_text_is_a_401() -> None:
    async with locked_app() as http:
        response = await http.get("/newsletters",
                                  headers=[(b"authorization", b"Bearer \xff\xfe\x00")])  # fmt: skip
    assert response.status_code == 401


async def test_a_token_signed_by_a_key_the_service_does_not_trust_is_a_401(
    tmp_path: Path,
) -> None:
    generate_key_pair(tmp_path, "identity")
    stranger = Signer.load("identity", tmp_path / "identity.key")
    forged = stranger.issue(PrincipalKind.STAFF, "intruder", roles=[Role.ADMINISTRATOR])
    async with locked_app() as http:
        response = await http.get("/newsletters", headers=http_headers(forged))
    assert response.status_code == 401
    assert "invalid_token" in response.headers["www-authenticate"]


async def test_proof_is_judged_in_real_time_not_by_a_shifted_service_clock() -> None:
    """A rehearsal moves a service's clock, not the issuer's: a token minted now is fresh to the
    service whatever its clock says, and one minted an hour ahead is not yet valid."""
    bearer = staff_token(Role.NEWSLETTER_EDITOR)
    async with locked_app() as http:
        response = await http.get("/newsletters", headers=http_headers(bearer))
    assert response.status_code == 200
    ahead = token(PrincipalKind.STAFF, "editor", [Role.NEWSLETTER_EDITOR],
                  now=Clock().shifted(timedelta(hours=1)).now())  # fmt: skip
    async with locked_app() as http:
        early = await http.get("/newsletters", headers=http_headers(ahead))
    assert early.status_code == 401


async def test_an_unforeseen_failure_of_verification_is_a_401_not_a_500() -> None:
    async with locked_app(keyring=BrokenKeyring()) as http:
        response = await http.get("/newsletters", headers=http_headers("a.b.c"))
    assert response.status_code == 401 and set(response.json()) == {"error"}


async def test_a_locked_route_refuses_before_it_judges_its_parameters() -> None:
    """An anonymous caller learns nothing from a route, not even which parameters it takes."""
    async with locked_app() as http:
        response = await http.get("/mine/not-a-number")
    assert response.status_code == 401


async def test_head_is_locked_as_get_is() -> None:
    async with locked_app() as http:
        response = await http.head("/newsletters")
    assert response.status_code == 401


async def test_the_openapi_document_declares_the_bearer_scheme_on_locked_routes_only() -> None:
    async with locked_app() as http:
        document = (await http.get("/openapi.json")).json()
    schemes = document["components"]["securitySchemes"]
    assert schemes == {"bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT",
                                  "description": schemes["bearer"]["description"]}}  # fmt: skip
    locked = document["paths"]["/newsletters"]["get"]
    assert locked["security"] == [{"bearer": []}]
    assert {"401", "403"} <= set(locked["responses"])
    for path in ("/open", "/healthz", "/readyz"):
        operation = document["paths"][path]["get"]
        assert "security" not in operation, path
        assert not {"401", "403"} & set(operation["responses"]), path


async def test_refusals_are_counted_by_route_and_reason() -> None:
    metrics = Metrics()
    async with locked_app(metrics=metrics) as http:
        await http.get("/newsletters")
        await http.get("/newsletters", headers={"Authorization": "Bearer forged"})
        await http.get("/newsletters", headers=http_headers(staff_token(Role.RECEPTION)))
        await http.get("/newsletters", headers=http_headers(staff_token(Role.NEWSLETTER_EDITOR)))
        await http.get("/mine/1")

    def count(route: str, reason: str) -> float | None:
        labels = {"route": route, "reason": reason}
        return metrics.registry.get_sample_value("http_requests_refused_total", labels)

    assert count("/newsletters", "no_proof") == 1
    assert count("/newsletters", "invalid_token") == 1
    assert count("/newsletters", "not_admitted") == 1
    assert count("/mine/{number}", "no_proof") == 1


def test_a_service_with_a_route_that_declares_no_access_cannot_be_built() -> None:
    router = APIRouter()

    @router.get("/reservations/{reservation_id}")
    async def forgotten(reservation_id: str) -> dict[str, str]:
        return {}

    with pytest.raises(UnclassifiedRoutes, match=r"GET /reservations/\{reservation_id\}"):
        build_http_app("booking", Metrics(), Ready(), [router])


class KnockTwice(Door):
    """A door of a service's own, not the runtime's Lock: who knocks twice comes in."""

    async def __call__(self, request: Request) -> Caller:
        if request.headers.get("x-knock") != "twice":
            raise HTTPException(401, "knock twice")
        return Caller(PrincipalKind.DEVICE, "knocker")


async def test_a_route_behind_a_door_of_a_services_own_counts_as_classified() -> None:
    door = KnockTwice()
    router = APIRouter()

    @router.get("/backstage")
    async def backstage(caller: Caller = Depends(door)) -> dict[str, str]:
        return {"subject": caller.subject}

    app = build_http_app("booking", Metrics(), Ready(), [router])  # no UnclassifiedRoutes
    (route,) = [r for r in api_routes(app.routes) if r.path == "/backstage"]
    assert access_of(route) is door
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                 base_url="http://test") as http:  # fmt: skip
        refused = await http.get("/backstage")
        admitted = await http.get("/backstage", headers={"X-Knock": "twice"})
    assert refused.status_code == 401
    assert admitted.json() == {"subject": "knocker"}


def test_a_dependency_that_is_no_door_does_not_classify_a_route() -> None:
    async def looks_around(request: Request) -> None:
        """Reads the request, admits everyone: no decision about who may call."""

    router = APIRouter()

    @router.get("/backstage", dependencies=[Depends(looks_around)])
    async def backstage() -> dict[str, str]:
        return {}

    with pytest.raises(UnclassifiedRoutes, match="GET /backstage"):
        build_http_app("booking", Metrics(), Ready(), [router])


@pytest.mark.parametrize(
    ("value", "expected"),
    [(None, None), ("", None), ("  ", None), ("Bearer abc", "abc"), ("BEARER  abc ", "abc")],
)
def test_the_token_of_an_authorization_header(value: str | None, expected: str | None) -> None:
    assert bearer_of(value) == expected


@pytest.mark.parametrize("value", ["Basic abc", "Bearer", "Bearer  ", "abc"])
def test_a_header_that_is_no_bearer_token_proves_nothing(value: str) -> None:
    with pytest.raises(ProofError):
        bearer_of(value)
