"""A batch's handled messages recorded in one statement (inbox.record_many): each inbox row
names exactly its own replies, and the outbox holds every reply in the order the messages
were handled, so a retried message is answered again with its own answers, in order."""

from __future__ import annotations

from uuid import uuid4

import pytest

from contracts.booking import BlackoutSet
from contracts.topics import BOOKING_EVENTS
from services.runtime import inbox
from services.runtime.outbox import Outgoing
from tests.harness import ServiceHarness
from tests.support import DAYS

pytestmark = pytest.mark.middle


def reply(reason: str) -> Outgoing:
    event = BlackoutSet(message_id=uuid4(), request_id=uuid4(), day=DAYS.next(), reason=reason)
    return Outgoing(BOOKING_EVENTS, "key", event)


async def test_each_message_is_recorded_with_its_own_replies_in_order(
    booking: ServiceHarness,
) -> None:
    answers = {"none": [], "two": [reply("two-1"), reply("two-2")], "one": [reply("one-1")]}
    entries = [
        inbox.Entry(uuid4(), "day.blackout", outgoing, b"d") for outgoing in answers.values()
    ]

    async with booking.pool.acquire() as conn, conn.transaction():
        await inbox.record_many(conn, entries)
        rows = await conn.fetch("SELECT id, value FROM outbox ORDER BY id")
        replies = {
            r["message_id"]: r["replies"]
            for r in await conn.fetch("SELECT message_id, replies FROM inbox")
        }

    reasons = [BlackoutSet.model_validate_json(r["value"]).reason for r in rows]
    assert reasons == ["two-1", "two-2", "one-1"]
    by_id = dict(zip([r["id"] for r in rows], reasons, strict=True))
    assert [[by_id[i] for i in replies[e.message_id]] for e in entries] == [
        [],
        ["two-1", "two-2"],
        ["one-1"],
    ]
