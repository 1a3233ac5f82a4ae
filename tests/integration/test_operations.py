"""What operations staff rely on: metrics, health and readiness of every running service."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from clients.kiosk.client import BookingClient
from tests.support import SERVICES, System, register

pytestmark = pytest.mark.stack


@pytest.mark.parametrize(
    "service", [s for s in SERVICES if s.module.startswith("services.")], ids=lambda s: s.name
)  # the web client consumes nothing: tests/unit/test_web_pages.py checks its health
async def test_every_service_answers_health_readiness_and_metrics(
    system: System, client: BookingClient, service: object
) -> None:
    await register(client)  # something has flowed through
    port = system.by_name[service.name].http_port  # type: ignore[attr-defined]
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
        assert (await http.get("/healthz")).status_code == 200
        ready = await http.get("/readyz")
        assert ready.status_code == 200 and ready.json() == {"status": "ready"}
        metrics = (await http.get("/metrics")).text
    for name in ("messages_consumed_total", "outbox_backlog", "dead_letters_total"):
        assert name in metrics
    assert "faststream_received_messages_total" in metrics


async def test_consumed_messages_are_counted_by_type_and_outcome(
    system: System, client: BookingClient
) -> None:
    await register(client)
    totals = 0.0
    async with httpx.AsyncClient() as http:
        for name in ("booking-1", "booking-2"):
            text = (
                await http.get(f"http://127.0.0.1:{system.by_name[name].http_port}/metrics")
            ).text
            for line in text.splitlines():
                if line.startswith("messages_consumed_total{") and (
                    'type="organisation.register"' in line and 'outcome="handled"' in line
                ):
                    totals += float(line.rsplit(" ", 1)[1])
    assert totals >= 1


async def test_an_api_only_instance_serves_reads_and_consumes_nothing(
    system: System, client: BookingClient
) -> None:
    worker = system.by_name["booking-1"]
    port = worker.http_port + 5
    env = {**system.env(worker), "HTTP_PORT": str(port), "SERVICE_ROLE": "api"}
    await asyncio.to_thread(system.stack.start_service, "booking-api", worker.module, env, port)
    try:
        await register(client)
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
            paths = (await http.get("/openapi.json")).json()["paths"]
            metrics = (await http.get("/metrics")).text
        assert any(path.endswith("/availability") for path in paths)
        assert "messages_consumed_total{" not in metrics
    finally:
        await asyncio.to_thread(system.stack.stop_component, "booking-api")
