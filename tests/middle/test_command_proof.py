"""A command proves who sent it (a token in its `authorization` header) and the service checks
what that sender may do before acting; the channel and the acting organisation come from the
proof, never from the command's body; refusals are answered, audited and answered again the
same on a retry."""

from __future__ import annotations

from datetime import timedelta
from uuid import uuid4

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from contracts.booking import (
    Channel,
    OrganisationCommandRejected,
    OrganisationRegistered,
    OrganisationSuspended,
    RejectionReason,
    ReservationConfirmed,
    ReservationRejected,
    SpaceId,
    SuspendOrganisation,
)
from contracts.envelope import header_fields
from contracts.identity import PrincipalKind, Role
from contracts.notify import (
    CommandRejectionReason,
    NewsletterRejected,
    PublishNewsletter,
    RequestSubscription,
)
from services.runtime.identity import Signer
from tests import identity_support as ids
from tests.harness import RawRecord, ServiceHarness, proven_headers
from tests.support import DAYS, at, register_command, reservation, service_now

pytestmark = pytest.mark.middle


async def registered(booking: ServiceHarness) -> OrganisationRegistered:
    answer = await booking.request(register_command())
    assert isinstance(answer, OrganisationRegistered)
    return answer


def tomorrow_request(organisation_id: object, **changes: object):  # type: ignore[no-untyped-def]
    day = (service_now() + timedelta(days=1)).date()
    cmd = reservation(organisation_id, SpaceId.A, at(day, 10), at(day, 12))  # type: ignore[arg-type]
    return cmd.model_copy(update=changes)


async def audit_rows(booking: ServiceHarness) -> list[tuple[str, str, str]]:
    rows = await booking.pool.fetch("SELECT principal, action, outcome FROM audit_log ORDER BY id")
    return [(r["principal"], r["action"], r["outcome"]) for r in rows]


async def test_a_command_without_proof_is_refused_audited_and_answered_the_same_again(
    booking: ServiceHarness,
) -> None:
    org = await registered(booking)
    cmd = tomorrow_request(org.organisation_id)
    first = await booking.request(cmd, token=None)
    assert isinstance(first, ReservationRejected)
    assert first.reason is RejectionReason.UNAUTHORIZED
    again = await booking.request(cmd, token=None)
    assert again.message_id == first.message_id  # the same answer, not a second decision
    assert ("anonymous", "reservation.requested", "unauthorized") in await audit_rows(booking)


async def test_a_token_signed_by_an_unknown_key_proves_nothing(booking: ServiceHarness) -> None:
    forger = Signer("identity", Ed25519PrivateKey.generate())
    forged = forger.issue(PrincipalKind.STAFF, "mallory", roles=[Role.ADMINISTRATOR])
    answer = await booking.request(register_command(), token=forged)
    assert isinstance(answer, OrganisationCommandRejected)
    assert answer.reason is RejectionReason.UNAUTHORIZED


async def test_an_expired_token_proves_nothing(booking: ServiceHarness) -> None:
    old = ids.token(PrincipalKind.STAFF, "s-1", [Role.RECEPTION],
                    now=service_now().replace(year=2020))  # fmt: skip
    answer = await booking.request(register_command(), token=old)
    assert isinstance(answer, OrganisationCommandRejected)
    assert answer.reason is RejectionReason.UNAUTHORIZED


async def test_a_channel_written_in_the_command_is_not_believed(booking: ServiceHarness) -> None:
    org = await registered(booking)
    cmd = tomorrow_request(org.organisation_id, channel=Channel.STAFF)
    answer = await booking.request(cmd, token=ids.organisation_token(org.organisation_id))
    assert isinstance(answer, ReservationConfirmed)
    assert answer.reservation.channel is Channel.WEB
    assert answer.actor is not None and answer.actor.kind is PrincipalKind.ORGANISATION


