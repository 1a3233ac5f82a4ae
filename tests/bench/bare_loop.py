"""The limit of this machine for booking's decision loop, written with nothing but aiokafka and
asyncpg: what the booking benchmark compares the service against, in the same run, on the same
broker and database.

    python -m tests.bench.bare_loop --bootstrap HOST:PORT --dsn postgresql://...

The loop: a consumer group reads requests in batches; per batch one transaction inserts one row
per request into a table with an exclusion constraint (ON CONFLICT DO NOTHING, so that a conflict
answers its request without undoing the others), one statement per request as a decision needs
its own answer; a reply per request goes
out with an idempotent producer; offsets are committed after the replies are acknowledged. Its
consumer fetches as booking's does (`FETCH_MAX_WAIT_MS`). No parsing beyond JSON, no
validation, no inbox, no outbox: only what any correct loop must do.
`--pipelined` sends a batch's inserts in one pipelined round (executemany) instead: the ceiling
of a loop that needs no answer per statement.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
from datetime import datetime

import asyncpg
import uvloop
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError

from services.runtime.service import FETCH_MAX_WAIT_MS
from tests.support import as_admin

REQUESTS = "bench.bare.requests"
REPLIES = "bench.bare.replies"
PARTITIONS = 6

# The claims table as booking's (services/booking/migrations/004): rooms are an enum there.
SCHEMA = """
CREATE EXTENSION IF NOT EXISTS btree_gist;
DO $$ BEGIN
    CREATE TYPE bare_room AS ENUM ('a', 'b', 'atrium');
EXCEPTION WHEN duplicate_object THEN NULL;
END $$;
CREATE TABLE IF NOT EXISTS bare_claims (
    request_id uuid PRIMARY KEY,
    room bare_room NOT NULL,
    during tstzrange NOT NULL,
    EXCLUDE USING gist (room WITH =, during WITH &&)
);
"""
CLAIM = (
    "INSERT INTO bare_claims (request_id, room, during)"
    " VALUES ($1::uuid, $2::bare_room, tstzrange($3::timestamptz, $4::timestamptz))"
    " ON CONFLICT DO NOTHING"
)


async def ensure_topics(bootstrap: str) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, **as_admin())
    await admin.start()
    try:
        await admin.create_topics([NewTopic(t, PARTITIONS, 1) for t in (REQUESTS, REPLIES)])
    except TopicAlreadyExistsError:
        pass
    finally:
        await admin.close()


async def run(bootstrap: str, dsn: str, max_batch: int, pipelined: bool) -> None:
    await ensure_topics(bootstrap)
    pool = await asyncpg.create_pool(dsn, min_size=1, max_size=2)
    assert pool is not None
    await pool.execute(SCHEMA)
    consumer = AIOKafkaConsumer(
        REQUESTS, bootstrap_servers=bootstrap, group_id="bare-loop",
        enable_auto_commit=False, auto_offset_reset="earliest",
        fetch_max_wait_ms=FETCH_MAX_WAIT_MS, **as_admin(),
    )  # fmt: skip
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, enable_idempotence=True,
                                linger_ms=2, **as_admin())  # fmt: skip
    await consumer.start()
    await producer.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    print("bare loop ready", flush=True)
    try:
        while not stop.is_set():
            batches = await consumer.getmany(timeout_ms=100, max_records=max_batch)
            records = [r for rs in batches.values() for r in rs]
            if not records:
                continue
            requests = [json.loads(r.value) for r in records]
            rows = [
                (q["request_id"], q["room"], datetime.fromisoformat(q["starts_at"]),
                 datetime.fromisoformat(q["ends_at"]))
                for q in requests
            ]  # fmt: skip
            async with pool.acquire() as conn, conn.transaction():
                if pipelined:
                    await conn.executemany(CLAIM, rows)
                else:
                    for row in rows:
                        await conn.execute(CLAIM, *row)
            sends = [
                await producer.send(
                    REPLIES, json.dumps({"request_id": q["request_id"]}).encode(), key=r.key
                )
                for q, r in zip(requests, records, strict=True)
            ]
            await asyncio.gather(*sends)
            await consumer.commit()
    finally:
        await consumer.stop()
        await producer.stop()
        await pool.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--bootstrap", required=True)
    parser.add_argument("--dsn", required=True)
    parser.add_argument("--max-batch", type=int, default=2000)  # as booking's MAX_BATCH
    parser.add_argument("--pipelined", action="store_true")
    args = parser.parse_args()
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(run(args.bootstrap, args.dsn, args.max_batch, args.pipelined))


if __name__ == "__main__":
    main()
