"""The outbox relay shares the event loop with the service's consumers and senders: however many
rows a round publishes, it lets them run between its sends instead of holding the loop."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from services.runtime.kafka_auth import KafkaCredentials
from services.runtime.metrics import Metrics
from services.runtime.outbox import OutboxRelay


class InstantProducer:
    """Takes every record at once; its futures are already resolved."""

    def __init__(self) -> None:
        self.sent = 0

    async def send(self, topic: str, value: bytes, key: bytes | None, headers: Any) -> Any:
        self.sent += 1
        done = asyncio.get_running_loop().create_future()
        done.set_result(None)
        return done


def row(n: int) -> dict[str, Any]:
    return {"id": n, "topic": "booking.events", "key": "A", "raw_key": None,
            "value": b"{}", "headers": json.dumps({"type": "x"})}  # fmt: skip


async def test_a_large_round_lets_the_rest_of_the_service_run_between_its_sends() -> None:
    relay = OutboxRelay(None, "127.0.0.1:1", Metrics(),  # type: ignore[arg-type]
                        credentials=KafkaCredentials("relay", "secret"))  # fmt: skip
    await relay.producer.stop()  # never started: only its place is taken
    producer = InstantProducer()
    relay.producer = producer  # type: ignore[assignment]
    ticks = 0
    during: list[int] = []

    async def other_work() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            during.append(producer.sent)
            await asyncio.sleep(0)

    worker = asyncio.create_task(other_work())
    await asyncio.sleep(0)
    sent, refused = await relay.send_all([row(n) for n in range(5000)])
    worker.cancel()
    assert (len(sent), refused) == (5000, [])
    # the other task ran while the round was under way, not only before or after it
    assert any(0 < n < 5000 for n in during), during[:5]
