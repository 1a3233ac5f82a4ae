"""Time-bound work of the consultation service on the durable schedule
(services/runtime/schedule.py), so a restart loses nothing and nothing happens twice.

- `case.first_response_due` (key: case id): put on the schedule when a case comes in, at the
  moment its first response falls due (`hours.first_response_due`, the configured business
  hours on the desk's calendar), and cancelled by the hearing or the closing. When it fires on
  a case still waiting, the service publishes `case.first_response_overdue` and counts it.
- `case.retention_sweep` (key: the day, Tokyo): once a day, the personal data of the cases
  closed longer than the retention period (default 5 years) is erased: their sealed content,
  notes and referral details. What the statistics count (kind, channel, topics, times,
  outcomes) stays, so past fiscal years' tables do not change. The day's sweep is planned by a
  worker (`plan_sweeps`); a done job stays done, so a restart neither skips nor repeats it.
- `expert_slot.remind` (key: the slot id): put on the schedule when a slot of an expert day is
  booked (expert_api.py), cancelled when it is freed or its day cancelled. When it fires on a
  slot still booked for the same case, the requester's address is opened from the sealed
  content and notify is asked for the reminder (`expert_reminder.requested`: the time, the kind
  of expert, the reference number and the address, nothing else of the case).

The schedule runs on the database's clock; due times are converted from the service's clock
(CLOCK_SHIFT_S), so rehearsals see the jobs fire at the service's times.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from uuid import UUID

import asyncpg
from pydantic import ValidationError

from contracts.consultation import CaseState, FirstResponseOverdue
from contracts.envelope import new_message_id
from contracts.notify import Language, RequestExpertReminder
from contracts.topics import CONSULTATION_EVENTS, NOTIFY_COMMANDS
from services.consultation import expert_store, store
from services.consultation.access import CaseField
from services.consultation.expert_api import EXPERT_REMINDER_JOB
from services.consultation.handlers import FIRST_RESPONSE_JOB
from services.consultation.hours import first_response_due
from services.consultation.metrics import DeskMetrics
from services.consultation.settings import ConsultationSettings
from services.runtime import schedule
from services.runtime.center_calendar import TOKYO
from services.runtime.identity import Signer
from services.runtime.outbox import Outgoing
from services.runtime.periodic import every
from services.runtime.schedule import Job, JobHandler

log = logging.getLogger(__name__)

RETENTION_SWEEP_JOB = "case.retention_sweep"


def job_handlers(
    settings: ConsultationSettings, metrics: DeskMetrics | None, signer: Signer
) -> Mapping[str, JobHandler]:
    async def first_response(conn: asyncpg.Connection, job: Job) -> Sequence[Outgoing]:
        stored = await store.load_case(conn, UUID(job.key))
        if stored is None:
            return []
        case = stored.case
        if case.first_response_at is not None or case.state is CaseState.CLOSED:
            return []
        if metrics is not None:
            metrics.overdue.inc()
        event = FirstResponseOverdue(
            message_id=new_message_id(), case_id=case.id, state=case.state,
            received_at=case.received_at,
            due_at=first_response_due(case.received_at, settings.first_response_within),
        )  # fmt: skip
        return [Outgoing(CONSULTATION_EVENTS, str(case.id), event)]

    async def retention_sweep(conn: asyncpg.Connection, job: Job) -> Sequence[Outgoing]:
        now = settings.now()
        erased = await store.erase_closed_before(conn, settings.retention_cutoff(now), now)
        if erased:
            log.info("retention: erased the personal data of %d closed cases", erased)
            if metrics is not None:
                metrics.erased.inc(erased)
        return []

    async def expert_reminder(conn: asyncpg.Connection, job: Job) -> Sequence[Outgoing]:
        found = await expert_store.slot(conn, UUID(job.key))
        if found is None:
            return []
        slot, expert, cancelled = found
        booked_for = (job.payload or {}).get("case_id")
        if cancelled or slot.case_id is None or str(slot.case_id) != booked_for:
            return []
        content = await store.read_content(conn, settings.keys, slot.case_id,
                                           [CaseField.REQUESTER_CONTACT])  # fmt: skip
        email = json.loads(content.get(CaseField.REQUESTER_CONTACT) or "{}").get("email")
        if not email or slot.reference is None:  # no address given, or erased
            return []
        try:
            command = RequestExpertReminder(
                message_id=new_message_id(), reference=slot.reference, email=email,
                language=slot.language or Language.JA, expert=expert,
                starts_at=slot.starts_at, ends_at=slot.ends_at,
            )  # fmt: skip
        except ValidationError:
            log.warning("expert reminder of slot %s not sent: the address is not valid", slot.id)
            return []
        return [Outgoing(NOTIFY_COMMANDS, slot.reference, command, signer.own_proof())]

    return {
        FIRST_RESPONSE_JOB: first_response,
        RETENTION_SWEEP_JOB: retention_sweep,
        EXPERT_REMINDER_JOB: expert_reminder,
    }


async def plan_sweep(pool: asyncpg.Pool, settings: ConsultationSettings) -> None:
    """Today's sweep (Tokyo, the service's clock), due now; planning it again changes nothing
    once it ran."""
    now = settings.now()
    day = now.astimezone(TOKYO).date().isoformat()
    async with pool.acquire() as conn:
        await schedule.schedule(conn, RETENTION_SWEEP_JOB, day, settings.real(now))


async def plan_sweeps(pool: asyncpg.Pool, settings: ConsultationSettings) -> None:
    await every(settings.sweep_every_s, lambda: plan_sweep(pool, settings),
                "planning the retention sweep")  # fmt: skip
