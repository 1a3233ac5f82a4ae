"""The HTTP side every service shares: bad requests get a 400 a person can read."""

from __future__ import annotations

from datetime import date

import httpx
from fastapi import APIRouter

from services.runtime.http import Readiness, build_http_app
from services.runtime.metrics import Metrics


def app_with_route() -> httpx.AsyncClient:
    router = APIRouter()

    @router.get("/availability")
    async def availability(space: str, day: date) -> dict[str, str]:
        return {"space": space, "day": day.isoformat()}

    app = build_http_app("booking", Metrics(), Readiness(pool=None), [router])
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
