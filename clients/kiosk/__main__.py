"""The command line of the reception desk and the Lab kiosk.

Every command is sent with the caller's proof of identity, a short-lived token (`--token`, or
the CENTER_TOKEN environment variable): a staff member's, an organisation's or the kiosk
device's. What the command may do, and the channel it is recorded under, follow from that token.
On a development machine `python -m deploy.local token staff reception` prints one. The answer
is fetched from the booking service over HTTP (`--answers-url`, BOOKING_URL), for this caller
only: the kiosk never reads the events topic, which carries every organisation's contacts.

Kafka: commands are sent as the kiosk's own principal (KAFKA_USERNAME/KAFKA_PASSWORD; with
DEVELOPMENT=1 by default `kiosk` and its development password), which may write
booking.commands and nothing else.

    python -m clients.kiosk register --name 港北みどりの会 --kind citizen_group \
        --contact-name "山田 花子" --email hanako@example.org
    python -m clients.kiosk book --org ORG_ID --space ab \
        --from 2030-01-07T10:00 --to 2030-01-07T12:00
    python -m clients.kiosk cancel --reservation RESERVATION_ID
    python -m clients.kiosk check-in --org ORG_ID --people 3     # prints the usage slip number
    python -m clients.kiosk check-out --slip 20300107-012

Times without an offset are Asia/Tokyo. To retry a command safely, pass the `--message-id` printed
by the first try: the service answers it again with the same outcome and never acts twice.
Exit status: 0 done (confirmed, registered, cancelled, checked in or out), 1 refused, 2 bad input,
3 still pending at the timeout, 4 refused by Kafka (login or permission).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from datetime import datetime
from uuid import UUID
from zoneinfo import ZoneInfo

from aiokafka.errors import KafkaError
from pydantic import ValidationError

from clients.commands import AnswerRefused
from clients.kiosk.client import BookingClient, Outcome
from contracts.booking import BookingCommandT as Command
from contracts.booking import (
    CancelReservation,
    LabCheckedIn,
    LabCheckedOut,
    LabCheckIn,
    LabCheckInRejected,
    LabCheckOut,
    LabCheckOutRejected,
    OrganisationKind,
    OrganisationRegistered,
    RegisterOrganisation,
    RequestReservation,
    ReservationCancelled,
    ReservationCancelRejected,
    ReservationConfirmed,
    ReservationRejected,
    SpaceId,
)
from contracts.envelope import new_message_id
from services.runtime.kafka_auth import credentials_from_env
from services.runtime.secrets import SecretError

TOKYO = ZoneInfo("Asia/Tokyo")


def tokyo_time(text: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"not a date and time like 2030-01-07T10:00: {text!r}"
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=TOKYO)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m clients.kiosk", description="Center kiosk")
    p.add_argument("--bootstrap", default=os.environ.get("KAFKA_BOOTSTRAP", "127.0.0.1:19092"))
    p.add_argument("--timeout", type=float, default=15.0, help="seconds to wait for the outcome")
    p.add_argument("--message-id", type=UUID, help="repeat an earlier command (safe retry)")
    p.add_argument("--token", default=os.environ.get("CENTER_TOKEN", ""),
                   help="the caller's proof of identity (default: $CENTER_TOKEN)")  # fmt: skip
    p.add_argument("--answers-url", default=os.environ.get("BOOKING_URL", "http://127.0.0.1:8081"),
                   help="the booking service, where the answer is fetched")  # fmt: skip
    sub = p.add_subparsers(dest="command", required=True)

    reg = sub.add_parser("register", help="register an organisation")
    reg.add_argument("--name", required=True)
    reg.add_argument("--kind", choices=[k.value for k in OrganisationKind], default="npo")
    reg.add_argument("--contact-name", required=True)
    reg.add_argument("--email", required=True)
    reg.add_argument("--newsletter", action="store_true", help="consents to the newsletter")

    book = sub.add_parser("book", help="book a space")
    book.add_argument("--org", type=UUID, required=True, help="organisation id")
    book.add_argument("--space", choices=[s.value for s in SpaceId], required=True)
    book.add_argument("--from", dest="starts_at", type=tokyo_time, required=True)
    book.add_argument("--to", dest="ends_at", type=tokyo_time, required=True)
    book.add_argument("--attendees", type=int, default=1)
    book.add_argument("--purpose", default="")
    book.add_argument("--atrium", action="store_true", help="combine with the atrium (needs ab)")

    cancel = sub.add_parser("cancel", help="cancel a reservation")
    cancel.add_argument("--reservation", type=UUID, required=True, help="reservation id")
    cancel.add_argument("--org", type=UUID, help="the organisation that made it (for the record)")
    cancel.add_argument("--reason", default="")

    check_in = sub.add_parser("check-in", help="check people into the Collaboration Lab")
    check_in.add_argument("--org", type=UUID, required=True, help="organisation id")
    check_in.add_argument("--people", type=int, default=1)

    check_out = sub.add_parser("check-out", help="end a Lab visit")
    check_out.add_argument("--slip", required=True, help="usage slip number, e.g. 20300107-012")
    return p


KIOSK_PRINCIPAL = "kiosk"


def build_command(args: argparse.Namespace) -> Command:
    message_id = args.message_id or new_message_id()
    if args.command == "register":
        return RegisterOrganisation(
            message_id=message_id,
            name=args.name,
            kind=OrganisationKind(args.kind),
            contact_name=args.contact_name,
            contact_email=args.email,
            newsletter_consent=args.newsletter,
        )
    if args.command == "cancel":
        return CancelReservation(
            message_id=message_id,
            reservation_id=args.reservation,
            organisation_id=args.org,
            reason=args.reason,
        )
    if args.command == "check-in":
        return LabCheckIn(message_id=message_id, organisation_id=args.org, people=args.people)
    if args.command == "check-out":
        return LabCheckOut(message_id=message_id, slip_number=args.slip)
    return RequestReservation(
        message_id=message_id,
        organisation_id=args.org,
        space=SpaceId(args.space),
        starts_at=args.starts_at,
        ends_at=args.ends_at,
        attendees=args.attendees,
        purpose=args.purpose,
        atrium=args.atrium,
    )


def describe(outcome: Outcome) -> tuple[str, int]:
    if isinstance(outcome, OrganisationRegistered):
        return f"registered: organisation_id={outcome.organisation_id}", 0
    if isinstance(outcome, ReservationConfirmed):
        r = outcome.reservation
        start, end = r.starts_at.astimezone(TOKYO), r.ends_at.astimezone(TOKYO)
        return (
            f"confirmed: reservation_id={outcome.reservation_id} space={r.space.value}"
            f" {start:%Y-%m-%d %H:%M}-{end:%H:%M}",
            0,
        )
    if isinstance(outcome, ReservationCancelled):
        return f"cancelled: reservation_id={outcome.reservation_id}", 0
    if isinstance(outcome, LabCheckedIn):
        return f"checked in: slip={outcome.slip_number} people={outcome.people}", 0
    if isinstance(outcome, LabCheckedOut):
        return f"checked out: slip={outcome.slip_number} people={outcome.people}", 0
    if isinstance(
        outcome,
        ReservationRejected | ReservationCancelRejected | LabCheckInRejected | LabCheckOutRejected,
    ):
        return f"rejected: reason={outcome.reason.value} detail={outcome.detail}", 1
    return f"{outcome.type}: {outcome.model_dump_json()}", 0


async def main(argv: list[str]) -> int:
    args = parser().parse_args(argv)
    try:
        cmd = build_command(args)
    except ValidationError as exc:
        for err in exc.errors(include_url=False, include_input=False):
            print(f"invalid {'.'.join(map(str, err['loc']))}: {err['msg']}", file=sys.stderr)
        return 2
    except ValueError as exc:
        print(f"invalid: {exc}", file=sys.stderr)
        return 2
    if not args.token:
        print("invalid: no --token (or CENTER_TOKEN): every command proves who sends it",
              file=sys.stderr)  # fmt: skip
        return 2
    token: str = args.token
    print(f"message_id={cmd.message_id}")
    try:
        sender = credentials_from_env(KIOSK_PRINCIPAL)
    except SecretError as exc:
        print(f"kafka: {exc}", file=sys.stderr)
        return 2
    try:
        async with BookingClient(args.bootstrap, sender=sender, proof=lambda _: token,
                                 answers_url=args.answers_url) as client:  # fmt: skip
            outcome = await client.request(cmd, args.timeout)
    except KafkaError as exc:  # a refused login or topic: say which, never a traceback
        print(f"kafka refused the kiosk: {type(exc).__name__} {exc}", file=sys.stderr)
        return 4
    except AnswerRefused as exc:  # e.g. an expired or mistyped token: the service says why
        print(f"refused: the booking service would not show the answer: {exc}", file=sys.stderr)
        return 1
    if outcome is None:
        print(
            f"pending: no answer within {args.timeout:.0f}s; retry with --message-id"
            f" {cmd.message_id} (it will not be done twice)"
        )
        return 3
    text, status = describe(outcome)
    print(text)
    return status


if __name__ == "__main__":
    sys.exit(asyncio.run(main(sys.argv[1:])))
