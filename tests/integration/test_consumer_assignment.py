"""Booking consumes its commands with one consumer per partition (`Subscription.per_partition`):
on the real broker, every partition of booking.commands is owned by a member of booking's group
that owns no other, so a busy partition's batches never wait for another partition's. And a
process's consumers join their group together (`GroupBroker`), not one rebalance after another,
in each of which the whole group stops consuming."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import defaultdict

import pytest
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.coordinator.protocol import ConsumerProtocolMemberAssignment

from contracts.topics import BOOKING_COMMANDS
from deploy.kafka_acls import ADMIN
from deploy.local.stack import Stack
from services.runtime.kafka_auth import faststream_security
from services.runtime.service import GroupBroker
from tests.support import System, as_admin, credentials

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


async def test_a_processs_consumers_of_one_group_join_it_together(stack: Stack) -> None:
    """Started one after another, six consumers made six generations of their group, each
    begun once the one before had settled (15 s on this broker, with no member consuming
    meanwhile); started together, the first may settle alone before the others come."""
    topic, group = f"joins-{uuid.uuid4().hex[:8]}", f"joins-{uuid.uuid4().hex[:8]}"
    admin = AIOKafkaAdminClient(bootstrap_servers=stack.kafka_bootstrap, **as_admin())
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, num_partitions=6, replication_factor=1)])
    finally:
        await admin.close()
    broker = GroupBroker([stack.kafka_bootstrap], security=faststream_security(credentials(ADMIN)))
    for n in range(6):
        broker.subscriber(topic, group_id=group, batch=True, title=f"{topic}:{n}")(ignore)
    await broker.start()
    try:
        consumers = [subscriber.consumer for subscriber in broker.subscribers]  # type: ignore[attr-defined]
        assert [len(c.assignment()) for c in consumers] == [1] * 6
        assert max(c._coordinator.generation for c in consumers) <= 2
    finally:
        await broker.stop()


async def ignore(records: object) -> None:
    pass
