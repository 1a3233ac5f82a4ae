"""What the inbox remembers of a message's content (its digest): a faithful retry matches it
whatever the order of its fields and its stamps; another request under the same id does not;
and a retry of a message recorded with the digest earlier versions wrote still matches."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from uuid import uuid4

from contracts.booking import RequestReservation, SpaceId
from services.booking.domain import TOKYO
from services.runtime import inbox

REQUEST = RequestReservation(
    message_id=uuid4(), organisation_id=uuid4(), space=SpaceId.A,
    starts_at=datetime(2031, 1, 7, 10, tzinfo=TOKYO),
    ends_at=datetime(2031, 1, 7, 11, tzinfo=TOKYO), attendees=5, purpose="協働イベントの打合せ",
)  # fmt: skip


def test_a_retry_with_its_fields_reordered_and_stamped_again_has_the_same_digest() -> None:
    fields = json.loads(REQUEST.model_dump_json())
    fields["occurred_at"] = datetime(2031, 1, 1, tzinfo=UTC).isoformat()
    retry = RequestReservation.model_validate_json(json.dumps(dict(reversed(fields.items()))))

    assert inbox.digest(retry) == inbox.digest(REQUEST)


def test_another_request_under_the_same_id_has_another_digest() -> None:
    other = REQUEST.model_copy(update={"attendees": 6})

    assert inbox.digest(other) != inbox.digest(REQUEST)
    assert not inbox.same_request(inbox.digest(REQUEST), inbox.digest(other), other)


def test_a_retry_of_a_message_recorded_with_the_earlier_digest_is_still_a_retry() -> None:
    recorded = inbox.legacy_digest(REQUEST)
    other = REQUEST.model_copy(update={"attendees": 6})

    assert recorded != inbox.digest(REQUEST)
    assert inbox.same_request(recorded, inbox.digest(REQUEST), REQUEST)
    assert not inbox.same_request(recorded, inbox.digest(other), other)


def test_a_message_recorded_without_a_digest_is_taken_as_a_retry() -> None:
    assert inbox.same_request(None, inbox.digest(REQUEST), REQUEST)
