"""Tables stop growing: the retention purge forgets consumed message ids, published outbox rows
and finished jobs older than the retention, on the service's clock, and keeps everything a retry
inside the retention needs to be answered again (tested with a shifted clock)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import uuid4

import asyncpg
import pytest

from contracts.booking import OrganisationRegistered, RegisterOrganisation
from contracts.identity import PrincipalKind, Role
from contracts.topics import BOOKING_EVENTS
from services.runtime import audit, inbox, schedule
from services.runtime.audit import AuditEntry
from services.runtime.clock import Clock
from services.runtime.identity import Caller
from services.runtime.outbox import answer
from services.runtime.retention import Retention
from tests.support import register_command

pytestmark = pytest.mark.stack

RETENTION = Retention(days=7)
staff = Caller(kind=PrincipalKind.STAFF, subject="staff-1", roles=frozenset({Role.RECEPTION}))


@pytest.fixture
async def pool(runtime_pool: asyncpg.Pool) -> asyncpg.Pool:
    return runtime_pool


async def handled(pool: asyncpg.Pool, command: RegisterOrganisation) -> None:
    """A command consumed, answered and its answer published, as the consumer and relay do."""
    contact = {"name": command.contact_name, "email": command.contact_email}
    reply = answer(command, BOOKING_EVENTS, "k", OrganisationRegistered, organisation_id=uuid4(),
                   name=command.name, kind=command.kind, contact=contact)  # fmt: skip
    async with pool.acquire() as conn, conn.transaction():
        await inbox.record(conn, command.message_id, command.type, [reply],
                           inbox.digest(command))  # fmt: skip
        await conn.execute("UPDATE outbox SET published_at = now()")


async def counts(pool: asyncpg.Pool) -> tuple[int, int, int]:
    row = await pool.fetchrow(
        "SELECT (SELECT count(*) FROM inbox), (SELECT count(*) FROM outbox),"
        " (SELECT count(*) FROM scheduled_jobs)"
    )
    return row[0], row[1], row[2]


async def test_a_retry_inside_the_retention_is_still_answered(pool: asyncpg.Pool) -> None:
    command = register_command()
    await handled(pool, command)
    six_days_on = Clock(timedelta(days=6))
    assert await RETENTION.purge(pool, six_days_on) == {"inbox": 0, "outbox": 0,
                                                        "scheduled_jobs": 0,
                                                        "audit_log": 0}  # fmt: skip
    async with pool.acquire() as conn, conn.transaction():
        assert command.message_id in await inbox.seen(conn, [command.message_id])
        await inbox.answer_again(conn, command.message_id)
    assert await counts(pool) == (1, 2, 0)  # the first answer, and the same answer again


async def test_after_the_retention_everything_of_a_handled_message_is_forgotten(
    pool: asyncpg.Pool,
) -> None:
    await handled(pool, register_command())
    async with pool.acquire() as conn:
        past = datetime.now(UTC) - timedelta(minutes=1)
        await schedule.schedule(conn, "remind", "done-one", past)
        await schedule.schedule(conn, "remind", "waiting-one", datetime.now(UTC) + timedelta(
            days=30))  # fmt: skip
        await conn.execute("UPDATE scheduled_jobs SET status = 'done', done_at = now()"
                           " WHERE key = 'done-one'")  # fmt: skip
        # a row Kafka could never take stays for an operator
        await conn.execute("INSERT INTO outbox (topic, value, set_aside_at, last_error)"
                           " VALUES ('x', 'v', now(), 'too large')")  # fmt: skip
    eight_days_on = Clock(timedelta(days=8))
    deleted = await RETENTION.purge(pool, eight_days_on)
    assert deleted == {"inbox": 1, "outbox": 1, "scheduled_jobs": 1, "audit_log": 0}
    assert await counts(pool) == (0, 1, 1)  # the set-aside row and the pending job stay


async def test_the_audit_is_kept_for_its_own_longer_retention(pool: asyncpg.Pool) -> None:
    entries = [AuditEntry(staff, "organisation.suspend", uuid4(), "done")]
    async with pool.acquire() as conn:
        await audit.write(conn, entries)
    retention = Retention(days=7, audit_days=730)
    assert (await retention.purge(pool, Clock(timedelta(days=729))))["audit_log"] == 0
    assert await pool.fetchval("SELECT count(*) FROM audit_log") == 1
    assert (await retention.purge(pool, Clock(timedelta(days=731))))["audit_log"] == 1
    assert await pool.fetchval("SELECT count(*) FROM audit_log") == 0


async def test_a_purge_of_many_rows_goes_in_slices(
    pool: asyncpg.Pool, monkeypatch: pytest.MonkeyPatch
) -> None:
    from services.runtime import retention

    monkeypatch.setattr(retention, "PURGE_SLICE", 7)
    await pool.execute(
        "INSERT INTO inbox (message_id, type) SELECT gen_random_uuid(), 'x'"
        " FROM generate_series(1, 50)"
    )
    deleted = await RETENTION.purge(pool, Clock(timedelta(days=8)))
    assert deleted["inbox"] == 50 and (await counts(pool))[0] == 0
