"""What the notify service writes: pure functions from an event to an e-mail, no I/O.

Every e-mail is Japanese first with an English line, names the center and how to reach it
(DOMAIN.md, "Information and notifications"). Times are shown in Asia/Tokyo. Templates are plain
text, so autoescaping is off here; HTML parts (newsletter) get their own escaping environment.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from uuid import UUID
from zoneinfo import ZoneInfo

from jinja2 import Environment, FileSystemLoader, StrictUndefined

from contracts.booking import (
    OrganisationRegistered,
    RejectionReason,
    ReservationConfirmed,
    ReservationRejected,
    SpaceId,
)

TOKYO = ZoneInfo("Asia/Tokyo")
WEEKDAYS_JA = "月火水木金土日"

SPACE_NAMES: dict[SpaceId, tuple[str, str]] = {
    SpaceId.LAB: ("協働ラボ ミーティングスペース", "the Collaboration Lab meeting space"),
    SpaceId.A: ("スペースA", "Space A"),
    SpaceId.B: ("スペースB", "Space B"),
    SpaceId.AB: ("スペースA+B", "Space A+B"),
}

REASONS_JA: dict[RejectionReason, str] = {
    RejectionReason.CONFLICT: "その時間帯は既に予約が入っています。",
    RejectionReason.CLOSED: "開館時間外、または休館日です（平日 9:00-20:00、土日祝 9:00-17:00）。",
    RejectionReason.NOT_REGISTERED: "団体登録が確認できません。受付で団体登録をお願いします。",
    RejectionReason.CAPACITY: "定員を超えています。",
    RejectionReason.INVALID: "ご依頼の内容に不備があります。",
}

_templates = Environment(
    loader=FileSystemLoader(Path(__file__).parent / "templates"),
    autoescape=False,  # plain-text mail: escaping would corrupt names such as "Tom & Jerry"
    undefined=StrictUndefined,
    keep_trailing_newline=True,
)


@dataclass(frozen=True)
class Email:
    kind: str
    source_id: UUID
    recipient: str
    subject: str
    body: str


def tokyo_period(starts_at: datetime, ends_at: datetime) -> str:
    start, end = starts_at.astimezone(TOKYO), ends_at.astimezone(TOKYO)
    return f"{start:%Y-%m-%d}({WEEKDAYS_JA[start.weekday()]}) {start:%H:%M}-{end:%H:%M}"


def _render(template: str, **context: object) -> str:
    return _templates.get_template(f"{template}.txt").render(**context)


def organisation_registered_email(event: OrganisationRegistered) -> Email:
    return Email(
        kind="organisation_registered",
        source_id=event.message_id,
        recipient=str(event.contact.email),
        subject="【市民協働推進センター】団体登録完了 / Organisation registered",
        body=_render(
            "organisation_registered",
            contact_name=event.contact.name,
            organisation_name=event.name,
            organisation_id=event.organisation_id,
        ),
    )


def reservation_confirmed_email(event: ReservationConfirmed) -> Email | None:
    if event.contact is None:
        return None
    r = event.reservation
    space_ja, space_en = SPACE_NAMES[r.space]
    return Email(
        kind="reservation_confirmed",
        source_id=event.message_id,
        recipient=str(event.contact.email),
        subject="【市民協働推進センター】予約確定 / Reservation confirmed",
        body=_render(
            "reservation_confirmed",
            contact_name=event.contact.name,
            space_ja=space_ja,
            space_en=space_en,
            atrium=r.atrium,
            when=tokyo_period(r.starts_at, r.ends_at),
            attendees=r.attendees,
            reservation_id=event.reservation_id,
        ),
    )


def reservation_rejected_email(event: ReservationRejected) -> Email | None:
    if event.contact is None:
        return None  # nobody to write to: the organisation is unknown
    space_ja, space_en = SPACE_NAMES[event.space]
    return Email(
        kind="reservation_rejected",
        source_id=event.message_id,
        recipient=str(event.contact.email),
        subject="【市民協働推進センター】予約不可 / Reservation not accepted",
        body=_render(
            "reservation_rejected",
            contact_name=event.contact.name,
            space_ja=space_ja,
            space_en=space_en,
            when=tokyo_period(event.starts_at, event.ends_at),
            reason_ja=REASONS_JA[event.reason],
            detail=event.detail,
        ),
    )
