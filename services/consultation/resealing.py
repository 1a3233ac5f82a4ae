"""Step 3 of a key rotation (sealing.py): every stored value sealed with a key other than the
current one is sealed again with the current one, so the old key can then be dropped.

    python -m services.consultation reseal [--batch 200]

reads DATABASE_URL and CONSULTATION_SEALING_KEYS like the service and prints how many values it
resealed, and how many still carry an old key (0 once done). It runs beside the service, on any
number of hosts at once: each batch locks the rows it takes (FOR UPDATE SKIP LOCKED) in a short
transaction of its own, so it never holds up the desk for long, two runs never take the same row,
and a run stopped half-way is simply run again. Nothing of any value's content is printed.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Callable
from dataclasses import dataclass

import asyncpg

from services.consultation.sealing import SealingKeys, load_keys, reseal
from services.consultation.store import note_field, referral_field
from services.runtime.settings import env_str


@dataclass(frozen=True)
class Sealed:
    """Where one kind of sealed value is stored: its table, the column holding it, the row's
    key, and the field name a value of that row is bound to."""

    table: str
    column: str
    key: str
    field: Callable[[asyncpg.Record], str]


PLACES = (
    Sealed("case_content", "sealed", "(case_id, field)", lambda r: r["field"]),
    Sealed("case_notes", "sealed", "(id)", lambda r: note_field(r["id"])),
    Sealed("referrals", "details", "(id)", lambda r: referral_field(r["id"])),
)
# the id of the key a value was sealed with: its bytes 3 .. 2 + the length in its second byte
KEY_ID_SQL = "substring({column} from 3 for get_byte({column}, 1))"


def _old(place: Sealed) -> str:
    column = place.column
    return f"{column} IS NOT NULL AND {KEY_ID_SQL.format(column=column)} <> $1::bytea"


async def reseal_batch(pool: asyncpg.Pool, keys: SealingKeys, place: Sealed, size: int) -> int:
    """Reseal up to `size` values of one place; how many were."""
    columns = "case_id, field" if place.table == "case_content" else "id, case_id"
    async with pool.acquire() as conn, conn.transaction():
        rows = await conn.fetch(
            f"SELECT {columns}, {place.column} AS sealed FROM {place.table}"
            f" WHERE {_old(place)} LIMIT $2 FOR UPDATE SKIP LOCKED",
            keys.current.encode("ascii"),
            size,
        )
        if not rows:
            return 0
        fresh = [reseal(keys, r["case_id"], place.field(r), bytes(r["sealed"])) for r in rows]
        if place.table == "case_content":
            await conn.execute(
                "UPDATE case_content AS c SET sealed = v.sealed"
                " FROM unnest($1::uuid[], $2::text[], $3::bytea[]) AS v(case_id, field, sealed)"
                " WHERE c.case_id = v.case_id AND c.field = v.field",
                [r["case_id"] for r in rows], [r["field"] for r in rows], fresh,
            )  # fmt: skip
        else:
            kind = "bigint" if place.table == "case_notes" else "uuid"
            await conn.execute(
                f"UPDATE {place.table} AS t SET {place.column} = v.sealed"
                f" FROM unnest($1::{kind}[], $2::bytea[]) AS v(id, sealed) WHERE t.id = v.id",
                [r["id"] for r in rows], fresh,
            )  # fmt: skip
    return len(rows)


async def still_old(pool: asyncpg.Pool, keys: SealingKeys) -> int:
    """Values still sealed with a key other than the current one."""
    total = 0
    for place in PLACES:
        found: int = await pool.fetchval(
            f"SELECT count(*) FROM {place.table} WHERE {_old(place)}", keys.current.encode("ascii")
        )
        total += found
    return total


async def reseal_all(pool: asyncpg.Pool, keys: SealingKeys, size: int = 200) -> int:
    """Reseal every value under an old key, batch after batch; how many were."""
    done = 0
    for place in PLACES:
        while count := await reseal_batch(pool, keys, place, size):
            done += count
    return done


async def _run(size: int) -> int:
    keys = load_keys()
    dsn = env_str("DATABASE_URL", "postgresql://postgres@127.0.0.1:15432/consultation")
    pool = await asyncpg.create_pool(dsn, min_size=1, max_size=2)
    assert pool is not None
    try:
        done = await reseal_all(pool, keys, size)
        left = await still_old(pool, keys)
    finally:
        await pool.close()
    print(f"resealed {done} values with key {keys.current}; {left} still under an old key")
    return 0 if left == 0 else 1


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m services.consultation reseal",
                                     description=__doc__.split("\n\n")[0])  # fmt: skip
    parser.add_argument("--batch", type=int, default=200, help="values per transaction")
    args = parser.parse_args(argv)
    return asyncio.run(_run(max(1, args.batch)))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
