"""The kiosk as a person at reception uses it: register, book Space AB, get refused Space A."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest

from contracts.identity import Role
from tests.identity_support import organisation_token, staff_token
from tests.support import DAYS, System, unique_email

pytestmark = pytest.mark.stack


def kiosk(system: System, *args: str, token: str | None = None) -> subprocess.CompletedProcess[str]:
    """The command line at the reception desk on a development machine: it sends as the `kiosk`
    principal with its development password, signed in as reception staff by default."""
    env = {**os.environ, "DEVELOPMENT": "1", "CENTER_TOKEN": token or staff_token(Role.RECEPTION)}
    return subprocess.run(
        [sys.executable, "-m", "clients.kiosk", "--bootstrap", system.stack.kafka_bootstrap,
         "--answers-url", f"http://127.0.0.1:{system.http_port('booking')}",
         "--timeout", "30", *args],
        capture_output=True, text=True, timeout=90, check=False, env=env,
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
    own = organisation_token(org.group(1))  # the organisation books in its own name
    booked = kiosk(
        system, "book", "--org", org.group(1), "--space", "ab", "--from", f"{day}T13:00",
        "--to", f"{day}T15:00", "--attendees", "40", "--purpose", "地域フォーラム", token=own,
    )  # fmt: skip
    assert booked.returncode == 0, booked.stdout + booked.stderr
    assert "confirmed: reservation_id=" in booked.stdout

    refused = kiosk(
        system, "book", "--org", org.group(1), "--space", "a", "--from", f"{day}T14:00",
        "--to", f"{day}T16:00", "--attendees", "10", "--purpose", "打合せ", token=own,
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


def test_a_command_without_a_token_is_not_sent(system: System) -> None:
    env = {k: v for k, v in os.environ.items() if k != "CENTER_TOKEN"}
    result = subprocess.run(
        [sys.executable, "-m", "clients.kiosk", "--bootstrap", system.stack.kafka_bootstrap,
         "check-out", "--slip", "20300107-001"],
        capture_output=True, text=True, timeout=60, check=False, env=env,
    )  # fmt: skip
    assert result.returncode == 2
    assert "token" in result.stderr


def test_a_token_that_proves_nothing_is_refused_in_words(system: System) -> None:
    result = kiosk(system, "check-out", "--slip", "20300107-001", token="not-a-token")
    assert result.returncode == 1, result.stdout + result.stderr
    assert "refused" in result.stderr and "Traceback" not in result.stderr