async def test_an_organisation_cannot_book_in_anothers_name(booking: ServiceHarness) -> None:
    victim = await registered(booking)
    intruder = await registered(booking)
    cmd = tomorrow_request(victim.organisation_id)
    answer = await booking.request(cmd, token=ids.organisation_token(intruder.organisation_id))
    assert isinstance(answer, ReservationRejected)
    assert answer.reason is RejectionReason.FORBIDDEN


@pytest.mark.parametrize(
    "token",
    [
        pytest.param(lambda: ids.kiosk_token(), id="kiosk"),
        pytest.param(lambda: ids.staff_token(Role.RECEPTION), id="reception"),
        pytest.param(lambda: ids.staff_token(Role.AUDITOR), id="auditor"),
        pytest.param(lambda: ids.organisation_token(uuid4()), id="organisation"),
    ],
)
async def test_only_coordinators_suspend_an_organisation(
    booking: ServiceHarness, token: object
) -> None:
    org = await registered(booking)
    cmd = SuspendOrganisation(message_id=uuid4(), organisation_id=org.organisation_id,
                              reason="規約違反の確認中")  # fmt: skip
    answer = await booking.request(cmd, token=token())  # type: ignore[operator]
    assert isinstance(answer, OrganisationCommandRejected)
    assert answer.reason is RejectionReason.FORBIDDEN


async def test_a_coordinators_suspension_records_who_did_it(booking: ServiceHarness) -> None:
    org = await registered(booking)
    cmd = SuspendOrganisation(message_id=uuid4(), organisation_id=org.organisation_id,
                              reason="規約違反の確認中")  # fmt: skip
    token = ids.staff_token(Role.COORDINATOR, subject="sato", name="佐藤")
    answer = await booking.request(cmd, token=token)
    assert isinstance(answer, OrganisationSuspended)
    assert answer.actor is not None and answer.actor.subject == "sato"
    assert ("staff:sato", "organisation.suspend", "done") in await audit_rows(booking)


async def test_two_authorization_headers_prove_nothing(booking: ServiceHarness) -> None:
    cmd = register_command()
    headers = [(k, v.encode()) for k, v in proven_headers(cmd).items()]
    headers.append(("authorization", headers[-1][1]))
    (row,) = await booking.deliver(booking.topic_of(cmd), RawRecord(
        cmd.model_dump_json().encode(), cmd.partition_key().encode(), headers))  # fmt: skip
    answer = row.message()
    assert isinstance(answer, OrganisationCommandRejected)
    assert answer.reason is RejectionReason.UNAUTHORIZED


async def test_only_newsletter_editors_publish(notify: ServiceHarness) -> None:
    cmd = PublishNewsletter(message_id=uuid4(), subject="12月号", body_markdown="# こんにちは")
    answer = await notify.request(cmd, token=ids.staff_token(Role.RECEPTION))
    assert isinstance(answer, NewsletterRejected)
    assert answer.reason is CommandRejectionReason.FORBIDDEN
    anonymous = await notify.request(cmd.model_copy(update={"message_id": uuid4()}), token=None)
    assert isinstance(anonymous, NewsletterRejected)
    assert anonymous.reason is CommandRejectionReason.UNAUTHORIZED


# --- answers over HTTP, to their sender alone -----------------------------------------------


async def test_the_sender_fetches_its_answer_over_http_and_no_one_else(
    booking: ServiceHarness,
) -> None:
    org = await registered(booking)
    own = ids.organisation_token(org.organisation_id)
    cmd = tomorrow_request(org.organisation_id)
    sent = await booking.request(cmd, token=own)
    path = f"/answers/{cmd.message_id}"
    mine = await booking.http.get(path, headers=ids.http_headers(own))
    assert mine.status_code == 200
    assert [a["message_id"] for a in mine.json()["answers"]] == [str(sent.message_id)]
    other = ids.organisation_token((await registered(booking)).organisation_id)
    assert (await booking.http.get(path, headers=ids.http_headers(other))).status_code == 404
    assert (await booking.http.get(path)).status_code == 401
    bad = await booking.http.get(path, headers={"Authorization": "Bearer not.a.token"})
    assert bad.status_code == 401


