"""Helpers for tests on the real stack: the running services, unique data, the mail folder."""

from __future__ import annotations

import asyncio
import email
import email.policy
import ipaddress
import itertools
import mailbox
import os
import secrets
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from datetime import time as clock
from email.message import EmailMessage
from typing import Any, TypeVar
from uuid import UUID, uuid4
from zoneinfo import ZoneInfo

import asyncpg
from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from pydantic import TypeAdapter

from clients.kiosk.client import BookingClient
from contracts.booking import (
    BookingEventT,
    Channel,
    OrganisationKind,
    OrganisationRegistered,
    RegisterOrganisation,
    RequestReservation,
    SpaceId,
    booking_event_adapter,
)
from contracts.topics import BOOKING_EVENTS, COMMAND_TOPICS, Topic
from deploy.kafka_acls import ADMIN, TRAFFIC
from deploy.local.launcher import kafka_login
from deploy.local.stack import Stack
from services.booking.domain import DEFAULT_POLICY, day_hours, has_evening
from services.registry import SERVICES as REGISTRY_SERVICES
from services.registry import Service, processes, urls
from services.runtime.kafka_auth import KafkaCredentials, connection_kwargs, development_credentials
from tests import identity_support

TOKYO = ZoneInfo("Asia/Tokyo")
T = TypeVar("T")


def _rehearsal_morning() -> datetime:
    """10:00 on the next open weekday: the booking services of a test run live at this moment
    (BOOKING_CLOCK_SHIFT_S), so time-bound rules (opening hours, the evening cut-off, Lab
    check-in) behave the same whenever the tests run."""
    day = datetime.now(TOKYO).date() + timedelta(days=1)
    while not (has_evening(day) and day_hours(day, DEFAULT_POLICY) is not None):
        day += timedelta(days=1)
    return datetime.combine(day, clock(10), TOKYO)


CLOCK_SHIFT = _rehearsal_morning() - datetime.now(TOKYO)
TEST_QUOTA = 30  # future reservations an organisation may hold on the test services

# The booking services of a test run: a shifted clock, a horizon long enough for the crash
# test's 1,000 distinct slots, and a quota small enough to test.
BOOKING_TEST_ENV = (
    ("BOOKING_CLOCK_SHIFT_S", f"{CLOCK_SHIFT.total_seconds():.3f}"),
    ("BOOKING_HORIZON_MONTHS", "12"),
    ("BOOKING_MAX_ACTIVE_RESERVATIONS", str(TEST_QUOTA)),
    # past at the services' 10:00: today's evening is already decided, its evening too late
    ("BOOKING_EVENING_CUTOFF", "09:00"),
)


def service_now() -> datetime:
    """The booking services' "now" during a test run."""
    return datetime.now(TOKYO) + CLOCK_SHIFT


@dataclass(frozen=True)
class ServiceProcess:
    name: str
    module: str
    http_port: int
    database: str
    extra_env: tuple[tuple[str, str], ...] = ()


# Several test runs may share a machine (two developers, CI and a benchmark): TEST_STACK_SLOT=N
# gives a run its own stack root and ports, N = 0..9.
SLOT = int(os.environ.get("TEST_STACK_SLOT", "0"))
PORT_OFFSET = 10 * SLOT

SERVICE_PORT_OFFSET = 20000 + PORT_OFFSET  # each registry port + 20000, + 10 per slot


# --- who the tests are on Kafka (deploy/kafka_acls.py) -------------------------------------------
# Tests send commands as a client would (`kiosk` for booking's, `web` for any command topic) and
# observe topics, or play a broken service, as `admin`, the super user of the test stack.


def credentials(principal: str) -> KafkaCredentials:
    return development_credentials(principal)


def kiosk_client(bootstrap: str) -> BookingClient:
    """The kiosk's client: sends as the kiosk principal with each command's sender's proof,
    reads the answers as admin (a kiosk may not read booking.events)."""
    return BookingClient(
        bootstrap,
        sender=credentials("kiosk"),
        reader=credentials("admin"),
        proof=identity_support.token_for,
    )


def login(principal: str) -> dict[str, Any]:
    """aiokafka's keyword arguments to connect as ``principal``."""
    return connection_kwargs(credentials(principal))


def as_admin() -> dict[str, Any]:
    return login(ADMIN)


def as_sender(topic: str) -> dict[str, Any]:
    """A client (`web`) for a command topic; anything else only a service writes (admin)."""
    return login("web") if topic in {t.name for t in COMMAND_TOPICS} else as_admin()


