"""The HTTP routes of expert consultation days (experts.py):

- `POST /expert-days`: a coordinator or the chief coordinator opens a day with an expert of a
  kind and its slots (`experts.plan_slots` says which slots a day may have).
- `GET /expert-days?from=&to=`: the desk's staff see the days and which slots are free; a booked
  slot names its case (id and reference) only to those who may open that case.
- `PUT /expert-slots/{id}/booking`: whoever may work on the case (domain.may_work_on) books a
  free slot for its requester; two at once get one booking and one 409. The reminder is put on
  the durable schedule (`expert_slot.remind`, key: the slot).
- `DELETE /expert-slots/{id}/booking`: the same people free it; its reminder is cancelled.
- `POST /expert-days/{id}/cancel`: who opens days cancels one; its reminders are cancelled.

Nothing here reads or writes a case's content; the reminder job reads the requester's address
from it when it goes out (jobs.py).
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Annotated, Any
from uuid import UUID

import asyncpg
from fastapi import APIRouter, Depends, HTTPException, Query
from fastapi.responses import Response
from pydantic import BaseModel, Field

from contracts.consultation import ExpertKind
from contracts.notify import Language
from services.consultation import access, domain, expert_store, experts, store
from services.consultation.settings import ConsultationSettings
from services.runtime import schedule
from services.runtime.center_calendar import TOKYO
from services.runtime.http import ErrorBody, error_responses
from services.runtime.http_auth import Doors
from services.runtime.identity import Caller
from services.runtime.service import ServiceContext

EXPERT_REMINDER_JOB = "expert_slot.remind"
LONGEST_RANGE = timedelta(days=92)
STATUS = {
    expert_store.Booked.TAKEN: 409,
    expert_store.Booked.SAME_DAY: 409,
    expert_store.Booked.DAY_CANCELLED: 409,
    expert_store.Booked.BEGUN: 409,
    expert_store.Booked.NO_SLOT: 404,
}


BOOKING_ERRORS: dict[int | str, dict[str, Any]] = {
    **error_responses(403, 404),
    409: {"model": ErrorBody, "description": "The slot is taken, its day cancelled or begun, "
          "or the case has a slot that day already; `error` says which."},
}  # fmt: skip


class SlotIn(BaseModel):
    start: time
    end: time


class DayIn(BaseModel):
    expert: ExpertKind
    day: date
    slots: list[SlotIn] = Field(max_length=experts.MOST_SLOTS)


class SlotOut(BaseModel):
    slot_id: UUID
    starts_at: datetime
    ends_at: datetime
    booked: bool = False
    case_id: UUID | None = Field(default=None, description="only to whoever may open the case")
    reference: str | None = None


class DayOut(BaseModel):
    day_id: UUID
    expert: ExpertKind
    day: date
    cancelled: bool
    slots: list[SlotOut]


class BookingIn(BaseModel):
    case_id: UUID
    language: Language = Language.JA


class Booking(BaseModel):
    slot_id: UUID
    case_id: UUID
    starts_at: datetime
    reminder_at: datetime | None = Field(description="when the requester is reminded; None: not")


class OnFile:
    """A booked slot's case as need to know judges it (access.OnFile)."""

    def __init__(self, assignee: str | None) -> None:
        self.assignee = assignee


def slot_out(caller: Caller, slot: expert_store.Slot) -> SlotOut:
    shown = slot.case_id is not None and access.may_open(caller, OnFile(slot.assignee))
    return SlotOut(slot_id=slot.id, starts_at=slot.starts_at, ends_at=slot.ends_at,
                   booked=slot.case_id is not None,
                   case_id=slot.case_id if shown else None,
                   reference=slot.reference if shown else None)  # fmt: skip


def day_out(caller: Caller, day: expert_store.Day) -> DayOut:
    return DayOut(day_id=day.id, expert=day.expert, day=day.day, cancelled=day.cancelled,
                  slots=[slot_out(caller, s) for s in day.slots])  # fmt: skip


