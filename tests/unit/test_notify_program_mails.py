"""Notify's e-mails to the registrants of the center's programs (services/notify/programs.py):
in the registrant's language, with the sessions, dates and venue, the check-in code and the
cancel link; the online join link only to online registrants, never in an on-site e-mail."""

from __future__ import annotations

from datetime import datetime, timedelta
from uuid import uuid4
from zoneinfo import ZoneInfo

import pytest

from contracts.notify import Language
from contracts.program import (
    Frame,
    HeldSession,
    ProgramCancelled,
    ProgramRejectionReason,
    Registrant,
    RegistrationConfirmed,
    RegistrationOffered,
    RegistrationPromoted,
    RegistrationRejected,
    RegistrationWaitlisted,
    SessionChanged,
    Venue,
    WaitPosition,
)
from services.notify import programs

TOKYO = ZoneInfo("Asia/Tokyo")
START = datetime(2027, 2, 3, 18, 30, tzinfo=TOKYO)
LINK = "https://meet.example.org/ycc-secret"
LINKS = programs.Links("https://www.example.org")


def held(n: int = 1, join_url: str | None = LINK) -> HeldSession:
    start = START + timedelta(days=7 * (n - 1))
    return HeldSession(
        session_id=uuid4(),
        number=n,
        starts_at=start,
        ends_at=start + timedelta(hours=2),
        venue=Venue.AB,
        join_url=join_url,
    )


def confirmed(frame: Frame, language: Language = Language.JA,
              cls: type = RegistrationConfirmed) -> RegistrationConfirmed:  # fmt: skip
    registrant = Registrant(name="山田 花子", email="hanako@example.org", language=language)
    fields = {"request_id": uuid4()} if cls is RegistrationConfirmed else {}
    event: RegistrationConfirmed = cls(
        message_id=uuid4(), registration_id=uuid4(), program_id=uuid4(),
        program_title="市民活動はじめて講座", frame=frame, party_size=2,
        sessions=[held(1), held(2)], registrant=registrant, check_in_code="K7QW3ZPA",
        cancel_token="tok.en", **fields,
    )  # fmt: skip
    return event


def test_an_online_registrant_gets_the_join_link_of_each_session() -> None:
    mail = programs.confirmed_email(confirmed(Frame.ONLINE), LINKS)
    assert mail.body.count(LINK) == 2
    assert "第1回" in mail.body and "2027-02-03(水) 18:30-20:30" in mail.body
    assert "K7QW3ZPA" in mail.body and mail.qr_text == "K7QW3ZPA"  # in words and as a QR code
    assert "https://www.example.org/registrations/" in mail.body and "token=tok.en" in mail.body
    assert mail.recipient == "hanako@example.org" and mail.language is Language.JA


def test_an_onsite_email_never_carries_the_join_link_whatever_the_event_says() -> None:
    for mail in (programs.confirmed_email(confirmed(Frame.ONSITE), LINKS),
                 programs.reminder_email(programs.reminder_payloads(
                     confirmed(Frame.ONSITE), LINKS)[0][2])):  # fmt: skip
        assert LINK not in mail.body
        assert "スペースA+B" in mail.body


@pytest.mark.parametrize("language", list(Language))
def test_every_registration_mail_is_written_in_the_registrants_language(
    language: Language,
) -> None:
    event = confirmed(Frame.ONLINE, language, RegistrationPromoted)
    mail = programs.confirmed_email(event, LINKS)
    english = language is Language.EN
    assert ("Check-in code" in mail.body) is english
    assert ("受付コード" in mail.body) is not english
    assert ("Off the waitlist" in mail.subject) is english


def test_the_waitlist_and_offer_mails_say_the_position_and_the_deadline() -> None:
    registrant = Registrant(name="Tom", email="tom@example.org", language=Language.EN)
    waitlisted = RegistrationWaitlisted(
        message_id=uuid4(), request_id=uuid4(), registration_id=uuid4(), program_id=uuid4(),
        program_title="Salon", frame=Frame.ONSITE, party_size=3, registrant=registrant,
        positions=[WaitPosition(session_id=uuid4(), position=4)], cancel_token="c",
    )  # fmt: skip
    waiting = programs.waitlisted_email(waitlisted, LINKS)
    assert "Your place on the waitlist: 4" in waiting.body
    assert waiting.qr_text is None  # no seat yet: nothing to check in with
    offered = RegistrationOffered(
        message_id=uuid4(), registration_id=uuid4(), program_id=uuid4(), program_title="Salon",
        frame=Frame.ONSITE, party_size=3, sessions=[held(1, None)], registrant=registrant,
        expires_at=START - timedelta(hours=3), offer_token="o", cancel_token="c",
    )  # fmt: skip
    mail = programs.offered_email(offered, LINKS)
    assert "2027-02-03 15:30" in mail.subject and "/offer?token=o" in mail.body
    assert mail.qr_text is None