async def test_an_answer_not_there_yet_is_404_after_the_wait(booking: ServiceHarness) -> None:
    token = ids.staff_token(Role.RECEPTION)
    answer = await booking.http.get(f"/answers/{uuid4()}?wait=0.1",
                                    headers=ids.http_headers(token))  # fmt: skip
    assert answer.status_code == 404
    too_long = await booking.http.get(f"/answers/{uuid4()}?wait=99",
                                      headers=ids.http_headers(token))  # fmt: skip
    assert too_long.status_code == 400


async def test_a_batch_of_requests_decided_together_keeps_each_senders_proof(
    booking: ServiceHarness,
) -> None:
    """Requests decided as one run still each prove their sender: one made in another's name and
    one without proof are refused in their places, the others booked with the web channel."""
    own, other = await registered(booking), await registered(booking)
    day = DAYS.next()
    mine = [reservation(own.organisation_id, SpaceId.B, at(day, h), at(day, h + 1))
            for h in (9, 10, 11, 13, 14, 15)]  # fmt: skip
    theirs = ids.organisation_token(own.organisation_id)
    forger = ids.organisation_token(other.organisation_id)
    # a run of three with the forged one inside it, a refusal ending it, a run of two
    tokens = [theirs, forger, theirs, None, theirs, theirs]
    records = [
        RawRecord(cmd.model_dump_json().encode(), b"b",
                  [(k, v.encode()) for k, v in {**header_fields(cmd),
                                                 **ids.kafka_headers(token)}.items()])
        for cmd, token in zip(mine, tokens, strict=True)
    ]  # fmt: skip
    rows = await booking.deliver(booking.topic_of(mine[0]), *records)
    answers = {getattr(m, "request_id", None): m for m in (row.message() for row in rows)}
    outcomes = [answers[cmd.message_id] for cmd in mine]
    assert [type(o).__name__ for o in outcomes] == [
        "ReservationConfirmed", "ReservationRejected", "ReservationConfirmed",
        "ReservationRejected", "ReservationConfirmed", "ReservationConfirmed",
    ]  # fmt: skip
    assert outcomes[1].reason is RejectionReason.FORBIDDEN  # type: ignore[attr-defined]
    assert outcomes[3].reason is RejectionReason.UNAUTHORIZED  # type: ignore[attr-defined]
    assert all(o.reservation.channel is Channel.WEB  # type: ignore[attr-defined]
               for o in outcomes if isinstance(o, ReservationConfirmed))  # fmt: skip


async def test_a_request_handled_without_an_answer_event_says_so_over_http(
    notify: ServiceHarness,
) -> None:
    """A subscription request is answered by e-mail, not by an event: its sender learns that
    it was handled (200, no answers) rather than waiting for an answer that never comes."""
    token = ids.token(PrincipalKind.CITIZEN, "hanako@example.org")
    cmd = RequestSubscription(message_id=uuid4(), email="hanako@example.org")
    assert await notify.send(cmd, token=token) == []
    got = await notify.http.get(f"/answers/{cmd.message_id}", headers=ids.http_headers(token))
    assert got.status_code == 200 and got.json()["answers"] == []


async def test_the_kiosk_books_the_same_day_but_no_other(booking: ServiceHarness) -> None:
    """Same-day booking at the Lab's kiosk (DOMAIN.md): the device's request for later today
    is decided, one for tomorrow refused."""
    org = await registered(booking)
    now = service_now()
    today, tomorrow = now.date(), now.date() + timedelta(days=1)
    later = max(now.hour + 2, 13)
    same_day = reservation(org.organisation_id, SpaceId.B, at(today, later), at(today, later + 1))
    answer = await booking.request(same_day, token=ids.kiosk_token())
    assert isinstance(answer, ReservationConfirmed)
    assert answer.reservation.channel is Channel.KIOSK
    next_day = reservation(org.organisation_id, SpaceId.B, at(tomorrow, 13), at(tomorrow, 14))
    refused = await booking.request(next_day, token=ids.kiosk_token())
    assert isinstance(refused, ReservationRejected)
    assert refused.reason is RejectionReason.FORBIDDEN
