"""The consultation service on its consumer path and its HTTP routes, on a real PostgreSQL
(tests/harness.py): intake, every step of a case, need to know and the read audit, the
schedule's alerts and erasure, and the fiscal year's table."""

from __future__ import annotations

import asyncio
import csv
import io
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

import asyncpg
import httpx
import pytest

from contracts.consultation import (
    AssignCase,
    CaseAssigned,
    CaseClassified,
    CaseClosed,
    CaseOutcome,
    CaseReceived,
    CaseReferred,
    CaseRejected,
    CaseReopened,
    ClassifyCase,
    CloseCase,
    EndReferral,
    ExpertKind,
    FirstResponseOverdue,
    HearingStarted,
    InquiryLogged,
    IntakeChannel,
    LogInquiry,
    OpenFollowUp,
    ReferCase,
    ReferralEnded,
    ReferralOutcome,
    ReferralTarget,
    RejectionReason,
    ReopenCase,
    StartHearing,
    StartWork,
    TopicCode,
    WorkStarted,
)
from contracts.envelope import Message
from contracts.identity import Role
from contracts.notify import RequestAcknowledgement, RequestExpertReminder
from services.consultation import app as consultation_app
from services.consultation import jobs, resealing, store
from services.consultation.access import CaseField
from services.consultation.sealing import DEV_KEY, DEV_KEY_ID, SealError, SealingKeys
from services.consultation.settings import ConsultationSettings
from tests.harness import ServiceHarness
from tests.identity_support import http_headers, staff_token
from tests.support import open_weekday

pytestmark = pytest.mark.middle

RECEPTION = CHIEF = ASSIGNEE = OTHER = ADMIN = AUDITOR = ""


@pytest.fixture(autouse=True)
def staff_tokens() -> None:
    """The desk's tokens, minted for each test: a token lives five minutes, and a whole run
    reaches this module longer than that after importing it."""
    global RECEPTION, CHIEF, ASSIGNEE, OTHER, ADMIN, AUDITOR
    RECEPTION = staff_token(Role.RECEPTION, subject="uketsuke")
    CHIEF = staff_token(Role.CHIEF_COORDINATOR, subject="chief")
    ASSIGNEE = staff_token(Role.COORDINATOR, subject="tanaka")
    OTHER = staff_token(Role.COORDINATOR, subject="suzuki")
    ADMIN = staff_token(Role.ADMINISTRATOR, subject="admin")
    AUDITOR = staff_token(Role.AUDITOR, subject="kansa")


FORM = {
    "kind": "activity",
    "topics": ["founding", "accounting"],
    "name": "山田 花子",
    "email": "hanako@example.org",
    "phone": "045-000-0000",
    "organisation": "起立性調節障害の子の親の会",
    "narrative": "子どもの体調のことで会を立ち上げたい。会費の扱いを知りたい。",
    "language": "ja",
}


async def intake(consultation: ServiceHarness, **changes: Any) -> tuple[UUID, str]:
    before = await consultation.last_row_id()
    response = await consultation.http.post("/intake", json={**FORM, **changes})
    assert response.status_code == 201, response.text
    reference = response.json()["reference"]
    (received,) = [m for m in await outbox_after(consultation, before)
                   if isinstance(m, CaseReceived)]  # fmt: skip
    return received.case_id, reference


async def outbox_after(harness: ServiceHarness, after: int) -> list[Message]:
    return [row.message() for row in await harness.rows(after=after) if not row.dead_letter]


async def step(consultation: ServiceHarness, command: Message, bearer: str) -> Message:
    return await consultation.request(command, token=bearer)


async def get(
    consultation: ServiceHarness, path: str, bearer: str, **params: Any
) -> httpx.Response:
    return await consultation.http.get(path, headers=http_headers(bearer), params=params)


async def assigned_case(consultation: ServiceHarness) -> UUID:
    case_id, _ = await intake(consultation)
    await step(consultation, StartHearing(message_id=uuid4(), case_id=case_id), RECEPTION)
    answer = await step(consultation, AssignCase(message_id=uuid4(), case_id=case_id,
                                                 assignee="tanaka"), CHIEF)  # fmt: skip
    assert isinstance(answer, CaseAssigned), answer
    return case_id


# --- intake ------------------------------------------------------------------------------------


async def test_the_web_form_gives_a_reference_and_acknowledges_it_through_notify_alone(
    consultation: ServiceHarness,
) -> None:
    before = await consultation.last_row_id()
    response = await consultation.http.post("/intake", json=FORM)
    assert response.status_code == 201, response.text
    reference = response.json()["reference"]
    assert reference.startswith("C20")
    published = await outbox_after(consultation, before)
    received = next(m for m in published if isinstance(m, CaseReceived))
    assert received.channel is IntakeChannel.WEB and received.by is None
    assert received.reference == reference
    assert received.topics == [TopicCode.FOUNDING, TopicCode.ACCOUNTING]
    (ack,) = [m for m in published if isinstance(m, RequestAcknowledgement)]
    assert (ack.reference, str(ack.email)) == (reference, FORM["email"])
    for row in await consultation.rows(after=before):
        for secret in (FORM["name"], FORM["narrative"], FORM["organisation"], FORM["phone"]):
            assert secret.encode() not in row.value


