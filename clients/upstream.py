"""HTTP clients for calling the services, gated so that a crowd of callers waits cheaply.

httpx's connection pool looks through every waiting request each time a connection frees up:
with hundreds of pages waiting on one service at once, that scan took most of the web client's
CPU (tests/bench/web.py: 200 people, 33 pages/s, the process at one full core, three quarters of
its samples in the pool's request assignment). Here a request first waits on a semaphore as
wide as the pool, so the pool never holds more requests than connections and its scans stay
short; waiting on a semaphore costs nothing per waiter.
"""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

IN_FLIGHT = 50  # requests (and connections) to one service at a time, per process


class Upstream(httpx.AsyncClient):
    """An AsyncClient whose requests (body included) pass a gate of `in_flight` at a time."""

    def __init__(self, base_url: str, *, in_flight: int = IN_FLIGHT, **options: Any) -> None:
        limits = httpx.Limits(max_connections=in_flight, max_keepalive_connections=in_flight)
        super().__init__(base_url=base_url, limits=limits, **options)
        self._gate = asyncio.Semaphore(in_flight)

    async def send(self, request: httpx.Request, **options: Any) -> httpx.Response:
        if options.get("stream"):  # a streamed body is read after send: the gate cannot cover it
            return await super().send(request, **options)
        async with self._gate:  # send reads the whole body before it returns
            return await super().send(request, **options)
