"""A process's consumers of one group (`CONSUMERS`) join it together (`GroupBroker`), on the real
broker: not one rebalance after another, in each of which the whole group stops consuming."""

from __future__ import annotations

import uuid

import pytest
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from deploy.kafka_acls import ADMIN
from deploy.local.stack import Stack
from services.runtime.kafka_auth import faststream_security
from services.runtime.service import GroupBroker
from tests.support import as_admin, credentials

pytestmark = pytest.mark.stack


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
