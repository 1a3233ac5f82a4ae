"""The booking rules added around the foundation: booking window, closure days and blackouts,
the weekday evening rule, quotas, organisation standing and cancellation (DOMAIN.md, "Spaces")."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime, time, timedelta
from uuid import UUID, uuid4
from zoneinfo import ZoneInfo

from contracts.booking import Channel, RejectionReason, SpaceId
from contracts.identity import PrincipalKind, Role
from services.booking.domain import (
    DEFAULT_POLICY,
    Held,
    Request,
    Situation,
    Standing,
    acts_for,
    add_months,
    channel_of,
    check_cancel,
    check_request,
    check_sender,
    check_standing,
    closing_time,
    day_hours,
    is_closure_day,
    needs_evening_recheck,
    reaches_evening,
    registration_valid_until,
)
from services.runtime.identity import Caller

TOKYO = ZoneInfo("Asia/Tokyo")
MONDAY = date(2030, 1, 7)
SATURDAY = date(2030, 1, 12)
NOW = datetime(2030, 1, 6, 10, 0, tzinfo=TOKYO)  # the Sunday before
GOOD = Standing(valid_until=datetime(2031, 1, 1, tzinfo=TOKYO))


def at(day: date, hh: int, mm: int = 0) -> datetime:
    return datetime.combine(day, time(hh, mm), TOKYO)


def request(
    start: datetime | None = None,
    end: datetime | None = None,
    space: SpaceId = SpaceId.A,
    city: bool = False,
) -> Request:
    return Request(
        space=space,
        starts_at=start or at(MONDAY, 10),
        ends_at=end or at(MONDAY, 12),
        attendees=5,
        atrium=False,
        purpose="協働イベント",
        on_behalf_of_city=city,
    )


def reason(
    req: Request,
    now: datetime = NOW,
    standing: Standing | None = GOOD,
    blacked_out: bool = False,
    active: int = 0,
) -> RejectionReason | None:
    situation = Situation(now, standing, blacked_out, active)
    rejection = check_request(req, situation, DEFAULT_POLICY)
    return rejection.reason if rejection else None


# --- booking window --------------------------------------------------------------------------


def test_a_start_in_the_past_is_out_of_window() -> None:
    assert reason(request(), now=at(MONDAY, 10, 30)) is RejectionReason.OUT_OF_WINDOW


def test_a_start_beyond_three_months_is_out_of_window() -> None:
    now = at(date(2029, 10, 6), 10)
    assert reason(request(), now=now) is RejectionReason.OUT_OF_WINDOW
    assert reason(request(), now=at(date(2029, 10, 7), 10)) is None


def test_the_horizon_is_configurable() -> None:
    policy = replace(DEFAULT_POLICY, horizon_months=12)
    rejection = check_request(request(), Situation(at(date(2029, 3, 1), 9), GOOD), policy)
    assert rejection is None


def test_adding_months_keeps_the_day_or_takes_the_months_last() -> None:
    assert add_months(date(2029, 11, 30), 3) == date(2030, 2, 28)
    assert add_months(date(2029, 10, 8), 3) == date(2030, 1, 8)


# --- closure days and blackouts --------------------------------------------------------------


def test_the_year_end_break_is_closed_across_the_new_year() -> None:
    closures = DEFAULT_POLICY.closures
    assert is_closure_day(date(2029, 12, 29), closures)
    assert is_closure_day(date(2030, 1, 3), closures)
    assert not is_closure_day(date(2029, 12, 28), closures)
    assert not is_closure_day(date(2030, 1, 4), closures)


def test_a_request_on_a_closure_day_is_closed() -> None:
    day = date(2029, 12, 28 + 1)
    now = at(date(2029, 12, 1), 10)
    assert reason(request(at(day, 10), at(day, 11)), now=now) is RejectionReason.CLOSED


def test_a_request_on_a_blacked_out_day_is_closed() -> None:
    assert reason(request(), blacked_out=True) is RejectionReason.CLOSED
    assert day_hours(MONDAY, DEFAULT_POLICY, blacked_out=True) is None


# --- the weekday evening rule ----------------------------------------------------------------


def test_an_evening_reservation_before_the_cut_off_is_accepted() -> None:
    evening = request(at(MONDAY, 18), at(MONDAY, 20))
    assert reason(evening, now=at(MONDAY, 16, 59)) is None


def test_an_evening_reservation_after_the_cut_off_is_too_late() -> None:
    evening = request(at(MONDAY, 17), at(MONDAY, 19))
    assert reason(evening, now=at(MONDAY, 17)) is RejectionReason.TOO_LATE


def test_a_daytime_reservation_after_the_cut_off_is_not_too_late() -> None:
    daytime = request(at(MONDAY, 17, 30), at(MONDAY, 18))
    assert reason(daytime, now=at(MONDAY, 17, 15)) is None


def test_the_cut_off_is_configurable() -> None:
    policy = replace(DEFAULT_POLICY, evening_cutoff=time(15))
    evening = request(at(MONDAY, 18), at(MONDAY, 19))
    rejection = check_request(evening, Situation(at(MONDAY, 15, 30), GOOD), policy)
    assert rejection is not None and rejection.reason is RejectionReason.TOO_LATE


def test_weekend_and_holidays_have_no_evening() -> None:
    assert not reaches_evening(at(SATURDAY, 16), at(SATURDAY, 17))
    assert reaches_evening(at(MONDAY, 19), at(MONDAY, 20))


def test_a_weekday_without_evening_reservation_closes_at_eighteen() -> None:
    assert closing_time(MONDAY, evening_reserved=False) == time(18)
    assert closing_time(MONDAY, evening_reserved=True) == time(20)
    assert closing_time(SATURDAY, evening_reserved=False) == time(17)


def test_cancelling_an_evening_after_the_cut_off_rechecks_the_evening() -> None:
    assert needs_evening_recheck(at(MONDAY, 18), at(MONDAY, 20), at(MONDAY, 17, 30), DEFAULT_POLICY)
    assert not needs_evening_recheck(at(MONDAY, 18), at(MONDAY, 20), at(MONDAY, 16), DEFAULT_POLICY)
    assert not needs_evening_recheck(at(MONDAY, 10), at(MONDAY, 12), at(MONDAY, 17), DEFAULT_POLICY)


# --- quota -----------------------------------------------------------------------------------


def test_an_organisation_at_its_quota_is_refused() -> None:
    limit = DEFAULT_POLICY.max_active_reservations
    assert reason(request(), active=limit - 1) is None
    assert reason(request(), active=limit) is RejectionReason.QUOTA


def test_the_city_has_no_quota_and_needs_no_registration() -> None:
    limit = DEFAULT_POLICY.max_active_reservations
    assert reason(request(city=True), active=limit, standing=None) is None


# --- organisation standing -------------------------------------------------------------------


def test_a_registration_is_valid_for_three_years() -> None:
    registered = datetime(2028, 2, 29, 10, tzinfo=TOKYO)
    assert registration_valid_until(registered, DEFAULT_POLICY) == datetime(
        2031, 2, 28, 10, tzinfo=TOKYO
    )


def test_an_expired_organisation_is_not_registered_and_told_to_renew() -> None:
    expired = Standing(valid_until=NOW - timedelta(days=1))
    rejection = check_standing(expired, NOW)
    assert rejection is not None and rejection.reason is RejectionReason.NOT_REGISTERED
    assert "expired" in rejection.detail and "Renew" in rejection.detail
    assert reason(request(), standing=expired) is RejectionReason.NOT_REGISTERED


def test_a_suspended_organisation_is_not_registered_and_told_whom_to_ask() -> None:
    suspended = Standing(valid_until=GOOD.valid_until, suspended=True)
    rejection = check_standing(suspended, NOW)
    assert rejection is not None and rejection.reason is RejectionReason.NOT_REGISTERED
    assert "suspended" in rejection.detail
    assert reason(request(), standing=suspended) is RejectionReason.NOT_REGISTERED


# --- cancellation ----------------------------------------------------------------------------


def as_org(org: UUID) -> Caller:
    return Caller(PrincipalKind.ORGANISATION, str(org))


STAFF = Caller(PrincipalKind.STAFF, "s-1", frozenset({Role.RECEPTION}))
EVENTS = Caller(PrincipalKind.SERVICE, "events")


def test_an_organisation_cancels_its_own_future_reservation() -> None:
    org = uuid4()
    assert check_cancel(Held(org, at(MONDAY, 12), False), as_org(org), NOW) is None


def test_cancelling_anothers_reservation_is_not_owner_but_staff_may() -> None:
    held = Held(uuid4(), at(MONDAY, 12), False)
    rejection = check_cancel(held, as_org(uuid4()), NOW)
    assert rejection is not None and rejection.reason is RejectionReason.NOT_OWNER
    assert check_cancel(held, STAFF, NOW) is None


def test_the_events_service_cancels_only_its_sessions_venues() -> None:
    plain = Held(uuid4(), at(MONDAY, 12), False)
    venue = Held(uuid4(), at(MONDAY, 12), False, session_id=uuid4())
    assert check_cancel(venue, EVENTS, NOW) is None
    rejection = check_cancel(plain, EVENTS, NOW)
    assert rejection is not None and rejection.reason is RejectionReason.NOT_OWNER


def test_a_device_cancels_nothing() -> None:
    held = Held(uuid4(), at(MONDAY, 12), False)
    assert check_cancel(held, Caller(PrincipalKind.DEVICE, "kiosk"), NOW) is not None


def test_cancelling_an_unknown_or_cancelled_reservation_is_not_found() -> None:
    org = uuid4()
    for held in (None, Held(org, at(MONDAY, 12), True)):
        rejection = check_cancel(held, as_org(org), NOW)
        assert rejection is not None and rejection.reason is RejectionReason.NOT_FOUND


def test_a_reservation_that_has_ended_cannot_be_cancelled() -> None:
    org = uuid4()
    rejection = check_cancel(Held(org, at(MONDAY, 12), False), as_org(org), at(MONDAY, 13))
    assert rejection is not None and rejection.reason is RejectionReason.OUT_OF_WINDOW


# --- who sent it -------------------------------------------------------------------------------


def test_the_channel_is_the_proven_senders() -> None:
    assert channel_of(STAFF) is Channel.STAFF
    assert channel_of(as_org(uuid4())) is Channel.WEB
    assert channel_of(Caller(PrincipalKind.DEVICE, "kiosk")) is Channel.KIOSK
    assert channel_of(EVENTS) is Channel.EVENTS


def test_an_organisation_acts_only_in_its_own_name_staff_for_any() -> None:
    org = uuid4()
    assert acts_for(as_org(org), org)
    assert not acts_for(as_org(org), uuid4())
    assert acts_for(STAFF, uuid4())


def test_the_kiosk_books_for_today_only() -> None:
    kiosk = Caller(PrincipalKind.DEVICE, "kiosk-lab")
    today = NOW.astimezone(TOKYO).date()
    later_today = datetime.combine(today, time(17), tzinfo=TOKYO)
    assert check_sender(kiosk, uuid4(), later_today, NOW) is None
    refused = check_sender(kiosk, uuid4(), later_today + timedelta(days=1), NOW)
    assert refused is not None and refused.reason is RejectionReason.FORBIDDEN
    assert check_sender(STAFF, uuid4(), later_today + timedelta(days=1), NOW) is None


def test_an_organisation_is_recognised_however_its_token_writes_its_id() -> None:
    org = uuid4()
    written_otherwise = Caller(PrincipalKind.ORGANISATION, str(org).upper())
    assert acts_for(written_otherwise, org)
    assert check_cancel(Held(org, at(MONDAY, 12), False), written_otherwise, NOW) is None
    assert not acts_for(Caller(PrincipalKind.ORGANISATION, "not-an-id"), org)


# --- decisions moved out of the handlers ---------------------------------------------------------


def test_an_early_renewal_adds_a_term_to_the_current_one_and_a_late_one_starts_today() -> None:
    from services.booking.domain import renewed_until

    now = datetime(2027, 4, 1, 10, tzinfo=TOKYO)
    still_valid = datetime(2027, 6, 30, tzinfo=TOKYO)
    lapsed = datetime(2027, 1, 31, tzinfo=TOKYO)
    assert renewed_until(now, still_valid, DEFAULT_POLICY) == datetime(2030, 6, 30, tzinfo=TOKYO)
    assert renewed_until(now, lapsed, DEFAULT_POLICY) == datetime(2030, 4, 1, 10, tzinfo=TOKYO)


def test_staff_and_event_sessions_book_for_the_city() -> None:
    from uuid import uuid4

    from contracts.booking import Channel
    from services.booking.domain import on_behalf_of_city

    assert on_behalf_of_city(Channel.STAFF, None)
    assert on_behalf_of_city(Channel.WEB, uuid4())
    assert not on_behalf_of_city(Channel.WEB, None) and not on_behalf_of_city(Channel.KIOSK, None)
