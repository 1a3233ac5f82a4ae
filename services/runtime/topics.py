"""Creating the topics a service declares, with their partition counts and settings (no broker
auto-create). Settings of topics that exist already are brought up to date, so a stack created
before a setting was added (the dead-letter topics' record size, the command topics' append
time) gets it too."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from aiokafka.errors import TopicAlreadyExistsError

from contracts.topics import Topic
from services.runtime.kafka_auth import KafkaCredentials, connection_kwargs

log = logging.getLogger(__name__)


def replication_factor() -> int:
    """KAFKA_REPLICATION_FACTOR: how many brokers hold each topic a service creates (default 1,
    one broker; a cluster of three: 3, with the brokers' min.insync.replicas=2). Given, not
    guessed from the brokers answering: a topic created while one broker is down would
    otherwise be created short of a replica for good."""
    value = int(os.environ.get("KAFKA_REPLICATION_FACTOR") or 1)
    if value < 1:
        raise ValueError(f"KAFKA_REPLICATION_FACTOR must be 1 or more, not {value}")
    return value


async def ensure_topics(
    bootstrap: str, topics: Iterable[Topic], credentials: KafkaCredentials
) -> None:
    """Create what is missing and bring the settings of the others up to date. Only topics
    the caller may describe are listed by Kafka: a service passes the topics it owns
    (``deploy/kafka_acls.py`` grants it their creation and settings)."""
    wanted = {t.name: t for t in topics}
    replicas = replication_factor()
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, **connection_kwargs(credentials))
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [
            NewTopic(
                name=t.name,
                num_partitions=t.partitions,
                replication_factor=replicas,
                topic_configs=dict(t.config),
            )
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
        configured = [
            ConfigResource(ConfigResourceType.TOPIC, name, dict(t.config))
            for name, t in wanted.items()
            if name in existing and t.config
        ]
        if configured:
            for response in await admin.alter_configs(configured):
                for code, _message, _type, name in response.resources:
                    if code:
                        raise RuntimeError(
                            f"could not update the settings of topic {name}: Kafka error code "
                            f"{code}"
                        )
    finally:
        await admin.close()
