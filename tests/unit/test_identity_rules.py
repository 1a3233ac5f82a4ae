"""The identity service's pure rules: throttles, session and link lifetimes, secrets, addresses,
organisation standing, staff account changes and the CSRF check."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import uuid4

import pytest

from contracts.identity import Role
from services.identity import addresses, domain, lifetimes, throttle
from services.identity.domain import Organisation, StaffAccount, Standing
from services.identity.settings import IdentitySettings

T0 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
MIN = timedelta(minutes=1)
LOCK = throttle.Lockout(limit=5, window=15 * MIN, lockout=15 * MIN)


def minutes(*offsets: float) -> list[datetime]:
    return [T0 + offset * MIN for offset in offsets]


# --- password lockout ------------------------------------------------------------------------


def test_four_failures_do_not_lock() -> None:
    assert throttle.locked_until(minutes(0, 1, 2, 3), T0 + 4 * MIN, LOCK) is None


def test_the_fifth_failure_within_fifteen_minutes_locks_for_fifteen_minutes_from_it() -> None:
    failures = minutes(0, 1, 2, 3, 10)
    assert throttle.locked_until(failures, T0 + 11 * MIN, LOCK) == T0 + 25 * MIN
    assert throttle.locked_until(failures, T0 + 24 * MIN, LOCK) == T0 + 25 * MIN


def test_the_lock_ends_after_fifteen_minutes() -> None:
    assert throttle.locked_until(minutes(0, 1, 2, 3, 10), T0 + 25 * MIN, LOCK) is None


def test_five_failures_spread_over_more_than_the_window_do_not_lock() -> None:
    assert throttle.locked_until(minutes(0, 4, 8, 12, 16), T0 + 17 * MIN, LOCK) is None


def test_the_lock_counts_from_the_latest_run_of_failures() -> None:
    failures = minutes(0, 1, 2, 3, 4, 10)  # a lock from minute 4, extended by the failure at 10
    assert throttle.locked_until(failures, T0 + 20 * MIN, LOCK) == T0 + 25 * MIN


def test_failures_after_now_are_not_counted() -> None:
    assert throttle.locked_until(minutes(0, 1, 2, 3, 30), T0 + 5 * MIN, LOCK) is None


# --- sliding window of link requests ----------------------------------------------------------


def test_a_full_window_frees_when_its_oldest_request_leaves_it() -> None:
    rule = throttle.Window(limit=3, window=15 * MIN)
    assert throttle.window_full_until(minutes(0, 5), T0 + 6 * MIN, rule) is None
    assert throttle.window_full_until(minutes(0, 5, 6), T0 + 7 * MIN, rule) == T0 + 15 * MIN
    assert throttle.window_full_until(minutes(0, 5, 6), T0 + 15 * MIN, rule) is None


def test_retry_after_is_whole_seconds_and_at_least_one() -> None:
    assert throttle.retry_after_s(T0 + timedelta(seconds=90.2), T0) == 91
    assert throttle.retry_after_s(T0, T0) == 1


# --- sessions and links -------------------------------------------------------------------------

LIFE = lifetimes.SessionLifetime(absolute=timedelta(hours=12), idle=timedelta(hours=1))


def test_a_session_used_within_the_hour_lives_on() -> None:
    assert lifetimes.session_valid(T0, T0 + 50 * MIN, T0 + 109 * MIN, LIFE)


def test_a_session_idle_for_an_hour_ends() -> None:
    assert not lifetimes.session_valid(T0, T0 + 50 * MIN, T0 + 110 * MIN, LIFE)


def test_a_session_ends_twelve_hours_after_sign_in_however_busy() -> None:
    now = T0 + timedelta(hours=12)
    assert not lifetimes.session_valid(T0, now - MIN, now, LIFE)
    assert lifetimes.session_valid(T0, now - MIN, now - timedelta(seconds=1), LIFE)


def test_a_session_is_not_valid_before_it_began() -> None:
    assert not lifetimes.session_valid(T0, T0, T0 - MIN, LIFE)


def test_a_link_works_for_fifteen_minutes_unless_configured(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Once, and the expiry itself, are judged in SQL (`store.consume_link`): see
    tests/middle/test_identity_organisations.py (an expired link, two presses at once)."""
    monkeypatch.delenv("LINK_MINUTES", raising=False)
    assert IdentitySettings.from_env("http://127.0.0.1:1").link_lifetime == 15 * MIN
    monkeypatch.setenv("LINK_MINUTES", "5")
    assert IdentitySettings.from_env("http://127.0.0.1:1").link_lifetime == 5 * MIN


def test_secrets_are_random_and_stored_as_digests() -> None:
    one, two = lifetimes.new_secret(), lifetimes.new_secret()
    assert one != two and len(one) >= 43
    assert lifetimes.digest(one) == lifetimes.digest(one) != lifetimes.digest(two)
    assert lifetimes.plausible(one)


@pytest.mark.parametrize("offered", ["", "a" * 129, "abc def", "abc\x00", "ｘｙｚ", "a/b"])
def test_what_cannot_be_a_secret_is_not_looked_up(offered: str) -> None:
    assert not lifetimes.plausible(offered)


# --- addresses --------------------------------------------------------------------------------


def test_an_address_is_compared_in_lower_case() -> None:
    assert addresses.normalise("  Hanako.Yamada@Example.ORG ") == "hanako.yamada@example.org"


