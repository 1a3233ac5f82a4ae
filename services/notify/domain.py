"""What the notify service writes: pure functions from an event to an e-mail, no I/O.

Every e-mail is Japanese first with an English line, names the center and how to reach it
(DOMAIN.md, "Information and notifications"). Times are shown in Asia/Tokyo. Templates are plain
text, so autoescaping is off here; HTML parts (newsletter) get their own escaping environment.

Every value of an enum an e-mail shows (space, rejection reason, who cancelled, kind of
organisation, language) has its Japanese and English text in a table here; a unit test walks each
enum, so a new value cannot reach an e-mail without words for it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timedelta
from enum import StrEnum
from pathlib import Path
from uuid import UUID
from zoneinfo import ZoneInfo

from email_validator import EmailNotValidError, validate_email
from jinja2 import Environment, FileSystemLoader, StrictUndefined

from contracts.booking import (
    Channel,
    OrganisationKind,
    OrganisationRegistered,
    RejectionReason,
    ReservationCancelled,
    ReservationConfirmed,
    ReservationRejected,
    SpaceId,
)
from contracts.consultation import ExpertKind
from contracts.notify import Language

TOKYO = ZoneInfo("Asia/Tokyo")
WEEKDAYS_JA = "月火水木金土日"

SPACE_NAMES: dict[SpaceId, tuple[str, str]] = {
    SpaceId.LAB: ("協働ラボ ミーティングスペース", "the Collaboration Lab meeting space"),
    SpaceId.A: ("スペースA", "Space A"),
    SpaceId.B: ("スペースB", "Space B"),
    SpaceId.AB: ("スペースA+B", "Space A+B"),
}

REASONS: dict[RejectionReason, tuple[str, str]] = {
    RejectionReason.CONFLICT: (
        "その時間帯は既に予約が入っています。",
        "the space is already booked for part of that time.",
    ),
    RejectionReason.CLOSED: (
        "開館時間外、または休館日です（平日 9:00-20:00、土日祝 9:00-17:00）。",
        "the center is closed then (weekdays 9:00-20:00, weekends and holidays 9:00-17:00).",
    ),
    RejectionReason.NOT_REGISTERED: (
        "団体登録が確認できません。受付で団体登録をお願いします。",
        "we could not find a valid registration of your organisation; please register at the "
        "reception.",
    ),
    RejectionReason.CAPACITY: (
        "定員を超えています。",
        "the number of people is more than the space holds.",
    ),
    RejectionReason.INVALID: (
        "ご依頼の内容に不備があります。",
        "the request was incomplete or not valid.",
    ),
    RejectionReason.OUT_OF_WINDOW: (
        "予約を受け付けている期間の外です（過去の日時、または受付期間より先の日時）。",
        "the time is in the past or beyond the period we take bookings for.",
    ),
    RejectionReason.TOO_LATE: (
        "夜間利用の申込締切を過ぎています。",
        "the deadline for booking that evening has passed.",
    ),
    RejectionReason.QUOTA: (
        "同時に保有できる予約の上限に達しています。",
        "your organisation already holds as many future reservations as it may.",
    ),
    RejectionReason.NOT_FOUND: (
        "該当する予約または団体が見つかりません（終了済みを含みます）。",
        "we could not find that reservation or organisation (or it has already ended).",
    ),
    RejectionReason.NOT_OWNER: (
        "この予約は別の団体のものです。",
        "the reservation belongs to another organisation.",
    ),
    RejectionReason.ID_REUSED: (
        "同じ受付番号で別の内容のご依頼が既に届いています。お手数ですが、改めてお申し込みください。",
        "the request's number was already used for a different request; please ask again.",
    ),
    RejectionReason.UNAUTHORIZED: (
        "ご本人確認ができませんでした。もう一度サインインしてからお申し込みください。",
        "we could not confirm who sent the request; please sign in again and retry.",
    ),
    RejectionReason.FORBIDDEN: (
        "この操作を行う権限がありません。",
        "the request was made by someone not permitted to make it.",
    ),
}

CANCELLED_BY: dict[Channel, tuple[str, str]] = {
    Channel.WEB: (
        "貴団体のお申し出により（ウェブサイト）",
        "at your organisation's request (web site)",
    ),
    Channel.KIOSK: (
        "貴団体のお申し出により（受付キオスク）",
        "at your organisation's request (kiosk)",
    ),
    Channel.STAFF: ("センター職員により", "by the center's staff"),
    Channel.EVENTS: (
        "センター主催事業の変更により",
        "because a program of the center changed",
    ),
}

ORGANISATION_KINDS: dict[OrganisationKind, tuple[str, str]] = {
    OrganisationKind.NPO: ("NPO法人", "non-profit organisation (NPO)"),
    OrganisationKind.CITIZEN_GROUP: ("市民活動団体", "citizen group"),
    OrganisationKind.NEIGHBOURHOOD_ASSOCIATION: ("自治会・町内会", "neighbourhood association"),
    OrganisationKind.COMPANY: ("企業", "company"),
    OrganisationKind.UNIVERSITY: ("大学・教育機関", "university or school"),
    OrganisationKind.PUBLIC_BODY: ("行政機関", "public body"),
    OrganisationKind.OTHER: ("その他", "other"),
}

_templates = Environment(
    loader=FileSystemLoader(Path(__file__).parent / "templates"),
    autoescape=False,  # plain-text mail: escaping would corrupt names such as "Tom & Jerry"
    undefined=StrictUndefined,
    keep_trailing_newline=True,
)


@dataclass(frozen=True)
class Email:
    """One e-mail to queue.

    `source_id` is the message that asked for it (with kind and recipient, what makes a
    redelivered event queue it once); `about_id` is what it is about (the reservation, the
    requested reservation, the organisation, the subscription, the issue): the key of its
    outcome on `notify.events`, so the outcomes of one thing stay in order. `correlation_id`
    is the flow of the message that caused it, carried on to those outcomes. `qr_text`, when
    given, goes with the mail as a QR code image (the text says the same in words).
    """

    kind: str
    source_id: UUID
    about_id: UUID
    correlation_id: UUID
    recipient: str
    subject: str
    body: str
    language: Language = Language.JA
    qr_text: str | None = None  # shown as a QR code image beside the text (a check-in code)


def tokyo_period(starts_at: datetime, ends_at: datetime) -> str:
    start, end = starts_at.astimezone(TOKYO), ends_at.astimezone(TOKYO)
    return f"{start:%Y-%m-%d}({WEEKDAYS_JA[start.weekday()]}) {start:%H:%M}-{end:%H:%M}"


def _render(template: str, **context: object) -> str:
    return _templates.get_template(f"{template}.txt").render(**context)


def organisation_registered_email(event: OrganisationRegistered) -> Email:
    kind_ja, kind_en = ORGANISATION_KINDS[event.kind]
    return Email(
        kind="organisation_registered",
        source_id=event.message_id,
        about_id=event.organisation_id,
        correlation_id=event.correlation(),
        recipient=contact_address(str(event.contact.email)),
        subject="【市民協働推進センター】団体登録完了 / Organisation registered",
        body=_render(
            "organisation_registered",
            contact_name=event.contact.name,
            organisation_name=event.name,
            organisation_id=event.organisation_id,
            kind_ja=kind_ja,
            kind_en=kind_en,
        ),
    )


def _about_a_reservation(
    kind: str,
    subject: str,
    event: ReservationConfirmed | ReservationCancelled,
    **context: object,
) -> Email | None:
    """An e-mail to the organisation's contact about one of its reservations; None when no
    contact is known (nobody to write to)."""
    if event.contact is None:
        return None
    r = event.reservation
    space_ja, space_en = SPACE_NAMES[r.space]
    return Email(
        kind=kind,
        source_id=event.message_id,
        about_id=event.reservation_id,
        correlation_id=event.correlation(),
        recipient=contact_address(str(event.contact.email)),
        subject=subject,
        body=_render(
            kind,
            contact_name=event.contact.name,
            space_ja=space_ja,
            space_en=space_en,
            atrium=r.atrium,
            when=tokyo_period(r.starts_at, r.ends_at),
            reservation_id=event.reservation_id,
            **context,
        ),
    )


def reservation_confirmed_email(event: ReservationConfirmed) -> Email | None:
    return _about_a_reservation(
        "reservation_confirmed",
        "【市民協働推進センター】予約確定 / Reservation confirmed",
        event,
        attendees=event.reservation.attendees,
    )


def reservation_cancelled_email(event: ReservationCancelled) -> Email | None:
    """Tells the organisation's contact that a reservation is cancelled, and whether the
    organisation itself (web, kiosk) or the center's staff cancelled it."""
    by_ja, by_en = CANCELLED_BY[event.cancelled_by]
    return _about_a_reservation(
        "reservation_cancelled",
        "【市民協働推進センター】予約キャンセル / Reservation cancelled",
        event,
        by_staff=event.cancelled_by is Channel.STAFF,
        cancelled_by_ja=by_ja,
        cancelled_by_en=by_en,
    )


