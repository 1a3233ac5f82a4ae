"""SIGTERM (a deploy, `make down`) lets a service finish the batch in hand, commit and close:
no request is lost or answered twice, and the process says it stopped."""

from __future__ import annotations

import asyncio

import pytest

from clients.kiosk.client import BookingClient
from tests.reliability.test_booking_crash import distinct_slots, outcomes_on_topic
from tests.support import System, register

pytestmark = pytest.mark.stack

REQUESTS = 300


async def test_sigterm_mid_stream_finishes_cleanly_and_loses_nothing(
    system: System, client: BookingClient
) -> None:
    orgs = [await register(client) for _ in range(3)]
    commands = distinct_slots(orgs, REQUESTS)
    futures = [await client.send(c, wait_ack=False) for c in commands[: REQUESTS // 2]]
    await client.flush()
    await asyncio.to_thread(system.stack.stop_component, "booking-1")  # SIGTERM, then waits
    futures += [await client.send(c, wait_ack=False) for c in commands[REQUESTS // 2 :]]
    await client.flush()
    await asyncio.to_thread(system.start, "booking-1")
    outcomes = await asyncio.wait_for(asyncio.gather(*futures), 120)

    assert len(outcomes) == REQUESTS
    log = (system.stack.logs / "booking-1.log").read_text()
    assert '"booking stopped"' in log
    per_request = await outcomes_on_topic(
        system.stack.kafka_bootstrap, {c.message_id for c in commands}
    )
    assert len(per_request) == REQUESTS
    assert all(len(ids) == 1 for ids in per_request.values())
