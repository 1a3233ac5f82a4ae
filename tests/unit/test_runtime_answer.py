"""An answer to a command: it names the command and continues its flow, and it is still validated
as its event type (built from parts already checked for NUL, it is not walked for one again)."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import uuid4

import pytest
from pydantic import ValidationError

from contracts.booking import ReservationRejected, SpaceId
from contracts.topics import BOOKING_EVENTS
from services.runtime.outbox import answer
from tests.support import reservation

CMD = reservation(uuid4(), SpaceId.A, datetime(2030, 1, 7, 1, tzinfo=UTC),
                  datetime(2030, 1, 7, 2, tzinfo=UTC))  # fmt: skip


def test_an_answer_names_its_command_and_continues_its_flow() -> None:
    out = answer(CMD, BOOKING_EVENTS, "A", ReservationRejected, reason="conflict", detail="taken")
    event = out.message
    assert isinstance(event, ReservationRejected)
    assert (event.request_id, event.correlation_id) == (CMD.message_id, CMD.correlation())
    assert event.message_id not in (CMD.message_id, None)
    assert (out.topic, out.key) == (BOOKING_EVENTS, "A")


def test_an_answer_is_validated_as_its_event_type() -> None:
    with pytest.raises(ValidationError):
        answer(CMD, BOOKING_EVENTS, "A", ReservationRejected, reason="no such reason", detail="")
    with pytest.raises(ValidationError):
        answer(CMD, BOOKING_EVENTS, "A", ReservationRejected, reason="conflict", detail=["x"])
