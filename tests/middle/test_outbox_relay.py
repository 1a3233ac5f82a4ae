"""The outbox relay's round on a real PostgreSQL: one relay at a time, and marks that do not
wait for the disk (a lost mark only publishes its row once more)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest

from services.runtime.db import create_pool
from services.runtime.kafka_auth import KafkaCredentials
from services.runtime.metrics import Metrics
from services.runtime.outbox import RELAY_LOCK, ROUND_SQL, OutboxRelay
from tests.harness import HarnessPostgres

pytestmark = pytest.mark.middle

MIGRATIONS = Path(__file__).resolve().parents[2] / "services" / "booking" / "migrations"


@pytest.fixture
async def pool(relaxed_postgres: HarnessPostgres) -> AsyncIterator[asyncpg.Pool]:
    dsn = await relaxed_postgres.fresh_database("booking", MIGRATIONS)
    pool = await create_pool(dsn, max_size=2)
    yield pool
    await pool.close()
    await relaxed_postgres.drop(dsn)


async def test_a_round_does_not_wait_for_its_marks_to_reach_the_disk(pool: asyncpg.Pool) -> None:
    async with pool.acquire() as conn:
        await conn.execute("SET synchronous_commit = on")  # as a durable server is configured
        async with conn.transaction():
            assert await conn.fetchval(ROUND_SQL, RELAY_LOCK)
            assert await conn.fetchval("SHOW synchronous_commit") == "off"
        # only the round's own transaction: the service's decisions stay durable at commit
        assert await conn.fetchval("SHOW synchronous_commit") == "on"


async def test_only_one_round_runs_at_a_time(pool: asyncpg.Pool) -> None:
    async with pool.acquire() as first, pool.acquire() as second:
        async with first.transaction():
            assert await first.fetchval(ROUND_SQL, RELAY_LOCK)
            async with second.transaction():
                assert not await second.fetchval(ROUND_SQL, RELAY_LOCK)
        async with second.transaction():
            assert await second.fetchval(ROUND_SQL, RELAY_LOCK)


class TakesAll:
    """A producer Kafka accepts every record from at once."""

    async def send(self, topic: str, value: bytes, **_: object) -> asyncio.Future[object]:
        done: asyncio.Future[object] = asyncio.get_running_loop().create_future()
        done.set_result(None)
        return done


async def test_a_round_counts_what_it_published_per_topic(pool: asyncpg.Pool) -> None:
    await pool.execute(
        "INSERT INTO outbox (topic, key, value, headers)"
        " SELECT t, 'k', '{}'::bytea, '{}'::jsonb"
        " FROM unnest(ARRAY['booking.events', 'booking.events', 'booking.events', 'x.dlq']) AS t"
    )
    metrics = Metrics()
    relay = OutboxRelay(pool, "127.0.0.1:1", metrics, credentials=KafkaCredentials("u", "p"))
    relay.producer = TakesAll()  # type: ignore[assignment]
    assert await relay.publish_pending() == 4
    published = metrics.outbox_published
    assert published.labels("booking.events")._value.get() == 3
    assert published.labels("x.dlq")._value.get() == 1
    assert await pool.fetchval("SELECT count(*) FROM outbox WHERE published_at IS NULL") == 0
