"""Who may do what on Kafka: the principals and the whole ACL table, in one place.

ARCHITECTURE.md, "Security": every service and client authenticates as its own principal, and
the broker refuses whatever this table does not allow (``allow.everyone.if.no.acl.found=false``),
so a client that reaches the broker can neither forge a service's events nor read them. The local
stack (``deploy/local``) and the compose file's set-up step both apply this table with
``python -m deploy.kafka_setup``, so the two can never differ.

The principals: one per service of ``services/registry.py`` (a service added there gets its
principal at once), the clients ``kiosk`` and ``web``, and ``admin``, the super user that only
the stack's own set-up and the tests that observe topics use (it needs no ACL).

What each service does on Kafka is declared in :data:`TRAFFIC` (held to each service's
``ServiceSpec`` by ``tests/unit/test_kafka_acls.py``); the grants follow from it, least privilege:

* a service reads the topics it consumes, in consumer groups named after it (prefix: the test
  stacks run extra groups such as ``notify_crash``);
* it writes its own events, the dead-letter topic beside each topic it consumes, and the command
  topics of other services it sends to;
* it creates, describes and alters the settings of the topics it owns (its events, the command
  topics it consumes, their dead-letter topics): services create their own topics at start
  (``services/runtime/topics.py``), and the set-up creates every declared topic beforehand, so
  no service waits for another's topics;
* a client only writes command topics, and reads nothing: answers reach clients over HTTP
  from the services, never from events topics full of other people's contact details.

Only the standard library and the stdlib-only contract of topics are imported: the local stack
reads this table before the project's dependencies are installed.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import IntEnum

from contracts.topics import (
    BOOKING_COMMANDS,
    BOOKING_EVENTS,
    COMMAND_TOPICS,
    CONSULTATION_COMMANDS,
    CONSULTATION_EVENTS,
    NOTIFY_COMMANDS,
    NOTIFY_EVENTS,
    PROGRAM_COMMANDS,
    PROGRAM_EVENTS,
    Topic,
    owned_topics,
)
from services import registry
from services.registry import Service

ADMIN = "admin"
CLIENTS: Mapping[str, tuple[Topic, ...]] = {
    # the kiosk registers, books and checks in at the center (the Lab, and program
    # registrants at their session)
    "kiosk": (BOOKING_COMMANDS, PROGRAM_COMMANDS),
    # the public and staff pages send every kind of command (newsletter, programs, consultations)
    "web": COMMAND_TOPICS,
}


@dataclass(frozen=True)
class Traffic:
    """What one service does on Kafka."""

    consumes: tuple[Topic, ...]
    produces: tuple[Topic, ...]  # its own events
    sends: tuple[Topic, ...] = ()  # other services' command topics it sends commands to

    def owned(self) -> tuple[Topic, ...]:
        """The topics this service creates and keeps configured (the same rule its
        ``ServiceSpec`` follows at start)."""
        return owned_topics(self.consumes, self.produces)


TRAFFIC: Mapping[str, Traffic] = {
    "booking": Traffic(consumes=(BOOKING_COMMANDS,), produces=(BOOKING_EVENTS,)),
    "notify": Traffic(
        consumes=(BOOKING_EVENTS, NOTIFY_COMMANDS, PROGRAM_EVENTS), produces=(NOTIFY_EVENTS,)
    ),
    # learns organisations and their standing from booking's events; publishes nothing
    "identity": Traffic(consumes=(BOOKING_EVENTS,), produces=()),
    # programs and registrations; books its sessions' venues by sending booking's commands
    "events": Traffic(
        consumes=(PROGRAM_COMMANDS, BOOKING_EVENTS),
        produces=(PROGRAM_EVENTS,),
        sends=(BOOKING_COMMANDS,),
    ),
    # the desk's cases; acknowledges intake through notify (a reference number and an address)
    "consultation": Traffic(
        consumes=(CONSULTATION_COMMANDS,), produces=(CONSULTATION_EVENTS,), sends=(NOTIFY_COMMANDS,)
    ),
}


class Resource(IntEnum):
    """Kafka's resource types, by their protocol numbers."""

    TOPIC = 2
    GROUP = 3


