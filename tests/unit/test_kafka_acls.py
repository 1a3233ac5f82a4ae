"""The ACL table (deploy/kafka_acls.py): least privilege, derived from the registry."""

from __future__ import annotations

import pytest

from contracts.topics import (
    BOOKING_COMMANDS,
    BOOKING_EVENTS,
    COMMAND_TOPICS,
    CONSULTATION_COMMANDS,
    CONSULTATION_EVENTS,
    EVENT_TOPICS,
    NOTIFY_COMMANDS,
    NOTIFY_EVENTS,
    PROGRAM_COMMANDS,
    PROGRAM_EVENTS,
)
from deploy.kafka_acls import (
    ADMIN,
    CLIENTS,
    TRAFFIC,
    Grant,
    Operation,
    Pattern,
    Resource,
    Traffic,
    acl_table,
    declared_topics,
    principals,
)
from services.registry import SERVICES, Service

TABLE = acl_table()


def allowed(
    principal: str, operation: Operation, topic: str, table: tuple[Grant, ...] = TABLE
) -> bool:
    return any(
        g.principal == principal and g.operation is operation and g.resource is Resource.TOPIC
        and g.name == topic
        for g in table
    )  # fmt: skip


def writers(topic: str, table: tuple[Grant, ...] = TABLE) -> set[str]:
    return {g.principal for g in table if g.operation is Operation.WRITE and g.name == topic}


def readers(topic: str, table: tuple[Grant, ...] = TABLE) -> set[str]:
    return {g.principal for g in table if g.operation is Operation.READ and g.name == topic}


def test_every_service_of_the_registry_and_each_client_has_a_principal() -> None:
    assert set(principals()) == {ADMIN, *(s.name for s in SERVICES), "kiosk", "web"}


def test_a_service_added_to_the_registry_gets_its_principal_and_grants() -> None:
    events = Service("events", 8084)
    traffic = {**TRAFFIC, "events": Traffic(consumes=(BOOKING_EVENTS,), produces=(),
                                            sends=(BOOKING_COMMANDS,))}  # fmt: skip
    table = acl_table((*SERVICES, events), traffic)
    assert "events" in principals((*SERVICES, events))
    assert allowed("events", Operation.READ, BOOKING_EVENTS.name, table)
    assert allowed("events", Operation.WRITE, BOOKING_COMMANDS.name, table)
    assert not allowed("events", Operation.ALTER_CONFIGS, BOOKING_COMMANDS.name, table)


def test_a_service_without_a_traffic_declaration_is_refused() -> None:
    with pytest.raises(KeyError, match="no Kafka traffic"):
        acl_table((*SERVICES, Service("archive", 8089)), TRAFFIC)


def test_no_client_reads_anything() -> None:
    for client in CLIENTS:
        mine = [g for g in TABLE if g.principal == client]
        assert mine and all(g.operation is Operation.WRITE for g in mine), client
        assert all(g.resource is Resource.TOPIC for g in mine)


def test_clients_write_command_topics_only_and_the_kiosk_only_bookings_and_check_ins() -> None:
    commands = {t.name for t in COMMAND_TOPICS}
    for client in CLIENTS:
        assert {g.name for g in TABLE if g.principal == client} <= commands
    kiosk = {g.name for g in TABLE if g.principal == "kiosk"}
    assert kiosk == {BOOKING_COMMANDS.name, PROGRAM_COMMANDS.name}
    assert not allowed("kiosk", Operation.WRITE, NOTIFY_COMMANDS.name)


def test_only_booking_writes_booking_events_and_only_notify_notify_events() -> None:
    assert writers(BOOKING_EVENTS.name) == {"booking"}
    assert writers(NOTIFY_EVENTS.name) == {"notify"}
    assert not allowed("booking", Operation.WRITE, NOTIFY_EVENTS.name)


