"""Creating the topics a service declares, with their partition counts (no broker auto-create)."""

from __future__ import annotations

import logging
from collections.abc import Iterable

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError

from contracts.topics import Topic

log = logging.getLogger(__name__)


async def ensure_topics(bootstrap: str, topics: Iterable[Topic]) -> None:
    wanted = {t.name: t for t in topics}
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [
            NewTopic(name=t.name, num_partitions=t.partitions, replication_factor=1)
            for name, t in wanted.items()
            if name not in existing
        ]
        if missing:
            response = await admin.create_topics(missing)
            for error in response.topic_errors:
                name, code = error[0], error[1]
                # another instance may have created it between our listing and our request
                if code not in (0, TopicAlreadyExistsError.errno):
                    raise RuntimeError(f"could not create topic {name}: Kafka error code {code}")
            log.info("created topics %s", [t.name for t in missing])
    finally:
        await admin.close()