async def test_content_is_stored_sealed_and_never_in_plain_text(
    consultation: ServiceHarness,
) -> None:
    case_id, _ = await intake(consultation)
    rows = await consultation.pool.fetch(
        "SELECT field, sealed FROM case_content WHERE case_id = $1", case_id
    )
    assert {r["field"] for r in rows} == {
        "requester_name", "requester_contact", "organisation_name", "narrative",
    }  # fmt: skip
    for row in rows:
        for secret in (FORM["name"], FORM["narrative"], FORM["organisation"], FORM["email"]):
            assert secret.encode() not in bytes(row["sealed"])


@pytest.mark.parametrize(
    "changes",
    [
        {"name": ""},
        {"name": "x" * 101},
        {"narrative": "x" * 4001},
        {"narrative": "制御\x00文字"},
        {"name": "二行\nの名前"},
        {"phone": "call me maybe"},
        {"email": "not-an-address"},
        {"topics": ["founding", "founding"]},
        {"topics": ["astrology"]},
        {"channel": "phone"},  # the public form has no channel to state
        {"surprise": "秘密の値"},
    ],
)
async def test_the_web_form_refuses_what_no_form_sends_and_quotes_none_of_it(
    consultation: ServiceHarness, changes: dict[str, Any]
) -> None:
    response = await consultation.http.post("/intake", json={**FORM, **changes})
    assert response.status_code == 400, response.text
    for value in changes.values():
        if isinstance(value, str) and len(value) > 3:
            assert value not in response.text


async def test_the_web_form_is_limited_per_client(
    consultation: ServiceHarness,
) -> None:
    answers = [(await consultation.http.post("/intake", json=FORM)).status_code for _ in range(8)]
    assert answers[:5] == [201] * 5 and 429 in answers[5:]


async def test_reception_enters_a_call_and_the_channel_is_theirs_to_state_but_never_web(
    consultation: ServiceHarness,
) -> None:
    headers = http_headers(RECEPTION)
    call = await consultation.http.post("/cases", json={**FORM, "channel": "phone"},
                                        headers=headers)  # fmt: skip
    assert call.status_code == 201, call.text
    web = await consultation.http.post("/cases", json={**FORM, "channel": "web"}, headers=headers)
    assert web.status_code == 400
    coordinator = await consultation.http.post("/cases", json={**FORM, "channel": "phone"},
                                               headers=http_headers(ASSIGNEE))  # fmt: skip
    assert coordinator.status_code == 403


# --- the steps ---------------------------------------------------------------------------------


async def test_a_case_goes_through_every_step_and_keeps_its_history(
    consultation: ServiceHarness,
) -> None:
    case_id, _ = await intake(consultation)
    referral = uuid4()
    steps: list[tuple[Message, str, type[Message]]] = [
        (StartHearing(message_id=uuid4(), case_id=case_id), RECEPTION, HearingStarted),
        (ClassifyCase(message_id=uuid4(), case_id=case_id, topics=[TopicCode.TAX]), RECEPTION,
         CaseClassified),
        (AssignCase(message_id=uuid4(), case_id=case_id, assignee="suzuki"), CHIEF, CaseAssigned),
        (AssignCase(message_id=uuid4(), case_id=case_id, assignee="tanaka"), CHIEF, CaseAssigned),
        (StartWork(message_id=uuid4(), case_id=case_id), ASSIGNEE, WorkStarted),
        (ReferCase(message_id=uuid4(), case_id=case_id, referral_id=referral,
                   target=ReferralTarget.TAX_ACCOUNTANT), ASSIGNEE, CaseReferred),
        (EndReferral(message_id=uuid4(), case_id=case_id, referral_id=referral,
                     outcome=ReferralOutcome.RESOLVED), ASSIGNEE, ReferralEnded),
        (CloseCase(message_id=uuid4(), case_id=case_id, outcome=CaseOutcome.RESOLVED), ASSIGNEE,
         CaseClosed),
        (ReopenCase(message_id=uuid4(), case_id=case_id), ASSIGNEE, CaseReopened),
        (CloseCase(message_id=uuid4(), case_id=case_id, outcome=CaseOutcome.HANDED_OVER), CHIEF,
         CaseClosed),
    ]  # fmt: skip
    for command, bearer, expected in steps:
        answer = await step(consultation, command, bearer)
        assert isinstance(answer, expected), (command.type, answer)  # type: ignore[attr-defined]
    reassigned = await consultation.pool.fetch(
        "SELECT assignee, by FROM case_assignments WHERE case_id = $1 ORDER BY id", case_id
    )
    assert [(r["assignee"], r["by"]) for r in reassigned] == [("suzuki", "chief"),
                                                             ("tanaka", "chief")]  # fmt: skip
    history = await consultation.pool.fetch(
        "SELECT step, state FROM case_steps WHERE case_id = $1 ORDER BY id", case_id
    )
    assert [r["state"] for r in history] == [
        "received", "hearing", "hearing", "assigned", "assigned", "in_progress", "referred",
        "in_progress", "closed", "in_progress", "closed",
    ]  # fmt: skip
    row = await consultation.pool.fetchrow("SELECT * FROM cases WHERE id = $1", case_id)
    assert (row["state"], row["outcome"], row["topics"]) == ("closed", "handed_over", ["tax"])
    closings = await consultation.pool.fetchval(
        "SELECT count(*) FROM case_closings WHERE case_id = $1", case_id
    )
    assert closings == 2