def reservation_rejected_email(event: ReservationRejected) -> Email | None:
    """The refusal, with the reason in both languages. Its `about_id` is the request's id: no
    reservation exists, and the request is what the organisation knows it by."""
    if event.contact is None or event.space is None:
        return None  # nobody to write to (unknown organisation), or a request never read
    if event.starts_at is None or event.ends_at is None:
        return None
    space_ja, space_en = SPACE_NAMES[event.space]
    reason_ja, reason_en = REASONS[event.reason]
    return Email(
        kind="reservation_rejected",
        source_id=event.message_id,
        about_id=event.request_id,
        correlation_id=event.correlation(),
        recipient=contact_address(str(event.contact.email)),
        subject="【市民協働推進センター】予約不可 / Reservation not accepted",
        body=_render(
            "reservation_rejected",
            contact_name=event.contact.name,
            space_ja=space_ja,
            space_en=space_en,
            when=tokyo_period(event.starts_at, event.ends_at),
            reason_ja=reason_ja,
            reason_en=reason_en,
            detail=event.detail,
        ),
    )


# --- messages by kind and language -------------------------------------------------------------
# A message kind is a template per language, `<kind>.<language>.txt`: its first line is the
# subject, the rest the body. Adding a kind is adding its two templates and a small handler.


def compose(kind: str, language: Language, **context: object) -> tuple[str, str]:
    """(subject, body) of a message kind in one language."""
    text = _templates.get_template(f"{kind}.{language}.txt").render(**context)
    subject, _, body = text.partition("\n")
    return subject.strip(), body