def kcat_login(principal: str) -> list[str]:
    """kcat's options to log in as ``principal``: SASL/PLAIN, which the local stack offers for
    Debian's kcat (its librdkafka fails Kafka 4's SCRAM check)."""
    return ["-X", "security.protocol=SASL_PLAINTEXT", "-X", "sasl.mechanisms=PLAIN",
            "-X", f"sasl.username={principal}",
            "-X", f"sasl.password={credentials(principal).password}"]  # fmt: skip


def principal_of(module: str) -> str:
    """The Kafka principal of the registry's service run as ``python -m <module>``."""
    return next(s.name for s in REGISTRY_SERVICES if s.module == module)


# What the test stack adds to a service's environment, by service; a service not named here
# runs with the stack's defaults.
TEST_ENV: dict[str, tuple[tuple[str, str], ...]] = {
    "booking": BOOKING_TEST_ENV,
    "notify": (("SENDER_POLL_S", "0.05"), ("SCHEDULE_POLL_S", "0.2")),
    "consultation": (("SCHEDULE_POLL_S", "0.2"),),
    "events": (("SCHEDULE_POLL_S", "0.2"),),
}


def stack_services(services: Sequence[Service] | None = None) -> tuple[ServiceProcess, ...]:
    """The test stack's processes: every service of the registry (``services/registry.py``),
    each as many times as its ``instances`` (booking-1 and booking-2 share one consumer
    group), on its port moved by :data:`SERVICE_PORT_OFFSET`."""
    return tuple(
        ServiceProcess(
            p.name,
            p.service.module,
            p.http_port,
            p.service.database,
            TEST_ENV.get(p.service.name, ()),
        )
        for p in processes(services, port_offset=SERVICE_PORT_OFFSET, scale_out=True)
    )


SERVICES = stack_services()
STACK_URLS = urls(processes(port_offset=SERVICE_PORT_OFFSET, scale_out=True))


class System:
    """The services of the test stack, started and restarted as real processes."""

    def __init__(self, stack: Stack, services: tuple[ServiceProcess, ...] = SERVICES) -> None:
        self.stack = stack
        self.by_name = {s.name: s for s in services}

    def http_port(self, service: str) -> int:
        """The HTTP port of the service's first process (every instance answers the same)."""
        return next(p.http_port for name, p in self.by_name.items()
                    if name == service or name.startswith(f"{service}-"))  # fmt: skip

    def env(self, service: ServiceProcess) -> dict[str, str]:
        return {
            "DEVELOPMENT": "1",  # the test stack may use development secrets
            "KAFKA_BOOTSTRAP": self.stack.kafka_bootstrap,
            "KAFKA_REPLICATION_FACTOR": str(self.stack.kafka.replication),
            **kafka_login(principal_of(service.module)),
            **STACK_URLS,  # where the services and the web client answer (registry.urls)
            "DATABASE_URL": self.stack.postgres_dsn(service.database),
            "HTTP_PORT": str(service.http_port),
            "CONSUMER_GROUP": service.database,
            "SMTP_HOST": "127.0.0.1",
            "SMTP_PORT": str(self.stack.config.smtp_port),
            **dict(service.extra_env),
        }

    def start(self, name: str) -> None:
        s = self.by_name[name]
        self.stack.start_service(s.name, s.module, self.env(s), s.http_port)

    def start_all(self) -> None:
        for name in self.by_name:
            self.start(name)

    def stop_all(self) -> None:
        for name in self.by_name:
            self.stack.stop_component(name)

    def dsn(self, database: str) -> str:
        return self.stack.postgres_dsn(database)

    def mails_to(self, recipient: str) -> list[EmailMessage]:
        box = mailbox.Maildir(self.stack.maildir, create=False)
        found = []
        for key in box.keys():
            raw = box.get_bytes(key)
            msg = email.message_from_bytes(raw, policy=email.policy.default)
            assert isinstance(msg, EmailMessage)
            if recipient in str(msg.get("To", "")):
                found.append(msg)
        return found

    async def wait_for_mails(
        self, recipient: str, count: int, timeout: float = 20.0
    ) -> list[EmailMessage]:
        """The mails to a recipient once `count` have arrived and nothing more is on its way to
        it (or what arrived by the timeout). Nothing more is on its way when notify has handled
        every record on the topics it reads and holds no unsent delivery for the recipient: an
        unwanted extra mail would have arrived by then, so a test can count exactly."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if len(self.mails_to(recipient)) >= count and await self.mail_settled(recipient):
                break
            await asyncio.sleep(0.1)
        return self.mails_to(recipient)

    async def mail_settled(self, recipient: str) -> bool:
        """Whether every mailing service is done with what could mail `recipient`: its consumer
        group has committed the end of every topic it reads, and none of its deliveries to the
        recipient is still pending or being sent."""
        for process in self.by_name.values():
            if process.module != "services.notify":
                continue
            env = self.env(process)
            group_done = await consumer_caught_up(
                self.stack.kafka_bootstrap, env["CONSUMER_GROUP"], NOTIFY_INPUTS
            )
            if not group_done or not await deliveries_settled(env["DATABASE_URL"], recipient):
                return False
        return True


NOTIFY_INPUTS = TRAFFIC["notify"].consumes  # what notify consumes, as its ACLs say


async def consumer_caught_up(bootstrap: str, group: str, topics: Sequence[Topic]) -> bool:
    """Whether the consumer group has committed the end of each partition of the topics:
    every record on them handled."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, **as_admin())
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False,
                                **as_admin())  # fmt: skip
    await admin.start()
    await consumer.start()
    try:
        committed = await admin.list_consumer_group_offsets(group)
        partitions = [TopicPartition(t.name, p) for t in topics for p in range(t.partitions)]
        ends = await consumer.end_offsets(partitions)
    finally:
        await consumer.stop()
        await admin.close()
    done = {tp: meta.offset for tp, meta in committed.items()}
    return all(done.get(tp, 0) >= end for tp, end in ends.items())


