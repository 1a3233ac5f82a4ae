"""The app factory: one process runs a service's Kafka subscribers, outbox relay, workers and HTTP.

A service describes itself with a `ServiceSpec` in its `app.py` (topics it consumes and the handler
of each message type, topics it produces, background workers, HTTP routes); this module does the
wiring every service shares, so that a service's folder holds only its own rules.

Subscribers consume in batches with at-least-once delivery: offsets are committed only after the
batch's transaction (`AckPolicy.NACK_ON_ERROR`; a failed batch is sought back and redelivered),
and the inbox makes redelivery harmless. FastStream's default, ack-first, would be at-most-once.
FastStream is given the records as bytes: its own decoding (JSON, UTF-8 headers) would fail on a
hostile record before our code could dead-letter it, and stall the partition.

Every background task (relay, backlog gauges, schedule, the service's workers) runs under the
`Supervisor`: restarted when it fails, and reported by /readyz while it is down or stuck.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import signal
from collections.abc import Awaitable, Callable, Coroutine, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Protocol

import asyncpg
import uvloop
from aiokafka import ConsumerRecord
from fastapi import APIRouter
from faststream import AckPolicy
from faststream.kafka import KafkaBroker
from faststream.kafka.annotations import KafkaMessage
from faststream.kafka.prometheus import KafkaPrometheusMiddleware

from contracts.topics import Topic, owned_topics
from services.runtime import collector, kafka_records
from services.runtime.answers import answers_router
from services.runtime.clock import Clock
from services.runtime.consumer import TRANSIENT_ERRORS, BatchHandler, Subscription
from services.runtime.db import create_pool, ensure_database, migrate
from services.runtime.errors import clean, stopped
from services.runtime.http import build_http_app, build_server
from services.runtime.identity import Keyring
from services.runtime.kafka_auth import faststream_security
from services.runtime.kafka_watch import LagMeter, record_cluster
from services.runtime.logs import adopt, configure_logging
from services.runtime.metrics import Metrics
from services.runtime.outbox import OutboxRelay, measure_backlog
from services.runtime.periodic import every
from services.runtime.probes import KafkaProbe
from services.runtime.retention import Retention
from services.runtime.schedule import JobHandler, Scheduler
from services.runtime.settings import RuntimeSettings
from services.runtime.supervisor import Readiness, Supervisor
from services.runtime.topics import ensure_topics

log = logging.getLogger(__name__)

RETRY_PAUSE_S = 1.0
LONGEST_RETRY_PAUSE_S = 10.0
RELAY_TASK = "outbox-relay"
STUCK_AFTER_S = 120.0
BACKLOG_EVERY_S = 5.0
PURGE_EVERY_S = 3600.0  # a loop that beats every few seconds and has not for this long is stuck
# How long the broker may hold a fetch that finds nothing new. The consumer sends one fetch at a
# time, for the partitions that have nothing waiting to be handled: a fetch sent while a long
# batch is being handled asks only for the quiet partitions, and the busy ones, drained meanwhile,
# are fetched again only when it returns. At the client's default of 500 ms a burst stalled for up
# to that long between batches (measured: 170 ms with nothing to do); an idle consumer now asks
# twenty times a second, which the broker answers for almost nothing.
FETCH_MAX_WAIT_MS = 50


class Wakes(Protocol):
    def wake(self) -> None: ...


@dataclass
class ServiceContext:
    """What handlers, workers and routes of a running service may use."""

    settings: RuntimeSettings
    pool: asyncpg.Pool
    metrics: Metrics
    relay: Wakes  # the outbox relay; handlers and jobs only wake it after they commit
    keyring: Keyring  # the token issuers' public keys: every call is verified here
    clock: Clock = field(default_factory=Clock)


Worker = Callable[[ServiceContext], Coroutine[Any, Any, None]]
RoutersFactory = Callable[[ServiceContext], Sequence[APIRouter]]
JobsFactory = Callable[[ServiceContext], Mapping[str, JobHandler]]


@dataclass(frozen=True)
class ServiceSpec:
    name: str
    default_http_port: int
    migrations: Path
    subscriptions: Sequence[Subscription]
    produces: Sequence[Topic] = ()
    sends: Sequence[Topic] = ()  # other services' command topics it sends commands to
    workers: Sequence[Worker] = ()
    routers: RoutersFactory = field(default=lambda ctx: ())
    jobs: JobsFactory = field(default=lambda ctx: {})

    def owned_topics(self) -> tuple[Topic, ...]:
        """What the service creates and configures at start: not other services' events."""
        return owned_topics([s.topic for s in self.subscriptions], self.produces)


def answer_routes(spec: ServiceSpec, ctx: ServiceContext) -> list[APIRouter]:
    """`GET /answers/{request_id}` for a service that answers commands."""
    return [answers_router(ctx)] if any(s.answers_on for s in spec.subscriptions) else []


