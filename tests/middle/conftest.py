"""Fixtures of the middle level: one PostgreSQL for the session (no Kafka, SMTP or service
processes) and harnesses of the services on fresh databases (tests/harness.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from services.booking import app as booking_app
from services.consultation import app as consultation_app
from services.events import app as events_app
from services.identity import app as identity_app
from services.notify import app as notify_app
from tests.harness import HarnessFactory, HarnessPostgres, ServiceHarness
from tests.identity_flows import MailCatcher
from tests.support import BOOKING_TEST_ENV, PORT_OFFSET, SLOT

MIDDLE_ROOT = (
    Path(__file__).resolve().parents[2] / ".local" / ("middle" if not SLOT else f"middle-{SLOT}")
)
MIDDLE_POSTGRES_PORT = 25433 + PORT_OFFSET  # beside the whole stack's 25432 + offset


@pytest.fixture(scope="session")
def harness_postgres() -> Iterator[HarnessPostgres]:
    postgres = HarnessPostgres(MIDDLE_ROOT, MIDDLE_POSTGRES_PORT)
    postgres.start()
    try:
        yield postgres
    finally:
        postgres.stop()


@pytest.fixture(scope="session")
async def relaxed_postgres(harness_postgres: HarnessPostgres) -> HarnessPostgres:
    await harness_postgres.relax_durability()
    return harness_postgres


@pytest.fixture
async def harnesses(relaxed_postgres: HarnessPostgres) -> AsyncIterator[HarnessFactory]:
    factory = HarnessFactory(relaxed_postgres)
    try:
        yield factory
    finally:
        await factory.close()


@pytest.fixture
async def booking(harnesses: HarnessFactory, monkeypatch: pytest.MonkeyPatch) -> ServiceHarness:
    """The booking service as the test stack runs it: the same settings (its clock at 10:00 of
    an open weekday, the evening cut-off past, a 12-month horizon, a small quota)."""
    for name, value in BOOKING_TEST_ENV:
        monkeypatch.setenv(name, value)
    return await harnesses(booking_app.build_spec())


@pytest.fixture
async def notify(harnesses: HarnessFactory, monkeypatch: pytest.MonkeyPatch) -> ServiceHarness:
    """The notify service in development mode (its links signed with the public key)."""
    monkeypatch.setenv("DEVELOPMENT", "1")
    return await harnesses(notify_app.build_spec())


@pytest.fixture
async def events(harnesses: HarnessFactory, monkeypatch: pytest.MonkeyPatch) -> ServiceHarness:
    """The events service in development mode (its links signed with the public key, its
    commands to booking with the development key pair `events`)."""
    monkeypatch.setenv("DEVELOPMENT", "1")
    return await harnesses(events_app.build_spec())


@pytest.fixture
def sent_mail() -> MailCatcher:
    return MailCatcher()


@pytest.fixture
async def identity(
    harnesses: HarnessFactory, monkeypatch: pytest.MonkeyPatch, sent_mail: MailCatcher
) -> ServiceHarness:
    """The identity service in development mode (the development signing key), its mail caught
    in memory instead of SMTP."""
    monkeypatch.setenv("DEVELOPMENT", "1")
    return await harnesses(identity_app.build_spec(mailer=sent_mail))


@pytest.fixture
async def consultation(
    harnesses: HarnessFactory, monkeypatch: pytest.MonkeyPatch
) -> ServiceHarness:
    """The consultation service in development mode (the public development sealing key)."""
    monkeypatch.setenv("DEVELOPMENT", "1")
    return await harnesses(consultation_app.build_spec())
