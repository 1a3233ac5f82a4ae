"""Handler registration is checked by mypy: a handler registered for a message class must take
that class, so a handler never receives `Any` (runs mypy on two small programs)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

PROGRAM = '''
from collections.abc import Sequence
import asyncpg
from contracts.booking import LabCheckIn, RequestReservation
from services.runtime.consumer import Routes
from services.runtime.outbox import Outgoing

async def reserve(conn: asyncpg.Connection, cmd: RequestReservation) -> Sequence[Outgoing]:
    return []

Routes().on({registered}, reserve)
'''


def mypy(source: str, folder: Path) -> subprocess.CompletedProcess[str]:
    path = folder / "registration.py"
    path.write_text(source)
    return subprocess.run(
        [sys.executable, "-m", "mypy", "--no-incremental", "--follow-imports=silent", str(path)],
        capture_output=True, text=True, check=False, cwd=Path(__file__).parents[2],
    )  # fmt: skip


@pytest.mark.parametrize(("registered", "accepted"), [("RequestReservation", True),
                                                       ("LabCheckIn", False)])  # fmt: skip
def test_mypy_refuses_a_handler_registered_for_another_message_class(
    registered: str, accepted: bool, tmp_path: Path
) -> None:
    done = mypy(PROGRAM.format(registered=registered), tmp_path)
    assert (done.returncode == 0) is accepted, done.stdout