def compose_bilingual(kind: str, **context: object) -> tuple[str, str]:
    """Japanese first, then English, for recipients whose language we do not know (organisations
    registered at the counter): the center's default, and readable by everyone else."""
    subject_ja, body_ja = compose(kind, Language.JA, **context)
    subject_en, body_en = compose(kind, Language.EN, **context)
    return f"{subject_ja} / {subject_en}", f"{body_ja}\n{body_en}"


# --- addresses ---------------------------------------------------------------------------------


class AddressRefused(ValueError):
    """An address the center cannot write to. `str()` is a readable English reason for the
    person who typed it, `reason_ja` a Japanese one; neither repeats the address, though the
    English one may quote a character of it, so log the type, never the text."""

    def __init__(self, reason_en: str, reason_ja: str) -> None:
        super().__init__(reason_en)
        self.reason_en = reason_en
        self.reason_ja = reason_ja


def _non_ascii_local_part() -> AddressRefused:
    return AddressRefused(
        "The part of the e-mail address before the @ may contain only ASCII letters, digits and "
        "the symbols !#$%&'*+-/=?^_`{|}~. ; the center's mail server cannot deliver to addresses "
        "with other characters there. Please use another address.",
        "メールアドレスの @ より前には半角英数字と記号のみ使用できます。センターのメールサーバーは"
        "それ以外の文字を含むアドレスには配信できません。別のアドレスをご利用ください。",
    )


LOCAL_PART_MAX = 64  # RFC 5321, 4.5.3.1.1