class Pattern(IntEnum):
    LITERAL = 3
    PREFIXED = 4


class Operation(IntEnum):
    """Kafka's ACL operations, by their protocol numbers. READ and WRITE imply DESCRIBE."""

    READ = 3
    WRITE = 4
    CREATE = 5
    DESCRIBE = 8
    DESCRIBE_CONFIGS = 10
    ALTER_CONFIGS = 11


@dataclass(frozen=True, order=True)
class Grant:
    """One ALLOW entry: ``User:<principal>`` may ``operation`` on a resource from any host."""

    principal: str
    resource: Resource
    name: str
    pattern: Pattern
    operation: Operation

    @property
    def kafka_principal(self) -> str:
        return f"User:{self.principal}"


def principals(services: Iterable[Service] | None = None) -> tuple[str, ...]:
    """Every SCRAM user a stack creates: admin, one per service of the registry (read at each
    call), the clients."""
    found = registry.SERVICES if services is None else services
    return (ADMIN, *(s.name for s in found if not s.client), *CLIENTS)


def password_variable(principal: str) -> str:
    """Where a deployment passes a principal's password to the set-up: KAFKA_PASSWORD_<NAME>."""
    return "KAFKA_PASSWORD_" + principal.upper().replace("-", "_")


def _topic(principal: str, topic: Topic, *operations: Operation) -> list[Grant]:
    return [Grant(principal, Resource.TOPIC, topic.name, Pattern.LITERAL, op) for op in operations]


def service_grants(name: str, traffic: Traffic) -> list[Grant]:
    grants = [Grant(name, Resource.GROUP, name, Pattern.PREFIXED, Operation.READ)]
    for topic in traffic.consumes:
        grants += _topic(name, topic, Operation.READ, Operation.DESCRIBE)
        grants += _topic(name, topic.dlq, Operation.WRITE)
    for topic in (*traffic.produces, *traffic.sends):
        grants += _topic(name, topic, Operation.WRITE)
    for topic in traffic.owned():
        grants += _topic(
            name,
            topic,
            Operation.CREATE,
            Operation.DESCRIBE,
            Operation.DESCRIBE_CONFIGS,
            Operation.ALTER_CONFIGS,
        )
    return grants


def acl_table(
    services: Iterable[Service] | None = None, traffic: Mapping[str, Traffic] = TRAFFIC
) -> tuple[Grant, ...]:
    """Every ALLOW entry the broker holds, sorted and without repeats. A service of the
    registry without a declaration in ``traffic`` is an error: it could not start without
    its grants, and the reason would be hidden in its log."""
    grants: set[Grant] = set()
    for service in registry.SERVICES if services is None else services:
        if service.client:  # logs in as its client principal (CLIENTS)
            continue
        if service.name not in traffic:
            raise KeyError(f"service {service.name!r} has no Kafka traffic in deploy/kafka_acls.py")
        grants.update(service_grants(service.name, traffic[service.name]))
    for client, topics in CLIENTS.items():
        for topic in topics:
            grants.update(_topic(client, topic, Operation.WRITE))
    return tuple(sorted(grants))


def declared_topics(
    services: Iterable[Service] | None = None, traffic: Mapping[str, Traffic] = TRAFFIC
) -> tuple[Topic, ...]:
    """Every topic the services of the registry own, once: what the set-up creates."""
    found: dict[str, Topic] = {}
    for service in registry.SERVICES if services is None else services:
        if service.client:
            continue
        for topic in traffic[service.name].owned():
            found.setdefault(topic.name, topic)
    return tuple(found.values())


def render(table: Iterable[Grant]) -> str:
    """The table as text, one entry a line (``python -m deploy.kafka_acls``)."""
    return "\n".join(
        f"{g.kafka_principal:<16} {g.operation.name:<17} {g.resource.name.lower()}"
        f" {g.name}{'*' if g.pattern is Pattern.PREFIXED else ''}"
        for g in table
    )


if __name__ == "__main__":
    print(render(acl_table()))