class GroupBroker(KafkaBroker):
    """FastStream's broker, its subscribers started together. FastStream starts them one after
    another, and a Kafka consumer's start returns only once its group has given it partitions:
    a process's consumers of one group (`CONSUMERS`) joined it one rebalance after another, each
    about 3 s (the heartbeat interval) in which no member of the group consumes: 15 s for six, at
    every start of an instance. Started together, they join in one or two rebalances, settled
    within a second (tests/integration/test_consumer_assignment.py)."""

    async def start(self) -> None:
        await self.connect()
        await asyncio.gather(*(subscriber.start() for subscriber in self.subscribers))
        for publisher in self.publishers:
            await publisher.start()
        self.running = True


def build_broker(spec: ServiceSpec, ctx: ServiceContext) -> KafkaBroker:
    kafka_records.install()
    broker = GroupBroker(
        ctx.settings.kafka_bootstrap.split(","),  # FastStream takes one string as one address
        security=faststream_security(ctx.settings.kafka_credentials),
        middlewares=[KafkaPrometheusMiddleware(registry=ctx.metrics.registry, app_name=spec.name)],
        graceful_timeout=30.0,
        logger=logging.getLogger("faststream"),
        log_level=logging.DEBUG,  # a line per message is too many; errors still log as errors
    )
    adopt("faststream")
    for subscription in spec.subscriptions:
        handler = BatchHandler(subscription, ctx.pool, ctx.metrics, ctx.keyring,
                               on_commit=ctx.relay.wake,
                               consumer=ctx.settings.consumer_group)  # fmt: skip
        for n in range(ctx.settings.consumers):
            broker.subscriber(
                subscription.topic.name,
                group_id=ctx.settings.consumer_group,
                batch=True,
                max_records=ctx.settings.max_batch,
                batch_timeout_ms=10,
                fetch_max_wait_ms=FETCH_MAX_WAIT_MS,
                auto_offset_reset="earliest",
                isolation_level="read_committed",  # a producer's aborted transaction never acts
                ack_policy=AckPolicy.NACK_ON_ERROR,
                parser=tolerant_headers,
                decoder=undecoded,
                title=f"{spec.name}:{subscription.topic.name}" + (f":{n + 1}" if n else ""),
            )(make_batch_callback(handler))
    return broker


async def tolerant_headers(
    records: tuple[ConsumerRecord[bytes, bytes], ...],
    original: Callable[[tuple[ConsumerRecord[bytes, bytes], ...]], Awaitable[KafkaMessage]],
) -> KafkaMessage:
    """FastStream decodes every header of a batch as UTF-8 before the handler runs: one record
    with a binary or empty header value would fail its whole batch on every redelivery and stall
    the partition. Header values are free bytes in Kafka, and ours carry nothing the handler
    needs (the body does), so they are passed on decoded leniently."""

    def lenient(headers: Sequence[tuple[str, bytes | None]]) -> list[tuple[str, bytes]]:
        return [(k, (v or b"").decode("utf-8", "replace").encode()) for k, v in headers]

    def clean(headers: Sequence[tuple[str, bytes | None]]) -> bool:
        return all(v is not None and (v.isascii() or _is_utf8(v)) for _, v in headers)

    if all(clean(r.headers) for r in records):  # the usual batch: nothing to copy
        return await original(tuple(records))
    return await original(tuple(replace(r, headers=lenient(r.headers)) for r in records))


def _is_utf8(value: bytes) -> bool:
    try:
        value.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


async def undecoded(message: Any, original: Callable[[Any], Awaitable[Any]]) -> Any:
    """The record values as they came: the batch handler parses them itself, strictly and
    without ever raising on what a record holds (FastStream's JSON decoding raises
    RecursionError on deeply nested input before any handler runs)."""
    return message.body


def make_batch_callback(handler: BatchHandler) -> Callable[[KafkaMessage], Awaitable[None]]:
    """A batch that failed on a passing fault (database restarting, a lock race) is sought back
    and redelivered after a pause that grows while the fault lasts."""
    pause = RETRY_PAUSE_S

    async def on_batch(message: KafkaMessage) -> None:
        nonlocal pause
        records = message.raw_message
        batch = records if isinstance(records, tuple) else (records,)
        try:
            await handler.handle(batch)
            pause = RETRY_PAUSE_S
        except TRANSIENT_ERRORS as exc:
            handler.metrics.failures.labels(f"consumer:{handler.topic}", type(exc).__name__).inc()
            log.warning("batch on %s failed (%s: %s); redelivering in %.0f s", handler.topic,
                        type(exc).__name__, clean(str(exc), 200), pause)  # fmt: skip
            await asyncio.sleep(pause)
            pause = min(LONGEST_RETRY_PAUSE_S, pause * 2)
            raise

    return on_batch


