"""The runtime's connection pool on the middle level's PostgreSQL: a connection handed back costs
no round trip (no service keeps session state on a connection), and a transaction left open is
still rolled back before the next user gets the connection."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest

from services.runtime.db import create_pool
from tests.harness import HarnessPostgres

pytestmark = pytest.mark.middle

MIGRATIONS = Path(__file__).resolve().parents[2] / "services" / "booking" / "migrations"


@pytest.fixture
async def pool(relaxed_postgres: HarnessPostgres) -> AsyncIterator[asyncpg.Pool]:
    dsn = await relaxed_postgres.fresh_database("booking", MIGRATIONS)
    pool = await create_pool(dsn, max_size=1)  # one connection: every acquire gets the same
    yield pool
    await pool.close()
    await relaxed_postgres.drop(dsn)


async def test_a_connection_handed_back_sends_no_reset_query(pool: asyncpg.Pool) -> None:
    sent: list[str] = []
    async with pool.acquire() as conn:
        conn.add_query_logger(lambda record: sent.append(record.query))
        await conn.fetchval("SELECT 1")
    async with pool.acquire() as again:
        assert again.is_in_transaction() is False
    assert sent == ["SELECT 1"]


async def test_a_transaction_left_open_is_rolled_back_before_the_next_user(
    pool: asyncpg.Pool,
) -> None:
    async with pool.acquire() as conn:
        await conn.execute("BEGIN")
        await conn.execute("CREATE TABLE left_open (n int)")
    async with pool.acquire() as again:
        assert again.is_in_transaction() is False
        assert await again.fetchval("SELECT to_regclass('left_open')") is None
