"""A batch's offsets are committed after its transaction and in the background: in the order
batches finished, never moving back, and never left in flight when partitions are taken away
or the service stops."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from aiokafka import TopicPartition

from services.runtime.commits import OffsetCommitter
from services.runtime.metrics import Metrics

TOPIC = "booking.commands"


@dataclass
class Record:
    topic: str
    partition: int
    offset: int


class Broker:
    """A consumer whose commits wait until the test lets them through."""

    def __init__(self, fail_first: bool = False) -> None:
        self.committed: list[dict[TopicPartition, int]] = []
        self.gate = asyncio.Event()
        self.fail_first = fail_first

    async def commit(self, offsets: dict[TopicPartition, int]) -> None:
        await self.gate.wait()
        if self.fail_first:
            self.fail_first = False
            raise RuntimeError("the coordinator moved")
        self.committed.append(dict(offsets))


def batch(partition: int, *offsets: int) -> list[Record]:
    return [Record(TOPIC, partition, o) for o in offsets]


def tp(partition: int) -> TopicPartition:
    return TopicPartition(TOPIC, partition)


async def test_a_batch_is_handed_over_without_waiting_for_the_broker() -> None:
    broker, committer = Broker(), OffsetCommitter(Metrics(), TOPIC)
    await asyncio.wait_for(committer.settled(broker, batch(0, 5, 6, 7)), 1)
    assert broker.committed == []  # still in flight: the consumer went on
    broker.gate.set()
    await committer.flush()
    assert broker.committed == [{tp(0): 8}]


async def test_batches_finished_meanwhile_are_committed_together_in_order() -> None:
    broker, committer = Broker(), OffsetCommitter(Metrics(), TOPIC)
    await committer.settled(broker, batch(0, 1, 2))
    await asyncio.sleep(0)  # the first commit is under way
    await committer.settled(broker, batch(0, 3, 4) + batch(1, 9))
    await committer.settled(broker, batch(0, 5))
    broker.gate.set()
    await committer.flush()
    assert broker.committed == [{tp(0): 3}, {tp(0): 6, tp(1): 10}]


async def test_a_failed_commit_is_counted_and_the_next_one_still_goes() -> None:
    metrics = Metrics()
    broker, committer = Broker(fail_first=True), OffsetCommitter(metrics, TOPIC)
    broker.gate.set()
    await committer.settled(broker, batch(0, 1))
    await committer.flush()
    await committer.settled(broker, batch(0, 2))
    await committer.flush()
    assert broker.committed == [{tp(0): 3}]
    failures = metrics.failures.labels(f"offset_commit:{TOPIC}", "RuntimeError")
    assert failures._value.get() == 1


async def test_partitions_are_given_up_only_once_their_offsets_are_committed() -> None:
    broker, committer = Broker(), OffsetCommitter(Metrics(), TOPIC)
    await committer.settled(broker, batch(0, 1))
    revoking = asyncio.create_task(committer.on_partitions_revoked([tp(0)]))
    await asyncio.sleep(0.01)
    assert not revoking.done()
    broker.gate.set()
    await asyncio.wait_for(revoking, 1)
    assert broker.committed == [{tp(0): 2}]


async def test_once_the_service_stops_a_batch_commits_before_its_handler_returns() -> None:
    broker, committer = Broker(), OffsetCommitter(Metrics(), TOPIC)
    broker.gate.set()
    await committer.stop_inline()
    await committer.settled(broker, batch(2, 40))
    assert broker.committed == [{tp(2): 41}]


async def test_stopping_waits_for_the_commit_in_flight() -> None:
    broker, committer = Broker(), OffsetCommitter(Metrics(), TOPIC)
    await committer.settled(broker, batch(0, 10))
    stopping = asyncio.create_task(committer.stop_inline())
    await asyncio.sleep(0.01)
    assert not stopping.done()
    broker.gate.set()
    await asyncio.wait_for(stopping, 1)
    assert broker.committed == [{tp(0): 11}]