def ascii_address(address: str) -> str:
    """The address as every SMTP server accepts it, or AddressRefused.

    The center accepts what plain SMTP can carry (DOMAIN.md, "Information and notifications"):
    the local part must be ASCII, because delivering `山田@example.org` needs SMTPUTF8 from every
    server on the way, which is not given; such an address is refused with a reason instead of
    failing later. A domain in another script (`user@例え.jp`) names the same mailbox in its
    ASCII form (`user@xn--r8jz45g.jp`), so it is converted, not refused. The local part keeps its
    case; the domain is lower case. No DNS lookup: an unknown domain bounces like any other.
    """
    text = address.strip()
    local, at, _ = text.rpartition("@")
    if at and not local.isascii():
        raise _non_ascii_local_part()
    try:
        checked = validate_email(text, allow_smtputf8=False, check_deliverability=False)
    except EmailNotValidError as exc:
        raise AddressRefused(
            f"This is not a valid e-mail address: {exc}",
            "メールアドレスの形式が正しくありません。",
        ) from None
    if len(checked.local_part) > LOCAL_PART_MAX:
        raise AddressRefused(
            f"The part before the @ is longer than {LOCAL_PART_MAX} characters, which mail"
            " servers do not accept.",
            f"@より前の部分が{LOCAL_PART_MAX}文字を超えています。",
        )
    return f"{checked.local_part}@{checked.ascii_domain}"


def subscriber_address(address: str) -> str:
    """What a subscription is stored under: the ASCII form, lower case, so one mailbox is one
    subscriber (the local part is case-insensitive at every provider our subscribers use).
    AddressRefused when the center cannot write to it. The one rule for every way in (the HTTP
    form, `subscription.requested` on Kafka, an organisation's consent)."""
    return ascii_address(address).lower()


def contact_address(address: str) -> str:
    """Where to send an e-mail about an organisation's business: its contact in ASCII form when
    there is one; otherwise the address as given, and the sender records the delivery as failed
    (with a `notification.failed`), since booking has accepted the address and the e-mail is owed
    to someone."""
    try:
        return ascii_address(address)
    except AddressRefused:
        return address.strip()


# --- subscriptions -----------------------------------------------------------------------------


class SubscriptionOutcome(StrEnum):
    """What became of a subscription request. The HTTP answer is the same for all of them (it
    reveals nothing about an address), but logs, metrics and tests tell them apart."""

    CONFIRMATION_QUEUED = "confirmation_queued"
    ALREADY_ACTIVE = "already_active"  # nothing to confirm
    CONFIRMATION_PENDING = "confirmation_pending"  # the link sent before still works: no new one
    LIMITED = "limited"  # CONFIRM_MAX_PER_DAY confirmations went to the address in 24 hours
    REFUSED = "refused"  # an address the center cannot write to (see subscriber_address)


def subscription_confirm_email(
    source_id: UUID,
    subscription_id: UUID,
    correlation_id: UUID,
    recipient: str,
    language: Language,
    confirm_url: str,
    valid_hours: int,
) -> Email:
    subject, body = compose(
        "subscription_confirm", language, confirm_url=confirm_url, valid_hours=valid_hours
    )
    return Email(
        "subscription_confirm", source_id, subscription_id, correlation_id,
        recipient, subject, body, language,
    )  # fmt: skip


def consultation_acknowledgement_email(
    source_id: UUID, correlation_id: UUID, recipient: str, language: Language, reference: str
) -> Email:
    """The desk's acknowledgement of a consultation: its reference number and the center's
    contact, nothing of what the requester wrote (the consultation service keeps that)."""
    subject, body = compose("consultation_acknowledgement", language, reference=reference)
    return Email(
        "consultation_acknowledgement", source_id, source_id, correlation_id,
        recipient, subject, body, language,
    )  # fmt: skip


EXPERT_NAMES: dict[ExpertKind, tuple[str, str]] = {
    ExpertKind.ACCOUNTING: ("会計", "accounting"),
    ExpertKind.TAX: ("税務", "tax"),
    ExpertKind.LABOUR: ("労務", "labour"),
    ExpertKind.LEGAL: ("法律", "legal"),
    ExpertKind.FUNDRAISING: ("資金調達", "fundraising"),
    ExpertKind.OTHER: ("専門家", "an expert"),
}


