"""The HTTP side every service shares: bad requests get a 400 a person can read; every error,
expected or not, has one body shape; no redirect names a host the client chose; days and bodies
are bounded; a route can be rate-limited per client."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from datetime import date
from typing import Annotated

import httpx
import pytest
from fastapi import APIRouter, Depends, FastAPI, HTTPException, Query

from services.runtime.http import (
    MAX_BODY_BYTES,
    Day,
    RateLimit,
    build_http_app,
    counted_as,
    error_responses,
    limited,
)
from services.runtime.http_auth import PUBLIC
from services.runtime.metrics import Metrics


class NotStarted:
    async def check(self) -> tuple[bool, str]:
        return False, "starting"


def app_with_route() -> httpx.AsyncClient:
    router = APIRouter(dependencies=[PUBLIC])  # every route says who may call it

    @router.get("/availability")
    async def availability(space: str, day: date) -> dict[str, str]:
        return {"space": space, "day": day.isoformat()}

    app = build_http_app("booking", Metrics(), NotStarted(), [router])
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test")


async def test_an_invalid_query_parameter_is_named_in_a_readable_400() -> None:
    async with app_with_route() as http:
        response = await http.get("/availability", params={"space": "a", "day": "someday"})
    assert response.status_code == 400
    assert response.json()["error"].startswith("query parameter 'day':")


async def test_a_missing_parameter_is_named_too() -> None:
    async with app_with_route() as http:
        response = await http.get("/availability", params={"day": "2027-01-07"})
    assert response.status_code == 400
    assert "query parameter 'space': Field required" in response.json()["error"]


async def test_a_valid_request_passes_and_readiness_waits_for_start() -> None:
    async with app_with_route() as http:
        ok = await http.get("/availability", params={"space": "a", "day": "2027-01-07"})
        ready = await http.get("/readyz")
    assert ok.json() == {"space": "a", "day": "2027-01-07"}
    assert ready.status_code == 503 and ready.json() == {"status": "starting"}


async def test_openapi_document_lists_the_service_routes() -> None:
    async with app_with_route() as http:
        document = (await http.get("/openapi.json")).json()
    assert "/availability" in document["paths"] and "/readyz" in document["paths"]


def guarded_app() -> httpx.AsyncClient:
    """An app with a route for each way a handler can end: an HTTPException, a bug whose message
    carries request data, a bounded day, and a body."""
    router = APIRouter(dependencies=[PUBLIC])  # every route says who may call it

    @router.get("/things/{thing_id}")
    async def thing(thing_id: int) -> dict[str, int]:
        raise HTTPException(404, f"no thing {thing_id}")

    @router.get("/crash")
    async def crash(secret: str) -> dict[str, str]:
        raise RuntimeError(f"value out of range: {secret}")

    @router.get("/days")
    async def days(day: Annotated[date, Query()], bounded: Day | None = None) -> dict[str, str]:
        return {"day": day.isoformat(), "bounded": bounded.isoformat() if bounded else ""}

    @router.post("/echo")
    async def echo(body: dict[str, str]) -> dict[str, str]:
        return body

    app = build_http_app("booking", Metrics(), NotStarted(), [router])
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test")


async def test_a_slashed_path_is_not_redirected_to_the_host_the_client_named() -> None:
    async with guarded_app() as http:
        response = await http.get("/healthz/", headers={"Host": "attacker.example"})
    assert response.status_code == 404
    assert "location" not in response.headers
    assert response.json() == {"error": "Not Found"}


async def test_every_error_has_the_same_body_shape() -> None:
    async with guarded_app() as http:
        missing = await http.get("/things/7")
        unknown = await http.get("/no/such/route")
        wrong_method = await http.delete("/healthz")
    assert missing.status_code == 404 and missing.json() == {"error": "no thing 7"}
    assert unknown.status_code == 404 and unknown.json() == {"error": "Not Found"}
    assert wrong_method.status_code == 405 and set(wrong_method.json()) == {"error"}
    assert wrong_method.headers["allow"] == "GET"


async def test_an_unexpected_exception_is_a_500_with_the_error_body_and_no_request_data_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.ERROR, logger="services.runtime.http"):
        async with guarded_app() as http:
            response = await http.get("/crash", params={"secret": "hanako@example.org"})
    assert response.status_code == 500
    assert response.json() == {"error": "internal error"}
    assert "RuntimeError" in caplog.text and "/crash" in caplog.text
    assert "hanako" not in caplog.text and "hanako" not in response.text


@pytest.mark.parametrize("value", ["0001-01-01", "9999-12-31", "1969-12-31", "3000-01-01"])
async def test_a_day_outside_the_sane_range_is_a_400(value: str) -> None:
    async with guarded_app() as http:
        response = await http.get("/days", params={"day": "2027-01-07", "bounded": value})
    assert response.status_code == 400
    assert response.json()["error"].startswith("query parameter 'bounded':")


@pytest.mark.parametrize("value", ["1700000000", "2027-01-07T00:00:00", "2027-1-7", " 2027-01-07"])
async def test_a_day_is_written_as_yyyy_mm_dd_only(value: str) -> None:
    async with guarded_app() as http:
        response = await http.get("/days", params={"day": "2027-01-07", "bounded": value})
    assert response.status_code == 400


async def test_a_day_inside_the_range_passes() -> None:
    async with guarded_app() as http:
        response = await http.get("/days", params={"day": "2027-01-07", "bounded": "2030-02-28"})
    assert response.json() == {"day": "2027-01-07", "bounded": "2030-02-28"}


async def test_a_body_over_the_limit_is_refused_before_it_is_read_whole() -> None:
    async with guarded_app() as http:
        declared = await http.post("/echo", content=b"{}" + b" " * MAX_BODY_BYTES,
                                   headers={"Content-Type": "application/json"})  # fmt: skip

        async def chunks() -> AsyncIterator[bytes]:
            for _ in range(MAX_BODY_BYTES // 1024 + 2):
                yield b" " * 1024

        streamed = await http.post("/echo", content=chunks(),
                                   headers={"Content-Type": "application/json"})  # fmt: skip
    assert declared.status_code == 413 and set(declared.json()) == {"error"}
    assert streamed.status_code == 413 and set(streamed.json()) == {"error"}


async def test_a_body_nested_too_deep_to_parse_is_a_400() -> None:
    async with guarded_app() as http:
        response = await http.post("/echo", content=b"[" * 5000,
                                   headers={"Content-Type": "application/json"})  # fmt: skip
    assert response.status_code == 400 and set(response.json()) == {"error"}


async def test_openapi_documents_the_real_error_answers() -> None:
    async with guarded_app() as http:
        document = (await http.get("/openapi.json")).json()
    operations = [op for path in document["paths"].values() for op in path.values()]
    assert all("422" not in op["responses"] for op in operations)
    assert all("500" in op["responses"] for op in operations)
    error_ref = {"$ref": "#/components/schemas/ErrorBody"}
    days = document["paths"]["/days"]["get"]["responses"]
    assert days["400"]["content"]["application/json"]["schema"] == error_ref
    assert "404" in document["paths"]["/things/{thing_id}"]["get"]["responses"]
    assert "413" in document["paths"]["/echo"]["post"]["responses"]
    schemas = document["components"]["schemas"]
    assert "HTTPValidationError" not in schemas and "ErrorBody" in schemas
    assert document["paths"]["/readyz"]["get"]["responses"]["503"]


def test_a_client_gets_its_burst_then_waits_for_the_bucket_to_refill() -> None:
    now = [0.0]
    limit = RateLimit(per_minute=6, burst=3, clock=lambda: now[0])
    assert [limit.wait("10.0.0.1") for _ in range(3)] == [0.0, 0.0, 0.0]
    assert limit.wait("10.0.0.1") == pytest.approx(10.0)
    assert limit.wait("10.0.0.2") == 0.0  # another client has its own bucket
    now[0] += 10.0
    assert limit.wait("10.0.0.1") == 0.0
    assert limit.wait("10.0.0.1") > 0


def test_the_rate_limit_remembers_a_bounded_number_of_clients() -> None:
    now = [0.0]
    limit = RateLimit(per_minute=6, burst=1, clock=lambda: now[0], max_clients=100)
    for n in range(1000):
        limit.wait(f"10.0.{n // 256}.{n % 256}")
    assert len(limit) <= 100
    # the newest clients are still limited
    assert limit.wait("10.0.3.231") > 0


def limited_app() -> FastAPI:
    """A service with one route a client may call once a minute."""
    router = APIRouter(dependencies=[PUBLIC])  # every route says who may call it
    limit = RateLimit(per_minute=1, burst=1)

    @router.post("/subscribers", dependencies=[Depends(limited(limit))],
                 responses=error_responses(429))  # fmt: skip
    async def subscribe() -> dict[str, str]:
        return {"status": "ok"}

    return build_http_app("notify", Metrics(), NotStarted(), [router])


async def test_a_limited_route_answers_429_with_the_error_body_and_retry_after() -> None:
    transport = httpx.ASGITransport(app=limited_app(), client=("192.0.2.7", 4000))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        first, second = await http.post("/subscribers"), await http.post("/subscribers")
    assert first.status_code == 200
    assert second.status_code == 429 and set(second.json()) == {"error"}
    assert int(second.headers["retry-after"]) >= 1


def test_an_ipv6_client_is_counted_by_the_64_network_it_holds() -> None:
    # a host gets a whole /64: counted by the address alone, it could spread its requests over
    # 2**64 buckets
    one_network = counted_as("2001:db8:1:2::1"), counted_as("2001:db8:1:2:ffff:ffff:ffff:fffe")
    assert one_network[0] == one_network[1] == "2001:db8:1:2::/64"
    assert counted_as("2001:db8:1:3::1") != one_network[0]
    assert counted_as("::ffff:192.0.2.7") == counted_as("192.0.2.7") == "192.0.2.7"
    assert counted_as("192.0.2.8") != counted_as("192.0.2.7")
    assert counted_as("unknown") == "unknown"  # no address at all (a Unix socket)


async def test_a_limited_route_counts_the_addresses_of_one_ipv6_network_together() -> None:
    app = limited_app()
    codes = []
    for address in ("2001:db8:5:6::1", "2001:db8:5:6::2", "2001:db8:5:7::1"):
        transport = httpx.ASGITransport(app=app, client=(address, 4000))
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
            codes.append((await http.post("/subscribers")).status_code)
    assert codes == [200, 429, 200]


def test_head_is_get_without_the_body() -> None:
    from fastapi.testclient import TestClient

    from services.runtime.http import build_http_app
    from services.runtime.metrics import Metrics

    class Ready:
        async def check(self) -> tuple[bool, str]:
            return True, "ready"

    with TestClient(build_http_app("test", Metrics(), Ready())) as http:
        got = http.head("/healthz")
        assert got.status_code == 200 and got.content == b""
        assert got.headers["content-length"] == http.get("/healthz").headers["content-length"]
        assert http.head("/readyz").status_code == 200