async def test_refused_steps_are_answered_with_stable_reasons(
    consultation: ServiceHarness,
) -> None:
    case_id, _ = await intake(consultation)
    refusals = [
        (AssignCase(message_id=uuid4(), case_id=case_id, assignee="tanaka"), ASSIGNEE,
         RejectionReason.NOT_CHIEF_COORDINATOR),
        (AssignCase(message_id=uuid4(), case_id=case_id, assignee="tanaka"), CHIEF,
         RejectionReason.WRONG_STATE),  # no hearing yet
        (StartHearing(message_id=uuid4(), case_id=uuid4()), RECEPTION,
         RejectionReason.NOT_FOUND),
        (StartHearing(message_id=uuid4(), case_id=case_id), ADMIN, RejectionReason.FORBIDDEN),
        (StartHearing(message_id=uuid4(), case_id=case_id), None, RejectionReason.UNAUTHORIZED),
    ]  # fmt: skip
    for command, bearer, reason in refusals:
        answer = await consultation.request(command, token=bearer)
        assert isinstance(answer, CaseRejected) and answer.reason is reason, (reason, answer)
    await step(consultation, StartHearing(message_id=uuid4(), case_id=case_id), RECEPTION)
    await step(consultation, AssignCase(message_id=uuid4(), case_id=case_id, assignee="tanaka"),
               CHIEF)  # fmt: skip
    answer = await step(consultation, StartWork(message_id=uuid4(), case_id=case_id), OTHER)
    assert isinstance(answer, CaseRejected) and answer.reason is RejectionReason.NOT_ASSIGNEE


async def test_a_follow_up_links_to_its_parent_and_stays_with_its_assignee(
    consultation: ServiceHarness,
) -> None:
    parent = await assigned_case(consultation)
    await step(consultation, CloseCase(message_id=uuid4(), case_id=parent,
                                       outcome=CaseOutcome.RESOLVED), ASSIGNEE)  # fmt: skip
    child = uuid4()
    answer = await step(consultation, OpenFollowUp(message_id=uuid4(), case_id=parent,
                                                   follow_up_case_id=child), ASSIGNEE)  # fmt: skip
    assert isinstance(answer, CaseReceived), answer
    assert (answer.case_id, answer.parent_case_id, answer.assignee) == (child, parent, "tanaka")
    assert answer.reference is not None
    view = await get(consultation, f"/cases/{child}", ASSIGNEE)
    assert view.status_code == 200 and view.json()["parent_case_id"] == str(parent)


async def test_an_inquiry_is_logged_and_never_counted_as_a_case(
    consultation: ServiceHarness,
) -> None:
    command = LogInquiry(message_id=uuid4(), channel=IntakeChannel.PHONE,
                         topics=[TopicCode.OTHER])  # fmt: skip
    answer = await step(consultation, command, RECEPTION)
    assert isinstance(answer, InquiryLogged) and answer.by == "uketsuke"
    assert await consultation.pool.fetchval("SELECT count(*) FROM cases") == 0


# --- need to know and the read audit ----------------------------------------------------------


async def reads_of(consultation: ServiceHarness, case_id: UUID) -> list[asyncpg.Record]:
    return await consultation.pool.fetch(
        "SELECT principal, action, fields, outcome FROM case_reads WHERE case_id = $1 ORDER BY id",
        case_id,
    )


async def test_an_unassigned_coordinator_gets_403_and_the_attempt_is_audited(
    consultation: ServiceHarness,
) -> None:
    case_id = await assigned_case(consultation)
    response = await get(consultation, f"/cases/{case_id}", OTHER)
    assert response.status_code == 403
    for secret in (FORM["name"], FORM["narrative"], "tanaka"):
        assert secret not in response.text
    (read,) = await reads_of(consultation, case_id)
    assert (read["principal"], read["outcome"], read["fields"]) == ("staff:suzuki", "refused", [])


