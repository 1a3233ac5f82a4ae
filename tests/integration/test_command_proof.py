"""On the real stack, as the outsider of the issue tried it: a command proves who sent it, or it
is refused and audited; the channel and the acting organisation are the proven sender's."""

from __future__ import annotations

from uuid import uuid4

import asyncpg
import pytest

from clients.kiosk.client import BookingClient
from contracts.booking import (
    Channel,
    OrganisationCommandRejected,
    RejectionReason,
    ReservationRejected,
    SpaceId,
    SuspendOrganisation,
)
from contracts.identity import Role
from tests.identity_support import organisation_token, staff_token
from tests.support import DAYS, System, at, credentials, register, reservation

pytestmark = pytest.mark.stack

ANSWER_WITHIN_S = 30


async def audited(system: System, message_id: object) -> list[tuple[str, str]]:
    conn = await asyncpg.connect(system.dsn("booking"))
    try:
        rows = await conn.fetch(
            "SELECT principal, outcome FROM audit_log WHERE message_id = $1", message_id
        )
    finally:
        await conn.close()
    return [(r["principal"], r["outcome"]) for r in rows]


def client_with(system: System, token: str | None) -> BookingClient:
    """A client sending as the kiosk principal with `token` as every command's proof."""
    return BookingClient(system.stack.kafka_bootstrap, sender=credentials("kiosk"),
                         reader=credentials("admin"), proof=lambda _: token)  # fmt: skip


async def test_a_staff_command_without_proof_is_refused_and_audited(
    system: System, client: BookingClient
) -> None:
    org = await register(client)
    suspend = SuspendOrganisation(message_id=uuid4(), organisation_id=org, reason="確認中")
    async with client_with(system, None) as anonymous:
        answer = await anonymous.request(suspend, ANSWER_WITHIN_S)
    assert isinstance(answer, OrganisationCommandRejected)
    assert answer.reason is RejectionReason.UNAUTHORIZED
    assert await audited(system, suspend.message_id) == [("anonymous", "unauthorized")]


async def test_a_staff_channel_written_by_an_organisation_books_nothing_unregistered(
    system: System,
) -> None:
    """The outsider's first finding: `channel: staff` for an unregistered organisation was
    confirmed. Now the channel is the proven sender's: an organisation's token makes it `web`,
    and an unregistered organisation is refused."""
    stranger = uuid4()
    day = DAYS.next()
    cmd = reservation(stranger, SpaceId.A, at(day, 10), at(day, 11)).model_copy(
        update={"channel": Channel.STAFF}
    )
    async with client_with(system, organisation_token(stranger)) as forger:
        answer = await forger.request(cmd, ANSWER_WITHIN_S)
    assert isinstance(answer, ReservationRejected)
    assert answer.reason is RejectionReason.NOT_REGISTERED


async def test_reception_may_not_suspend_but_a_coordinator_may(
    system: System, client: BookingClient
) -> None:
    org = await register(client)
    suspend = SuspendOrganisation(message_id=uuid4(), organisation_id=org, reason="確認中")
    async with client_with(system, staff_token(Role.RECEPTION, subject="desk-1")) as desk:
        refused = await desk.request(suspend, ANSWER_WITHIN_S)
    assert isinstance(refused, OrganisationCommandRejected)
    assert refused.reason is RejectionReason.FORBIDDEN
    again = suspend.model_copy(update={"message_id": uuid4()})
    async with client_with(system, staff_token(Role.COORDINATOR, subject="coord-1")) as coord:
        done = await coord.request(again, ANSWER_WITHIN_S)
    assert done is not None and done.type == "organisation.suspended"
    assert await audited(system, again.message_id) == [("staff:coord-1", "done")]
