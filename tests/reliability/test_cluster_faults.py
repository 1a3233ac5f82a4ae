"""Faults under load on the three-broker cluster (`make up KAFKA_BROKERS=3`), with two instances
of booking and of notify, a steady flow of booking requests and a newsletter in flight:

1. one broker killed with SIGKILL, then brought back;
2. one broker paused (SIGSTOP) for longer than the controller's broker session timeout (9 s);
3. one instance of booking and one of notify killed with SIGKILL, then started again;
4. PostgreSQL restarted.

Afterwards every request has exactly one outcome on booking.events and one reservation, every
subscriber has the newsletter (the only repeats allowed are the messages that were on an SMTP
connection of the killed notify at the moment of the kill: accepted by the server, not yet
marked; they carry the first copy's Message-ID), and the outboxes drain. For each fault it
prints the time to recover (from the fault until every request tried before the repair has its
outcome), the requests in flight, those lost (must be 0), and at the end those answered twice
(must be 0). Requests "in flight" are those the load had tried to send while the fault lasted
(or was still waiting on when it began): a stalled broker holds the sender up, so fewer leave.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from clients.kiosk.client import BookingClient
from contracts.booking import ReservationConfirmed
from deploy.local.stack import Stack, StackConfig
from services.registry import processes, service
from tests import identity_support
from tests.notify_support import (
    Sink,
    addresses,
    issue_settled,
    publish_issue,
    seed_subscribers,
    send_now,
    wait_until,
)
from tests.reliability.test_booking_crash import (
    assert_one_outcome_and_one_reservation_each,
    distinct_slots,
    outcomes_on_topic,
)
from tests.support import (
    PORT_OFFSET,
    SLOT,
    TEST_ENV,
    TEST_QUOTA,
    Days,
    ServiceProcess,
    System,
    credentials,
    register,
)

pytestmark = pytest.mark.stack

ROOT = (
    Path(__file__).resolve().parents[2]
    / ".local"
    / ("test-faults" if not SLOT else f"test-faults-{SLOT}")
)
CONNECTIONS = 4  # SMTP connections per notify instance: the most repeats a killed one leaves
# a lease (LEASE_S) outlasting the PostgreSQL restart: sent marks held up by it are written when
# it is back, before any other instance could take the rows again; a killed instance's leases
# come back after it
NOTIFY_ENV = (("SMTP_CONNECTIONS", str(CONNECTIONS)), ("SEND_RATE", "20"), ("LEASE_S", "20"))
SERVICES = tuple(
    ServiceProcess(p.name, p.service.module, p.http_port, p.service.database,
                   (*TEST_ENV.get(p.service.name, ()),
                    *(NOTIFY_ENV if p.service.name == "notify" else ())))
    for p in processes([service("booking"), service("notify")], port_offset=21000 + PORT_OFFSET,
                       instances=2)
)  # fmt: skip
RATE = 15  # booking requests per second, all along (the load stops with the last fault)
SUBSCRIBERS = 3000  # at 2 x 20 messages/s (booking's mails too), in flight through three faults
ANSWERED_WITHIN_S = 120.0


@pytest.fixture(scope="module")
def faulty() -> Iterator[System]:
    shutil.rmtree(ROOT, ignore_errors=True)
    stack = Stack(StackConfig(root=ROOT, kafka_port=31102 + PORT_OFFSET, kafka_brokers=3,
                              postgres_port=31602 + PORT_OFFSET, smtp_port=3112 + PORT_OFFSET,
                              prometheus_port=31992 + PORT_OFFSET))  # fmt: skip
    stack.install()
    system = System(stack, SERVICES)
    try:
        stack.start_infrastructure(prometheus=False)
        system.start_all()
        yield system
    finally:
        stack.stop()


@dataclass
class Load:
    """A steady flow of booking requests, each retried with the same id while the broker
    refuses it; when each was sent and when its outcome came."""

    client: BookingClient
    commands: list[Any]
    sent_at: dict[Any, float] = field(default_factory=dict)  # first tried: the broker may stall it
    answered_at: dict[Any, float] = field(default_factory=dict)
    outcomes: dict[Any, Any] = field(default_factory=dict)
    running: bool = True

    async def run(self) -> None:
        for cmd in self.commands:
            if not self.running:
                return
            self.sent_at[cmd.message_id] = time.monotonic()
            while True:
                try:
                    future = await self.client.send(cmd)
                    break
                except Exception:  # the broker is away: the same command again, same id
                    await asyncio.sleep(0.5)
            future.add_done_callback(self.done(cmd.message_id))
            await asyncio.sleep(1 / RATE)

    def done(self, request_id: Any) -> Callable[[asyncio.Future[Any]], None]:
        def record(future: asyncio.Future[Any]) -> None:
            if not future.cancelled() and future.exception() is None:
                self.answered_at[request_id] = time.monotonic()
                self.outcomes[request_id] = future.result()

        return record

    def unanswered(self, sent_before: float) -> list[Any]:
        return [
            r for r, at in self.sent_at.items() if at < sent_before and r not in self.answered_at
        ]


@dataclass
class Report:
    fault: str
    recovered_s: float
    in_flight: int
    lost: int


async def kill_broker(system: System) -> None:
    pid = system.stack.pid("kafka-2")
    assert pid is not None
    os.kill(pid, signal.SIGKILL)
    await asyncio.sleep(10)
    await asyncio.to_thread(system.stack.kafka.start_node, 1)


async def pause_broker(system: System) -> None:
    pid = system.stack.pid("kafka-3")
    assert pid is not None
    os.kill(pid, signal.SIGSTOP)
    await asyncio.sleep(20)  # the controller fences it after 9 s without a heartbeat
    os.kill(pid, signal.SIGCONT)


async def kill_instances(system: System) -> None:
    for name in ("booking-1", "notify-1"):
        pid = system.stack.pid(name)
        assert pid is not None
        os.kill(pid, signal.SIGKILL)
    await asyncio.sleep(3)
    for name in ("booking-1", "notify-1"):
        await asyncio.to_thread(system.stack.stop_component, name)  # the stale pid file
        await asyncio.to_thread(system.start, name)


async def restart_postgres(system: System) -> None:
    await asyncio.to_thread(system.stack.stop_component, "postgres")
    await asyncio.sleep(3)
    await asyncio.to_thread(system.stack.start_postgres)


FAULTS: list[tuple[str, Callable[[System], Awaitable[None]]]] = [
    ("broker killed (SIGKILL), back after 10 s", kill_broker),
    ("broker paused (SIGSTOP) for 20 s", pause_broker),
    ("booking-1 and notify-1 killed (SIGKILL), restarted", kill_instances),
    ("PostgreSQL restarted", restart_postgres),
]


async def backlog(dsn: str) -> int:
    conn = await asyncpg.connect(dsn)
    try:
        found: int = await conn.fetchval(
            "SELECT count(*) FROM outbox WHERE published_at IS NULL AND set_aside_at IS NULL"
        )
    finally:
        await conn.close()
    return found


async def test_broker_instance_and_database_faults_under_load_lose_and_double_nothing(
    faulty: System,
) -> None:
    system = faulty
    sink = Sink(system.stack.config.smtp_port, system.stack.maildir, system.stack.logs / "x.log")
    readers = addresses("faults", SUBSCRIBERS)
    async with BookingClient(system.stack.kafka_bootstrap, sender=credentials("kiosk"),
                             reader=credentials("admin"),
                             proof=identity_support.token_for) as client:  # fmt: skip
        # more requests than the faults take at RATE a second, on days of this stack's own (the
        # other tests' calendar is left alone); enough organisations that none reaches its quota
        count = RATE * 120
        orgs = list(await asyncio.gather(*(register(client)
                                           for _ in range(count // TEST_QUOTA + 1))))  # fmt: skip
        load = Load(client, distinct_slots(orgs, count, Days()))
        await seed_subscribers(system.dsn("notify"), readers)
        issue = await publish_issue(system.stack.kafka_bootstrap, "臨時号", "障害試験のお知らせ")
        await send_now(system.dsn("notify"), issue)
        flow = asyncio.create_task(load.run())
        reports: list[Report] = []
        try:
            await asyncio.sleep(5)
            for label, fault in FAULTS:
                started = time.monotonic()
                waiting_before = len(load.unanswered(started))
                mailed = delivered(sink, readers)
                await fault(system)
                repaired = time.monotonic()
                in_flight = waiting_before + sum(
                    1 for at in load.sent_at.values() if started <= at < repaired
                )
                deadline = repaired + ANSWERED_WITHIN_S
                while load.unanswered(repaired) and time.monotonic() < deadline:
                    await asyncio.sleep(0.2)
                lost = len(load.unanswered(repaired))
                answered = [load.answered_at[r] for r, at in load.sent_at.items()
                            if at < repaired and r in load.answered_at]  # fmt: skip
                recovered = max(answered, default=repaired) - started
                reports.append(Report(label, recovered, in_flight, lost))
                print(f"{label}: {repaired - started:.1f} s to repair, every request answered"
                      f" {recovered:.1f} s after the fault; {in_flight} requests in flight,"
                      f" {lost} lost; newsletter {mailed}/{SUBSCRIBERS} delivered when it began",
                      flush=True)  # fmt: skip
                assert lost == 0, f"{label}: {lost} requests never answered"
                await asyncio.sleep(5)  # load flows on before the next fault
        finally:
            load.running = False
            await flow
        last = time.monotonic()
        await wait_until(lambda: not load.unanswered(last + 1), ANSWERED_WITHIN_S,
                         "every request answered")  # fmt: skip

    sent = [c for c in load.commands if c.message_id in load.sent_at]
    per_request = await outcomes_on_topic(system.stack.kafka_bootstrap,
                                          {c.message_id for c in sent})  # fmt: skip
    doubled = sum(1 for ids in per_request.values() if len(ids) > 1)
    print(f"{len(sent)} requests through {len(FAULTS)} faults: {len(per_request)} answered,"
          f" {doubled} answered twice", flush=True)  # fmt: skip
    assert all(isinstance(load.outcomes[c.message_id], ReservationConfirmed) for c in sent)
    await assert_one_outcome_and_one_reservation_each(system, sent)  # distinct free slots

    await wait_until(lambda: issue_settled(system.dsn("notify"), issue), 180,
                     "every newsletter delivery settled")  # fmt: skip
    counts = sink.recipients()
    missing = [r for r in readers if not counts[r]]
    repeated = [r for r in readers if counts[r] > 1]
    print(f"newsletter to {SUBSCRIBERS}: {len(missing)} missing, {len(repeated)} repeated"
          f" (allowed: {CONNECTIONS}, the killed instance's connections)", flush=True)  # fmt: skip
    assert missing == []
    assert len(repeated) <= CONNECTIONS
    for recipient in repeated:
        assert len(set(sink.message_ids(recipient))) == 1, recipient

    for database in ("booking", "notify"):
        await wait_until(lambda db=database: _drained(system, db), 60, f"{database}'s outbox")


def delivered(sink: Sink, readers: list[str]) -> int:
    counts = sink.recipients()
    return sum(1 for r in readers if counts[r])


async def _drained(system: System, database: str) -> bool:
    return await backlog(system.dsn(database)) == 0
