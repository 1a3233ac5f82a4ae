"""Booking consumes its commands with one consumer per partition (`Subscription.per_partition`):
on the real broker, every partition of booking.commands is owned by a member of booking's group
that owns no other, so a busy partition's batches never wait for another partition's."""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict

import pytest
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.coordinator.protocol import ConsumerProtocolMemberAssignment

from contracts.topics import BOOKING_COMMANDS
from tests.support import System, as_admin

pytestmark = pytest.mark.stack


async def owned_partitions(admin: AIOKafkaAdminClient, group: str, topic: str) -> list[list[int]]:
    """The partitions of `topic` each member of a stable group owns (a member owning none
    included), or [] while the group rebalances."""
    [response] = await admin.describe_consumer_groups([group])
    [described] = response.groups
    state, members = described[2], described[5]
    if state != "Stable":
        return []
    owned: dict[str, list[int]] = defaultdict(list)
    for member in members:
        member_id, assignment = member[0], member[-1]
        owned[member_id] = []
        decoded = ConsumerProtocolMemberAssignment.decode(assignment)
        for owned_topic, partitions in decoded.assignment:
            if owned_topic == topic:
                owned[member_id].extend(partitions)
    return list(owned.values())


async def test_each_partition_of_bookings_commands_is_owned_by_a_consumer_of_its_own(
    system: System,
) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=system.stack.kafka_bootstrap, **as_admin())
    await admin.start()
    try:
        deadline = time.monotonic() + 60
        while not (owners := await owned_partitions(admin, "booking", BOOKING_COMMANDS.name)):
            assert time.monotonic() < deadline, "booking's group never settled"
            await asyncio.sleep(0.5)
    finally:
        await admin.close()
    assert sorted(p for owned in owners for p in owned) == list(range(BOOKING_COMMANDS.partitions))
    assert max(len(owned) for owned in owners) == 1, owners