async def test_the_assignee_and_the_chief_read_the_whole_case_and_each_read_is_audited(
    consultation: ServiceHarness,
) -> None:
    case_id = await assigned_case(consultation)
    note = await consultation.http.post(f"/cases/{case_id}/notes", json={"text": "会計の件"},
                                        headers=http_headers(ASSIGNEE))  # fmt: skip
    assert note.status_code == 201, note.text
    for bearer in (ASSIGNEE, CHIEF):
        response = await get(consultation, f"/cases/{case_id}", bearer)
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["narrative"] == FORM["narrative"]
        assert body["requester_contact"] == {"email": FORM["email"], "phone": FORM["phone"]}
        assert [n["text"] for n in body["notes"]] == ["会計の件"]
        assert body["assignments"][0]["assignee"] == "tanaka"
    reads = await reads_of(consultation, case_id)
    assert [(r["principal"], r["outcome"]) for r in reads] == [
        ("staff:tanaka", "shown"), ("staff:chief", "shown"),
    ]  # fmt: skip
    assert "narrative" in reads[0]["fields"] and "notes" in reads[0]["fields"]


async def test_reception_reads_intake_until_the_case_is_assigned_then_nothing(
    consultation: ServiceHarness,
) -> None:
    case_id, _ = await intake(consultation)
    before = await get(consultation, f"/cases/{case_id}", RECEPTION)
    assert before.status_code == 200
    assert before.json()["narrative"] == FORM["narrative"] and "notes" not in before.json()
    await step(consultation, StartHearing(message_id=uuid4(), case_id=case_id), RECEPTION)
    await step(consultation, AssignCase(message_id=uuid4(), case_id=case_id, assignee="tanaka"),
               CHIEF)  # fmt: skip
    after = await get(consultation, f"/cases/{case_id}", RECEPTION)
    assert after.status_code == 403


async def test_administrators_and_auditors_read_no_case_and_unknown_ids_tell_nothing(
    consultation: ServiceHarness,
) -> None:
    case_id = await assigned_case(consultation)
    for bearer in (ADMIN, AUDITOR, OTHER):
        existing = await get(consultation, f"/cases/{case_id}", bearer)
        missing = await get(consultation, f"/cases/{uuid4()}", bearer)
        assert existing.status_code == missing.status_code == 403
        assert existing.json() == missing.json()
    assert (await get(consultation, f"/cases/{uuid4()}", CHIEF)).status_code == 404


async def test_lists_and_counts_show_only_the_cases_the_caller_may_open(
    consultation: ServiceHarness,
) -> None:
    mine = await assigned_case(consultation)
    unassigned, _ = await intake(consultation)
    listed = {
        name: (await get(consultation, "/cases", bearer)).json()
        for name, bearer in [("assignee", ASSIGNEE), ("other", OTHER), ("reception", RECEPTION),
                             ("chief", CHIEF), ("admin", ADMIN)]
    }  # fmt: skip
    assert [c["case_id"] for c in listed["assignee"]["cases"]] == [str(mine)]
    assert listed["other"] == {"count": 0, "cases": []}
    assert listed["admin"] == {"count": 0, "cases": []}
    assert [c["case_id"] for c in listed["reception"]["cases"]] == [str(unassigned)]
    assert listed["chief"]["count"] == 2


async def test_the_read_audit_is_append_only(consultation: ServiceHarness) -> None:
    case_id = await assigned_case(consultation)
    await get(consultation, f"/cases/{case_id}", OTHER)
    for statement in ("UPDATE case_reads SET outcome = 'shown'", "DELETE FROM case_reads",
                      "TRUNCATE case_reads"):  # fmt: skip
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await consultation.pool.execute(statement)
    assert len(await reads_of(consultation, case_id)) == 1


async def test_the_chief_and_the_auditor_query_the_read_audit_and_nobody_else(
    consultation: ServiceHarness,
) -> None:
    case_id = await assigned_case(consultation)
    await get(consultation, f"/cases/{case_id}", OTHER)
    for bearer in (CHIEF, AUDITOR):
        response = await get(consultation, "/audit/reads", bearer, case_id=str(case_id))
        assert response.status_code == 200, response.text
        assert any(r["principal"] == "staff:suzuki" and r["outcome"] == "refused"
                   for r in response.json()["reads"])  # fmt: skip
        per_case = await get(consultation, f"/cases/{case_id}/audit", bearer)
        assert per_case.status_code == 200
    for bearer in (ASSIGNEE, RECEPTION, ADMIN):
        assert (await get(consultation, "/audit/reads", bearer)).status_code == 403
        assert (await get(consultation, f"/cases/{case_id}/audit", bearer)).status_code == 403


