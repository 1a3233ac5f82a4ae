"""Answers of a service shared, for a moment, between the pages that ask the same question.

Two hundred people looking at what is free this week ask booking the same four questions over
and over; sharing each answer for a second (and one fetch between all who ask while it runs)
keeps the pages fast and booking's read API calm. A second-old answer is as good as a fresh one
for browsing: booking decides a request against its own state, and the outcome page shows that.
A failed fetch is never kept; the next page asks again.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class ShortLived(Generic[K, V]):
    def __init__(
        self,
        seconds: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        most: int = 1024,
    ) -> None:
        self.seconds, self.clock, self.most = seconds, clock, most
        self.entries: dict[K, tuple[float, asyncio.Future[V]]] = {}

    def __len__(self) -> int:
        return len(self.entries)

    async def get(self, key: K, fetch: Callable[[], Awaitable[V]]) -> V:
        now = self.clock()
        found = self.entries.get(key)
        if found is None or (found[1].done() and now - found[0] >= self.seconds):
            if len(self.entries) >= self.most:
                self.forget_old(now)
                if len(self.entries) >= self.most:  # that many questions at once: not kept
                    return await fetch()
            found = (now, asyncio.ensure_future(fetch()))
            self.entries[key] = found
        try:
            # shielded: a page that gives up does not cancel the fetch the others wait for
            return await asyncio.shield(found[1])
        except Exception:
            if self.entries.get(key) is found:
                del self.entries[key]
            raise

    def forget_old(self, now: float) -> None:
        for key, (at, future) in list(self.entries.items()):
            if future.done() and now - at >= self.seconds:
                del self.entries[key]
