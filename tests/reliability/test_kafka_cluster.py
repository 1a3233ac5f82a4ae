"""Kafka as a cluster of three nodes (`make up KAFKA_BROKERS=3`), on a stack of its own: every
declared topic has three replicas and needs two in sync to take a write; a broker killed with
SIGKILL while records flow loses none and doubles none, and once it is back the partitions are
whole again.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from contracts.topics import BOOKING_COMMANDS
from deploy.kafka_setup import declared_topics
from deploy.local.stack import Stack, StackConfig
from services.runtime.errors import stopped
from tests.support import PORT_OFFSET, SLOT, as_admin

pytestmark = pytest.mark.stack

ROOT = (
    Path(__file__).resolve().parents[2]
    / ".local"
    / ("test-cluster" if not SLOT else f"test-cluster-{SLOT}")
)
RECORDS = 3000


@pytest.fixture(scope="module")
def cluster() -> Iterator[Stack]:
    shutil.rmtree(ROOT, ignore_errors=True)
    stack = Stack(StackConfig(root=ROOT, kafka_port=31002 + PORT_OFFSET, kafka_brokers=3,
                              postgres_port=31502 + PORT_OFFSET, smtp_port=3102 + PORT_OFFSET,
                              prometheus_port=31902 + PORT_OFFSET))  # fmt: skip
    stack.install()
    try:
        stack.start_kafka()
        yield stack
    finally:
        stack.stop()


@pytest.fixture
async def admin(cluster: Stack) -> AsyncIterator[AIOKafkaAdminClient]:
    client = AIOKafkaAdminClient(bootstrap_servers=cluster.kafka_bootstrap, **as_admin())
    await client.start()
    yield client
    await client.close()


async def short_partitions(admin: AIOKafkaAdminClient, topic: str) -> list[int]:
    """Partitions of `topic` with fewer replicas in sync than assigned."""
    described = await admin.describe_topics([topic])
    return [p["partition"] for p in described[0]["partitions"]
            if len(p["isr"]) < len(p["replicas"])]  # fmt: skip


async def test_every_declared_topic_has_three_replicas_and_needs_two_in_sync(
    cluster: Stack, admin: AIOKafkaAdminClient
) -> None:
    cluster_facts = await admin.describe_cluster()
    assert len(cluster_facts["brokers"]) == 3
    names = sorted(t.name for t in declared_topics())
    for topic in await admin.describe_topics(names):
        assert topic["error_code"] == 0, topic["topic"]
        for partition in topic["partitions"]:
            assert len(partition["replicas"]) == 3, (topic["topic"], partition)
    configs = await admin.describe_configs(
        [ConfigResource(ConfigResourceType.TOPIC, BOOKING_COMMANDS.name)]
    )
    entries = {e[0]: e[1] for e in configs[0].resources[0][4]}
    assert entries["min.insync.replicas"] == "2"


async def test_a_broker_killed_while_records_flow_loses_none_and_doubles_none(
    cluster: Stack, admin: AIOKafkaAdminClient
) -> None:
    """An idempotent producer (acks=all) writes RECORDS numbered records on a topic of three
    replicas while a consumer group reads them; one broker is killed with SIGKILL half-way.
    Every record is acknowledged, read once, and the killed broker rejoins the ISR."""
    topic = BOOKING_COMMANDS.name
    bootstrap = cluster.kafka_bootstrap
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, enable_idempotence=True,
                                request_timeout_ms=30000, **as_admin())  # fmt: skip
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, group_id="cluster-check",
                                auto_offset_reset="latest", enable_auto_commit=False,
                                isolation_level="read_committed", **as_admin())  # fmt: skip
    await producer.start()
    await consumer.start()
    seen: list[int] = []
    try:
        while not consumer.assignment():
            await asyncio.sleep(0.1)
        for tp in consumer.assignment():
            await consumer.position(tp)  # pinned before the first record is written
        victim = cluster.pid("kafka-2")
        assert victim is not None

        async def write() -> None:
            for n in range(RECORDS):
                if n == RECORDS // 2:
                    os.kill(victim, signal.SIGKILL)
                await producer.send(topic, str(n).encode(), key=str(n % 97).encode())
                if n % 100 == 0:
                    await asyncio.sleep(0.05)  # a steady flow, not one burst
            await producer.flush()

        async def read() -> None:
            deadline = time.monotonic() + 180
            while len(seen) < RECORDS and time.monotonic() < deadline:
                for batch in (await consumer.getmany(timeout_ms=500)).values():
                    seen.extend(int(r.value or b"-1") for r in batch)
                await consumer.commit()

        await asyncio.gather(write(), read())
    finally:
        await stopped(consumer.stop())  # a fetch may still be retrying the killed broker
        await producer.stop()
    assert sorted(seen) == list(range(RECORDS))  # none lost, none doubled
    assert cluster.pid("kafka-2") is None

    cluster.kafka.start_node(1)
    deadline = time.monotonic() + 120
    while (short := await short_partitions(admin, topic)) and time.monotonic() < deadline:
        await asyncio.sleep(1)
    assert short == [], "the returned broker never caught up"
