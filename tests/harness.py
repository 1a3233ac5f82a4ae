"""The middle level of tests: one service's real consumer path, in memory, on a real PostgreSQL.

A `ServiceHarness` wires a service exactly as `services.runtime.service` does (its `ServiceSpec`,
`build_broker`: the batch subscribers with their tolerant parser and undecoding decoder, the
`BatchHandler` with its parsing, routing, inbox, outbox and dead letters, the service's handlers)
and puts FastStream's `TestKafkaBroker` in place of Kafka. Publishing a command through it runs
the handlers in the calling task, inside the batch transaction, on the service's own schema in a
database of the harness's own. No relay runs: what the service would publish is read from its
outbox, and parsed with the contract's adapters. Neither Kafka nor SMTP nor any other service is
needed, so a handler test takes milliseconds instead of a round trip through the whole stack.

What differs from Kafka, and why it does not matter for what these tests check:
- A batch is what the test delivers (one record, or `send_batch`'s records together), not what a
  fetch happened to return.
- A batch that failed on a passing fault or a lock race is redelivered by the harness, as Kafka
  would after the consumer sought back (after the runtime's retry pause); any other error is
  raised to the test.
- Records published through `TestKafkaBroker` have offset 0 and partition 0, and a missing key
  becomes an empty one; `deliver` builds records of its own (keys, header bytes and offsets as
  given) for the hostile cases.

One PostgreSQL serves every harness of a test session (`HarnessPostgres`, no Kafka); each service's
migrations run once into a template database, and each harness gets a fresh copy of it, so tests
never see each other's rows.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from types import TracebackType
from typing import Any
from uuid import UUID, uuid4

import asyncpg
import httpx
import pytest
from aiokafka import ConsumerRecord
from fastapi import FastAPI
from faststream.kafka import KafkaBroker, TestKafkaBroker
from pydantic import TypeAdapter

from contracts.booking import booking_command_adapter, booking_event_adapter
from contracts.consultation import consultation_command_adapter, consultation_event_adapter
from contracts.envelope import Message, header_fields
from contracts.notify import notify_command_adapter, notify_event_adapter
from contracts.program import program_command_adapter, program_event_adapter
from contracts.topics import Topic
from deploy.local.stack import Stack, StackConfig
from services.runtime.clock import Clock
from services.runtime.consumer import LOG_APPEND_TIME, TRANSIENT_ERRORS, message_type_of
from services.runtime.db import create_pool, migrate
from services.runtime.http import build_http_app
from services.runtime.metrics import Metrics
from services.runtime.schedule import Scheduler
from services.runtime.service import ServiceContext, ServiceSpec, answer_routes, build_broker
from services.runtime.settings import RuntimeSettings
from tests import identity_support

# How each topic's messages are read back from the outbox: the contract's own adapters.
ADAPTERS: dict[str, TypeAdapter[Any]] = {
    "booking.commands": booking_command_adapter,
    "booking.events": booking_event_adapter,
    "notify.commands": notify_command_adapter,
    "notify.events": notify_event_adapter,
    "consultation.commands": consultation_command_adapter,
    "consultation.events": consultation_event_adapter,
    "program.commands": program_command_adapter,
    "program.events": program_event_adapter,
}
REDELIVERIES = 5  # a batch failing on passing faults this often is a test failure


@dataclass(frozen=True)
class Row:
    """An outbox row: what the service would publish, as the relay would send it."""

    id: int
    topic: str
    key: bytes | None
    value: bytes
    headers: dict[str, str]

    @property
    def dead_letter(self) -> bool:
        return self.topic.endswith(".dlq")

    def message(self) -> Message:
        adapter = ADAPTERS.get(self.topic)
        if adapter is None:
            raise AssertionError(f"no contract adapter for {self.topic}: add it to ADAPTERS")
        parsed: Message = adapter.validate_json(self.value)
        return parsed


@dataclass(frozen=True)
class RawRecord:
    """A record as a producer may write it, hostile ones included: any key, any value, header
    values of any bytes."""

    value: bytes | None
    key: bytes | None = None
    headers: Sequence[tuple[str, bytes | None]] = ()


class NoRelay:
    """Stands in for the outbox relay, which the harness does not run: rows stay in the outbox
    for the test to read. Counts the wake-ups the consumer gives after each commit."""

    def __init__(self) -> None:
        self.wakes = 0

    def wake(self) -> None:
        self.wakes += 1


class AlwaysReady:
    async def check(self) -> tuple[bool, str]:
        return True, "ready"


class Default:
    """The default proof: what `identity_support.token_for` gives the message's sender."""


