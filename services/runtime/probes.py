"""Whether the broker answers: readiness must not say "ready" through a Kafka outage.

The relay talks to Kafka only when it has rows to publish and the consumer's fetch loop retries
in silence, so an idle service would not notice that Kafka is gone. The probe asks the broker
for its metadata every few seconds; `/readyz` answers 503 once it has not answered for
STALE_AFTER_S.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

from aiokafka import AIOKafkaProducer

from services.runtime.errors import clean
from services.runtime.supervisor import beat

log = logging.getLogger(__name__)

EVERY_S = 3.0
TIMEOUT_S = 5.0
STALE_AFTER_S = 10.0


class KafkaProbe:
    """`on_metadata` is given each answer (the cluster's brokers and partitions), so what it
    tells about the cluster's health is measured without asking again."""

    def __init__(
        self,
        producer: AIOKafkaProducer,
        on_metadata: Callable[[Any], None] = lambda _: None,
    ) -> None:
        self.producer = producer
        self.on_metadata = on_metadata
        self.last_answer = time.monotonic()

    async def run(self) -> None:
        while True:
            try:
                metadata = await asyncio.wait_for(self.producer.client.fetch_all_metadata(),
                                                  TIMEOUT_S)  # fmt: skip
                self.last_answer = time.monotonic()
            except Exception as exc:
                log.warning("Kafka did not answer (%s: %s)", type(exc).__name__,
                            clean(str(exc), 200))  # fmt: skip
            else:
                try:
                    self.on_metadata(metadata)
                except Exception as exc:  # a gauge not set is no reason to stop probing
                    log.warning("cluster gauges not set (%s)", type(exc).__name__)
            beat()
            await asyncio.sleep(EVERY_S)

    def silent_s(self) -> float:
        return time.monotonic() - self.last_answer

    def problem(self) -> str | None:
        silent = time.monotonic() - self.last_answer
        return f"Kafka has not answered for {silent:.0f} s" if silent > STALE_AFTER_S else None
