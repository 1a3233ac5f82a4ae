"""Topic names and the partition counts the services declare (ARCHITECTURE.md, "Messages")."""

from __future__ import annotations

from dataclasses import dataclass

DEFAULT_PARTITIONS = 6


@dataclass(frozen=True)
class Topic:
    name: str
    partitions: int = DEFAULT_PARTITIONS

    @property
    def dlq(self) -> Topic:
        """The dead-letter topic beside a consumed topic; one partition keeps its order simple."""
        return Topic(f"{self.name}.dlq", partitions=1)


BOOKING_COMMANDS = Topic("booking.commands")
BOOKING_EVENTS = Topic("booking.events")
PROGRAM_COMMANDS = Topic("program.commands")
PROGRAM_EVENTS = Topic("program.events")
CONSULTATION_COMMANDS = Topic("consultation.commands")
CONSULTATION_EVENTS = Topic("consultation.events")
NOTIFY_COMMANDS = Topic("notify.commands")
NOTIFY_EVENTS = Topic("notify.events")