def test_a_change_or_cancellation_is_told_to_each_registrant() -> None:
    people = [Registrant(name="A", email="a@example.org", registration_id=uuid4(),
                         cancel_token="a.b"),
              Registrant(name="B", email="b@example.org", language=Language.EN,
                         registration_id=uuid4())]  # fmt: skip
    moved = SessionChanged(
        message_id=uuid4(), request_id=uuid4(), program_id=uuid4(), session_id=uuid4(),
        starts_at=START + timedelta(days=1), ends_at=START + timedelta(days=1, hours=2),
        venue=Venue.B, moved=True, registrants=people, program_title="講座", number=2,
    )  # fmt: skip
    mails = programs.notice_emails(moved, LINKS)
    assert [m.recipient for m in mails] == ["a@example.org", "b@example.org"]
    assert "2027-02-04(木) 18:30-20:30" in mails[0].body and "Session 2" in mails[1].subject
    assert "/cancel?token=a.b" in mails[0].body, "a registration that goes on keeps its link"
    assert "/cancel?token=" not in mails[1].body
    cancelled = ProgramCancelled(message_id=uuid4(), request_id=uuid4(), program_id=uuid4(),
                                 title="講座", reason="荒天", registrants=people)  # fmt: skip
    notices = programs.notice_emails(cancelled, LINKS)
    assert all("中止" in m.subject or "Cancelled" in m.subject for m in notices)
    assert all("/cancel?token=" not in m.body for m in notices), "nothing left to cancel"


def test_each_session_has_its_own_reminder() -> None:
    found = programs.reminder_payloads(confirmed(Frame.ONLINE), LINKS)
    assert len({key for key, _, _ in found}) == 2
    first, second = (programs.reminder_email(p) for _, _, p in found)
    assert first.source_id != second.source_id, "one reminder per session, not per registration"
    assert LINK in first.body


def rejected(reason: ProgramRejectionReason, language: Language = Language.JA,
             title: str | None = "市民活動はじめて講座") -> RegistrationRejected:  # fmt: skip
    registrant = Registrant(name="山田 花子", email="hanako@example.org", language=language)
    return RegistrationRejected(message_id=uuid4(), request_id=uuid4(), program_id=uuid4(),
                                program_title=title, reason=reason, detail="x",
                                registrant=registrant)  # fmt: skip


def test_a_refused_registration_is_mailed_with_its_reason_in_the_registrants_language() -> None:
    ja = programs.rejected_email(rejected(ProgramRejectionReason.FULL))
    assert ja is not None and ja.recipient == "hanako@example.org"
    assert "市民活動はじめて講座" in ja.subject and "満席" in ja.body and "山田 花子" in ja.body
    en = programs.rejected_email(rejected(ProgramRejectionReason.DUPLICATE, Language.EN))
    assert en is not None and "already registered" in en.body
    untitled = programs.rejected_email(rejected(ProgramRejectionReason.NOT_FOUND, title=None))
    assert untitled is not None and "講座・イベント" in untitled.body


@pytest.mark.parametrize("reason", [ProgramRejectionReason.ID_REUSED,
                                    ProgramRejectionReason.UNAUTHORIZED,
                                    ProgramRejectionReason.FORBIDDEN])  # fmt: skip
def test_a_refusal_that_says_nothing_to_the_registrant_is_not_mailed(
    reason: ProgramRejectionReason,
) -> None:
    assert programs.rejected_email(rejected(reason)) is None


def test_a_refusal_of_an_unreadable_request_names_nobody_and_is_not_mailed() -> None:
    nobody = RegistrationRejected(
        message_id=uuid4(), request_id=uuid4(), reason=ProgramRejectionReason.INVALID,
        detail="unreadable",
    )
    assert programs.rejected_email(nobody) is None