def test_a_domain_in_another_script_is_taken_in_its_ascii_form() -> None:
    assert addresses.normalise("user@例え.jp") == "user@xn--r8jz45g.jp"


@pytest.mark.parametrize(
    "typed",
    [
        "",
        "no-at-sign",
        "a@b@example.org",
        "山田@example.org",
        "x@example.org\r\nBcc: victim@example.org",
        "x@example.org\nX-Injected: 1",
        "Hanako <x@example.org>",
        "x@example.org, y@example.org",
        "a" * 250 + "@example.org",
        "x\x00@example.org",
    ],
)
def test_what_is_not_one_plain_address_is_refused(typed: str) -> None:
    with pytest.raises(addresses.AddressRefused):
        addresses.normalise(typed)


# --- organisations ----------------------------------------------------------------------------


def organisation(**changes: Any) -> Organisation:
    base = Organisation(uuid4(), "港北みどりの会", "hanako@example.org",
                        valid_until=T0 + timedelta(days=365))  # fmt: skip
    return replace(base, **changes)


def test_a_registered_organisation_in_its_term_is_active() -> None:
    assert domain.standing(organisation(), T0) is Standing.ACTIVE


def test_suspension_outranks_everything_until_reinstated() -> None:
    assert domain.standing(organisation(suspended=True), T0) is Standing.SUSPENDED
    assert domain.standing(organisation(suspended=True, expired=True), T0) is Standing.SUSPENDED


def test_an_organisation_is_expired_when_booking_says_so_or_its_term_has_run_out() -> None:
    assert domain.standing(organisation(expired=True), T0) is Standing.EXPIRED
    assert domain.standing(organisation(valid_until=T0), T0) is Standing.EXPIRED


def test_renewal_ends_expiry() -> None:
    org = domain.renewed(organisation(expired=True), T0 + timedelta(days=1000))
    assert domain.standing(org, T0) is Standing.ACTIVE


def test_a_new_contact_is_a_change_a_new_name_is_not() -> None:
    before = organisation()
    assert domain.contact_changed(
        before, Organisation(**{**before.__dict__, "contact_key": "new@example.org"})
    )
    assert not domain.contact_changed(before, Organisation(**{**before.__dict__, "name": "x"}))
    assert not domain.contact_changed(None, before)


# --- staff accounts ---------------------------------------------------------------------------


@pytest.mark.parametrize(("typed", "name"), [
    (" Sato.Ichiro ", "sato.ichiro"), ("a1", "a1"), ("x" * 64, "x" * 64),
    ("", None), ("a", None), ("x" * 65, None), ("sato ichiro", None), ("佐藤", None),
    ("-sato", None), ("sato\n", "sato"), ("sa\x00to", None),
])  # fmt: skip
def test_a_typed_username_names_one_account_or_none(typed: str, name: str | None) -> None:
    assert domain.normalise_username(typed) == name


ADMIN = StaffAccount("admin", "Admin", frozenset({Role.ADMINISTRATOR}))
SECOND = StaffAccount("second", "Second", frozenset({Role.ADMINISTRATOR, Role.AUDITOR}))
RECEPTION = StaffAccount("front", "Front", frozenset({Role.RECEPTION}))


def test_the_last_administrator_keeps_the_role_and_the_account() -> None:
    accounts = [ADMIN, RECEPTION]
    assert domain.last_administrator_refusal(accounts, "admin", {Role.AUDITOR}, False)
    assert domain.last_administrator_refusal(accounts, "admin", {Role.ADMINISTRATOR}, True)
    assert domain.last_administrator_refusal(accounts, "admin", {Role.ADMINISTRATOR}, False) is None


def test_an_administrator_may_step_down_when_another_remains() -> None:
    assert domain.last_administrator_refusal([ADMIN, SECOND], "admin", set(), True) is None


def test_a_disabled_administrator_does_not_count_as_one_remaining() -> None:
    gone = StaffAccount("second", "Second", frozenset({Role.ADMINISTRATOR}), disabled=True)
    assert domain.last_administrator_refusal([ADMIN, gone], "admin", set(), False)


def test_other_accounts_change_freely() -> None:
    assert domain.last_administrator_refusal([ADMIN, RECEPTION], "front", set(), True) is None


def test_without_any_administrator_account_other_accounts_still_change() -> None:
    assert domain.last_administrator_refusal([RECEPTION], "front", set(), True) is None


# --- CSRF -------------------------------------------------------------------------------------

OURS = {"https://identity.example.org"}


def test_a_cookie_authenticated_post_needs_the_custom_header() -> None:
    assert domain.csrf_refusal({}, OURS, cookie_authenticated=True)
    assert domain.csrf_refusal({"x-requested-by": "web"}, OURS, cookie_authenticated=True) is None


def test_a_post_from_another_origin_is_refused_whatever_it_carries() -> None:
    headers = {"origin": "https://evil.example.net", "x-requested-by": "web"}
    assert domain.csrf_refusal(headers, OURS, cookie_authenticated=False)
    assert domain.csrf_refusal(headers, OURS, cookie_authenticated=True)


def test_our_own_origin_and_no_origin_at_all_pass_without_a_cookie() -> None:
    assert domain.csrf_refusal({"origin": "https://IDENTITY.example.org"}, OURS, False) is None
    assert domain.csrf_refusal({}, OURS, cookie_authenticated=False) is None


def test_origin_of_a_url_is_scheme_and_host() -> None:
    assert domain.origin_of("https://Identity.example.org:8443/x?y") == (
        "https://identity.example.org:8443"
    )
