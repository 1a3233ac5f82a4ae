"""HTTP read routes of the booking service (OpenAPI at /openapi.json).

Reads use the pool with single statements and no transaction, so they never hold locks that the
booking path waits for (ARCHITECTURE.md: reads separate from writes). Every parameter is bounded
before it reaches the database or date arithmetic (days in the years a message may carry, at
most MAX_RANGE_DAYS at a time); a bad one gets a 400 with the runtime's error body. Every route
declares its answer's model, so the OpenAPI document says what a client will get.

Every route says who may call it (services/booking/access.py): availability and the Lab's
occupancy are public; reservations are read by the organisation holding them and the staff who
handle bookings; the occupancy report by staff. A reservation another organisation holds is a 404,
as one that does not exist: the answer never tells an organisation that someone else's
reservation exists. An organisation asking for another organisation's list is a 403: the path
names the organisation, so the answer says nothing about what it holds.
"""

from __future__ import annotations

import asyncio
from datetime import date, datetime, time, timedelta
from typing import Annotated, Any, Literal
from uuid import UUID

from fastapi import APIRouter, Depends, HTTPException, Path, Query
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from pydantic import BaseModel, Field

from contracts.booking import Reservation, SpaceId
from services.booking import access, domain, store
from services.booking.handlers import as_contract
from services.booking.occupancy import to_csv
from services.booking.report import load_occupancy
from services.booking.settings import BookingSettings
from services.runtime.http import Day, error_response, error_responses
from services.runtime.http_auth import PUBLIC, Doors
from services.runtime.identity import Caller
from services.runtime.service import ServiceContext

MAX_RANGE_DAYS = 31
MAX_RESERVATIONS = 500
MAX_ORGANISATIONS = 5000
MAX_DAYS = 366  # the staff plan blackouts up to a year ahead
# Reads in flight at once: the pool is shared with the consumer, the outbox relay and the
# schedule, so reads may never take all its connections however many clients ask at once.
READ_CONCURRENCY = 4

# One round trip for a space's availability, one row per fact: what holds the space (Lab: the
# attendees of each reservation; other spaces: its rooms), staff blackouts, decided closing times.
AVAILABILITY_SQL = (
    "SELECT 'held' AS kind, starts_at AS s, ends_at AS e, attendees AS n, NULL::date AS day"
    "  FROM reservations WHERE $1 AND space = 'lab' AND cancelled_at IS NULL"
    "  AND tstzrange(starts_at, ends_at) && tstzrange($3, $4)"
    " UNION ALL SELECT 'held', lower(during), upper(during), 1, NULL FROM reservation_rooms"
    "  WHERE NOT $1 AND room = ANY($2::room[]) AND during && tstzrange($3, $4)"
    " UNION ALL SELECT 'blackout', NULL, NULL, NULL, day FROM blackouts"
    "  WHERE day BETWEEN $5 AND $6"
    " UNION ALL SELECT 'closing', closes_at, NULL, NULL, day FROM day_closings"
    "  WHERE day BETWEEN $5 AND $6"
)


class FreePeriod(BaseModel):
    starts_at: datetime
    ends_at: datetime


class DayAvailability(BaseModel):
    date: date
    open: bool
    opens: str | None = Field(description="HH:MM in Asia/Tokyo; null when closed")
    closes: str | None = Field(description="HH:MM; the decided closing time once decided")
    closing_decided: bool = Field(description="the evening cut-off has fixed today's closing")
    evening_from: str | None = Field(
        default=None,
        description="HH:MM from which the day is reservation-only (the weekday evening, "
        "18:00-20:00; without a reservation the center closes then); null when none",
    )
    free: list[FreePeriod]


class Availability(BaseModel):
    space: SpaceId
    days: list[DayAvailability]


class ReservationView(Reservation):
    reservation_id: UUID
    cancelled: bool


class Reservations(BaseModel):
    organisation_id: UUID
    reservations: list[ReservationView] = Field(description=f"oldest first, at most "
                                                            f"{MAX_RESERVATIONS}")  # fmt: skip


