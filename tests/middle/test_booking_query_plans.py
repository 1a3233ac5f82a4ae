"""The batch's facts are read through the rooms' index whatever plan PostgreSQL picks for them.

A prepared statement is planned for its values the first times it runs, and may then keep one
generic plan for any values. The facts of a batch are read by one prepared statement per
connection, so both plans serve it in turn: one that scanned every held room for each request
would make a batch of a thousand requests take seconds once the center holds a few thousand
reservations, instead of milliseconds."""

from __future__ import annotations

from uuid import UUID

import asyncpg
import pytest

from contracts.booking import OrganisationRegistered
from services.booking import store
from tests.harness import ServiceHarness
from tests.support import register_command

pytestmark = pytest.mark.middle

HELD = 5000  # half-hours already held in Space A: enough for PostgreSQL to prefer an index

FILL_SQL = (
    "WITH held AS ("
    "  INSERT INTO reservations (id, request_id, organisation_id, space, starts_at, ends_at,"
    "   attendees, purpose, atrium, channel)"
    "  SELECT gen_random_uuid(), gen_random_uuid(), $1, 'a', t, t + interval '30 minutes', 1,"
    "   'meeting', false, 'web'"
    "  FROM generate_series(timestamptz '2031-01-01 09:00+09', timestamptz '2031-01-01 09:00+09'"
    "   + interval '30 minutes' * ($2 - 1), interval '30 minutes') AS t"
    "  RETURNING id, starts_at, ends_at)"
    " INSERT INTO reservation_rooms (reservation_id, room, during)"
    " SELECT id, 'a', tstzrange(starts_at, ends_at) FROM held"
)
# the statement's parameters, as contexts_of binds them, for one request for Space A+B
PARAMETER_TYPES = "uuid[], bool[], timestamptz[], timestamptz[], date[], timestamptz, int, text[]"
ONE_REQUEST = (
    "ARRAY['{org}']::uuid[], ARRAY[false], ARRAY[timestamptz '2031-01-02 10:00+09'],"
    " ARRAY[timestamptz '2031-01-02 12:00+09'], ARRAY[date '2031-01-02'],"
    " timestamptz '2031-01-01 08:00+09', 10, ARRAY['a,b']"
)


async def plan_of(conn: asyncpg.Connection, mode: str, organisation_id: UUID) -> str:
    await conn.execute(f"SET LOCAL plan_cache_mode = {mode}")
    await conn.execute(f"PREPARE facts ({PARAMETER_TYPES}) AS {store.BATCH_CONTEXT_SQL}")
    try:
        rows = await conn.fetch(
            f"EXPLAIN EXECUTE facts ({ONE_REQUEST.format(org=organisation_id)})"
        )
    finally:
        await conn.execute("DEALLOCATE facts")
    return "\n".join(row[0] for row in rows)


@pytest.mark.parametrize("mode", ["force_custom_plan", "force_generic_plan"])
async def test_the_facts_of_a_batch_find_held_rooms_through_their_index(
    booking: ServiceHarness, mode: str
) -> None:
    registered = await booking.request(register_command())
    assert isinstance(registered, OrganisationRegistered)
    async with booking.pool.acquire() as conn, conn.transaction():
        await conn.execute(FILL_SQL, registered.organisation_id, HELD)
        await conn.execute("ANALYZE reservations, reservation_rooms")
        plan = await plan_of(conn, mode, registered.organisation_id)
    assert "reservation_rooms_room_during_excl" in plan, plan
    assert "Seq Scan on reservation_rooms" not in plan, plan
