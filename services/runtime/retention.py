"""Tables that stop growing: what the runtime keeps of each message is kept for RETENTION_DAYS.

- `inbox` rows (a consumed message id and its replies), and the published `outbox` rows those
  replies point to, are kept together for the same time: a command retried inside the retention
  is answered again with its first answer and never acted on twice. A retry arriving later than
  that is no longer recognised and is handled as a new command (README, "Retention").
- Finished `scheduled_jobs` (done, cancelled, failed) are forgotten after the same time.
- Outbox rows set aside (Kafka could never take them) are kept for an operator to look at.
- The `audit_log` (what staff did, every refused command) is kept for AUDIT_RETENTION_DAYS, two
  years by default: long enough to answer for a fiscal year and the one before it, and no
  longer, as it names people.

Rows are deleted in slices of PURGE_SLICE, each in its own short transaction, so a purge never
holds locks long on tables the consumers write to. The cut-off comes from the service's clock
while the rows are stamped by the database's: with CLOCK_SHIFT_S the purge acts as if that much
time had passed since they were written, which is how it is rehearsed and tested.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta

import asyncpg

from services.runtime.clock import Clock

log = logging.getLogger(__name__)

PURGE_SLICE = 5_000

# (table, condition on rows old enough to go, whether the audit's retention applies); $1 is the
# cut-off
PURGES = (
    ("inbox", "received_at < $1", False),
    ("outbox", "published_at < $1", False),
    ("scheduled_jobs", "status <> 'pending' AND coalesce(done_at, due_at) < $1", False),
    ("audit_log", "at < $1", True),
)
AUDIT_DAYS = 730.0


@dataclass(frozen=True)
class Retention:
    days: float
    audit_days: float = AUDIT_DAYS

    async def purge(self, pool: asyncpg.Pool, clock: Clock) -> dict[str, int]:
        """Delete what is older than the retention; the number of rows deleted per table."""
        now = clock.now()
        deleted = {}
        for table, old, audit in PURGES:
            cutoff = now - timedelta(days=self.audit_days if audit else self.days)
            total = 0
            while True:
                status: str = await pool.execute(
                    f"DELETE FROM {table} WHERE ctid = ANY(ARRAY("
                    f"  SELECT ctid FROM {table} WHERE {old} LIMIT {PURGE_SLICE}))",
                    cutoff,
                )
                count = int(status.split()[-1])
                total += count
                if count < PURGE_SLICE:
                    break
            deleted[table] = total
        if any(deleted.values()):
            log.info("retention purge deleted %s", deleted)
        return deleted
