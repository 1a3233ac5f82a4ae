"""The consultation service on the real stack: a whole case from the web form to its closing
and the acknowledgement in the SMTP sink; a refused step; need to know (an unassigned
coordinator's 403, audited); the canary scan of every topic, log file and /metrics; the FY2020
table over HTTP; retention erasure across a restart. The rules behind each step are tested on
the middle level (tests/middle/test_consultation_flows.py) and as pure functions."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any
from uuid import UUID, uuid4

import asyncpg
import httpx
import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient

from contracts.consultation import (
    AssignCase,
    CaseOutcome,
    CaseRejected,
    ClassifyCase,
    CloseCase,
    EndReferral,
    OpenFollowUp,
    ReferCase,
    ReferralOutcome,
    ReferralTarget,
    RejectionReason,
    ReopenCase,
    StartHearing,
    StartWork,
    TopicCode,
    consultation_event_adapter,
)
from contracts.envelope import Message, header_fields
from contracts.identity import Role
from contracts.topics import CONSULTATION_COMMANDS, CONSULTATION_EVENTS, Topic
from tests.identity_support import http_headers, kafka_headers, staff_token
from tests.middle.test_consultation_flows import FY2020, seed_fy2020
from tests.support import (
    System,
    as_admin,
    client_address,
    login,
    open_weekday,
    topic_log,
    unique_email,
)

pytestmark = pytest.mark.stack

RECEPTION = ("uketsuke", Role.RECEPTION)
CHIEF = ("chief", Role.CHIEF_COORDINATOR)
ASSIGNEE = ("tanaka", Role.COORDINATOR)
OTHER = ("suzuki", Role.COORDINATOR)


def bearer(who: tuple[str, Role]) -> str:
    return staff_token(who[1], subject=who[0])


@pytest.fixture
async def http(system: System) -> AsyncIterator[httpx.AsyncClient]:
    port = system.by_name["consultation"].http_port
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
        yield client


@pytest.fixture
async def producer(system: System) -> AsyncIterator[AIOKafkaProducer]:
    """The staff screens' producer: the `web` client, each command with its sender's token."""
    p = AIOKafkaProducer(bootstrap_servers=system.stack.kafka_bootstrap, **login("web"))
    await p.start()
    yield p
    await p.stop()


async def answer_to(
    system: System, producer: AIOKafkaProducer, command: Message, who: tuple[str, Role]
) -> Any:
    """Send a command as `who` and await its answer on consultation.events."""
    headers = {**header_fields(command), **kafka_headers(bearer(who))}
    await producer.send_and_wait(
        CONSULTATION_COMMANDS.name, command.model_dump_json().encode(),
        key=command.partition_key().encode(),
        headers=[(k, v.encode()) for k, v in headers.items()],
    )  # fmt: skip
    log = topic_log(system.stack.kafka_bootstrap, CONSULTATION_EVENTS)

    def found() -> list[Any]:
        return [e for e in log.valid(consultation_event_adapter)
                if getattr(e, "request_id", None) == command.message_id]  # fmt: skip

    await log.read(until=lambda: bool(found()), timeout=30)
    (answer,) = found()
    return answer


async def intake(http: httpx.AsyncClient, **fields: Any) -> str:
    form = {"kind": "activity", "topics": ["founding"], "name": "山田 花子",
            "narrative": "会の立ち上げについて", **fields}  # fmt: skip
    # a client of its own (the form is limited per client, and the browser tests post it too)
    client = {"X-Forwarded-For": client_address()}
    response = await http.post("/intake", json=form, headers=client)
    assert response.status_code == 201, response.text
    reference: str = response.json()["reference"]
    return reference


async def case_id_of(system: System, reference: str) -> UUID:
    conn = await asyncpg.connect(system.dsn("consultation"))
    try:
        found: UUID = await conn.fetchval("SELECT id FROM cases WHERE reference = $1", reference)
    finally:
        await conn.close()
    return found


async def drive(
    system: System, producer: AIOKafkaProducer, case_id: UUID, referral: UUID
) -> list[Any]:
    steps: list[tuple[Message, tuple[str, Role]]] = [
        (StartHearing(message_id=uuid4(), case_id=case_id), RECEPTION),
        (ClassifyCase(message_id=uuid4(), case_id=case_id,
                      topics=[TopicCode.FOUNDING, TopicCode.ACCOUNTING]), RECEPTION),
        (AssignCase(message_id=uuid4(), case_id=case_id, assignee=ASSIGNEE[0]), CHIEF),
        (StartWork(message_id=uuid4(), case_id=case_id), ASSIGNEE),
        (ReferCase(message_id=uuid4(), case_id=case_id, referral_id=referral,
                   target=ReferralTarget.TAX_ACCOUNTANT), ASSIGNEE),
    ]  # fmt: skip
    return [await answer_to(system, producer, cmd, who) for cmd, who in steps]


async def test_a_whole_case_from_the_web_form_to_its_closing_and_acknowledgement(
    system: System, http: httpx.AsyncClient, producer: AIOKafkaProducer
) -> None:
    email = unique_email()
    reference = await intake(http, email=email)
    case_id = await case_id_of(system, reference)
    referral = uuid4()
    answers = await drive(system, producer, case_id, referral)
    assert [a.type for a in answers] == ["case.hearing_started", "case.classified",
                                         "case.assigned", "case.work_started",
                                         "case.referred"]  # fmt: skip
    # a refused step: closing while the referral is out
    refused = await answer_to(system, producer, CloseCase(
        message_id=uuid4(), case_id=case_id, outcome=CaseOutcome.RESOLVED), ASSIGNEE)  # fmt: skip
    assert isinstance(refused, CaseRejected) and refused.reason is RejectionReason.WRONG_STATE
    for cmd in (
        EndReferral(
            message_id=uuid4(),
            case_id=case_id,
            referral_id=referral,
            outcome=ReferralOutcome.RESOLVED,
        ),
        CloseCase(message_id=uuid4(), case_id=case_id, outcome=CaseOutcome.RESOLVED),
    ):
        assert not isinstance(await answer_to(system, producer, cmd, ASSIGNEE), CaseRejected)
    mails = await system.wait_for_mails(email, 1)
    assert len(mails) == 1
    body = mails[0].get_body(preferencelist=("plain",))
    assert body is not None and reference in body.get_content()
    assert "会の立ち上げ" not in body.get_content() and "山田" not in body.get_content()
    view = await http.get(f"/cases/{case_id}", headers=http_headers(bearer(ASSIGNEE)))
    assert view.status_code == 200 and view.json()["state"] == "closed"


async def test_an_unassigned_coordinator_gets_403_and_the_attempt_is_audited(
    system: System, http: httpx.AsyncClient, producer: AIOKafkaProducer
) -> None:
    case_id = await case_id_of(system, await intake(http))
    await drive(system, producer, case_id, uuid4())
    response = await http.get(f"/cases/{case_id}", headers=http_headers(bearer(OTHER)))
    assert response.status_code == 403
    auditor = http_headers(staff_token(Role.AUDITOR, subject="kansa"))
    audit = await http.get("/audit/reads", params={"case_id": str(case_id)}, headers=auditor)
    assert audit.status_code == 200
    assert any(r["principal"] == "staff:suzuki" and r["outcome"] == "refused"
               for r in audit.json()["reads"])  # fmt: skip


CANARIES = {
    "name": "CANARYNAME7f3a",
    "organisation": "CANARYORG19c2",
    "narrative": "CANARYSTORY5d8e 体調の相談",
    "phone": "045-7319-2846",
    "note": "CANARYNOTE0b6f",
    "referral": "CANARYREFERRAL4e1d",
}


async def all_topics(system: System) -> list[Topic]:
    admin = AIOKafkaAdminClient(bootstrap_servers=system.stack.kafka_bootstrap, **as_admin())
    await admin.start()
    try:
        names = [n for n in await admin.list_topics() if not n.startswith("__")]
        described = await admin.describe_topics(names)
    finally:
        await admin.close()
    return [Topic(d["topic"], partitions=len(d["partitions"])) for d in described]


async def test_no_canary_of_a_cases_content_reaches_kafka_a_log_or_metrics(
    system: System, http: httpx.AsyncClient, producer: AIOKafkaProducer
) -> None:
    email = unique_email()
    reference = await intake(http, name=CANARIES["name"], organisation=CANARIES["organisation"],
                             narrative=CANARIES["narrative"], phone=CANARIES["phone"],
                             email=email)  # fmt: skip
    case_id = await case_id_of(system, reference)
    referral = uuid4()
    await drive(system, producer, case_id, referral)
    assignee = http_headers(bearer(ASSIGNEE))
    note = await http.post(f"/cases/{case_id}/notes", json={"text": CANARIES["note"]},
                           headers=assignee)  # fmt: skip
    assert note.status_code == 201
    details = await http.put(f"/cases/{case_id}/referrals/{referral}/details",
                             json={"details": CANARIES["referral"]}, headers=assignee)  # fmt: skip
    assert details.status_code == 204
    assert (await http.get(f"/cases/{case_id}", headers=assignee)).json()["narrative"]
    # an expert consultation day booked for the case, its reminder sent at once through notify,
    # and a search among the case's words
    opened = await http.post("/expert-days", headers=assignee, json={
        "expert": "tax", "day": open_weekday().isoformat(),
        "slots": [{"start": "13:00", "end": "13:45"}],
    })  # fmt: skip
    assert opened.status_code == 201, opened.text
    slot = opened.json()["slots"][0]["slot_id"]
    booked = await http.put(f"/expert-slots/{slot}/booking", headers=assignee,
                            json={"case_id": str(case_id)})  # fmt: skip
    assert booked.status_code == 200, booked.text
    conn = await asyncpg.connect(system.dsn("consultation"))
    try:
        await conn.execute("UPDATE scheduled_jobs SET due_at = now() WHERE kind = $1",
                           "expert_slot.remind")  # fmt: skip
    finally:
        await conn.close()
    found = await http.get("/cases/search", params={"q": CANARIES["narrative"].split()[0]},
                           headers=assignee)  # fmt: skip
    assert [c["case_id"] for c in found.json()["cases"]] == [str(case_id)]
    mails = await system.wait_for_mails(email, 2, timeout=30)  # the receipt and the reminder
    assert any("専門相談" in str(m["Subject"]) for m in mails), [m["Subject"] for m in mails]
    for cmd in (
        EndReferral(message_id=uuid4(), case_id=case_id, referral_id=referral,
                    outcome=ReferralOutcome.CONTINUING),
        CloseCase(message_id=uuid4(), case_id=case_id, outcome=CaseOutcome.RESOLVED),
        ReopenCase(message_id=uuid4(), case_id=case_id),
        CloseCase(message_id=uuid4(), case_id=case_id, outcome=CaseOutcome.RESOLVED),
        OpenFollowUp(message_id=uuid4(), case_id=case_id, follow_up_case_id=uuid4()),
    ):  # fmt: skip
        assert not isinstance(await answer_to(system, producer, cmd, ASSIGNEE), CaseRejected)
    # refused reads and a hostile command that ends in the dead-letter topic
    await http.get(f"/cases/{case_id}", headers=http_headers(bearer(OTHER)))
    await producer.send_and_wait(CONSULTATION_COMMANDS.name, b'{"type": "case.close"',
                                 key=str(case_id).encode())  # fmt: skip
    await asyncio.sleep(3)  # the relay and the sender publish what they committed

    needles = [c.encode() for c in CANARIES.values()]
    needles += [c.encode("unicode_escape") for c in CANARIES.values()]
    for topic in await all_topics(system):
        for record in await topic_log(system.stack.kafka_bootstrap, topic).read():
            blob = b"".join([record.key or b"", record.value or b"",
                             *(v or b"" for _, v in record.headers)])  # fmt: skip
            leaked = [n for n in needles if n in blob]
            assert not leaked, (topic.name, leaked)
    for path in system.stack.logs.glob("**/*"):
        if path.is_file():
            text = path.read_bytes()
            assert not [n for n in needles if n in text], path
    async with httpx.AsyncClient(timeout=30) as client:
        for process in system.by_name.values():
            metrics = (await client.get(f"http://127.0.0.1:{process.http_port}/metrics")).text
            assert not [c for c in CANARIES.values() if c in metrics], process.name


async def test_the_fy2020_table_over_http(system: System, http: httpx.AsyncClient) -> None:
    pool = await asyncpg.create_pool(system.dsn("consultation"), min_size=1, max_size=2)
    assert pool is not None
    try:
        await seed_fy2020(pool)
    finally:
        await pool.close()
    staff = http_headers(staff_token(Role.COORDINATOR, subject="tanaka"))
    table = (await http.get("/reports/topics", params={"fiscal_year": 2020}, headers=staff)).json()
    assert (table["cases"]["total"], table["labels"]["total"]) == (507, 615)
    assert {k: v["total"] for k, v in table["topics"].items()} == {
        str(k): v for k, v in FY2020.items()
    }
    csv_text = (await http.get("/reports/topics", params={"fiscal_year": 2020, "format": "csv"},
                               headers=staff)).text  # fmt: skip
    assert "topic:covid19," in csv_text and csv_text.splitlines()[1].endswith(",507")


async def test_retention_erases_personal_data_across_a_restart(
    system: System, http: httpx.AsyncClient, producer: AIOKafkaProducer
) -> None:
    """Runs last in this module: the shifted clock erases every case closed before it."""
    case_id = await case_id_of(system, await intake(http, narrative="RETENTIONCANARY"))
    close = CloseCase(message_id=uuid4(), case_id=case_id, outcome=CaseOutcome.INQUIRY)
    await answer_to(system, producer, close, RECEPTION)
    process = system.by_name["consultation"]
    shift = timedelta(days=5 * 366 + 2).total_seconds()
    await asyncio.to_thread(system.stack.stop_component, process.name)
    env = {**system.env(process), "CLOCK_SHIFT_S": str(shift)}
    try:
        await asyncio.to_thread(system.stack.start_service, process.name, process.module, env,
                                process.http_port)  # fmt: skip
        conn = await asyncpg.connect(system.dsn("consultation"))
        try:
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                if await conn.fetchval("SELECT erased_at FROM cases WHERE id = $1", case_id):
                    break
                await asyncio.sleep(0.5)
            row = await conn.fetchrow("SELECT * FROM cases WHERE id = $1", case_id)
            left = await conn.fetchval(
                "SELECT count(*) FROM case_content WHERE case_id = $1", case_id
            )
        finally:
            await conn.close()
        assert row["erased_at"] is not None and left == 0
        assert (row["state"], json.dumps(row["topics"])) == ("closed", '["founding"]')
    finally:
        await asyncio.to_thread(system.stack.stop_component, process.name)
        await asyncio.to_thread(system.start, process.name)