DEFAULT = Default()


def proven_headers(message: Message) -> dict[str, str]:
    return {**header_fields(message),
            **identity_support.kafka_headers(identity_support.token_for(message))}  # fmt: skip


class ServiceHarness:
    """One instance of a service: its broker in memory, its database, its schedule on demand.

    Several harnesses on one database are several instances of the service (as two processes
    in one consumer group): use `instance()` for another one.
    """

    def __init__(
        self, spec: ServiceSpec, pool: asyncpg.Pool, dsn: str, clock: Clock | None = None
    ) -> None:
        self.spec = spec
        self.pool = pool
        self.dsn = dsn
        self.clock = clock or Clock()
        self.relay = NoRelay()
        with pytest.MonkeyPatch.context() as env:
            # no broker here: a login is still part of a service's settings
            env.setenv("KAFKA_USERNAME", spec.name)
            env.setenv("KAFKA_PASSWORD", "in-memory-broker")
            settings = RuntimeSettings.from_env(spec.name, spec.default_http_port)
        self.context = ServiceContext(
            settings=replace(settings, database_url=dsn),
            pool=pool,
            metrics=Metrics(),
            relay=self.relay,
            keyring=identity_support.keyring(),
            clock=self.clock,
        )
        self.broker: KafkaBroker = build_broker(spec, self.context)
        self._test_broker = TestKafkaBroker(self.broker)
        self._offsets: dict[str, int] = {}
        self._busy = asyncio.Lock()
        self._http: httpx.AsyncClient | None = None
        self._app: FastAPI | None = None

    async def __aenter__(self) -> ServiceHarness:
        await self._test_broker.__aenter__()
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._http is not None:
            await self._http.aclose()
        await self._test_broker.__aexit__(kind, exc, tb)

    # --- sending ---------------------------------------------------------------------------

    def topic_of(self, message: Message) -> Topic:
        """The consumed topic whose handlers take this message's type."""
        mtype = message_type_of(type(message))
        for subscription in self.spec.subscriptions:
            if mtype in subscription.by_type():
                return subscription.topic
        raise AssertionError(f"{self.spec.name} consumes no {mtype}")

    async def send(
        self, message: Message, key: str | None = None, token: str | Default | None = DEFAULT
    ) -> list[Message]:
        """Publish one message to the topic that takes it, keyed as its producer would key it,
        with the proof its sender would hold (`token`; by default `token_for(message)`, None for
        none); what handling it made the service publish (dead letters aside)."""
        topic = self.topic_of(message)
        payload = message.model_dump_json().encode()
        record_key = (key if key is not None else message.partition_key()).encode()
        bearer = identity_support.token_for(message) if isinstance(token, Default) else token
        headers = {**header_fields(message), **identity_support.kafka_headers(bearer)}

        async def publish() -> None:
            await self.broker.publish(payload, topic.name, key=record_key, headers=headers)

        rows = await self._published_by(publish)
        return messages_of(rows, flow=message.correlation())

    async def request(
        self, command: Message, key: str | None = None, token: str | Default | None = DEFAULT
    ) -> Message:
        """The answer to a command, as a client awaits it (the event whose request_id is the
        command's message_id); exactly one is expected."""
        answers = [
            m for m in await self.send(command, key, token)
            if getattr(m, "request_id", None) == command.message_id
        ]  # fmt: skip
        assert len(answers) == 1, f"{len(answers)} answers to {command!r}: {answers}"
        return answers[0]

    async def send_batch(self, messages: Sequence[Message]) -> list[Message]:
        """Several messages for one topic delivered as one batch (one transaction)."""
        topics = {self.topic_of(m).name for m in messages}
        assert len(topics) == 1, f"one batch is one topic, got {topics}"
        records = [
            RawRecord(m.model_dump_json().encode(), m.partition_key().encode(),
                      [(k, v.encode()) for k, v in proven_headers(m).items()])
            for m in messages
        ]  # fmt: skip
        rows = await self._published_by(lambda: self._process(topics.pop(), records))
        return messages_of(rows)

    async def deliver(self, topic: Topic, *records: RawRecord) -> list[Row]:
        """Raw records delivered as one batch, bypassing every producer's encoding (the keys,
        values and header bytes a hostile producer may write); every row they made."""
        return await self._published_by(lambda: self._process(topic.name, records))

    async def _process(self, topic: str, records: Sequence[RawRecord]) -> None:
        """What TestKafkaBroker does with a published record, with records of our making."""
        subscriber = next(
            s for s in self.broker.subscribers
            if any(t.name == topic for t in getattr(s, "topics", ()))
        )  # fmt: skip
        await subscriber.process_message([self._record(topic, r) for r in records])

    def _record(self, topic: str, raw: RawRecord) -> ConsumerRecord[bytes, bytes]:
        offset = self._offsets.get(topic, 0)
        self._offsets[topic] = offset + 1
        return ConsumerRecord(
            topic=topic, partition=0, offset=offset, timestamp_type=LOG_APPEND_TIME,
            timestamp=int(time.time() * 1000),  # as the broker stamps command topics
            key=raw.key, value=raw.value, checksum=None,
            serialized_key_size=len(raw.key or b""), serialized_value_size=len(raw.value or b""),
            headers=list(raw.headers),
        )  # fmt: skip

    async def _published_by(self, deliver: Callable[[], Any]) -> list[Row]:
        """Deliver, redelivering after a passing fault as Kafka would; the rows it queued. One
        instance handles one batch at a time, as its consumer does; several instances (see
        `instance()`) handle theirs at once."""
        async with self._busy:
            before = await self.last_row_id()
            for attempt in range(REDELIVERIES + 1):
                try:
                    await deliver()
                    break
                except TRANSIENT_ERRORS:
                    if attempt == REDELIVERIES:
                        raise
            return await self.rows(after=before)

    # --- the schedule ----------------------------------------------------------------------

    async def run_due_jobs(self) -> list[Message]:
        """Run the service's scheduled jobs that are due now, as its scheduler would on its next
        round; what they made the service publish."""
        scheduler = Scheduler(self.pool, self.spec.jobs(self.context))

        async def run() -> None:
            while await scheduler.run_due():
                pass

        return messages_of(await self._published_by(run))

    # --- reading what the service would publish --------------------------------------------

    async def last_row_id(self) -> int:
        found: int = await self.pool.fetchval("SELECT coalesce(max(id), 0) FROM outbox")
        return found

    async def rows(self, after: int = 0, topic: Topic | str | None = None) -> list[Row]:
        name = topic.name if isinstance(topic, Topic) else topic
        found = await self.pool.fetch(
            "SELECT id, topic, coalesce(raw_key, convert_to(key, 'UTF8')) AS key, value, headers"
            " FROM outbox WHERE id > $1 AND ($2::text IS NULL OR topic = $2) ORDER BY id",
            after,
            name,
        )
        return [
            Row(r["id"], r["topic"], r["key"], bytes(r["value"]), json.loads(r["headers"]))
            for r in found
        ]

    async def outbox(self, topic: Topic | str | None = None) -> list[Message]:
        """Every message the service would have published, in order (dead letters aside)."""
        return messages_of(await self.rows(topic=topic))

    async def dead_letters(self) -> list[Row]:
        return [row for row in await self.rows() if row.dead_letter]

    # --- reads -----------------------------------------------------------------------------

    @property
    def app(self) -> FastAPI:
        """The service's HTTP app, as its HTTP server would serve it (built on first use)."""
        if self._app is None:
            self._app = build_http_app(
                self.spec.name,
                self.context.metrics,
                AlwaysReady(),
                [*self.spec.routers(self.context), *answer_routes(self.spec, self.context)],
            )
        return self._app

    @property
    def http(self) -> httpx.AsyncClient:
        """The service's HTTP routes in process, as its HTTP server would serve them."""
        if self._http is None:
            self._http = httpx.AsyncClient(
                transport=httpx.ASGITransport(app=self.app), base_url="http://service.test"
            )
        return self._http

    def instance(
        self, spec: ServiceSpec | None = None, clock: Clock | None = None
    ) -> ServiceHarness:
        """Another instance of the service on the same database (a second process, or this one
        restarted, perhaps with another spec or clock); enter it with `async with`."""
        return ServiceHarness(spec or self.spec, self.pool, self.dsn, clock or self.clock)