def test_identity_reads_booking_events_and_writes_only_their_dead_letters() -> None:
    """Identity publishes nothing: a dead letter of booking.events is all it may write, on the
    topic notify, the other consumer of booking.events, writes its own to as well."""
    mine = [g for g in TABLE if g.principal == "identity"]
    assert {g.name for g in mine if g.operation is Operation.WRITE} == {BOOKING_EVENTS.dlq.name}
    assert allowed("identity", Operation.READ, BOOKING_EVENTS.name)
    assert not allowed("identity", Operation.CREATE, BOOKING_EVENTS.name)
    assert writers(BOOKING_EVENTS.dlq.name) == {"identity", "notify", "events"}


def test_events_reads_programs_and_booking_events_writes_its_events_and_venue_requests() -> None:
    assert readers(PROGRAM_COMMANDS.name) == {"events"}
    assert writers(PROGRAM_EVENTS.name) == {"events"}
    assert allowed("events", Operation.READ, BOOKING_EVENTS.name)
    assert allowed("events", Operation.WRITE, BOOKING_COMMANDS.name)
    assert not allowed("events", Operation.READ, BOOKING_COMMANDS.name)
    assert not allowed("events", Operation.ALTER_CONFIGS, BOOKING_COMMANDS.name)


def test_every_events_topic_is_read_only_by_services_that_consume_it() -> None:
    for topic in EVENT_TOPICS:
        consumers = {name for name, t in TRAFFIC.items() if topic in t.consumes}
        assert readers(topic.name) == consumers & {s.name for s in SERVICES}


def test_consultation_topics_are_read_only_by_the_consultation_service() -> None:
    consultation = Service("consultation", 8085)
    traffic = {**TRAFFIC, "consultation": Traffic(consumes=(CONSULTATION_COMMANDS,),
                                                  produces=(CONSULTATION_EVENTS,))}  # fmt: skip
    table = acl_table((*SERVICES, consultation), traffic)
    assert readers(CONSULTATION_COMMANDS.name, table) == {"consultation"}
    assert readers(CONSULTATION_EVENTS.name, table) == set()
    assert writers(CONSULTATION_EVENTS.name, table) == {"consultation"}


def test_every_service_can_read_what_it_consumes_in_its_own_groups() -> None:
    for name, traffic in TRAFFIC.items():
        for topic in traffic.consumes:
            assert allowed(name, Operation.READ, topic.name), (name, topic.name)
            assert allowed(name, Operation.WRITE, topic.dlq.name), (name, topic.dlq.name)
        group = Grant(name, Resource.GROUP, name, Pattern.PREFIXED, Operation.READ)
        assert group in TABLE


def test_a_service_configures_only_the_topics_it_owns() -> None:
    assert allowed("notify", Operation.ALTER_CONFIGS, NOTIFY_COMMANDS.name)
    assert not allowed("notify", Operation.ALTER_CONFIGS, BOOKING_EVENTS.name)
    assert not allowed("notify", Operation.CREATE, BOOKING_EVENTS.name)


def test_the_declarations_match_what_each_service_consumes_and_produces(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """TRAFFIC is held to each service's own ServiceSpec, so the grants follow the code."""
    import importlib

    monkeypatch.setenv("DEVELOPMENT", "1")
    for service in (s for s in SERVICES if not s.client):  # a client has no spec
        spec = importlib.import_module(f"{service.module}.app").build_spec()
        traffic = TRAFFIC[service.name]
        assert [s.topic for s in spec.subscriptions] == list(traffic.consumes), service.name
        assert list(spec.produces) == list(traffic.produces), service.name
        assert list(spec.sends) == list(traffic.sends), service.name
        assert spec.owned_topics() == traffic.owned(), service.name


def test_command_topics_keep_the_brokers_append_time() -> None:
    for topic in COMMAND_TOPICS:
        assert topic.config["message.timestamp.type"] == "LogAppendTime"
    created = {t.name: t for t in declared_topics()}
    assert created[BOOKING_COMMANDS.name].config["message.timestamp.type"] == "LogAppendTime"
    assert "message.timestamp.type" not in created[BOOKING_EVENTS.name].config
