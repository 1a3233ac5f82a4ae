"""Newsletter fan-out throughput on the whole local stack, into the local SMTP sink.

    python -m tests.bench.notify [--subscribers 5000,50000] [--connections 16] [--profile]

For each size: a fresh notify process with its own database and sink, that many active
subscribers, one issue published on Kafka and released at once. Prints messages/s, total time
from release to the last 'sent' mark (on the database's clock), the peak resident memory (VmHWM)
of the notify process, and the CPU seconds of notify (per message too), of the sink, and of
PostgreSQL and Kafka beside them.

Then the limit, in the same run: a fresh sink of the same kind given the same number of the same
message by a bare sender: `--connections` pooled aiosmtplib connections, no database, no
rendering, nothing to record. It is measured just before notify sends (the message composed by
notify's own code for the issue) and just after (one notify delivered, read back from its sink),
as the sink's speed drifts by a tenth or more over a minute on this machine. Prints both rates
and notify's ratio to their mean. Every sink keeps its Maildir in memory (/dev/shm, where there
is one): on this machine's disk, creating and renaming a file per message cost the sink from 1.5
to 6.2 s of system time for the same 20,000 messages in consecutive runs (1.1-1.2 s on tmpfs),
so the limit followed the disk's mood instead of SMTP and the sink's own work.

Goals on this 2-core machine: 50,000 in 60 s or less, 0.4 ms of notify CPU per message or less,
peak RSS 100 MB or less, ratio 0.8 or more. Runs on its own stack under `.local/bench-notify`.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import aiosmtplib
import asyncpg
import httpx
import uvloop

from contracts.identity import Role
from deploy.local.stack import Stack, StackConfig
from services.notify import store
from services.notify.sender import Composer, SenderSettings
from tests.bench.booking import cpu_seconds, peak_rss_mb
from tests.bench.profile import Profile, print_top
from tests.identity_support import http_headers, staff_token
from tests.notify_support import (
    NotifyInstance,
    Sink,
    addresses,
    development_settings,
    publish_issue,
    seed_subscribers,
    send_now,
)
from tests.support import value_of

ROOT = Path(__file__).resolve().parents[2] / ".local" / "bench-notify"
SHM = Path("/dev/shm")
MAIL = SHM / "bench-notify-mail" if SHM.is_dir() else ROOT / "mail"
PORTS: dict[str, Any] = {
    "kafka_port": 39292,
    "postgres_port": 35632,
    "smtp_port": 3725,
    "prometheus_port": 39390,
}
NOTIFY_PORT, SINK_PORT, BARE_SINK_PORT = 38282, 3726, 3727
# How often the editor's progress page is read while the issue goes out. Each reading counts the
# issue's deliveries (50,000 rows): read ten times a second, as this benchmark once did, it cost
# PostgreSQL about 2 s of CPU a run, work an editor's page, read every few seconds, never asks.
PROGRESS_EVERY_S = 1.0
BODY = "## センターからのお知らせ\n\n" + "市民協働の催しと助成金の情報をお届けします。\n\n" * 20


async def run_size(stack: Stack, size: int, connections: int, profile: bool = False) -> None:
    instance = NotifyInstance(
        stack, f"notify-{size}", NOTIFY_PORT, SINK_PORT,
        {"SEND_RATE": "0", "SMTP_CONNECTIONS": str(connections), "LEASE_SIZE": "1000",
         "LOG_LEVEL": "WARNING"},
        mail_root=MAIL,
    )  # fmt: skip
    instance.sink.start()
    instance.start()
    try:
        pid, sink_pid = stack.pid(instance.name), instance.sink.process
        assert pid is not None and sink_pid is not None
        await seed_subscribers(instance.dsn, addresses("bench", size))
        issue = await publish_issue(stack.kafka_bootstrap, "ベンチマーク号", BODY)
        before = await bare_limit(
            stack, size, connections, await composed(instance, issue), "before"
        )
        beside = {name: stack.pid(name) for name in ("postgres", "kafka")}
        cpu0, sink0 = cpu_seconds(pid), cpu_seconds(sink_pid.pid)
        beside0 = {name: cpu_seconds(p) for name, p in beside.items()}
        sampled = Profile(pid, ROOT / f"notify-{size}.profile.txt", 20) if profile else None
        await send_now(instance.dsn, issue)
        if sampled is not None:
            await sampled.start()
        async with httpx.AsyncClient(timeout=10) as http:
            while True:
                editor = http_headers(staff_token(Role.NEWSLETTER_EDITOR))
                url = f"{instance.url}/newsletters/{issue}"
                progress = (await http.get(url, headers=editor)).json()
                if progress["recipients"] and progress["remaining"] == 0:
                    break
                await asyncio.sleep(PROGRESS_EVERY_S)
        elapsed = await sending_time(instance.dsn, issue)
        delivered = sum(1 for _ in os.scandir(instance.sink.maildir / "new"))
        cpu = cpu_seconds(pid) - cpu0
        others = {name: cpu_seconds(p) - beside0[name] for name, p in beside.items()}
        print(
            f"{size:>7} subscribers: sent {progress['sent']:>6} (failed {progress['failed']}),"
            f" sink holds {delivered:>6}; {elapsed:6.1f} s,"
            f" {progress['sent'] / elapsed:6.0f} msg/s;"
            f" notify peak RSS {peak_rss_mb(pid):5.0f} MB, CPU {cpu:5.1f} s"
            f" ({1000 * cpu / max(progress['sent'], 1):.2f} ms/msg);"
            f" sink CPU {cpu_seconds(sink_pid.pid) - sink0:5.1f} s,"
            + "".join(f" {name} CPU {seconds:5.1f} s," for name, seconds in others.items())
            + f" of {elapsed * (os.cpu_count() or 1):.0f} s the cores had",
            flush=True,
        )
        sample = one_message(instance.sink.maildir / "new")
        if sampled is not None:
            await sampled.finish()
            print_top(sampled.out, f"notify sending {size}")
    finally:
        instance.stop()
        instance.sink.stop()
    after = await bare_limit(stack, size, connections, sample, "after")
    limit = (before.rate + after.rate) / 2
    print(f"{'':>7}  limit: a bare pooled sender ({connections} connections, no database) into a"
          f" fresh sink, before and after: {before}, {after}; notify ="
          f" {progress['sent'] / elapsed / limit:.2f} of their mean (goal 0.80)",
          flush=True)  # fmt: skip


async def sending_time(dsn: str, issue: object) -> float:
    """Seconds from the moment the issue was released (its fan-out due) to its last 'sent'
    mark, both on the database's clock: exact whatever the polling interval."""
    seconds = await value_of(
        dsn,
        "SELECT extract(epoch FROM (SELECT max(sent_at) FROM deliveries WHERE issue_id = $1)"
        " - (SELECT due_at FROM scheduled_jobs WHERE kind = 'newsletter.fan_out'"
        "    AND key = $1::text))::float8",
        issue,
    )
    return float(seconds)


