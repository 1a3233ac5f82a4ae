"""The kiosk at the Lab reception: check people in and out, cancel a booking."""

from __future__ import annotations

import re

import pytest

from tests.e2e.test_kiosk_cli import kiosk
from tests.identity_support import kiosk_token, organisation_token
from tests.support import DAYS, System, unique_email

pytestmark = pytest.mark.stack


def register_org(system: System) -> str:
    registered = kiosk(
        system, "register", "--name", "青葉まちづくりフォーラム", "--kind", "citizen_group",
        "--contact-name", "鈴木 次郎", "--email", unique_email(),
    )  # fmt: skip
    assert registered.returncode == 0, registered.stderr
    found = re.search(r"organisation_id=([0-9a-f-]{36})", registered.stdout)
    assert found is not None, registered.stdout
    return found.group(1)


def test_check_in_prints_a_usage_slip_and_check_out_ends_it(system: System) -> None:
    org = register_org(system)
    device = kiosk_token()  # the Lab's kiosk itself
    checked_in = kiosk(system, "check-in", "--org", org, "--people", "3", token=device)
    assert checked_in.returncode == 0, checked_in.stdout + checked_in.stderr
    slip = re.search(r"checked in: slip=(\d{8}-\d{3}) people=3", checked_in.stdout)
    assert slip is not None, checked_in.stdout
    checked_out = kiosk(system, "check-out", "--slip", slip.group(1), token=device)
    assert (
        checked_out.returncode == 0 and f"checked out: slip={slip.group(1)}" in checked_out.stdout
    )
    twice = kiosk(system, "check-out", "--slip", slip.group(1), token=device)
    assert twice.returncode == 1 and "reason=not_found" in twice.stdout


def test_a_booking_is_cancelled_from_the_kiosk_and_the_slot_is_free_again(system: System) -> None:
    org = register_org(system)
    day = DAYS.next().isoformat()
    book = ("book", "--org", org, "--space", "a", "--from", f"{day}T10:00", "--to", f"{day}T11:00",
            "--attendees", "5", "--purpose", "打合せ")  # fmt: skip
    booked = kiosk(system, *book)
    found = re.search(r"reservation_id=([0-9a-f-]{36})", booked.stdout)
    assert booked.returncode == 0 and found is not None, booked.stdout
    cancelled = kiosk(system, "cancel", "--reservation", found.group(1), "--org", org)
    assert cancelled.returncode == 0 and "cancelled: reservation_id=" in cancelled.stdout
    assert kiosk(system, *book).returncode == 0  # free again


def test_another_organisation_cannot_cancel_a_booking(system: System) -> None:
    org, other = register_org(system), register_org(system)
    day = DAYS.next().isoformat()
    booked = kiosk(system, "book", "--org", org, "--space", "b", "--from", f"{day}T10:00",
                   "--to", f"{day}T11:00", "--purpose", "打合せ",
                   token=organisation_token(org))  # fmt: skip
    found = re.search(r"reservation_id=([0-9a-f-]{36})", booked.stdout)
    assert found is not None, booked.stdout + booked.stderr
    refused = kiosk(system, "cancel", "--reservation", found.group(1), "--org", org,
                    token=organisation_token(other))  # fmt: skip
    assert refused.returncode == 1 and "reason=not_owner" in refused.stdout
