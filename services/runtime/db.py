"""PostgreSQL: the service's own database, its pool, and numbered SQL migrations.

Migrations run at service start, in file-name order, each in its own transaction, under an advisory
lock so that two instances starting together do not race. The runtime's own tables (outbox, inbox)
come first, then the service's.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar
from urllib.parse import urlsplit, urlunsplit

import asyncpg

log = logging.getLogger(__name__)

T = TypeVar("T")
U = TypeVar("U")

RUNTIME_MIGRATIONS = Path(__file__).parent / "migrations"
MIGRATION_LOCK = 7_402_511  # any constant; shared by every instance of one database


async def meanwhile(statement: Awaitable[T], work: Callable[[], U]) -> tuple[T, U]:
    """Send a statement, do `work` (CPU, no await) while the database runs it, then take its
    result: the service and the database work at the same time instead of in turn. The
    statement is waited for whatever `work` does, so its connection is free again for the
    transaction's rollback."""
    running = asyncio.ensure_future(statement)
    try:
        await asyncio.sleep(0)  # the statement leaves
        done = work()
    except BaseException:
        await asyncio.gather(running, return_exceptions=True)
        raise
    return await running, done


async def ensure_database(dsn: str) -> None:
    """Create the service's database when it does not exist yet (one database per service)."""
    parts = urlsplit(dsn)
    name = parts.path.lstrip("/")
    admin_dsn = urlunsplit(parts._replace(path="/postgres"))
    conn = await asyncpg.connect(admin_dsn)
    try:
        exists = await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name)
        if not exists:
            try:
                await conn.execute(f'CREATE DATABASE "{name}"')
                log.info("created database %s", name)
            except asyncpg.DuplicateDatabaseError:
                pass
    finally:
        await conn.close()


async def _keep_session(conn: asyncpg.Connection) -> None:
    """What a connection handed back to the pool needs beyond asyncpg's own rollback of a
    transaction left open: nothing. asyncpg's default sends a reset query (release advisory locks,
    close cursors, unlisten, reset settings) on every release, a round trip each time a
    connection is handed back. No service keeps session state on a pooled connection: none
    changes a session setting, listens or leaves a cursor open, and advisory locks are taken for
    the transaction (`pg_advisory_xact_lock`); the one session lock, the migrations', is
    released by the code that takes it."""


async def create_pool(dsn: str, max_size: int = 10) -> asyncpg.Pool:
    pool = await asyncpg.create_pool(dsn, min_size=1, max_size=max_size, reset=_keep_session)
    assert pool is not None
    return pool


def migration_files(*folders: Path) -> list[tuple[str, Path]]:
    """(name, path) of every migration, runtime first; the name records where it came from."""
    files: list[tuple[str, Path]] = []
    for folder in folders:
        for path in sorted(folder.glob("*.sql")):
            files.append((f"{folder.parent.name}/{path.name}", path))
    return files


async def migrate(pool: asyncpg.Pool, service_migrations: Path) -> list[str]:
    """Apply what has not been applied yet; return the names applied now."""
    applied_now: list[str] = []
    async with pool.acquire() as conn:
        await conn.execute("SELECT pg_advisory_lock($1)", MIGRATION_LOCK)
        try:
            await conn.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations ("
                " name text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())"
            )
            done = {r["name"] for r in await conn.fetch("SELECT name FROM schema_migrations")}
            for name, path in migration_files(RUNTIME_MIGRATIONS, service_migrations):
                if name in done:
                    continue
                async with conn.transaction():
                    await conn.execute(path.read_text(encoding="utf-8"))
                    await conn.execute("INSERT INTO schema_migrations (name) VALUES ($1)", name)
                applied_now.append(name)
                log.info("applied migration %s", name)
        finally:
            await conn.execute("SELECT pg_advisory_unlock($1)", MIGRATION_LOCK)
    return applied_now
