"""Reminder timing: the day before, at the configured hour, never in quiet hours (21:00-8:00
Asia/Tokyo), and not at all when it is too late to be useful."""

from __future__ import annotations

from datetime import datetime
from uuid import uuid4
from zoneinfo import ZoneInfo

from contracts.booking import Channel, Contact, Reservation, ReservationConfirmed, SpaceId
from services.notify.domain import (
    outside_quiet_hours,
    reminder_due,
    reminder_payload,
    reservation_reminder_email,
)

TOKYO = ZoneInfo("Asia/Tokyo")


def tokyo(year: int, month: int, day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=TOKYO)


def test_a_reminder_is_due_the_day_before_at_the_configured_hour() -> None:
    due = reminder_due(tokyo(2030, 6, 12, 10), confirmed_at=tokyo(2030, 6, 1, 9), hour=10)
    assert due == tokyo(2030, 6, 11, 10)


def test_the_day_before_is_counted_in_tokyo_even_for_a_start_given_in_utc() -> None:
    starts = tokyo(2030, 6, 12, 8).astimezone(ZoneInfo("UTC"))  # 23:00 UTC on the 11th
    assert reminder_due(starts, tokyo(2030, 6, 1, 9), hour=10) == tokyo(2030, 6, 11, 10)


def test_a_late_evening_hour_is_deferred_to_eight_the_next_morning() -> None:
    due = reminder_due(tokyo(2030, 6, 12, 18), confirmed_at=tokyo(2030, 6, 1, 9), hour=22)
    assert due == tokyo(2030, 6, 12, 8)


def test_an_early_morning_hour_is_deferred_to_eight() -> None:
    due = reminder_due(tokyo(2030, 6, 12, 18), confirmed_at=tokyo(2030, 6, 1, 9), hour=6)
    assert due == tokyo(2030, 6, 11, 8)


def test_no_reminder_when_its_time_passed_before_confirmation() -> None:
    late = tokyo(2030, 6, 11, 15)
    assert reminder_due(tokyo(2030, 6, 12, 10), confirmed_at=late, hour=10) is None


def test_no_reminder_that_would_fall_after_the_start() -> None:
    # 22:00 the day before defers to 8:00 on the day, after a 7:30 start... not an opening hour,
    # but the rule must hold whatever the booking rules allow
    assert reminder_due(tokyo(2030, 6, 12, 7, 30), tokyo(2030, 6, 1, 9), hour=22) is None


def test_quiet_hours_leave_daytime_alone_and_move_the_night_to_eight() -> None:
    assert outside_quiet_hours(tokyo(2030, 6, 11, 20, 59)) == tokyo(2030, 6, 11, 20, 59)
    assert outside_quiet_hours(tokyo(2030, 6, 11, 21, 0)) == tokyo(2030, 6, 12, 8)
    assert outside_quiet_hours(tokyo(2030, 6, 12, 7, 59)) == tokyo(2030, 6, 12, 8)
    assert outside_quiet_hours(tokyo(2030, 6, 12, 8, 0)) == tokyo(2030, 6, 12, 8)


def test_the_reminder_names_the_reservation_the_center_and_its_hours_in_both_languages() -> None:
    event = ReservationConfirmed(
        message_id=uuid4(),
        request_id=uuid4(),
        reservation_id=uuid4(),
        reservation=Reservation(
            organisation_id=uuid4(),
            space=SpaceId.A,
            starts_at=tokyo(2030, 6, 12, 10),
            ends_at=tokyo(2030, 6, 12, 12),
            attendees=12,
            purpose="定例会",
            atrium=False,
            channel=Channel.WEB,
        ),
        contact=Contact(name="山田 花子", email="hanako@example.org"),
    )
    payload = reminder_payload(event)
    assert payload is not None
    email = reservation_reminder_email(payload)
    assert email.recipient == "hanako@example.org"
    assert email.source_id == event.reservation_id
    assert "明日" in email.subject and "tomorrow" in email.subject
    expected = [
        "山田 花子",
        "スペースA",
        "Space A",
        "2030-06-12(水) 10:00-12:00",
        "横浜市市民協働推進センター",
        "平日 9:00-20:00",
        "weekends and holidays 9:00-17:00",
    ]
    for text in expected:
        assert text in email.body, text