class SheetRow(ReservationView):
    organisation_name: str | None


class DaySheet(BaseModel):
    first: date
    last: date
    reservations: list[SheetRow] = Field(
        description=f"in order of their start, cancelled ones marked, at most {MAX_RESERVATIONS}"
    )


class LabOccupancy(BaseModel):
    date: date
    present: int = Field(description="people checked in now")
    seats: int
    space_a_open_as_lab: bool
    space_b_open_as_lab: bool
    visitors_today: int
    drop_in_hours: str | None = Field(description="HH:MM-HH:MM; null when the Lab is closed")


class OrganisationChoice(BaseModel):
    id: UUID
    name: str
    kind: str


class OrganisationList(BaseModel):
    organisations: list[OrganisationChoice] = Field(
        description=f"in good standing now, by name, at most {MAX_ORGANISATIONS}"
    )


class DirectoryEntry(BaseModel):
    id: UUID
    name: str
    kind: str
    contact_name: str
    contact_email: str
    registered_at: datetime
    valid_until: datetime
    standing: Literal["active", "suspended", "expired"]
    suspension_reason: str | None


class Directory(BaseModel):
    organisations: list[DirectoryEntry] = Field(
        description=f"every organisation, by name, at most {MAX_ORGANISATIONS}"
    )


class RegistrationRequest(BaseModel):
    registration_request_id: UUID
    name: str
    kind: str
    contact_name: str
    contact_email: str
    newsletter_consent: bool
    note: str
    requested_at: datetime


class RegistrationRequests(BaseModel):
    requests: list[RegistrationRequest] = Field(description="waiting, oldest first")


class Blackout(BaseModel):
    day: date
    reason: str


class Closing(BaseModel):
    day: date
    closes_at: datetime


class Days(BaseModel):
    blackouts: list[Blackout]
    closings: list[Closing] = Field(description="closing times decided at the evening cut-off")


class OpenVisit(BaseModel):
    slip_number: str
    organisation_id: UUID
    organisation_name: str | None
    people: int
    checked_in_at: datetime


class OpenVisits(BaseModel):
    date: date
    visits: list[OpenVisit] = Field(description="today's slips not yet checked out, oldest first")


class OccupancyFigures(BaseModel):
    open_hours: float
    atrium_combined_hours: float
    ab_alone_hours: float
    occupancy: float
    atrium_combined: float
    ab_alone: float
    lab_visitors: int


class MonthOccupancy(OccupancyFigures):
    month: str = Field(description="YYYY-MM")


class OccupancyReport(BaseModel):
    fiscal_year: int
    months: list[MonthOccupancy]
    year: OccupancyFigures


def bad_request(message: str) -> JSONResponse:
    return error_response(400, message)


def view(found: store.StoredReservation) -> ReservationView:
    return ReservationView(reservation_id=found.id, cancelled=found.cancelled,
                           **as_contract(found).model_dump())  # fmt: skip


def held_per_slot(taken: list[tuple[datetime, datetime, int]]) -> dict[datetime, int]:
    """How much of a space each half-hour slot holds (rooms: 1 per reservation; Lab: attendees);
    one pass over the reservations, so a busy week costs no more than slots plus reservations."""
    held: dict[datetime, int] = {}
    for starts_at, ends_at, amount in taken:
        slot = starts_at
        while slot < ends_at:
            held[slot] = held.get(slot, 0) + amount
            slot += domain.SLOT
    return held