def expert_reminder_email(
    source_id: UUID,
    correlation_id: UUID,
    recipient: str,
    language: Language,
    reference: str,
    expert: ExpertKind,
    starts_at: datetime,
    ends_at: datetime,
) -> Email:
    """The day before an expert consultation: when, with which kind of expert, the reference
    number and the center's contact; nothing of what the case is about."""
    name_ja, name_en = EXPERT_NAMES[expert]
    subject, body = compose(
        "expert_reminder", language, reference=reference,
        expert=name_ja if language is Language.JA else name_en,
        when=tokyo_period(starts_at, ends_at),
    )  # fmt: skip
    return Email(
        "expert_reminder", source_id, source_id, correlation_id,
        recipient, subject, body, language,
    )  # fmt: skip


# --- reminders ---------------------------------------------------------------------------------

QUIET_FROM = time(21, 0)
QUIET_UNTIL = time(8, 0)


def outside_quiet_hours(at: datetime) -> datetime:
    """No reminder between 21:00 and 8:00 in Tokyo: one due then is deferred to 8:00."""
    local = at.astimezone(TOKYO)
    if local.time() >= QUIET_FROM:
        next_day = local.date() + timedelta(days=1)
        return datetime.combine(next_day, QUIET_UNTIL, TOKYO)
    if local.time() < QUIET_UNTIL:
        return datetime.combine(local.date(), QUIET_UNTIL, TOKYO)
    return at


def reminder_due(starts_at: datetime, confirmed_at: datetime, hour: int) -> datetime | None:
    """When to remind of a reservation: the day before it, at `hour` Tokyo time, never in quiet
    hours. None when that moment has already passed at confirmation (the confirmation e-mail,
    just sent, is the reminder) or would fall after the start."""
    day_before = starts_at.astimezone(TOKYO).date() - timedelta(days=1)
    due = outside_quiet_hours(datetime.combine(day_before, time(hour % 24), TOKYO))
    if due <= confirmed_at or due >= starts_at:
        return None
    return due


def reminder_payload(event: ReservationConfirmed) -> dict[str, object] | None:
    """What the reminder job needs at firing time, so it does not depend on other tables."""
    if event.contact is None:
        return None
    r = event.reservation
    return {
        "contact_name": event.contact.name,
        "email": str(event.contact.email),
        "space": r.space.value,
        "atrium": r.atrium,
        "starts_at": r.starts_at.isoformat(),
        "ends_at": r.ends_at.isoformat(),
        "attendees": r.attendees,
        "reservation_id": str(event.reservation_id),
        "correlation_id": str(event.correlation()),
    }


def reservation_reminder_email(payload: dict[str, object]) -> Email:
    space_ja, space_en = SPACE_NAMES[SpaceId(str(payload["space"]))]
    starts = datetime.fromisoformat(str(payload["starts_at"]))
    ends = datetime.fromisoformat(str(payload["ends_at"]))
    subject, body = compose_bilingual(
        "reservation_reminder",
        contact_name=payload["contact_name"],
        space_ja=space_ja,
        space_en=space_en,
        atrium=bool(payload["atrium"]),
        when=tokyo_period(starts, ends),
        attendees=payload["attendees"],
        reservation_id=payload["reservation_id"],
    )
    reservation_id = UUID(str(payload["reservation_id"]))
    # reminders scheduled before correlation ids were kept continue the reservation's own flow
    correlation = UUID(str(payload.get("correlation_id") or reservation_id))
    return Email(
        "reservation_reminder", reservation_id, reservation_id, correlation,
        contact_address(str(payload["email"])), subject, body,
    )  # fmt: skip


# --- newsletter progress -----------------------------------------------------------------------


def open_rate(sent: int, opened: int) -> float:
    """Opened / sent, the figure the center aims to keep at 20% or more; 0 before any is sent."""
    return opened / sent if sent else 0.0


def seconds_left(remaining: int, sent_last_10s: int) -> float | None:
    """Estimated time to finish at the pace of the last ten seconds; None while nothing moves
    (not started yet, or paused by retries) and 0 when done."""
    if remaining == 0:
        return 0.0
    if sent_last_10s == 0:
        return None
    return remaining / (sent_last_10s / 10.0)