def one_message(folder: Path) -> bytes:
    """A message notify delivered, as it sent it: the sink's envelope headers taken off."""
    raw = next(os.scandir(folder)).path
    lines = Path(raw).read_bytes().split(b"\n")
    kept = [x for x in lines if not x.startswith((b"Return-Path:", b"X-Envelope-To:"))]
    return b"\n".join(kept)


@dataclass(frozen=True)
class Limit:
    rate: float  # messages/s
    sink_cpu_s: float
    sender_cpu_s: float

    def __str__(self) -> str:
        return (f"{self.rate:.0f} msg/s (sink CPU {self.sink_cpu_s:.1f} s,"
                f" sender CPU {self.sender_cpu_s:.1f} s)")  # fmt: skip


async def composed(instance: NotifyInstance, issue: UUID) -> bytes:
    """The issue's message to one made-up subscriber, composed by notify's own code once the
    instance has stored the issue: what the limit sends before notify has delivered any."""
    pool = await asyncpg.create_pool(instance.dsn, min_size=1, max_size=1)
    try:
        async with asyncio.timeout(30):
            while not await pool.fetchval("SELECT 1 FROM newsletter_issues WHERE id = $1", issue):
                await asyncio.sleep(0.2)
        mail_from = SenderSettings.from_env().mail_from
        composer = Composer(pool, mail_from, development_settings(instance.url))
        item = store.Due(
            id=1, public_id=uuid4(), kind="newsletter", source_id=issue,
            recipient="bare@example.org", subject="", body="", attempts=1, lease=uuid4(),
            issue_id=issue, subscriber=uuid4(),
        )  # fmt: skip
        return await composer.message(item)
    finally:
        await pool.close()


async def bare_limit(
    stack: Stack, count: int, connections: int, message: bytes, label: str
) -> Limit:
    """Messages/s a fresh sink accepts from `connections` pooled aiosmtplib connections
    sending `message` to `count` recipients, as fast as they can; with the CPU seconds of the
    sink and of the sender (this process) meanwhile."""
    sink = Sink(BARE_SINK_PORT, MAIL / f"bare-{count}-{label}",
                stack.logs / f"smtp-bare-{count}-{label}.log")  # fmt: skip
    sink.start()
    try:
        recipients = iter(addresses("bare", count))

        async def connection() -> int:
            smtp = aiosmtplib.SMTP(hostname="127.0.0.1", port=BARE_SINK_PORT)
            await smtp.connect()
            sent = 0
            try:
                for to in recipients:  # one shared iterator: each address taken once
                    await smtp.sendmail("center@example.org", [to], message)
                    sent += 1
            finally:
                await smtp.quit()
            return sent

        assert sink.process is not None
        sink0, sender0 = cpu_seconds(sink.process.pid), time.process_time()
        started = time.perf_counter()
        sent = sum(await asyncio.gather(*(connection() for _ in range(connections))))
        elapsed = time.perf_counter() - started
        assert sent == count, (sent, count)
        return Limit(
            count / elapsed,
            cpu_seconds(sink.process.pid) - sink0,
            time.process_time() - sender0,
        )
    finally:
        sink.stop()
        shutil.rmtree(sink.maildir, ignore_errors=True)


async def main(sizes: list[int], connections: int, profile: bool) -> None:
    shutil.rmtree(ROOT, ignore_errors=True)
    shutil.rmtree(MAIL, ignore_errors=True)
    MAIL.mkdir(parents=True)
    stack = Stack(StackConfig(root=ROOT, **PORTS))
    stack.install()
    try:
        stack.start_infrastructure(prometheus=False)
        for size in sizes:
            await run_size(stack, size, connections, profile)
    finally:
        stack.stop()
        shutil.rmtree(MAIL, ignore_errors=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--subscribers", default="5000,50000")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--profile", action="store_true", help="sample notify with py-spy")
    args = parser.parse_args()
    sizes = [int(s) for s in args.subscribers.split(",")]
    uvloop.run(main(sizes, args.connections, args.profile))
