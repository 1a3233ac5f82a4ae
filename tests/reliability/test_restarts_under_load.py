"""PostgreSQL, then Kafka, restarted while bookings flow: meanwhile every service reports itself not
ready, naming what is missing; afterwards every command has exactly one outcome, nothing is
stored twice, and every service is ready again with no background task left dead (the
scheduler, the relay and the sender survive "the database system is starting up")."""

from __future__ import annotations

import asyncio
import json
import time
import urllib.error
import urllib.request

import pytest

from clients.kiosk.client import BookingClient
from contracts.booking import ReservationConfirmed
from tests.reliability.test_booking_crash import (
    assert_one_outcome_and_one_reservation_each,
    distinct_slots,
)
from tests.support import System, register

pytestmark = pytest.mark.stack

REQUESTS = 300
READY_WITHIN_S = 90.0


def readiness(port: int) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=5) as response:
            return response.status, json.loads(response.read())["status"]
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()
    except OSError as error:
        return 0, repr(error)


async def all_ready(system: System) -> dict[str, tuple[int, str]]:
    """Each service's readiness once all are ready, or as it is when the time is up."""
    deadline = time.monotonic() + READY_WITHIN_S
    while True:
        states = {n: readiness(s.http_port) for n, s in system.by_name.items()}
        if all(code == 200 for code, _ in states.values()) or time.monotonic() > deadline:
            return states
        await asyncio.sleep(1)


async def restart(system: System, component: str) -> dict[str, tuple[int, str]]:
    """Stop a component until every process that needs it reports it not ready (or 30 s),
    start it again; the readiness each of them reported meanwhile. The web client has no
    database: a PostgreSQL restart is not its concern."""
    start = {"postgres": system.stack.start_postgres, "kafka": system.stack.start_kafka}
    await asyncio.to_thread(system.stack.stop_component, component)
    deadline = time.monotonic() + 30
    needing = {n: s for n, s in system.by_name.items() if component != "postgres" or s.database}
    while True:
        states = {n: readiness(s.http_port) for n, s in needing.items()}
        if all(code != 200 for code, _ in states.values()) or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.5)
    await asyncio.to_thread(start[component])
    return states


async def test_postgres_and_kafka_restarts_under_load_lose_and_double_nothing(
    system: System, client: BookingClient
) -> None:
    orgs = list(await asyncio.gather(*(register(client) for _ in range(12))))
    commands = distinct_slots(orgs, REQUESTS)
    futures = []

    async def send_all(part: list) -> None:  # type: ignore[type-arg]
        for cmd in part:
            while True:
                try:
                    futures.append(await client.send(cmd))
                    break
                except Exception:  # the broker is away: retry the same command, same id
                    await asyncio.sleep(0.5)
            await asyncio.sleep(0.01)

    third = REQUESTS // 3
    started = time.monotonic()
    await send_all(commands[:third])
    without_db, _ = await asyncio.gather(
        restart(system, "postgres"), send_all(commands[third : 2 * third])
    )
    without_kafka, _ = await asyncio.gather(
        restart(system, "kafka"), send_all(commands[2 * third :])
    )
    # while either was away, every service said it was not ready, and why
    assert all(code == 503 and "database" in why for code, why in without_db.values()), without_db
    assert all(code == 503 and "Kafka" in why for code, why in without_kafka.values()), (
        without_kafka
    )

    outcomes = await asyncio.wait_for(asyncio.gather(*futures), 240)
    print(f"{REQUESTS} commands through a PostgreSQL and a Kafka restart answered in "
          f"{time.monotonic() - started:.1f} s")  # fmt: skip
    confirmed = {o.request_id for o in outcomes if isinstance(o, ReservationConfirmed)}
    assert len(confirmed) == REQUESTS  # distinct free slots: every one confirmed

    await assert_one_outcome_and_one_reservation_each(system, commands)

    states = await all_ready(system)
    assert all(code == 200 for code, _ in states.values()), states
