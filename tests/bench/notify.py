"""Newsletter fan-out throughput on the whole local stack, into the local SMTP sink.

    python -m tests.bench.notify [--subscribers 5000,50000] [--connections 16]

For each size: a fresh notify process with its own database and sink, that many active
subscribers, one issue published on Kafka and released at once. Prints messages/s, total time
from release to the last 'sent' mark, the peak resident memory (VmHWM) of the notify process, and
the CPU seconds of notify and of the sink. Targets on a 2-core machine: 5,000 in 10 s, 50,000 in
100 s, under 300 MB and flat as the list grows. Runs on its own stack under `.local/bench-notify`.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import time
from pathlib import Path
from typing import Any

import httpx
import uvloop

from contracts.identity import Role
from deploy.local.stack import Stack, StackConfig
from tests.identity_support import http_headers, staff_token
from tests.notify_support import (
    NotifyInstance,
    addresses,
    publish_issue,
    seed_subscribers,
    send_now,
)

ROOT = Path(__file__).resolve().parents[2] / ".local" / "bench-notify"
PORTS: dict[str, Any] = {
    "kafka_port": 39292,
    "postgres_port": 35632,
    "smtp_port": 3725,
    "prometheus_port": 39390,
}
NOTIFY_PORT, SINK_PORT = 38282, 3726
BODY = "## センターからのお知らせ\n\n" + "市民協働の催しと助成金の情報をお届けします。\n\n" * 20


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def run_size(stack: Stack, size: int, connections: int) -> None:
    instance = NotifyInstance(
        stack, f"notify-{size}", NOTIFY_PORT, SINK_PORT,
        {"SEND_RATE": "0", "SMTP_CONNECTIONS": str(connections), "LEASE_SIZE": "1000",
         "LOG_LEVEL": "WARNING"},
    )  # fmt: skip
    instance.sink.start()
    instance.start()
    try:
        pid, sink_pid = stack.pid(instance.name), instance.sink.process
        assert pid is not None and sink_pid is not None
        await seed_subscribers(instance.dsn, addresses("bench", size))
        issue = await publish_issue(stack.kafka_bootstrap, "ベンチマーク号", BODY)
        cpu0, sink0 = cpu_s(pid), cpu_s(sink_pid.pid)
        await send_now(instance.dsn, issue)
        started = time.perf_counter()
        async with httpx.AsyncClient(timeout=10) as http:
            while True:
                editor = http_headers(staff_token(Role.NEWSLETTER_EDITOR))
                url = f"{instance.url}/newsletters/{issue}"
                progress = (await http.get(url, headers=editor)).json()
                if progress["recipients"] and progress["remaining"] == 0:
                    break
                await asyncio.sleep(0.1)
        elapsed = time.perf_counter() - started
        delivered = sum(1 for _ in os.scandir(instance.sink.maildir / "new"))
        print(
            f"{size:>7} subscribers: sent {progress['sent']:>6} (failed {progress['failed']}),"
            f" sink holds {delivered:>6}; {elapsed:6.1f} s,"
            f" {progress['sent'] / elapsed:6.0f} msg/s;"
            f" notify peak RSS {peak_rss_mb(pid):5.0f} MB, CPU {cpu_s(pid) - cpu0:5.1f} s;"
            f" sink CPU {cpu_s(sink_pid.pid) - sink0:5.1f} s",
            flush=True,
        )
    finally:
        instance.stop()
        instance.sink.stop()


async def main(sizes: list[int], connections: int) -> None:
    shutil.rmtree(ROOT, ignore_errors=True)
    stack = Stack(StackConfig(root=ROOT, **PORTS))
    stack.install()
    try:
        stack.start_infrastructure(prometheus=False)
        for size in sizes:
            await run_size(stack, size, connections)
    finally:
        stack.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--subscribers", default="5000,50000")
    parser.add_argument("--connections", type=int, default=16)
    args = parser.parse_args()
    sizes = [int(s) for s in args.subscribers.split(",")]
    uvloop.run(main(sizes, args.connections))