async def value_of(dsn: str, query: str, *args: object) -> Any:
    """One value read from a service's database on a connection of its own, closed after."""
    conn = await asyncpg.connect(dsn)
    try:
        return await conn.fetchval(query, *args)
    finally:
        await conn.close()


async def deliveries_settled(dsn: str, recipient: str) -> bool:
    """No delivery to the recipient is pending or being sent."""
    waiting = await value_of(
        dsn,
        "SELECT count(*) FROM deliveries WHERE recipient = $1 AND status IN ('pending', 'sending')",
        recipient,
    )
    return bool(waiting == 0)


class Days:
    """Hands out distinct open weekdays after the services' today (inside the booking horizon),
    so tests never compete for a room by accident."""

    def __init__(self, first: date | None = None) -> None:
        start = first or service_now().date() + timedelta(days=1)
        self._days = (start + timedelta(days=n) for n in itertools.count())

    def next(self) -> date:
        for day in self._days:
            if has_evening(day) and day_hours(day, DEFAULT_POLICY) is not None:
                return day
        raise AssertionError("unreachable")


DAYS = Days()


def at(day: date, hh: int, mm: int = 0) -> datetime:
    return datetime.combine(day, clock(hh, mm), TOKYO)


def unique_email() -> str:
    return f"org-{uuid4().hex[:12]}@example.org"


DOCUMENTATION_NETWORK = ipaddress.IPv6Network("2001:db8::/32")  # RFC 3849


def client_address() -> str:
    """An address in a /64 no other test's client has (32 random bits of network), for
    X-Forwarded-For through the local proxy: the services' rate limits count a client by its
    address (an IPv6 one by its /64) and live as long as the stack, so two tests, or two runs on
    one stack, that drew from a few hundred IPv4 addresses could share a bucket."""
    host = int(DOCUMENTATION_NETWORK.network_address) + secrets.randbits(96)
    return str(ipaddress.IPv6Address(host))


def register_command(email_address: str | None = None) -> RegisterOrganisation:
    return RegisterOrganisation(
        message_id=uuid4(),
        name="港北みどりの会",
        kind=OrganisationKind.CITIZEN_GROUP,
        contact_name="山田 花子",
        contact_email=email_address or unique_email(),
        newsletter_consent=True,
    )


async def register(client: BookingClient, email_address: str | None = None) -> UUID:
    outcome = await client.request(register_command(email_address), timeout=30)
    assert isinstance(outcome, OrganisationRegistered), outcome
    return outcome.organisation_id


def reservation(
    organisation_id: UUID,
    space: SpaceId,
    start: datetime,
    end: datetime,
    attendees: int = 10,
    atrium: bool = False,
    purpose: str = "協働イベントの打合せ",
) -> RequestReservation:
    return RequestReservation(
        message_id=uuid4(),
        organisation_id=organisation_id,
        space=space,
        starts_at=start,
        ends_at=end,
        attendees=attendees,
        purpose=purpose,
        atrium=atrium,
        channel=Channel.WEB,  # an organisation's own request; its proof says so
    )


