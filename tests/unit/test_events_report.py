"""The participants report's counting rules (services/events/report.py), on rows as the query
returns them: one per session and frame."""

from __future__ import annotations

from datetime import datetime, timedelta
from uuid import uuid4
from zoneinfo import ZoneInfo

from contracts.program import Frame
from services.events.report import participants_report, to_csv, to_table

TOKYO = ZoneInfo("Asia/Tokyo")
START = datetime(2023, 6, 7, 18, 30, tzinfo=TOKYO)


def rows() -> list[dict[str, object]]:
    program, over, coming = uuid4(), uuid4(), uuid4()

    def row(session: object, number: int, start: datetime, frame: str | None, registered: int,
            attended: int) -> dict[str, object]:  # fmt: skip
        return {"program_id": program, "title": "NPO入門講座", "kind": "course",
                "session_id": session, "number": number, "starts_at": start,
                "ends_at": start + timedelta(hours=2), "frame": frame,
                "registered": registered, "attended": attended}  # fmt: skip

    later = START + timedelta(days=7)
    return [row(over, 1, START, "onsite", 30, 27), row(over, 1, START, "online", 80, 61),
            row(coming, 2, later, "onsite", 18, 0), row(uuid4(), 3, later, None, 0, 0)]  # fmt: skip


def test_each_session_counts_registered_and_attended_people_per_frame_and_its_no_shows() -> None:
    report = participants_report(2023, rows(), now=START + timedelta(days=1))
    first, second, empty = report.sessions
    assert first.registered == {Frame.ONSITE: 30, Frame.ONLINE: 80}
    assert first.attended == {Frame.ONSITE: 27, Frame.ONLINE: 61}
    assert first.no_shows == 22
    assert second.no_shows is None, "not over yet: no-shows are unknown"
    assert empty.registered == {Frame.ONSITE: 0, Frame.ONLINE: 0}


def test_the_years_participants_are_the_people_who_attended() -> None:
    report = participants_report(2023, rows(), now=START + timedelta(days=30))
    assert report.participants == 88
    assert report.total("registered", Frame.ONSITE) == 48
    csv = to_csv(report).splitlines()
    assert csv[0].startswith("program,kind,session,date,registered_onsite")
    assert csv[-1].split(",")[4:] == ["48", "80", "27", "61", "40"]
    assert "participants (attended) in FY2023: 88" in to_table(report)
