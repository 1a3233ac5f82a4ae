"""The outbox relay's round on a real PostgreSQL: one relay at a time, and marks that do not
wait for the disk (a lost mark only publishes its row once more)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest

from services.runtime.db import create_pool
from services.runtime.outbox import RELAY_LOCK, ROUND_SQL
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