def free_ranges(
    day: date, space: SpaceId, held: dict[datetime, int],
    settings: BookingSettings, blacked_out: bool, closes: time | None,
) -> list[dict[str, str]]:  # fmt: skip
    """Merged free periods of a day: half-hour slots a request could get now (the same rules
    as a request: window, hours, evening cut-off), not held by another reservation."""
    policy, now = settings.policy, settings.now()
    hours = domain.day_hours(day, policy, blacked_out)
    if hours is None:
        return []
    limit = policy.spaces[space].seats if space is SpaceId.LAB else 1
    start = datetime.combine(day, hours[0], domain.TOKYO)
    end = datetime.combine(day, closes or hours[1], domain.TOKYO)
    situation = domain.Situation(now, None, blacked_out)
    free: list[list[datetime]] = []
    slot = start
    while slot < end:
        slot_end = slot + domain.SLOT
        request = domain.Request(space, slot, slot_end, 1, False, "availability",
                                 on_behalf_of_city=True)  # fmt: skip
        is_free = (
            held.get(slot, 0) < limit and domain.check_request(request, situation, policy) is None
        )
        if is_free and free and free[-1][1] == slot:
            free[-1][1] = slot_end
        elif is_free:
            free.append([slot, slot_end])
        slot = slot_end
    return [{"starts_at": s.isoformat(), "ends_at": e.isoformat()} for s, e in free]


