"""Notify's acknowledgement of a consultation and its reminder of an expert consultation: the
reference number, the time and the center's contact, in the requester's language, capped per
address, asked for by the consultation service alone (tests/harness.py)."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import uuid4

import pytest

from contracts.consultation import ExpertKind
from contracts.identity import Role
from contracts.notify import (
    AcknowledgementRejected,
    Language,
    RequestAcknowledgement,
    RequestExpertReminder,
)
from services.notify.handlers import ACKNOWLEDGE_MAX_PER_DAY
from tests.harness import ServiceHarness
from tests.identity_support import service_token, staff_token

pytestmark = pytest.mark.middle


def acknowledgement(email: str, language: Language = Language.JA) -> RequestAcknowledgement:
    return RequestAcknowledgement(message_id=uuid4(), reference="C2024-0042", email=email,
                                  language=language)  # fmt: skip


async def test_the_acknowledgement_carries_the_reference_and_the_centers_contact(
    notify: ServiceHarness,
) -> None:
    for address, language in (("ja@example.org", Language.JA), ("en@example.org", Language.EN)):
        assert await notify.send(acknowledgement(address, language)) == []
    rows = {
        r["recipient"]: r
        for r in await notify.pool.fetch(
            "SELECT recipient, subject, body_text, kind FROM deliveries ORDER BY id"
        )
    }
    assert "C2024-0042" in rows["ja@example.org"]["subject"]
    assert "受付番号は C2024-0042" in rows["ja@example.org"]["body_text"]
    assert "9:00-20:00" in rows["ja@example.org"]["body_text"]
    assert "Your reference number is C2024-0042" in rows["en@example.org"]["body_text"]
    assert {r["kind"] for r in rows.values()} == {"consultation_acknowledgement"}


async def test_an_address_gets_a_few_acknowledgements_a_day_at_most(
    notify: ServiceHarness,
) -> None:
    for _ in range(ACKNOWLEDGE_MAX_PER_DAY + 3):
        await notify.send(acknowledgement("flood@example.org"))
    queued = await notify.pool.fetchval(
        "SELECT count(*) FROM deliveries WHERE recipient = 'flood@example.org'"
    )
    assert queued == ACKNOWLEDGE_MAX_PER_DAY


async def test_an_address_the_center_cannot_write_to_is_answered(notify: ServiceHarness) -> None:
    answer = await notify.request(acknowledgement("ｙａｍａｄａ@example.org"))
    assert isinstance(answer, AcknowledgementRejected)


@pytest.mark.parametrize("sender", ["nobody", "staff", "another service"])
async def test_only_the_consultation_service_may_ask_for_an_acknowledgement(
    notify: ServiceHarness, sender: str
) -> None:
    proof = {"nobody": None, "staff": staff_token(Role.RECEPTION),
             "another service": service_token("events")}[sender]  # fmt: skip
    answer = await notify.request(acknowledgement("someone@example.org"), token=proof)
    assert isinstance(answer, AcknowledgementRejected)
    assert answer.reason in ("unauthorized", "forbidden")
    assert await notify.pool.fetchval("SELECT count(*) FROM deliveries") == 0


def expert_reminder(email: str, language: Language) -> RequestExpertReminder:
    return RequestExpertReminder(
        message_id=uuid4(), reference="C2024-0042", email=email, language=language,
        expert=ExpertKind.LABOUR, starts_at=datetime(2024, 6, 14, 4, 0, tzinfo=UTC),
        ends_at=datetime(2024, 6, 14, 4, 45, tzinfo=UTC),
    )  # fmt: skip


async def test_the_expert_reminder_tells_when_with_whom_and_the_reference_alone(
    notify: ServiceHarness,
) -> None:
    for address, language in (("ja@example.org", Language.JA), ("en@example.org", Language.EN)):
        assert await notify.send(expert_reminder(address, language)) == []
    rows = {
        r["recipient"]: r
        for r in await notify.pool.fetch(
            "SELECT recipient, subject, body_text, kind FROM deliveries"
        )
    }
    ja, en = rows["ja@example.org"], rows["en@example.org"]
    assert "C2024-0042" in ja["subject"] and "専門相談（労務）" in ja["body_text"]
    assert "2024-06-14(金) 13:00-13:45" in ja["body_text"]  # Tokyo time
    assert "(labour)" in en["body_text"] and "13:00-13:45" in en["body_text"]
    assert {r["kind"] for r in rows.values()} == {"expert_reminder"}


async def test_only_the_consultation_service_may_ask_for_an_expert_reminder(
    notify: ServiceHarness,
) -> None:
    await notify.send(expert_reminder("x@example.org", Language.JA),
                      token=staff_token(Role.COORDINATOR))  # fmt: skip
    assert await notify.pool.fetchval("SELECT count(*) FROM deliveries") == 0