def start_housekeeping(ctx: ServiceContext, supervisor: Supervisor) -> None:
    """What every service runs besides its own work: the backlog gauges and the retention
    purge (services/runtime/retention.py)."""
    pool, metrics = ctx.pool, ctx.metrics
    retention = Retention(ctx.settings.retention_days, ctx.settings.audit_retention_days)
    supervisor.start(
        "outbox-backlog",
        functools.partial(every, BACKLOG_EVERY_S, lambda: measure_backlog(pool, metrics),
                          "measuring the outbox backlog"),
        stuck_after_s=STUCK_AFTER_S,
    )  # fmt: skip
    supervisor.start(
        "retention",
        functools.partial(every, PURGE_EVERY_S, lambda: retention.purge(pool, ctx.clock),
                          "retention purge"),
    )  # fmt: skip


def start_lag_meter(spec: ServiceSpec, ctx: ServiceContext, supervisor: Supervisor) -> None:
    """How far the service's group is behind on what it reads (services/runtime/kafka_watch.py)."""
    if not spec.subscriptions:
        return
    s = ctx.settings
    meter = LagMeter(s.kafka_bootstrap, s.kafka_credentials, s.consumer_group,
                     [sub.topic.name for sub in spec.subscriptions], ctx.metrics)  # fmt: skip
    supervisor.start("lag-meter", meter.run, stuck_after_s=STUCK_AFTER_S)


def start_workers(spec: ServiceSpec, ctx: ServiceContext, supervisor: Supervisor) -> None:
    """The service's background loops and, when it has jobs, the durable schedule's runner."""
    for worker in spec.workers:
        supervisor.start(getattr(worker, "__name__", "worker"), functools.partial(worker, ctx))
    if jobs := spec.jobs(ctx):
        scheduler = Scheduler(
            ctx.pool, jobs, on_commit=ctx.relay.wake, poll_s=ctx.settings.schedule_poll_s
        )
        supervisor.start("scheduler", scheduler.run, stuck_after_s=STUCK_AFTER_S)


async def serve(spec: ServiceSpec) -> None:
    settings = RuntimeSettings.from_env(spec.name, spec.default_http_port)
    repeats = configure_logging(spec.name, settings.log_level)
    await ensure_database(settings.database_url)
    pool = await create_pool(settings.database_url)
    await migrate(pool, spec.migrations)
    await ensure_topics(settings.kafka_bootstrap, spec.owned_topics(), settings.kafka_credentials)

    metrics = Metrics()
    repeats.on_suppressed = lambda logger: metrics.log_suppressed.labels(logger).inc()
    supervisor = Supervisor(metrics)
    relay = OutboxRelay(
        pool,
        settings.kafka_bootstrap,
        metrics,
        settings.outbox_batch,
        settings.outbox_poll_s,
        credentials=settings.kafka_credentials,
    )
    ctx = ServiceContext(settings, pool, metrics, relay, Keyring.load(), Clock.from_env())
    broker = build_broker(spec, ctx) if settings.consumes else None
    kafka = KafkaProbe(relay.producer, on_metadata=lambda found: record_cluster(metrics, found))
    metrics.kafka_silent.set_function(kafka.silent_s)
    readiness = Readiness(pool, supervisor, [kafka])
    routers = [*spec.routers(ctx), *answer_routes(spec, ctx)] if settings.serves_reads else ()
    app = build_http_app(spec.name, metrics, readiness, routers)
    server = build_server(app, settings.http_host, settings.http_port,
                          settings.forwarded_allow_ips)  # fmt: skip

    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, lambda: setattr(server, "should_exit", True))

    await relay.start()
    supervisor.start("kafka-probe", kafka.run, stuck_after_s=STUCK_AFTER_S)
    supervisor.start(RELAY_TASK, relay.run, stuck_after_s=STUCK_AFTER_S)
    start_housekeeping(ctx, supervisor)
    if settings.consumes:
        start_workers(spec, ctx, supervisor)
        start_lag_meter(spec, ctx, supervisor)
    if broker is not None:
        await broker.start()
        adopt("faststream")
    collector.settle()  # what exists now lives as long as the process
    readiness.started = True
    log.info(
        "%s (%s) ready on http://%s:%s",
        spec.name, settings.role, settings.http_host, settings.http_port,
    )  # fmt: skip
    try:
        await server.serve()
    finally:
        log.info("%s stopping", spec.name)
        readiness.started = False
        if broker is not None:
            await stopped(broker.stop())  # finishes the batch in hand, commits its offsets
        await relay.stop()
        await supervisor.finish(RELAY_TASK)  # its last round publishes what was committed
        await supervisor.stop()
        await relay.close()
        await pool.close()
        log.info("%s stopped", spec.name)


def run(spec: ServiceSpec) -> None:
    """Run a service on uvloop: asyncpg and aiokafka spend less time in the event loop there."""
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(serve(spec))