def build_routers(ctx: ServiceContext, settings: BookingSettings) -> list[APIRouter]:
    router = APIRouter(tags=["booking"])
    pool = ctx.pool
    reads = asyncio.Semaphore(READ_CONCURRENCY)
    policy = settings.policy
    doors = Doors.of(ctx)
    reservation_readers = doors.lock(access.RESERVATION_READERS)
    report_readers = doors.lock(access.REPORT_READERS)
    day_sheet_readers = doors.lock(access.DAY_SHEET_READERS)
    organisation_list_readers = doors.lock(access.ORGANISATION_LIST_READERS)
    visit_readers = doors.lock(access.VISIT_READERS)
    directory_readers = doors.lock(access.DIRECTORY_READERS)
    day_readers = doors.lock(access.DAY_READERS)
    request_readers = doors.lock(access.REQUEST_READERS)

    @router.get("/spaces/{space}/availability", response_model=Availability,
                dependencies=[PUBLIC])  # fmt: skip
    async def availability(
        space: SpaceId,
        first: Annotated[Day, Query(alias="from", description="first day, YYYY-MM-DD")],
        last: Annotated[
            Day,
            Query(
                alias="to",
                description=f"last day (inclusive), at most {MAX_RANGE_DAYS} days after the first",
            ),
        ],
    ) -> Response | dict[str, Any]:
        """Free periods of a space per day, with the day's opening and closing time (a closing
        time decided at the evening cut-off is marked `decided`)."""
        if first > last:
            return bad_request("'from' must not be after 'to'")
        if (last - first).days + 1 > MAX_RANGE_DAYS:
            return bad_request(f"at most {MAX_RANGE_DAYS} days at a time")
        start = domain.tokyo_midnight(first)
        end = domain.tokyo_midnight(last + timedelta(days=1))
        async with reads:
            rooms = sorted(policy.spaces[space].rooms)
            is_lab = space is SpaceId.LAB
            rows = await pool.fetch(AVAILABILITY_SQL, is_lab, rooms, start, end, first, last)
        held = held_per_slot([(r["s"], r["e"], r["n"]) for r in rows if r["kind"] == "held"])
        blackouts = {r["day"] for r in rows if r["kind"] == "blackout"}
        closings = {
            r["day"]: r["s"].astimezone(domain.TOKYO).time() for r in rows if r["kind"] == "closing"
        }
        days = []
        day = first
        while day <= last:
            hours = domain.day_hours(day, policy, day in blackouts)
            closes = closings.get(day)
            days.append({
                "date": day.isoformat(),
                "open": hours is not None,
                "opens": f"{hours[0]:%H:%M}" if hours else None,
                "closes": f"{closes or hours[1]:%H:%M}" if hours else None,
                "closing_decided": closes is not None,
                "evening_from": (
                    f"{domain.EVENING_STARTS:%H:%M}" if hours and domain.has_evening(day) else None
                ),
                "free": free_ranges(day, space, held, settings, day in blackouts, closes),
            })  # fmt: skip
            day += timedelta(days=1)
        return {"space": space.value, "days": days}

    @router.get("/reservations", response_model=DaySheet,
                dependencies=[Depends(day_sheet_readers)])  # fmt: skip
    async def reservations_of_days(
        first: Annotated[Day, Query(alias="from", description="first day, YYYY-MM-DD")],
        last: Annotated[
            Day, Query(alias="to", description=f"last day (inclusive), at most {MAX_RANGE_DAYS}")
        ],
    ) -> Response | DaySheet:
        """Every reservation starting on the days (Asia/Tokyo), with its organisation's name:
        the staff's day and week at the counter."""
        if first > last:
            return bad_request("'from' must not be after 'to'")
        if (last - first).days + 1 > MAX_RANGE_DAYS:
            return bad_request(f"at most {MAX_RANGE_DAYS} days at a time")
        start = domain.tokyo_midnight(first)
        end = domain.tokyo_midnight(last + timedelta(days=1))
        async with reads:
            found = await store.reservations_between(pool, start, end, MAX_RESERVATIONS)
        rows = [SheetRow(organisation_name=name, **view(r).model_dump()) for r, name in found]
        return DaySheet(first=first, last=last, reservations=rows)

    @router.get("/organisations/{organisation_id}/reservations")
    async def reservations_of(
        organisation_id: UUID, caller: Caller = Depends(reservation_readers)
    ) -> Reservations:
        """An organisation's reservations, oldest first, cancelled ones marked: for the
        organisation itself and the staff who handle bookings."""
        if not access.may_read_reservations_of(caller, organisation_id):
            raise HTTPException(403, "an organisation reads its own reservations only")
        async with reads:
            found = await store.reservations_of(pool, organisation_id, MAX_RESERVATIONS)
        return Reservations(organisation_id=organisation_id, reservations=[view(r) for r in found])

    @router.get("/reservations/{reservation_id}", response_model=ReservationView,
                responses=error_responses(404))  # fmt: skip
    async def reservation(
        reservation_id: Annotated[UUID, Path(description="as in reservation.confirmed")],
        caller: Caller = Depends(reservation_readers),
    ) -> Response | ReservationView:
        """A reservation, for the organisation holding it and the staff who handle bookings;
        another organisation gets the 404 of a reservation that does not exist."""
        async with reads, pool.acquire() as conn:
            found = await store.load_reservation(conn, reservation_id)
        if found is None or not access.may_read_reservations_of(caller, found.organisation_id):
            return error_response(404, "no such reservation")
        return view(found)

    @router.get("/lab/occupancy", response_model=LabOccupancy, dependencies=[PUBLIC])
    async def lab_occupancy() -> dict[str, Any]:
        """Who is in the Lab now, how many seats there are (unbooked Space A/B adds its seats),
        and today's visitors so far."""
        now = settings.now()
        today = now.astimezone(domain.TOKYO).date()
        async with reads:
            lab = await store.lab_context(pool, None, now, today)
            visitors = await store.visitors_by_day(pool, today, today + timedelta(days=1))
        hours = domain.drop_in_hours(today, policy, lab.blacked_out)
        return {
            "date": today.isoformat(),
            "present": lab.present,
            "seats": domain.lab_seats(policy, lab.a_booked, lab.b_booked),
            "space_a_open_as_lab": not lab.a_booked,
            "space_b_open_as_lab": not lab.b_booked,
            "visitors_today": visitors.get(today, 0),
            "drop_in_hours": f"{hours[0]:%H:%M}-{hours[1]:%H:%M}" if hours else None,
        }

    @router.get("/organisations", response_model=OrganisationList,
                dependencies=[Depends(organisation_list_readers)])  # fmt: skip
    async def organisations_in_standing() -> dict[str, Any]:
        """The organisations that may book and check in now, by name, without contacts: the
        kiosk offers them at the Lab's check-in."""
        async with reads:
            rows = await store.organisations_in_standing(pool, settings.now(), MAX_ORGANISATIONS)
        return {"organisations": [dict(r) for r in rows]}

    @router.get("/organisations/directory", response_model=Directory,
                dependencies=[Depends(directory_readers)])  # fmt: skip
    async def directory() -> dict[str, Any]:
        """Every organisation with its standing and contact, by name: the staff's directory."""
        now = settings.now()
        async with reads:
            rows = await store.directory(pool, MAX_ORGANISATIONS)

        def standing(row: Any) -> str:
            held = domain.Standing(row["valid_until"], suspended=row["suspended_at"] is not None)
            return domain.standing_word(held, now)

        return {"organisations": [
            {**dict(r), "standing": standing(r),
             "suspension_reason": r["suspension_reason"] if r["suspended_at"] else None}
            for r in rows
        ]}  # fmt: skip

    @router.get("/organisations/requests", response_model=RegistrationRequests,
                dependencies=[Depends(request_readers)])  # fmt: skip
    async def registration_requests() -> dict[str, Any]:
        """The registration requests waiting for their interview, oldest first."""
        async with reads:
            rows = await store.open_registration_requests(pool, MAX_ORGANISATIONS)
        return {"requests": [dict(r) for r in rows]}

    @router.get("/days", response_model=Days, dependencies=[Depends(day_readers)])
    async def days(
        first: Annotated[Day, Query(alias="from", description="first day, YYYY-MM-DD")],
        last: Annotated[
            Day, Query(alias="to", description=f"last day (inclusive), at most {MAX_DAYS} days")
        ],
    ) -> Response | dict[str, Any]:
        """The blackouts with their reasons and the decided closing times of some days."""
        if first > last:
            return bad_request("'from' must not be after 'to'")
        if (last - first).days + 1 > MAX_DAYS:
            return bad_request(f"at most {MAX_DAYS} days at a time")
        async with reads:
            blackouts, closings = await store.days_between(pool, first, last)
        return {"blackouts": [dict(r) for r in blackouts],
                "closings": [dict(r) for r in closings]}  # fmt: skip

    @router.get("/lab/visits", response_model=OpenVisits,
                dependencies=[Depends(visit_readers)])  # fmt: skip
    async def open_visits() -> dict[str, Any]:
        """Today's usage slips not yet checked out: the kiosk and reception check out from
        them, by a touch instead of typing the slip's number."""
        today = settings.now().astimezone(domain.TOKYO).date()
        async with reads:
            rows = await store.open_visits(pool, today)
        return {"date": today.isoformat(), "visits": [dict(r) for r in rows]}

    @router.get(
        "/reports/occupancy",
        response_model=OccupancyReport,
        dependencies=[Depends(report_readers)],
        responses={200: {"content": {"text/csv": {"schema": {"type": "string"}}},
                         "description": "JSON, or with format=csv the same figures as CSV"}},
    )  # fmt: skip
    async def occupancy(
        fiscal_year: Annotated[int, Query(ge=2020, le=2100, description="April-March, e.g. 2024")],
        format: Annotated[Literal["json", "csv"], Query()] = "json",
    ) -> Response | dict[str, Any]:
        """Space A/B occupancy per month (atrium-combined and A/B-alone) and Lab visitors, for
        the center's staff; the counting rules are in services/booking/occupancy.py."""
        async with reads:
            report = await load_occupancy(pool, fiscal_year, policy)
        if format == "csv":
            return PlainTextResponse(to_csv(report), media_type="text/csv")

        def row(m: Any) -> dict[str, Any]:
            return {
                "open_hours": m.open_hours, "atrium_combined_hours": m.atrium_hours,
                "ab_alone_hours": m.alone_hours, "occupancy": m.total_rate,
                "atrium_combined": m.atrium_rate, "ab_alone": m.alone_rate,
                "lab_visitors": m.lab_visitors,
            }  # fmt: skip

        return {
            "fiscal_year": fiscal_year,
            "months": [{"month": f"{m.month:%Y-%m}", **row(m)} for m in report.months],
            "year": row(report.year),
        }

    return [router]