async def test_topics_are_set_over_http_by_who_works_the_case_until_closing(
    consultation: ServiceHarness,
) -> None:
    case_id = await assigned_case(consultation)
    put = consultation.http.put
    other = await put(f"/cases/{case_id}/topics", json={"topics": ["tax"]},
                      headers=http_headers(OTHER))  # fmt: skip
    assert other.status_code == 403
    before = await consultation.last_row_id()
    mine = await put(f"/cases/{case_id}/topics", json={"topics": ["tax", "labour"]},
                     headers=http_headers(ASSIGNEE))  # fmt: skip
    assert mine.status_code == 200 and mine.json() == {"topics": ["tax", "labour"]}
    (classified,) = await outbox_after(consultation, before)
    assert isinstance(classified, CaseClassified) and classified.by == "tanaka"
    await step(consultation, CloseCase(message_id=uuid4(), case_id=case_id,
                                       outcome=CaseOutcome.RESOLVED), ASSIGNEE)  # fmt: skip
    closed = await put(f"/cases/{case_id}/topics", json={"topics": ["tax"]},
                       headers=http_headers(ASSIGNEE))  # fmt: skip
    assert closed.status_code == 409


async def test_referral_details_are_sealed_and_shown_to_the_assignee(
    consultation: ServiceHarness,
) -> None:
    case_id = await assigned_case(consultation)
    await step(consultation, StartWork(message_id=uuid4(), case_id=case_id), ASSIGNEE)
    referral = uuid4()
    await step(consultation, ReferCase(message_id=uuid4(), case_id=case_id, referral_id=referral,
                                       target=ReferralTarget.LABOUR_CONSULTANT),
               ASSIGNEE)  # fmt: skip
    path = f"/cases/{case_id}/referrals/{referral}/details"
    response = await consultation.http.put(path, json={"details": "社労士の佐藤先生へ"},
                                           headers=http_headers(ASSIGNEE))  # fmt: skip
    assert response.status_code == 204, response.text
    sealed = await consultation.pool.fetchval("SELECT details FROM referrals WHERE id = $1",
                                              referral)  # fmt: skip
    assert "佐藤".encode() not in bytes(sealed)
    view = (await get(consultation, f"/cases/{case_id}", ASSIGNEE)).json()
    assert view["referrals"][0]["details"] == "社労士の佐藤先生へ"


# --- the schedule ------------------------------------------------------------------------------


async def make_due(consultation: ServiceHarness, kind: str) -> None:
    await consultation.pool.execute(
        "UPDATE scheduled_jobs SET due_at = now() - interval '1 second' WHERE kind = $1", kind
    )


async def test_a_case_without_a_first_response_in_time_raises_the_alert_once(
    consultation: ServiceHarness,
) -> None:
    waiting, _ = await intake(consultation)
    heard, _ = await intake(consultation)
    await step(consultation, StartHearing(message_id=uuid4(), case_id=heard), RECEPTION)
    await make_due(consultation, "case.first_response_due")
    published = await consultation.run_due_jobs()
    assert [(type(m), m.case_id) for m in published] == [  # type: ignore[attr-defined]
        (FirstResponseOverdue, waiting)
    ]
    assert await consultation.run_due_jobs() == []
    metrics = (await consultation.http.get("/metrics")).text
    assert "consultation_first_response_overdue_total 1.0" in metrics


async def test_retention_erases_personal_data_of_old_closed_cases_and_keeps_the_statistics(
    consultation: ServiceHarness, monkeypatch: pytest.MonkeyPatch
) -> None:
    old = await assigned_case(consultation)
    await consultation.http.post(f"/cases/{old}/notes", json={"text": "覚え書き"},
                                 headers=http_headers(ASSIGNEE))  # fmt: skip
    await step(consultation, CloseCase(message_id=uuid4(), case_id=old,
                                       outcome=CaseOutcome.RESOLVED), ASSIGNEE)  # fmt: skip
    still_open, _ = await intake(consultation)
    # five years and a day later, on a restarted service
    monkeypatch.setenv("CLOCK_SHIFT_S", str(timedelta(days=5 * 366 + 1).total_seconds()))
    later_spec = consultation_app.build_spec()
    async with consultation.instance(spec=later_spec) as later:
        await jobs.plan_sweep(later.pool, ConsultationSettings.from_env())
        await later.run_due_jobs()
        view = (await get(later, f"/cases/{old}", CHIEF)).json()
    assert view["erased"] is True
    assert "narrative" not in view and "requester_name" not in view and view["notes"] == []
    assert view["state"] == "closed" and view["topics"] == ["founding", "accounting"]
    left = await consultation.pool.fetchval(
        "SELECT count(*) FROM case_content WHERE case_id = $1", old
    )
    assert left == 0
    kept = await consultation.pool.fetchval(
        "SELECT count(*) FROM case_content WHERE case_id = $1", still_open
    )
    assert kept == 4