def build_expert_router(ctx: ServiceContext, settings: ConsultationSettings) -> APIRouter:
    router = APIRouter(tags=["expert days"])
    desk_staff = Doors.of(ctx).lock(access.DESK)

    def planner(caller: Caller) -> None:
        if not experts.may_open_days(caller):
            raise HTTPException(403, "only coordinators plan expert days / 専門相談日は"
                                     "コーディネーターが設定します")  # fmt: skip

    async def working_on(conn: asyncpg.Connection, caller: Caller, case_id: UUID) -> None:
        stored = await store.load_case(conn, case_id)
        if stored is None or domain.may_work_on(caller, stored.case) is not None:
            raise HTTPException(403, "not your case / 担当外の相談です")

    @router.post("/expert-days", status_code=201, responses=error_responses(400, 403))
    async def open_day(body: DayIn, caller: Caller = Depends(desk_staff)) -> DayOut:
        planner(caller)
        now = settings.now()
        planned = experts.plan_slots(body.day, [(s.start, s.end) for s in body.slots], now)
        if isinstance(planned, experts.DayRefused):
            raise HTTPException(400, f"the slots cannot be: {planned.reason}")
        async with ctx.pool.acquire() as conn, conn.transaction():
            day = await expert_store.open_day(conn, body.expert, body.day, planned,
                                              caller.subject, now)  # fmt: skip
        return day_out(caller, day)

    @router.get("/expert-days", responses=error_responses(400))
    async def days(
        caller: Caller = Depends(desk_staff),
        first_asked: Annotated[date | None, Query(alias="from")] = None,
        last_asked: Annotated[date | None, Query(alias="to")] = None,
    ) -> list[DayOut]:
        first = first_asked or settings.now().astimezone(TOKYO).date()
        last = last_asked or first + timedelta(days=31)
        if not timedelta(0) <= last - first <= LONGEST_RANGE:
            raise HTTPException(400, "from must come before to, at most 92 days apart")
        async with ctx.pool.acquire() as conn:
            found = await expert_store.days_between(conn, first, last)
        return [day_out(caller, d) for d in found]

    @router.put("/expert-slots/{slot_id}/booking", responses=BOOKING_ERRORS)
    async def book(slot_id: UUID, body: BookingIn,
                   caller: Caller = Depends(desk_staff)) -> Booking:  # fmt: skip
        now = settings.now()
        async with ctx.pool.acquire() as conn, conn.transaction():
            await working_on(conn, caller, body.case_id)
            outcome, starts_at = await expert_store.book(
                conn, slot_id, body.case_id, body.language, caller.subject, now
            )
            if outcome is not expert_store.Booked.BOOKED or starts_at is None:
                raise HTTPException(STATUS.get(outcome, 409), f"not booked: {outcome.value}")
            due = experts.reminder_due(starts_at, now)
            if due is not None:
                payload = {"case_id": str(body.case_id)}
                await schedule.schedule(conn, EXPERT_REMINDER_JOB, str(slot_id),
                                        settings.real(due), payload)  # fmt: skip
        return Booking(slot_id=slot_id, case_id=body.case_id, starts_at=starts_at,
                       reminder_at=due)  # fmt: skip

    @router.delete("/expert-slots/{slot_id}/booking", status_code=204, response_class=Response,
                   responses=error_responses(403, 404))  # fmt: skip
    async def release(slot_id: UUID, caller: Caller = Depends(desk_staff)) -> Response:
        async with ctx.pool.acquire() as conn, conn.transaction():
            found = await expert_store.slot(conn, slot_id)
            if found is None or found[0].case_id is None:
                raise HTTPException(404, "no booking of that slot / 予約がありません")
            case_id = found[0].case_id
            await working_on(conn, caller, case_id)
            await expert_store.release(conn, slot_id, case_id)
            await schedule.cancel(conn, EXPERT_REMINDER_JOB, str(slot_id))
        return Response(status_code=204)

    @router.post("/expert-days/{day_id}/cancel", status_code=204, response_class=Response,
                 responses=error_responses(403, 404))  # fmt: skip
    async def cancel(day_id: UUID, caller: Caller = Depends(desk_staff)) -> Response:
        planner(caller)
        async with ctx.pool.acquire() as conn, conn.transaction():
            booked = await expert_store.cancel_day(conn, day_id, settings.now())
            if booked is None:
                raise HTTPException(404, "no such day / その日はありません")
            for slot_id in booked:
                await schedule.cancel(conn, EXPERT_REMINDER_JOB, str(slot_id))
        return Response(status_code=204)

    return router
