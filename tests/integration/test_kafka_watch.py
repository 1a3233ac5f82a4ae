"""Consumer lag and the cluster's health as the services measure them, on the real broker: a
group's lag per partition from its committed offsets, and the gauges a running service exposes."""

from __future__ import annotations

import asyncio
import re
import time
import uuid

import httpx
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.structs import OffsetAndMetadata

from deploy.local.stack import Stack
from services.runtime.kafka_watch import LagMeter, record_cluster
from services.runtime.metrics import Metrics
from tests.support import ADMIN, System, as_admin, credentials

pytestmark = pytest.mark.stack


async def test_a_groups_lag_is_measured_per_partition_from_its_committed_offsets(
    stack: Stack,
) -> None:
    bootstrap = stack.kafka_bootstrap
    topic, group = f"watch-{uuid.uuid4().hex[:8]}", f"watch-{uuid.uuid4().hex[:8]}"
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, **as_admin())
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, num_partitions=2, replication_factor=1)])
    finally:
        await admin.close()
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, enable_idempotence=True, **as_admin())
    await producer.start()
    try:
        for _ in range(10):
            await producer.send(topic, b"x", partition=0)
        for _ in range(3):
            await producer.send(topic, b"y", partition=1)
        await producer.flush()
    finally:
        await producer.stop()
    p0, p1 = TopicPartition(topic, 0), TopicPartition(topic, 1)
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=group,
                                enable_auto_commit=False, **as_admin())  # fmt: skip
    await consumer.start()
    try:
        consumer.assign([p0, p1])
        await consumer.commit({p0: OffsetAndMetadata(4, "")})
    finally:
        await consumer.stop()

    metrics = Metrics()
    meter = LagMeter(bootstrap, credentials(ADMIN), group, [topic], metrics)
    await meter.start()
    try:
        assert await meter.measure() == {p0: 6, p1: 3}
    finally:
        await meter.close()
    gauge = metrics.kafka_consumer_lag
    assert gauge.labels(group, topic, "0")._value.get() == 6
    assert gauge.labels(group, topic, "1")._value.get() == 3


async def test_the_cluster_gauges_count_the_broker_and_no_short_partition(stack: Stack) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=stack.kafka_bootstrap, **as_admin())
    await producer.start()
    try:
        metadata = await producer.client.fetch_all_metadata()
    finally:
        await producer.stop()
    metrics = Metrics()
    record_cluster(metrics, metadata)
    assert metrics.kafka_brokers._value.get() == 1
    topics = metadata.topics(exclude_internal_topics=True)
    assert topics and "__consumer_offsets" not in topics
    for topic in topics:
        assert metrics.kafka_under_replicated.labels(topic)._value.get() == 0
        assert metrics.kafka_leaderless.labels(topic)._value.get() == 0


async def test_a_running_service_exposes_its_groups_lag_and_the_cluster_it_sees(
    system: System,
) -> None:
    """Booking reads booking.commands (six partitions): each has a lag gauge of its group."""
    url = f"http://127.0.0.1:{system.http_port('booking')}/metrics"
    deadline = time.monotonic() + 60
    async with httpx.AsyncClient() as http:
        while True:
            text = (await http.get(url)).text
            partitions = set(re.findall(
                r'^kafka_consumer_lag\{group="booking",partition="(\d+)",'
                r'topic="booking\.commands"\} ', text, re.MULTILINE))  # fmt: skip
            if len(partitions) == 6 or time.monotonic() > deadline:
                break
            await asyncio.sleep(1)
    assert partitions == {str(n) for n in range(6)}, text
    assert re.search(r"^kafka_brokers 1\.0$", text, re.MULTILINE)
    assert re.search(r'^kafka_under_replicated_partitions\{topic="booking\.commands"\} 0\.0$',
                     text, re.MULTILINE)  # fmt: skip
    silent = re.search(r"^kafka_silent_seconds (\S+)$", text, re.MULTILINE)
    assert silent and float(silent.group(1)) < 10
