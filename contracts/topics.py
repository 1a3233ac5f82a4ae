"""Topic names and the partition counts the services declare (ARCHITECTURE.md, "Messages").

Command topics keep the time the broker appended each record (``LogAppendTime``), not the time
a producer wrote into it: a service judges a command's signed token at that time, and no
producer can set it, so a token cannot be made to look younger than it is by a forged
timestamp, nor replayed later under its old time."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

DEFAULT_PARTITIONS = 6
DLQ_MAX_MESSAGE_BYTES = 8 * 1024 * 1024


@dataclass(frozen=True)
class Topic:
    name: str
    partitions: int = DEFAULT_PARTITIONS
    config: dict[str, str] = field(default_factory=dict, hash=False, compare=False)

    @property
    def dlq(self) -> Topic:
        """The dead-letter topic beside a consumed topic; one partition keeps its order simple.
        It takes records larger than its source topic does: a dead letter is the original
        record plus headers saying why, and must fit whatever the original was."""
        return Topic(
            f"{self.name}.dlq",
            partitions=1,
            config={"max.message.bytes": str(DLQ_MAX_MESSAGE_BYTES)},
        )


APPEND_TIME = {"message.timestamp.type": "LogAppendTime"}


def command_topic(name: str) -> Topic:
    """A topic clients send commands to: stamped with the broker's append time."""
    return Topic(name, config=dict(APPEND_TIME))


BOOKING_COMMANDS = command_topic("booking.commands")
BOOKING_EVENTS = Topic("booking.events")
PROGRAM_COMMANDS = command_topic("program.commands")
PROGRAM_EVENTS = Topic("program.events")
CONSULTATION_COMMANDS = command_topic("consultation.commands")
CONSULTATION_EVENTS = Topic("consultation.events")
NOTIFY_COMMANDS = command_topic("notify.commands")
NOTIFY_EVENTS = Topic("notify.events")

COMMAND_TOPICS = (BOOKING_COMMANDS, PROGRAM_COMMANDS, CONSULTATION_COMMANDS, NOTIFY_COMMANDS)
EVENT_TOPICS = (BOOKING_EVENTS, PROGRAM_EVENTS, CONSULTATION_EVENTS, NOTIFY_EVENTS)


def owned_topics(consumes: Sequence[Topic], produces: Sequence[Topic]) -> tuple[Topic, ...]:
    """The topics a service creates and keeps configured: the topics it consumes and their
    dead-letter topics, and its own events, but not the events of other services it reads
    (their owner configures them; ``deploy/kafka_acls.py`` grants it no more than reading)."""
    others = [t for t in consumes if t in EVENT_TOPICS and t not in produces]
    return (
        *(t for t in consumes if t not in others),
        *(t.dlq for t in consumes),
        *produces,
    )
