"""Cancellation e-mails on the real stack: an organisation books through the booking service,
cancels, and its contact is told once, beside the registration and confirmation e-mails."""

from __future__ import annotations

from uuid import uuid4

import pytest

from clients.kiosk.client import BookingClient
from contracts.booking import (
    CancelReservation,
    ReservationCancelled,
    ReservationConfirmed,
    SpaceId,
)
from tests.support import DAYS, System, at, register, reservation, unique_email

pytestmark = pytest.mark.stack


async def test_the_contact_is_emailed_once_when_the_organisation_cancels(
    system: System, client: BookingClient
) -> None:
    contact = unique_email()
    org = await register(client, contact)
    day = DAYS.next()
    booked = await client.request(reservation(org, SpaceId.B, at(day, 13), at(day, 15)), 30)
    assert isinstance(booked, ReservationConfirmed), booked
    cancel = CancelReservation(
        message_id=uuid4(), reservation_id=booked.reservation_id, organisation_id=org
    )
    assert isinstance(await client.request(cancel, 30), ReservationCancelled)

    mails = await system.wait_for_mails(contact, 3)
    subjects = sorted(str(m["Subject"]) for m in mails)
    assert len(mails) == 3, subjects
    assert sum("団体登録" in s for s in subjects) == 1
    assert sum("予約確定" in s for s in subjects) == 1
    cancellations = [m for m in mails if "予約キャンセル" in str(m["Subject"])]
    assert len(cancellations) == 1
    part = cancellations[0].get_body(("plain",))
    assert part is not None
    text = part.get_content()
    assert str(booked.reservation_id) in text and "スペースB" in text
    assert f"{day:%Y-%m-%d}" in text and "13:00-15:00" in text
    assert "貴団体のお申し出により" in text
