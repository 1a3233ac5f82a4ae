"""Kafka refuses whoever the ACL table does not allow (deploy/kafka_acls.py), on the real broker.

Every refusal is checked against an allowed twin where it matters, so a test cannot pass merely
because the broker is down or the topic missing.
"""

from __future__ import annotations

import asyncio
import shutil
import subprocess
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any
from uuid import uuid4

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaConnectionError, TopicAuthorizationFailedError

from clients.kiosk.client import BookingClient
from contracts.booking import OrganisationRegistered
from contracts.topics import BOOKING_COMMANDS, BOOKING_EVENTS, NOTIFY_COMMANDS, NOTIFY_EVENTS
from deploy.kafka_acls import Grant, Operation, Pattern, Resource, acl_table
from deploy.kafka_setup import apply_acls, current_acls, setup, wanted
from services.runtime.kafka_auth import KafkaCredentials, connection_kwargs
from tests.support import (
    System,
    as_admin,
    credentials,
    kcat_login,
    login,
    register,
    topic_records,
)

pytestmark = pytest.mark.stack

FIXTURES = Path(__file__).parents[1] / "contract" / "fixtures"
QUICK = {"request_timeout_ms": 5000, "retry_backoff_ms": 100}
LOG_APPEND_TIME = 1  # aiokafka's timestamp_type of a record stamped by the broker


@asynccontextmanager
async def producer(bootstrap: str, **kwargs: Any) -> AsyncIterator[AIOKafkaProducer]:
    p = AIOKafkaProducer(bootstrap_servers=bootstrap, **QUICK, **kwargs)
    try:
        await p.start()
        yield p
    finally:
        await p.stop()


async def written(bootstrap: str, topic: str, value: bytes, **kwargs: Any) -> None:
    async with producer(bootstrap, **kwargs) as p:
        await asyncio.wait_for(p.send_and_wait(topic, value, key=b"a"), 15)


async def test_an_anonymous_client_is_refused(system: System) -> None:
    with pytest.raises(KafkaConnectionError):
        async with producer(system.stack.kafka_bootstrap):
            pass


async def test_a_wrong_password_is_refused_and_the_right_one_accepted(system: System) -> None:
    bootstrap = system.stack.kafka_bootstrap
    wrong = connection_kwargs(KafkaCredentials("kiosk", "not-the-password"))
    with pytest.raises(KafkaConnectionError):
        async with producer(bootstrap, **wrong):
            pass
    await written(bootstrap, BOOKING_COMMANDS.name, b"{}", **login("kiosk"))


async def test_the_kiosk_writes_booking_commands_but_not_events_nor_newsletters(
    system: System,
) -> None:
    bootstrap = system.stack.kafka_bootstrap
    await written(bootstrap, BOOKING_COMMANDS.name, b"{}", **login("kiosk"))
    for topic in (BOOKING_EVENTS.name, NOTIFY_COMMANDS.name):
        with pytest.raises(TopicAuthorizationFailedError):
            await written(bootstrap, topic, b"{}", **login("kiosk"))


async def test_the_kiosk_cannot_read_booking_events(system: System, client: BookingClient) -> None:
    bootstrap = system.stack.kafka_bootstrap
    await register(client)  # booking.events holds at least this registration, with contacts
    assert await topic_records(bootstrap, BOOKING_EVENTS)  # admin sees it
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        **QUICK,
        **login("kiosk"),
    )
    await consumer.start()
    try:
        assert BOOKING_EVENTS.name not in await consumer.topics()
        tps = [TopicPartition(BOOKING_EVENTS.name, p) for p in range(BOOKING_EVENTS.partitions)]
        consumer.assign(tps)
        got = await consumer.getmany(*tps, timeout_ms=3000)  # aiokafka logs the refusal
        assert not any(got.values())
    finally:
        await consumer.stop()


async def test_a_forged_registration_on_booking_events_is_refused_by_the_broker(
    system: System, client: BookingClient
) -> None:
    await register(client)  # so that booking.events holds something to look through
    bootstrap = system.stack.kafka_bootstrap
    marker = f"偽造-{uuid4()}"
    forged = OrganisationRegistered.model_validate_json(
        (FIXTURES / "organisation.registered.v1.json").read_text("utf-8")
    ).model_copy(update={"name": marker})
    for principal in ("kiosk", "web"):
        with pytest.raises(TopicAuthorizationFailedError):
            await written(bootstrap, BOOKING_EVENTS.name, forged.model_dump_json().encode(),
                          **login(principal))  # fmt: skip
    on_topic = await topic_records(bootstrap, BOOKING_EVENTS)
    assert on_topic and not [r for r in on_topic if r.value and marker.encode() in r.value]


