"""The kiosk as a person at reception uses it: register, book Space AB, get refused Space A."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest

from tests.support import DAYS, System, unique_email

pytestmark = pytest.mark.stack


def kiosk(system: System, *args: str) -> subprocess.CompletedProcess[str]:
    """The CLI on a development machine: it sends as `kiosk` with its development password."""
    return subprocess.run(
        [sys.executable, "-m", "clients.kiosk", "--bootstrap", system.stack.kafka_bootstrap,
         "--timeout", "30", *args],
        capture_output=True, text=True, timeout=90, check=False,
        env={**os.environ, "DEVELOPMENT": "1"},
    )  # fmt: skip


async def test_register_then_book_ab_then_a_conflicting_a_from_the_kiosk(system: System) -> None:
    contact = unique_email()
    registered = kiosk(
        system, "register", "--name", "戸塚こども食堂ネット", "--kind", "npo",
        "--contact-name", "佐藤 一郎", "--email", contact,
    )  # fmt: skip
    assert registered.returncode == 0, registered.stderr
    org = re.search(r"organisation_id=([0-9a-f-]{36})", registered.stdout)
    assert org is not None, registered.stdout

    day = DAYS.next().isoformat()
    booked = kiosk(
        system, "book", "--org", org.group(1), "--space", "ab", "--from", f"{day}T13:00",
        "--to", f"{day}T15:00", "--attendees", "40", "--purpose", "地域フォーラム",
    )  # fmt: skip
    assert booked.returncode == 0, booked.stdout + booked.stderr
    assert "confirmed: reservation_id=" in booked.stdout

    refused = kiosk(
        system, "book", "--org", org.group(1), "--space", "a", "--from", f"{day}T14:00",
        "--to", f"{day}T16:00", "--attendees", "10", "--purpose", "打合せ",
    )  # fmt: skip
    assert refused.returncode == 1
    assert "rejected: reason=conflict" in refused.stdout

    mails = await system.wait_for_mails(contact, 3)
    assert len(mails) == 3  # the registration and one e-mail per booking outcome


def test_bad_input_is_explained_before_anything_is_sent(system: System) -> None:
    result = kiosk(system, "book", "--org", "not-a-uuid", "--space", "ab",
                   "--from", "2031-01-06T10:00", "--to", "2031-01-06T11:00")  # fmt: skip
    assert result.returncode == 2
    assert "invalid" in result.stderr.lower()
