"""The envelope every message shares (ARCHITECTURE.md, "Messages")."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated
from uuid import UUID, uuid4

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field


def utc_now() -> datetime:
    return datetime.now(UTC)


def new_message_id() -> UUID:
    return uuid4()


class Message(BaseModel):
    """Fields every message carries.

    `message_id` of a client's command is its idempotency key: a retried command keeps it, and the
    answer's `request_id` repeats it. `correlation_id` follows a flow across services and logs.
    Unknown fields are ignored so that older readers accept newer, compatible messages. The id is
    required on the wire: a default would give a redelivered command a fresh id and defeat the
    inbox, so producers call `new_message_id()` themselves.
    """

    model_config = ConfigDict(frozen=True, extra="ignore")

    message_id: UUID = Field(description="Unique per message; a client's retried command keeps it.")
    schema_version: int = 1
    occurred_at: AwareDatetime = Field(default_factory=utc_now)
    correlation_id: UUID | None = None

    def correlation(self) -> UUID:
        """The flow this message belongs to: its own id when it starts a flow."""
        return self.correlation_id or self.message_id


NonEmptyText = Annotated[str, Field(min_length=1, max_length=500)]


def header_fields(message: Message) -> dict[str, str]:
    """Kafka headers every message carries, so tools can route and trace it without parsing."""
    return {
        "type": str(getattr(message, "type", "")),
        "message_id": str(message.message_id),
        "correlation_id": str(message.correlation()),
        "content-type": "application/json",
    }
