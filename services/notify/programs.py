"""What notify writes to the registrants of the center's programs: pure functions from an event
of `program.events` to e-mails, no I/O (DOMAIN.md, "Information and notifications").

Each e-mail is in the registrant's language (ja or en) and carries their cancel link. The online
join link appears only in an e-mail to an online registrant, never in an on-site one: it is
shown only when the registration's frame is online, whatever the event carries. A registration
reminds of each of its sessions the day before (quiet hours as for bookings), and the reminder
job is named by registration and session, so a cancellation or a change finds it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID, uuid5

from contracts.notify import Language
from contracts.program import (
    Frame,
    HeldSession,
    ProgramCancelled,
    ProgramRejectionReason,
    Registrant,
    RegistrationCancelled,
    RegistrationConfirmed,
    RegistrationOffered,
    RegistrationOfferExpired,
    RegistrationPromoted,
    RegistrationRejected,
    RegistrationWaitlisted,
    SessionCancelled,
    SessionChanged,
    Venue,
)
from services.notify.domain import TOKYO, WEEKDAYS_JA, Email, compose, contact_address

VENUES: dict[Venue, tuple[str, str]] = {
    Venue.A: ("市民協働推進センター スペースA", "Space A, Civic Collaboration Center"),
    Venue.B: ("市民協働推進センター スペースB", "Space B, Civic Collaboration Center"),
    Venue.AB: ("市民協働推進センター スペースA+B", "Space A+B, Civic Collaboration Center"),
    Venue.OUTSIDE: ("センター外の会場", "a venue outside the center"),
    Venue.ONLINE: ("オンライン", "online"),
}
FRAMES: dict[Frame, tuple[str, str]] = {
    Frame.ONSITE: ("会場参加", "on site"),
    Frame.ONLINE: ("オンライン参加", "online"),
}


@dataclass(frozen=True)
class Links:
    """Where the registrant's links lead: the center's web pages, which send the commands."""

    base_url: str

    def cancel(self, registration_id: UUID, token: str) -> str:
        return f"{self.base_url}/registrations/{registration_id}/cancel?token={token}"

    def offer(self, registration_id: UUID, token: str) -> str:
        return f"{self.base_url}/registrations/{registration_id}/offer?token={token}"


def when(starts_at: datetime, ends_at: datetime, language: Language) -> str:
    start, end = starts_at.astimezone(TOKYO), ends_at.astimezone(TOKYO)
    if language is Language.JA:
        return f"{start:%Y-%m-%d}({WEEKDAYS_JA[start.weekday()]}) {start:%H:%M}-{end:%H:%M}"
    return f"{start:%a %d %b %Y}, {start:%H:%M}-{end:%H:%M}"


def pick(pair: tuple[str, str], language: Language) -> str:
    return pair[0] if language is Language.JA else pair[1]


def session_lines(sessions: Sequence[HeldSession], frame: Frame, language: Language) -> list[str]:
    """One line per session (number, time, venue); for online registrants its join link."""
    lines = []
    for s in sessions:
        venue = s.venue_name or pick(VENUES[s.venue], language)
        number = f"第{s.number}回" if language is Language.JA else f"Session {s.number}"
        lines.append(f"{number}  {when(s.starts_at, s.ends_at, language)}  {venue}")
        if frame is Frame.ONLINE and s.join_url:
            label = "参加URL" if language is Language.JA else "Join link"
            lines.append(f"    {label}: {s.join_url}")
    return lines


def _email(kind: str, source_id: UUID, about_id: UUID, correlation_id: UUID,
           registrant: Registrant, qr_text: str | None = None,
           **context: object) -> Email:  # fmt: skip
    language = registrant.language
    subject, body = compose(kind, language, name=registrant.name, **context)
    return Email(kind, source_id, about_id, correlation_id,
                 contact_address(str(registrant.email)), subject, body, language,
                 qr_text)  # fmt: skip


def confirmed_email(event: RegistrationConfirmed | RegistrationPromoted, links: Links) -> Email:
    """The confirmation (or promotion from the waitlist): sessions, dates, venue, frame, the
    check-in code (in words, and as a QR code to show at the kiosk) and the cancel link."""
    language = event.registrant.language
    return _email(
        "registration_confirmed", event.message_id, event.registration_id, event.correlation(),
        event.registrant, qr_text=event.check_in_code, title=event.program_title,
        promoted=isinstance(event, RegistrationPromoted),
        frame=pick(FRAMES[event.frame], language), party=event.party_size,
        sessions=session_lines(event.sessions, event.frame, language),
        code=event.check_in_code, cancel_url=links.cancel(event.registration_id,
                                                          event.cancel_token),
    )  # fmt: skip


def waitlisted_email(event: RegistrationWaitlisted, links: Links) -> Email:
    language = event.registrant.language
    positions = [p.position for p in event.positions]
    return _email(
        "registration_waitlisted", event.message_id, event.registration_id, event.correlation(),
        event.registrant, title=event.program_title, frame=pick(FRAMES[event.frame], language),
        party=event.party_size, position=max(positions, default=1),
        cancel_url=links.cancel(event.registration_id, event.cancel_token),
    )  # fmt: skip


REJECTION_REASONS: dict[ProgramRejectionReason, tuple[str, str]] = {
    ProgramRejectionReason.FULL: ("満席で、キャンセル待ちも受け付けていません。",
                                  "It is full, and it takes no waitlist."),
    ProgramRejectionReason.CLOSED: ("申し込みの受付期間外か、その回はすでに始まっています。",
                                    "Registration is not open now, or the session has begun."),
    ProgramRejectionReason.DUPLICATE: ("このメールアドレスで同じ回にすでに申し込まれています。",
                                       "This address is already registered for that session."),
    ProgramRejectionReason.NOT_OPEN: ("まだ申し込みを受け付けていません。",
                                      "It does not take registrations yet."),
    ProgramRejectionReason.NOT_FOUND: ("その講座・イベントまたは回が見つかりません。",
                                       "That program or session was not found."),
    ProgramRejectionReason.INVALID: ("申し込みの内容（回、参加のしかた、人数）が"
                                     "受け付けられる形ではありませんでした。",
                                     "The request (sessions, how you take part, people) could "
                                     "not be accepted as it was."),
    ProgramRejectionReason.CONFLICT: ("いまはこの申し込みを受け付けられない状態です。",
                                      "It cannot take this registration in its present state."),
}  # fmt: skip
"""The refusals a registrant is told of by mail, and in their words. An id reused or a proof
refused says nothing to the person whose address the request carried: not mailed."""


REJECTIONS_MAX_PER_DAY = 5
"""Refusals mailed to one address in 24 hours: anyone may ask for a registration with any
address, so a refusal repeated on purpose must not flood a mailbox."""


def rejected_email(event: RegistrationRejected) -> Email | None:
    """Why a registration was refused, to the address it gave; None when there is nobody to
    tell or nothing they could act on."""
    reason = event.reason if isinstance(event.reason, ProgramRejectionReason) else None
    if event.registrant is None or reason not in REJECTION_REASONS:
        return None
    language = event.registrant.language
    return _email(
        "registration_rejected", event.message_id, event.request_id, event.correlation(),
        event.registrant, title=event.program_title, reason=pick(REJECTION_REASONS[reason],
                                                                 language),
    )  # fmt: skip


def offered_email(event: RegistrationOffered, links: Links) -> Email:
    language = event.registrant.language
    deadline = event.expires_at.astimezone(TOKYO)
    return _email(
        "registration_offered", event.message_id, event.registration_id, event.correlation(),
        event.registrant, title=event.program_title, frame=pick(FRAMES[event.frame], language),
        party=event.party_size, deadline=f"{deadline:%Y-%m-%d %H:%M}",
        sessions=session_lines(event.sessions, event.frame, language),
        offer_url=links.offer(event.registration_id, event.offer_token),
        cancel_url=links.cancel(event.registration_id, event.cancel_token),
    )  # fmt: skip


def ended_email(event: RegistrationCancelled | RegistrationOfferExpired, title: str) -> Email:
    expired = isinstance(event, RegistrationOfferExpired)
    return _email("registration_ended", event.message_id, event.registration_id,
                  event.correlation(), event.registrant, title=title,
                  expired=expired)  # fmt: skip


def notice_emails(
    event: SessionChanged | SessionCancelled | ProgramCancelled, links: Links
) -> list[Email]:
    """A change or cancellation, to everyone registered for what changed; a registration that
    goes on (a session moved, one of several cancelled) with its cancel link."""
    out = []
    for registrant in event.registrants:
        language = registrant.language
        context: dict[str, Any] = {
            "cancelled": not isinstance(event, SessionChanged),
            "whole_program": isinstance(event, ProgramCancelled),
        }
        goes_on = not isinstance(event, ProgramCancelled)
        token, rid = registrant.cancel_token, registrant.registration_id
        context["cancel_url"] = links.cancel(rid, token) if goes_on and token and rid else ""
        if isinstance(event, ProgramCancelled):
            context |= {"title": event.title, "session": "", "reason": event.reason}
        else:
            number = f"第{event.number}回" if language is Language.JA else f"Session {event.number}"
            context |= {
                "title": event.program_title,
                "session": number,
                "reason": getattr(event, "reason", ""),
            }
        if isinstance(event, SessionChanged):
            venue = event.venue_name or pick(VENUES[event.venue], language)
            context["when"] = f"{when(event.starts_at, event.ends_at, language)}  {venue}"
        else:
            context["when"] = ""
        about = registrant.registration_id or event.program_id
        out.append(_email("program_notice", event.message_id, about, event.correlation(),
                          registrant, **context))  # fmt: skip
    return out


# --- reminders ---------------------------------------------------------------------------------


def reminder_key(registration_id: UUID | str, session_id: UUID | str) -> str:
    return f"{registration_id}:{session_id}"


def reminder_payloads(
    event: RegistrationConfirmed | RegistrationPromoted, links: Links
) -> list[tuple[str, datetime, dict[str, object]]]:
    """(job key, session start, payload) of each session's reminder: what the job needs when it
    fires, so it depends on nothing else."""
    found = []
    for s in event.sessions:
        payload: dict[str, object] = {
            "name": event.registrant.name, "email": str(event.registrant.email),
            "language": event.registrant.language.value, "title": event.program_title,
            "frame": event.frame.value, "session": s.model_dump(mode="json"),
            "code": event.check_in_code,
            "cancel_url": links.cancel(event.registration_id, event.cancel_token),
            "registration_id": str(event.registration_id),
            "correlation_id": str(event.correlation()),
        }  # fmt: skip
        found.append((reminder_key(event.registration_id, s.session_id), s.starts_at, payload))
    return found


def reminder_email(payload: dict[str, Any]) -> Email:
    language = Language(payload["language"])
    frame = Frame(payload["frame"])
    session = HeldSession.model_validate(payload["session"])
    registrant = Registrant.model_construct(name=payload["name"], email=payload["email"],
                                            language=language)  # fmt: skip
    registration_id = UUID(payload["registration_id"])
    source = uuid5(registration_id, str(session.session_id))  # one reminder per session
    return _email(
        "registration_reminder", source, registration_id,
        UUID(payload["correlation_id"]), registrant, title=payload["title"],
        frame=pick(FRAMES[frame], language), sessions=session_lines([session], frame, language),
        code=payload["code"], cancel_url=payload["cancel_url"],
    )  # fmt: skip
