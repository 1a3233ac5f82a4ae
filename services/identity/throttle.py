"""How often someone may try: pure rules over the times of earlier attempts.

Two kinds of limits, both kept in PostgreSQL (table `attempts`) so that every instance of the
service counts the same attempts:

* A lockout, for passwords: after `limit` failures within `window`, refuse for `lockout` from the
  last of them. Counted per account (the username as typed, known or not, so an unknown name is
  throttled exactly like a real one) and per client address (guessing across many accounts).
  Refused attempts are not counted: the lock ends `lockout` after the failure that set it.
* A sliding window, for sign-in links: at most `limit` requests within `window`, per e-mail
  address (no mail bombing of one mailbox) and per client address.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol


class Rule(Protocol):
    """What a route needs of a limit: how far back attempts matter, and when it lets one in."""

    @property
    def remembered(self) -> timedelta: ...

    def until(self, times: Iterable[datetime], now: datetime) -> datetime | None: ...


@dataclass(frozen=True)
class Lockout:
    limit: int = 5
    window: timedelta = timedelta(minutes=15)
    lockout: timedelta = timedelta(minutes=15)

    @property
    def remembered(self) -> timedelta:
        """How far back failures matter at all: older ones can neither start nor extend a lock."""
        return self.window + self.lockout

    def until(self, times: Iterable[datetime], now: datetime) -> datetime | None:
        return locked_until(times, now, self)


@dataclass(frozen=True)
class Window:
    limit: int = 3
    window: timedelta = timedelta(minutes=15)

    @property
    def remembered(self) -> timedelta:
        return self.window

    def until(self, times: Iterable[datetime], now: datetime) -> datetime | None:
        return window_full_until(times, now, self)


def locked_until(failures: Iterable[datetime], now: datetime, rule: Lockout) -> datetime | None:
    """The end of the lock in force at `now`, or None: a lock starts whenever `limit` failures
    lie within `window` of each other and lasts `lockout` from the last of them."""
    times = sorted(t for t in failures if t <= now)
    until: datetime | None = None
    for last in range(rule.limit - 1, len(times)):
        if times[last] - times[last - rule.limit + 1] <= rule.window:
            end = times[last] + rule.lockout
            until = end if until is None or end > until else until
    return until if until is not None and now < until else None


def window_full_until(requests: Iterable[datetime], now: datetime, rule: Window) -> datetime | None:
    """When the next request will be allowed, or None when one is allowed now: `limit` requests
    within the `window` before `now` fill it until the oldest of them leaves it."""
    recent = sorted(t for t in requests if now - rule.window < t <= now)
    if len(recent) < rule.limit:
        return None
    return recent[-rule.limit] + rule.window


def retry_after_s(until: datetime, now: datetime) -> int:
    """The Retry-After header's whole seconds, at least 1."""
    return max(1, math.ceil((until - now).total_seconds()))
