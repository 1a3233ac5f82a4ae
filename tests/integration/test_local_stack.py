"""The embedded local stack really works: PostgreSQL with btree_gist, a Kafka round trip, mail
stored by the SMTP sink, Prometheus ready, the registry's services started as `make up` starts
them and scraped by Prometheus, and ``stop()`` leaving no process behind.

It runs on its own root and ports (moved by ``TEST_STACK_SLOT`` like the test stack's), so it does
not disturb `make up` or the other test stacks.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import json
import mailbox
import shutil
import smtplib
import subprocess
import time
import urllib.request
import uuid
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path

import asyncpg
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from deploy.local.__main__ import up
from deploy.local.stack import INFRA, Stack, StackConfig
from deploy.local.supervisor import proc_start_time
from services.registry import processes
from tests.notify_support import sink_in_process
from tests.support import PORT_OFFSET, SLOT, as_admin

pytestmark = pytest.mark.stack

ROOT = Path(__file__).resolve().parents[2] / ".local" / f"test-stack{f'-{SLOT}' if SLOT else ''}"
CONFIG = StackConfig(
    root=ROOT,
    kafka_port=29192 + PORT_OFFSET,
    postgres_port=25532 + PORT_OFFSET,
    smtp_port=2625 + PORT_OFFSET,
    prometheus_port=29190 + PORT_OFFSET,
    # every registry service once, as `make up` runs them, on ports of this test's own, below
    # the ephemeral range (32768 and up), where an outgoing connection of any other process
    # (the test stack's services hold dozens) may hold the very port and the bind fails
    services=processes(port_offset=10000 + PORT_OFFSET),
)


@pytest.fixture(scope="module")
def local_stack() -> Iterator[Stack]:
    shutil.rmtree(ROOT, ignore_errors=True)
    stack = Stack(CONFIG)
    stack.install()
    try:
        stack.start_infrastructure(prometheus=True)
        yield stack
    finally:
        stack.stop()


async def test_postgres_accepts_connections_and_btree_gist(local_stack: Stack) -> None:
    admin = await asyncpg.connect(local_stack.postgres_dsn("postgres"))
    try:
        await admin.execute("CREATE DATABASE stack_check")
    finally:
        await admin.close()
    conn = await asyncpg.connect(local_stack.postgres_dsn("stack_check"))
    try:
        await conn.execute("CREATE EXTENSION IF NOT EXISTS btree_gist")
        await conn.execute(
            "CREATE TABLE slot (space int, during tstzrange,"
            " EXCLUDE USING gist (space WITH =, during WITH &&))"
        )
        await conn.execute("INSERT INTO slot VALUES (1, '[2030-01-01 10:00Z, 2030-01-01 12:00Z)')")
        with pytest.raises(asyncpg.exceptions.ExclusionViolationError):
            await conn.execute(
                "INSERT INTO slot VALUES (1, '[2030-01-01 11:00Z, 2030-01-01 13:00Z)')"
            )
    finally:
        await conn.close()


async def test_kafka_topic_and_round_trip(local_stack: Stack) -> None:
    bootstrap = local_stack.kafka_bootstrap
    topic = f"stack-check-{uuid.uuid4().hex[:8]}"
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, **as_admin())
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, num_partitions=3, replication_factor=1)])
    finally:
        await admin.close()

    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, enable_idempotence=True, **as_admin())
    await producer.start()
    try:
        await producer.send_and_wait(topic, b"hello", key=b"aggregate-1")
    finally:
        await producer.stop()

    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id="stack-check",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        **as_admin(),
    )
    await consumer.start()
    try:
        message = await asyncio.wait_for(consumer.getone(), timeout=30)
        await consumer.commit()
    finally:
        await consumer.stop()
    assert (message.key, message.value) == (b"aggregate-1", b"hello")


def test_smtp_sink_stores_one_maildir_file(local_stack: Stack) -> None:
    message = EmailMessage()
    message["From"] = "center@example.org"
    message["To"] = "member@example.org"
    message["Subject"] = "予約が確定しました"
    message.set_content("スペースAの予約が確定しました。")
    with smtplib.SMTP("127.0.0.1", CONFIG.smtp_port, timeout=10) as client:
        client.send_message(message)

    maildir = mailbox.Maildir(local_stack.maildir, create=False)
    keys = maildir.keys()
    assert len(keys) == 1
    stored = email.message_from_bytes(maildir.get_bytes(keys[0]), policy=email.policy.default)
    assert stored["X-Envelope-To"] == "member@example.org"
    assert stored["Subject"] == "予約が確定しました"
    assert "スペースA" in stored.get_body().get_content()  # type: ignore[union-attr]


def test_smtp_sink_refuses_matching_recipients(tmp_path: Path) -> None:
    with (
        sink_in_process(tmp_path / "mail", fail_rcpt=r"@bounce\.") as port,
        smtplib.SMTP("127.0.0.1", port, timeout=10) as client,
    ):
        refused = client.sendmail(
            "center@example.org", ["ok@example.org", "gone@bounce.example"], b"Subject: x\n\nx"
        )
    assert refused == {"gone@bounce.example": (550, b"5.1.1 mailbox unavailable")}
    assert len(list(mailbox.Maildir(tmp_path / "mail", create=False))) == 1


def test_prometheus_is_ready_with_rules(local_stack: Stack) -> None:
    with urllib.request.urlopen(f"{local_stack.prometheus_url}/-/ready", timeout=5) as response:
        assert response.status == 200
    with urllib.request.urlopen(f"{local_stack.prometheus_url}/api/v1/rules", timeout=5) as rules:
        assert b"OutboxBacklogHigh" in rules.read()


def scraped_services(prometheus_url: str) -> dict[tuple[str, str], str]:
    """(job, instance) -> health of every target Prometheus found for the services."""
    with urllib.request.urlopen(f"{prometheus_url}/api/v1/targets", timeout=5) as response:
        targets = json.load(response)["data"]["activeTargets"]
    return {
        (t["labels"]["job"], t["labels"]["instance"]): t["health"]
        for t in targets
        if t["scrapePool"] == "services"
    }


def test_prometheus_scrapes_every_registry_service_the_stack_started(local_stack: Stack) -> None:
    up(local_stack, infra_only=False)  # `make up`, on this test's root and ports
    wanted = {(p.service.name, f"127.0.0.1:{p.http_port}"): "up" for p in CONFIG.services}
    assert {name for name, _ in wanted} == {
        "booking", "notify", "identity", "events", "consultation", "web",
    }  # fmt: skip
    deadline = time.monotonic() + 60  # file discovery settles in 5 s, a scrape every 15 s
    while (found := scraped_services(local_stack.prometheus_url)) != wanted:
        assert time.monotonic() < deadline, found
        time.sleep(1)


def test_the_rendered_prometheus_config_is_valid(local_stack: Stack) -> None:
    if shutil.which("promtool") is None:
        pytest.skip("promtool is not installed")
    rendered = local_stack.root / "prometheus" / "prometheus.yml"
    done = subprocess.run(
        ["promtool", "check", "config", str(rendered)], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "WARNING" not in done.stdout + done.stderr  # e.g. a targets file that is missing


def test_stop_leaves_no_process_behind(local_stack: Stack) -> None:
    names = [*INFRA, *(p.name for p in CONFIG.services)]
    pids = {name: local_stack.pid(name) for name in names}
    assert all(pid is not None for pid in pids.values()), pids

    local_stack.stop()

    alive = {name: pid for name, pid in pids.items() if pid and proc_start_time(pid)}
    assert alive == {}
    assert not any(status.alive for status in local_stack.status())
    assert list((ROOT / "pids").glob("*.pid")) == []


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool is not installed")
def test_prometheus_config_and_alert_rules() -> None:
    folder = Path(__file__).resolve().parents[2] / "deploy" / "prometheus"
    for args in (
        ["check", "config", "prometheus.yml"],
        ["check", "config", "prometheus.compose.yml"],
        ["test", "rules", "alerts.test.yml"],
    ):
        done = subprocess.run(
            ["promtool", *args], cwd=folder, capture_output=True, text=True, check=False
        )
        assert done.returncode == 0, done.stdout + done.stderr