def messages_of(rows: Sequence[Row], flow: UUID | None = None) -> list[Message]:
    """The messages among the rows; with `flow`, only those continuing it (when two instances
    handle records at once, the other's rows are not this delivery's)."""
    found = [row.message() for row in rows if not row.dead_letter]
    if flow is None:
        return found
    return [m for m in found if m.correlation_id in (None, flow)]


class HarnessPostgres:
    """The PostgreSQL of the middle level: a cluster of its own (no Kafka, no SMTP), durable
    writes off (nothing here needs to survive a crash), a template database per service with
    its migrations applied, and a fresh copy of it per harness."""

    def __init__(self, root: Path, port: int) -> None:
        self.root = root
        # Kafka, SMTP and Prometheus are never started here; their ports are only configuration
        self.stack = Stack(StackConfig(root=root, postgres_port=port, kafka_port=port + 2,
                                       smtp_port=port + 4, prometheus_port=port + 5))  # fmt: skip
        self._templates: dict[str, str] = {}
        self._lock = asyncio.Lock()

    def start(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)
        self.stack.start_postgres()

    def stop(self) -> None:
        self.stack.stop()

    def dsn(self, database: str) -> str:
        return self.stack.postgres_dsn(database)

    async def admin(self) -> asyncpg.Connection:
        return await asyncpg.connect(self.dsn("postgres"))

    async def relax_durability(self) -> None:
        conn = await self.admin()
        try:
            for setting in ("fsync", "synchronous_commit", "full_page_writes"):
                await conn.execute(f"ALTER SYSTEM SET {setting} = off")
            await conn.execute("SELECT pg_reload_conf()")
        finally:
            await conn.close()

    async def template(self, service: str, migrations: Path) -> str:
        """The service's template database, migrated on first use in this session."""
        async with self._lock:
            if service not in self._templates:
                name = f"template_{service}"
                conn = await self.admin()
                try:
                    await conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
                    await conn.execute(f'CREATE DATABASE "{name}"')
                finally:
                    await conn.close()
                pool = await create_pool(self.dsn(name), max_size=1)
                try:
                    await migrate(pool, migrations)
                finally:
                    await pool.close()
                self._templates[service] = name
            return self._templates[service]

    async def fresh_database(self, service: str, migrations: Path) -> str:
        """A database of the service's schema that no other test has touched; its dsn. (A copy
        of the template takes a few tens of milliseconds; migrating anew takes ten times that.)"""
        template = await self.template(service, migrations)
        name = f"{service}_{uuid4().hex[:12]}"
        conn = await self.admin()
        try:
            await conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
        finally:
            await conn.close()
        return self.dsn(name)

    async def drop(self, dsn: str) -> None:
        name = dsn.rsplit("/", 1)[1]
        conn = await self.admin()
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await conn.close()


class HarnessFactory:
    """Harnesses for one test: each on a fresh database, all closed when the test ends."""

    def __init__(self, postgres: HarnessPostgres) -> None:
        self.postgres = postgres
        self._open: list[tuple[ServiceHarness, asyncpg.Pool]] = []

    async def __call__(
        self, spec: ServiceSpec, pool_size: int = 10, clock: Clock | None = None
    ) -> ServiceHarness:
        dsn = await self.postgres.fresh_database(spec.name, spec.migrations)
        pool = await create_pool(dsn, max_size=pool_size)
        harness = ServiceHarness(spec, pool, dsn, clock)
        await harness.__aenter__()
        self._open.append((harness, pool))
        return harness

    async def close(self) -> None:
        for harness, pool in reversed(self._open):
            await harness.__aexit__(None, None, None)
            await pool.close()
            await self.postgres.drop(harness.dsn)