# --- the fiscal year's table ------------------------------------------------------------------

FY2020 = {
    TopicCode.COVID19: 153, TopicCode.FOUNDING: 41, TopicCode.INCORPORATION: 30,
    TopicCode.ACTIVITY: 60, TopicCode.ORGANISATION: 15, TopicCode.PR: 16,
    TopicCode.FUNDRAISING: 31, TopicCode.CORPORATE_ADMIN: 47, TopicCode.ACCOUNTING: 31,
    TopicCode.TAX: 24, TopicCode.LABOUR: 7, TopicCode.COLLABORATION: 29, TopicCode.OTHER: 131,
}  # fmt: skip


def fy2020_cases() -> list[list[str]]:
    """507 cases carrying the 615 labels of the center's FY2020 table: each case one label,
    then 108 of them a second one (never the same twice)."""
    labels = [code for code, count in FY2020.items() for _ in range(count)]
    cases = [[str(code)] for code in labels[:507]]
    for i, code in enumerate(labels[507:]):
        target = next(c for c in cases[i * 4 :] if str(code) not in c)
        target.append(str(code))
    return cases


async def seed_fy2020(pool: asyncpg.Pool) -> None:
    start = datetime(2020, 4, 1, 1, 0, tzinfo=UTC)  # 10:00 in Tokyo
    rows = [
        (uuid4(), f"C2020-{i + 1:04d}", "activity", "web" if i % 3 else "phone", "closed",
         topics, start + timedelta(days=(i * 330) // 507), "resolved")
        for i, topics in enumerate(fy2020_cases())
    ]  # fmt: skip
    await pool.executemany(
        "INSERT INTO cases (id, reference, kind, channel, state, topics, received_at, outcome)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        rows,
    )


async def test_the_fy2020_table_comes_back_over_http_as_json_and_csv(
    consultation: ServiceHarness,
) -> None:
    await seed_fy2020(consultation.pool)
    staff = staff_token(Role.PROGRAM_STAFF, subject="program")
    table = (await get(consultation, "/reports/topics", staff, fiscal_year=2020)).json()
    assert table["cases"]["total"] == 507 and table["labels"]["total"] == 615
    assert {code: line["total"] for code, line in table["topics"].items()} == {
        str(code): count for code, count in FY2020.items()
    }
    response = await get(consultation, "/reports/topics", staff, fiscal_year=2020, format="csv")
    assert response.headers["content-type"].startswith("text/csv")
    rows = {row["line"]: row for row in csv.DictReader(io.StringIO(response.text))}
    assert rows["cases"]["total"] == "507" and rows["topic:labour"]["total"] == "7"
    public = (await consultation.http.get("/reports/topics/public",
                                          params={"fiscal_year": 2020})).json()  # fmt: skip
    assert public["suppressed_below"] == 3 and public["cases"]["total"] == 507
    months = [v for line in public["topics"].values() for v in line["months"].values()]
    assert None in months and all(v is None or v == 0 or v >= 3 for v in months)
    assert (
        await consultation.http.get("/reports/topics", params={"fiscal_year": 2020})
    ).status_code == 401


async def test_a_key_rotation_reseals_every_stored_value_and_the_old_key_can_go(
    consultation: ServiceHarness,
) -> None:
    """Content, notes and referral details sealed with the development key are sealed again
    with a new one; afterwards the new key alone opens all of them, and a second run finds
    nothing left to do."""
    case_id = await assigned_case(consultation)
    await step(consultation, StartWork(message_id=uuid4(), case_id=case_id), ASSIGNEE)
    note = await consultation.http.post(f"/cases/{case_id}/notes", json={"text": "面談の記録"},
                                        headers=http_headers(ASSIGNEE))  # fmt: skip
    assert note.status_code == 201, note.text
    referral = uuid4()
    await step(consultation, ReferCase(message_id=uuid4(), case_id=case_id, referral_id=referral,
                                       target=ReferralTarget.TAX_ACCOUNTANT), ASSIGNEE)  # fmt: skip
    detail = await consultation.http.put(
        f"/cases/{case_id}/referrals/{referral}/details", json={"details": "税理士の田中先生へ"},
        headers=http_headers(ASSIGNEE),
    )  # fmt: skip
    assert detail.status_code == 204, detail.text

    old = SealingKeys(((DEV_KEY_ID, DEV_KEY),))
    new = SealingKeys((("k2026", bytes(range(100, 132))), (DEV_KEY_ID, DEV_KEY)))
    pool = consultation.pool
    assert await resealing.still_old(pool, new) >= 6  # the content fields, a note, a detail
    assert await resealing.reseal_all(pool, new, size=2) >= 6
    assert await resealing.still_old(pool, new) == 0
    assert await resealing.reseal_all(pool, new) == 0

    only_new = SealingKeys((("k2026", bytes(range(100, 132))),))
    async with pool.acquire() as conn:
        content = await store.read_content(conn, only_new, case_id, list(CaseField))
        assert content[CaseField.REQUESTER_NAME] == FORM["name"]
        assert content[CaseField.NARRATIVE] == FORM["narrative"]
        assert [n.text for n in await store.notes(conn, only_new, case_id)] == ["面談の記録"]
        details = await store.referral_details(conn, only_new, case_id)
        assert details == {referral: "税理士の田中先生へ"}
        with pytest.raises(SealError):
            await store.read_content(conn, old, case_id, [CaseField.NARRATIVE])


# --- search ------------------------------------------------------------------------------------


async def test_a_search_finds_words_only_in_cases_the_caller_may_open_and_audits_each_opened(
    consultation: ServiceHarness,
) -> None:
    """Two cases hold the same word: the assignee of one finds that one alone, another
    coordinator finds nothing and no count gives the other away; the chief finds both.
    Every case whose content a search opened is in the read audit as `search`."""
    mine = await assigned_case(consultation)
    theirs, _ = await intake(consultation, narrative="助成金の申請で困っています")
    await step(consultation, StartHearing(message_id=uuid4(), case_id=theirs), RECEPTION)
    await step(consultation, AssignCase(message_id=uuid4(), case_id=theirs, assignee="suzuki"),
               CHIEF)  # fmt: skip
    word = "会費"  # in FORM's narrative: both cases that kept it, not the changed one
    other, _ = await intake(consultation)  # unassigned: reception's

    def ids(answer: httpx.Response) -> set[str]:
        assert answer.status_code == 200, answer.text
        return {c["case_id"] for c in answer.json()["cases"]}

    assert ids(await get(consultation, "/cases/search", ASSIGNEE, q=word)) == {str(mine)}
    assert ids(await get(consultation, "/cases/search", OTHER, q=word)) == set()
    assert ids(await get(consultation, "/cases/search", OTHER, q="助成金")) == {str(theirs)}
    assert ids(await get(consultation, "/cases/search", CHIEF, q=word)) == {str(mine), str(other)}
    assert ids(await get(consultation, "/cases/search", RECEPTION, q=word)) == {str(other)}
    nobody = await get(consultation, "/cases/search", ADMIN, q=word)
    assert nobody.json() == {"count": 0, "cases": [], "scanned": 0, "more": False}
    assert FORM["narrative"] not in (await get(consultation, "/cases/search", CHIEF, q=word)).text

    searched = [r for r in await reads_of(consultation, mine) if r["action"] == "search"]
    assert {r["principal"] for r in searched} == {"staff:tanaka", "staff:chief"}
    assert all(r["outcome"] == "searched" and "narrative" in r["fields"] for r in searched)
    assert not [r for r in await reads_of(consultation, theirs)
                if r["action"] == "search" and r["principal"] == "staff:tanaka"]  # fmt: skip


async def test_a_search_by_reference_state_topic_and_dates_reads_no_content(
    consultation: ServiceHarness,
) -> None:
    mine = await assigned_case(consultation)
    reference = (await get(consultation, f"/cases/{mine}", ASSIGNEE)).json()["reference"]
    found = (await get(consultation, "/cases/search", CHIEF, reference=reference)).json()
    assert [c["case_id"] for c in found["cases"]] == [str(mine)] and found["scanned"] == 0
    today = datetime.now(UTC).date()
    assigned = await get(consultation, "/cases/search", CHIEF, state="assigned", topic="founding",
                         **{"from": (today - timedelta(days=2)).isoformat(),
                            "to": (today + timedelta(days=1)).isoformat()})  # fmt: skip
    assert str(mine) in {c["case_id"] for c in assigned.json()["cases"]}
    later = await get(consultation, "/cases/search", CHIEF,
                      **{"from": (today + timedelta(days=3)).isoformat()})  # fmt: skip
    assert later.json()["count"] == 0
    assert not [r for r in await reads_of(consultation, mine) if r["action"] == "search"]
    for bad in ({"reference": "C2024'; --"}, {"state": "nonsense"}, {"q": "x" * 201}):
        assert (await get(consultation, "/cases/search", CHIEF, **bad)).status_code == 400


# --- expert consultation days ------------------------------------------------------------------


async def expert_day(consultation: ServiceHarness) -> dict[str, Any]:
    """A day of an accountant, opened by a coordinator (the assignee of the cases here)."""
    day = open_weekday()
    answer = await consultation.http.post("/expert-days", headers=http_headers(ASSIGNEE), json={
        "expert": "accounting", "day": day.isoformat(),
        "slots": [{"start": "13:00", "end": "13:45"}, {"start": "14:00", "end": "14:45"}],
    })  # fmt: skip
    assert answer.status_code == 201, answer.text
    opened: dict[str, Any] = answer.json()
    return opened


async def book_slot(
    consultation: ServiceHarness, slot: str, case_id: UUID, bearer: str
) -> httpx.Response:
    return await consultation.http.put(
        f"/expert-slots/{slot}/booking", headers=http_headers(bearer),
        json={"case_id": str(case_id), "language": "en"},
    )  # fmt: skip


async def test_an_expert_slot_is_booked_once_and_reminds_the_requester_through_notify(
    consultation: ServiceHarness,
) -> None:
    day = await expert_day(consultation)
    first, second = (s["slot_id"] for s in day["slots"])
    mine = await assigned_case(consultation)
    booked = await book_slot(consultation, first, mine, ASSIGNEE)
    assert booked.status_code == 200, booked.text
    assert booked.json()["reminder_at"] is not None
    assert (await book_slot(consultation, second, mine, OTHER)).status_code == 403  # not theirs
    again = await book_slot(consultation, second, mine, ASSIGNEE)  # one slot a day for a case
    assert again.status_code == 409

    one, _ = await intake(consultation)
    other, _ = await intake(consultation)
    assert (await book_slot(consultation, first, one, CHIEF)).status_code == 409  # taken
    rivals = await asyncio.gather(book_slot(consultation, second, one, CHIEF),
                                  book_slot(consultation, second, other, CHIEF))  # fmt: skip
    assert sorted(r.status_code for r in rivals) == [200, 409]

    seen = {name: (await get(consultation, "/expert-days", bearer)).json()
            for name, bearer in (("assignee", ASSIGNEE), ("other", OTHER))}  # fmt: skip
    mine_seen = next(s for s in seen["assignee"][0]["slots"] if s["slot_id"] == first)
    assert mine_seen["booked"] and mine_seen["case_id"] == str(mine) and mine_seen["reference"]
    theirs_seen = next(s for s in seen["other"][0]["slots"] if s["slot_id"] == first)
    assert theirs_seen["booked"] and theirs_seen["case_id"] is None
    assert theirs_seen["reference"] is None

    await make_due(consultation, "expert_slot.remind")
    sent = [m for m in await consultation.run_due_jobs() if isinstance(m, RequestExpertReminder)]
    to_mine = [m for m in sent if m.reference == mine_seen["reference"]]
    assert len(to_mine) == 1 and to_mine[0].email == FORM["email"]
    assert to_mine[0].expert is ExpertKind.ACCOUNTING and to_mine[0].language == "en"
    assert await consultation.run_due_jobs() == []  # once


async def test_a_freed_slot_or_a_cancelled_day_sends_no_reminder(
    consultation: ServiceHarness,
) -> None:
    day = await expert_day(consultation)
    first, second = (s["slot_id"] for s in day["slots"])
    mine = await assigned_case(consultation)
    assert (await book_slot(consultation, first, mine, ASSIGNEE)).status_code == 200
    freed = await consultation.http.delete(f"/expert-slots/{first}/booking",
                                           headers=http_headers(ASSIGNEE))  # fmt: skip
    assert freed.status_code == 204
    assert (await book_slot(consultation, second, mine, ASSIGNEE)).status_code == 200
    cancelled = await consultation.http.post(f"/expert-days/{day['day_id']}/cancel",
                                             headers=http_headers(CHIEF))  # fmt: skip
    assert cancelled.status_code == 204
    assert (await book_slot(consultation, first, mine, ASSIGNEE)).status_code == 409
    await make_due(consultation, "expert_slot.remind")
    assert await consultation.run_due_jobs() == []


async def test_only_coordinators_open_expert_days_and_only_sound_slots(
    consultation: ServiceHarness,
) -> None:
    day = open_weekday().isoformat()

    async def open_with(bearer: str, slots: list[dict[str, str]]) -> int:
        answer = await consultation.http.post("/expert-days", headers=http_headers(bearer),
                                              json={"expert": "labour", "day": day,
                                                    "slots": slots})  # fmt: skip
        return answer.status_code

    sound = [{"start": "10:00", "end": "10:45"}]
    assert await open_with(RECEPTION, sound) == 403
    assert await open_with(ADMIN, sound) == 403
    assert await open_with(ASSIGNEE, [{"start": "10:00", "end": "11:00"},
                                      {"start": "10:30", "end": "11:30"}]) == 400  # fmt: skip
    assert await open_with(ASSIGNEE, [{"start": "07:00", "end": "08:00"}]) == 400
    assert await open_with(CHIEF, sound) == 201