class TopicLog:
    """What this test run has read of one topic: every record, each fetched from Kafka once.

    Each read goes on from where the last one stopped (the first starts at the beginning, which
    on the fresh stack of a test run is where the run started), so waiting for a record costs
    what arrived since, not the whole topic again, however long the run has been going."""

    def __init__(self, bootstrap: str, topic: Topic) -> None:
        self.bootstrap = bootstrap
        self.topic = topic
        self.records: list[ConsumerRecord[bytes, bytes]] = []
        self.positions: dict[int, int] = {}  # the next offset to read, by partition
        self._parsed: dict[int, tuple[int, list[Any]]] = {}

    async def read(
        self, until: Callable[[], bool] | None = None, timeout: float = 0.0
    ) -> list[ConsumerRecord[bytes, bytes]]:
        """Every record so far: read on to the end offsets of this moment, then, with `until`,
        keep consuming as records arrive until it holds or `timeout` seconds have passed."""
        consumer = AIOKafkaConsumer(
            bootstrap_servers=self.bootstrap, enable_auto_commit=False, **as_admin()
        )
        await consumer.start()
        try:
            tps = [TopicPartition(self.topic.name, p) for p in range(self.topic.partitions)]
            consumer.assign(tps)
            for tp in tps:
                if tp.partition in self.positions:
                    consumer.seek(tp, self.positions[tp.partition])
                else:
                    await consumer.seek_to_beginning(tp)
            end = await consumer.end_offsets(tps)
            while any([await consumer.position(tp) < offset for tp, offset in end.items()]):
                await self._take(consumer, tps, timeout_ms=1000)
            deadline = time.monotonic() + timeout
            while until is not None and not until() and time.monotonic() < deadline:
                await self._take(consumer, tps, timeout_ms=100)
        finally:
            await consumer.stop()
        return list(self.records)

    async def _take(
        self, consumer: AIOKafkaConsumer, tps: list[TopicPartition], timeout_ms: int
    ) -> None:
        for records in (await consumer.getmany(timeout_ms=timeout_ms)).values():
            self.records += records
        for tp in tps:
            self.positions[tp.partition] = await consumer.position(tp)

    def valid(self, adapter: TypeAdapter[T]) -> list[T]:
        """The records that are valid messages of the adapter's type, parsed once each; anyone
        can write to a topic, and a reader skips what is not a valid message (the
        hostile-input tests write such records)."""
        done, found = self._parsed.get(id(adapter), (0, []))
        for record in self.records[done:]:
            try:
                found.append(adapter.validate_json(record.value or b""))
            except ValueError:
                continue
        self._parsed[id(adapter)] = (len(self.records), found)
        return list(found)


_LOGS: dict[tuple[str, str], TopicLog] = {}


def topic_log(bootstrap: str, topic: Topic) -> TopicLog:
    """The run's one log of a topic on a stack."""
    key = (bootstrap, topic.name)
    if key not in _LOGS:
        _LOGS[key] = TopicLog(bootstrap, topic)
    return _LOGS[key]


async def topic_records(
    bootstrap: str, topic: Topic, timeout: float = 1.0
) -> list[ConsumerRecord[bytes, bytes]]:
    """Every record of a topic so far (up to its end offsets of this moment), reading only
    what arrived since the last call."""
    return await topic_log(bootstrap, topic).read()


def readable_events(records: list[ConsumerRecord[bytes, bytes]]) -> list[BookingEventT]:
    """The booking events among the records; anyone can write to a topic, and a reader skips
    what is not a valid event (the hostile-input tests write such records)."""
    events: list[BookingEventT] = []
    for record in records:
        try:
            events.append(booking_event_adapter.validate_json(record.value or b""))
        except ValueError:
            continue
    return events


async def booking_events(bootstrap: str, timeout: float = 1.0) -> list[BookingEventT]:
    """Every valid event on `booking.events` so far (for facts no command awaits, such as
    `day.closing_time_set`)."""
    log = topic_log(bootstrap, BOOKING_EVENTS)
    await log.read()
    return log.valid(booking_event_adapter)


async def wait_for_event(
    bootstrap: str, match: Callable[[BookingEventT], bool], timeout: float = 20.0
) -> list[BookingEventT]:
    """The events matching `match` once there is at least one (or none by the timeout),
    consumed as they arrive."""
    log = topic_log(bootstrap, BOOKING_EVENTS)

    def found() -> list[BookingEventT]:
        return [e for e in log.valid(booking_event_adapter) if match(e)]

    await log.read(until=lambda: bool(found()), timeout=timeout)
    return found()


def open_weekday(after_days: int = 3) -> date:
    """A weekday the consultation desk is open (no holiday, no year-end closure), a few days
    ahead: for expert consultation days."""
    return open_weekdays(1, after_days)[0]


def open_weekdays(count: int, after_days: int = 3) -> list[date]:
    """`count` such weekdays in a row, from a few days ahead."""
    from services.consultation.hours import DESK
    from services.runtime.center_calendar import is_public_holiday

    found: list[date] = []
    day = datetime.now(TOKYO).date() + timedelta(days=after_days)
    while len(found) < count:
        if day.weekday() < 5 and DESK.window(day) is not None and not is_public_holiday(day):
            found.append(day)
        day += timedelta(days=1)
    return found
