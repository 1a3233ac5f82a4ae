"""Which errors are a passing fault of the surroundings, and how any error is described safely.

A transient error (a lost connection, PostgreSQL restarting or shutting down, a network timeout)
says nothing about the message or job at hand: the work is retried as it is. Anything else is the
work's own fault and is dealt with there (dead letter, failed job, delivery given up).

Descriptions of errors travel into Kafka headers, jsonb columns and log lines. They can carry
hostile input (a validation message quoting a field, an exception text), so they are cut to a
bound and cleaned of what those places cannot hold: NUL and other control characters, lone
surrogates.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable

import asyncpg

TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (
    OSError,  # includes ConnectionError and socket timeouts
    TimeoutError,
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,  # includes a connection closed under us
    # admin shutdown, crash shutdown, "the database system is starting up"
    asyncpg.exceptions.OperatorInterventionError,
    asyncpg.exceptions.InsufficientResourcesError,  # too many connections, disk full
)


async def stopped(stop: Awaitable[None]) -> None:
    """Await a Kafka client's stop. aiokafka's consumer, stopped while one of its fetches waits
    out a retry after a broker went away, re-raises that fetch's cancellation: not a
    cancellation of the caller, and it must not cut short what the caller does next (a
    service's last outbox round, closing its pool). The caller's own cancellation goes on."""
    try:
        await stop
    except asyncio.CancelledError:
        task = asyncio.current_task()
        if task is not None and task.cancelling():
            raise


_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def clean(text: str, limit: int = 300) -> str:
    """`text` cut to `limit` characters, with control characters and lone surrogates replaced,
    so that it fits a header, a jsonb value or a log line whatever it held."""
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    text = text.encode("utf-8", "replace").decode("utf-8")
    return _CONTROL.sub(" ", text)


def is_transient(exc: BaseException) -> bool:
    return isinstance(exc, TRANSIENT_ERRORS)


RACE_ERRORS: tuple[type[BaseException], ...] = (
    asyncpg.exceptions.TransactionRollbackError,  # deadlock, serialization failure
    asyncpg.exceptions.LockNotAvailableError,  # lock timeout
)
"""Two transactions met: neither message is at fault, and retrying the batch settles it."""

RETRY_BATCH_ERRORS = TRANSIENT_ERRORS + RACE_ERRORS
