"""Fixtures shared by the test levels.

Tests that need the real stack (Kafka, PostgreSQL, the SMTP sink) get it from the session-scoped
`system` fixture: a fresh stack under `.local/test` on its own ports, and the services running as
real processes (two booking instances in one consumer group, as in production scale-out, and one
notify). Each test isolates itself with its own organisations, e-mail addresses and days.
`TEST_STACK_SLOT=N` moves a run to its own root and ports, so runs on one machine do not collide.
"""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any
from uuid import uuid4

import asyncpg
import pytest

from clients.kiosk.client import BookingClient
from deploy.local.stack import Stack, StackConfig
from services.runtime.db import create_pool, ensure_database, migrate
from tests.support import PORT_OFFSET, SLOT, System, kiosk_client

TEST_ROOT = (
    Path(__file__).resolve().parents[1] / ".local" / ("test" if not SLOT else f"test-{SLOT}")
)
TEST_PORTS: dict[str, Any] = {
    "kafka_port": 29002 + PORT_OFFSET,  # the controller takes the next port
    "postgres_port": 25432 + PORT_OFFSET,
    "smtp_port": 2526 + PORT_OFFSET,
    "prometheus_port": 29090 + PORT_OFFSET,
}


@pytest.fixture(scope="session")
def stack() -> Iterator[Stack]:
    shutil.rmtree(TEST_ROOT, ignore_errors=True)
    stack = Stack(StackConfig(root=TEST_ROOT, **TEST_PORTS))
    stack.install()
    try:
        stack.start_infrastructure(prometheus=False)
        yield stack
    finally:
        stack.stop()


@pytest.fixture(scope="session")
def system(stack: Stack) -> Iterator[System]:
    system = System(stack)
    system.start_all()
    yield system
    system.stop_all()


@pytest.fixture
async def client(system: System) -> AsyncIterator[BookingClient]:
    """The kiosk's client (tests.support.kiosk_client)."""
    async with kiosk_client(system.stack.kafka_bootstrap) as client:
        yield client


@pytest.fixture
async def runtime_pool(system: System, tmp_path: Path) -> AsyncIterator[asyncpg.Pool]:
    """A fresh database holding the runtime's tables only (outbox, inbox, schedule)."""
    dsn = system.dsn(f"runtime_{uuid4().hex[:8]}")
    await ensure_database(dsn)
    pool = await create_pool(dsn)
    await migrate(pool, tmp_path)  # an empty folder: no service's own migrations
    yield pool
    await pool.close()
