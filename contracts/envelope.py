"""The envelope every message shares (ARCHITECTURE.md, "Messages").

Every record on a topic is hostile until validated: the types here refuse what a friendly producer
never sends and what our storage or date arithmetic cannot hold (a NUL character, which PostgreSQL
text refuses; a year that overflows when converted to UTC; a line break in a single-line field,
which would end up in an e-mail header).
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Annotated
from uuid import UUID, uuid4

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    model_validator,
)

EARLIEST_YEAR = 1970
LATEST_YEAR = 2999


def utc_now() -> datetime:
    return datetime.now(UTC)


def new_message_id() -> UUID:
    return uuid4()


def _year_in_range(year: int) -> None:
    if not EARLIEST_YEAR <= year <= LATEST_YEAR:
        raise ValueError(f"year must be between {EARLIEST_YEAR} and {LATEST_YEAR}")


def _sane_instant(value: datetime) -> datetime:
    _year_in_range(value.year)
    return value


def _sane_day(value: date) -> date:
    _year_in_range(value.year)
    return value


Instant = Annotated[AwareDatetime, AfterValidator(_sane_instant)]
"""A timezone-aware time whose year lies in 1970-2999: far enough for any rule of the center, and
safe from overflow when converted to UTC or moved by a few years."""

Day = Annotated[date, AfterValidator(_sane_day)]
"""A calendar day in 1970-2999."""

SINGLE_LINE = (
    r"^[^\x00-\x1f\x7f-\x9f\u2028\u2029\u200b\u200e\u200f\u202a-\u202e\u2066-\u2069\ufeff]*$"
)
"""No C0 or C1 control character (NEL, U+0085, included), no Unicode line or paragraph
separator (nothing a mail program or log reader could take for a line break), and no
bidirectional override or invisible mark (U+202E turns `gpj.exe` into `exe.jpg` on screen)."""

NonEmptyText = Annotated[str, Field(min_length=1, max_length=500, pattern=SINGLE_LINE)]
"""A name or subject: one line (it may become an e-mail header)."""

Text = Annotated[str, Field(max_length=500)]
"""Free text of a few lines (a purpose, a reason); NUL is refused for every string field."""


NUL_CHECKED = "nul_checked"
"""Validation context key: the caller has seen that the JSON being validated holds no escaped
NUL (`\\u0000`), the only way JSON can put one in a string, so no field needs walking for it."""


def _holds_nul(value: object) -> bool:
    """Whether a string inside a validated message, nested models and lists included, holds NUL."""
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, BaseModel):
        return any(_holds_nul(item) for item in value.__dict__.values())
    if isinstance(value, list | tuple):
        return any(_holds_nul(item) for item in value)
    return False


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
    occurred_at: Instant = Field(default_factory=utc_now)
    correlation_id: UUID | None = None

    @model_validator(mode="after")
    def _no_nul(self, info: ValidationInfo) -> Message:
        """NUL fits in JSON but in no PostgreSQL text column: refuse it in any field, here, so
        a handler never meets it. The nil UUID is no message id (a careless producer sends it
        for every record)."""
        if self.message_id.int == 0:
            raise ValueError("message_id must not be the nil UUID")
        if info.context and info.context.get(NUL_CHECKED):
            return self
        if _holds_nul(self):
            raise ValueError("text must not contain the NUL character")
        return self

    def partition_key(self) -> str:
        """The Kafka key this message is published with: the id of the aggregate it concerns,
        so that the messages of one aggregate stay in order on one partition. A message type
        names its aggregate by overriding this; by default a message is its own aggregate."""
        return str(self.message_id)

    def correlation(self) -> UUID:
        """The flow this message belongs to: its own id when it starts a flow."""
        return self.correlation_id or self.message_id


def header_fields(message: Message) -> dict[str, str]:
    """Kafka headers every message carries, so tools can route and trace it without parsing."""
    return {
        "type": str(getattr(message, "type", "")),
        "message_id": str(message.message_id),
        "correlation_id": str(message.correlation()),
        "content-type": "application/json",
    }