async def test_booking_cannot_write_notifys_events(system: System) -> None:
    bootstrap = system.stack.kafka_bootstrap
    with pytest.raises(TopicAuthorizationFailedError):
        await written(bootstrap, NOTIFY_EVENTS.name, b"{}", **login("booking"))
    await written(bootstrap, BOOKING_EVENTS.dlq.name, b"{}", **login("notify"))


async def test_a_command_keeps_the_brokers_time_whatever_the_producer_wrote(
    system: System,
) -> None:
    bootstrap = system.stack.kafka_bootstrap
    marker = f"stamp-{uuid4()}".encode()
    long_ago_ms = 946_684_800_000  # 2000-01-01
    async with producer(bootstrap, **login("kiosk")) as p:
        meta = await p.send_and_wait(BOOKING_COMMANDS.name, marker, key=b"a",
                                     timestamp_ms=long_ago_ms)  # fmt: skip
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False,
                                **as_admin())  # fmt: skip
    await consumer.start()
    try:
        tp = TopicPartition(BOOKING_COMMANDS.name, meta.partition)
        consumer.assign([tp])
        consumer.seek(tp, meta.offset)
        record = await asyncio.wait_for(consumer.getone(), 15)
    finally:
        await consumer.stop()
    assert record.value == marker
    assert record.timestamp_type == LOG_APPEND_TIME
    assert record.timestamp > long_ago_ms + 10 * 365 * 86_400_000


def kcat(system: System, *args: str, value: bytes = b"") -> subprocess.CompletedProcess[bytes]:
    tool = shutil.which("kcat")
    assert tool is not None, "the stack installs kcat"
    return subprocess.run(
        [tool, "-b", system.stack.kafka_bootstrap, "-m", "10", *args],
        input=value, capture_output=True, timeout=60, check=False,
    )  # fmt: skip


async def test_kcat_needs_a_login_and_gets_only_what_its_principal_may(system: System) -> None:
    anonymous = await asyncio.to_thread(kcat, system, "-L")
    assert anonymous.returncode != 0
    kiosk = kcat_login("kiosk")
    sent = await asyncio.to_thread(
        kcat, system, "-P", *kiosk, "-t", BOOKING_COMMANDS.name, value=b"{}"
    )
    assert sent.returncode == 0, sent.stderr
    refused = await asyncio.to_thread(
        kcat, system, "-P", *kiosk, "-t", BOOKING_EVENTS.name, value=b"{}"
    )
    assert b"authorization failed" in refused.stderr.lower()
    read = await asyncio.to_thread(kcat, system, "-C", *kiosk, "-t", BOOKING_EVENTS.name, "-e")
    assert read.returncode != 0 and b"authorization failed" in read.stderr.lower()
    watched = await asyncio.to_thread(
        kcat, system, "-C", *kcat_login("admin"), "-t", BOOKING_COMMANDS.name, "-o", "-1", "-e"
    )
    assert watched.returncode == 0, watched.stderr
    assert credentials("admin").password.encode() not in watched.stdout


async def test_the_set_up_removes_a_grant_the_table_no_longer_has(
    system: System, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A narrowed table really narrows: an entry of an older table is deleted, the table kept."""
    monkeypatch.setenv("DEVELOPMENT", "1")  # the set-up takes the development passwords
    bootstrap = system.stack.kafka_bootstrap
    stray = Grant("kiosk", Resource.TOPIC, NOTIFY_COMMANDS.name, Pattern.LITERAL, Operation.WRITE)
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, **as_admin())
    await admin.start()
    try:
        await apply_acls(admin, (*acl_table(), stray))
        await written(bootstrap, NOTIFY_COMMANDS.name, b"{}", **login("kiosk"))  # now allowed
        added, removed = await setup(bootstrap, credentials("admin"))
        assert (added, removed) == (0, 1)
        assert wanted([stray]) & await current_acls(admin) == set()
        assert wanted(acl_table()) <= await current_acls(admin)
    finally:
        await admin.close()
    with pytest.raises(TopicAuthorizationFailedError):
        await written(bootstrap, NOTIFY_COMMANDS.name, b"{}", **login("kiosk"))
