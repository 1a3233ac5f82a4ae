"""Bring a broker in line with ``deploy/kafka_acls.py``: a SCRAM user for every principal,
every declared topic created, and the ACL table applied exactly (entries missing are added,
entries no longer in the table are removed, so a narrowed grant really narrows).

    python -m deploy.kafka_setup --bootstrap 127.0.0.1:19092

Runs as the ``admin`` super user: KAFKA_USERNAME/KAFKA_PASSWORD, or with DEVELOPMENT=1 the
development password of ``admin``. A principal's password is read from
``KAFKA_PASSWORD_<PRINCIPAL>`` (``KAFKA_PASSWORD_BOOKING`` ...), or with DEVELOPMENT=1 from its
development password. The local stack runs this after the broker is up
(``deploy/local/components/kafka.py``); the compose file runs it as its ``kafka-setup`` step.

Why through aiokafka's protocol classes rather than Kafka's ``kafka-acls`` and ``kafka-configs``
tools: those start a JVM per principal and resource set (a dozen JVMs, a minute on a small
machine, for every test stack) and are not among the broker jars the local stack fetches, while
one Python connection sends the whole table in a few requests. aiokafka has no public ACL or
SCRAM methods, so these requests are built here from its protocol structures.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import logging
import os
import secrets
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import for_code
from aiokafka.protocol.admin import (
    CreateAclsRequest_v1,
    DeleteAclsRequest_v1,
    DescribeAclsRequest_v1,
)
from aiokafka.protocol.api import Request, RequestStruct, Response
from aiokafka.protocol.types import (
    CompactArray,
    CompactBytes,
    CompactString,
    Int8,
    Int16,
    Int32,
    Schema,
    TaggedFields,
)

from deploy.kafka_acls import (
    ADMIN,
    Grant,
    Operation,
    Pattern,
    Resource,
    acl_table,
    declared_topics,
    password_variable,
    principals,
)
from services.registry import token_issuers
from services.runtime.identity import PEOPLE_ISSUER, ensure_development_keys
from services.runtime.kafka_auth import (
    KafkaCredentials,
    connection_kwargs,
    credentials_from_env,
    development_password,
)
from services.runtime.secrets import SecretError, development_mode
from services.runtime.topics import ensure_topics

log = logging.getLogger(__name__)

ANY, ALLOW, MATCH_ANY = 1, 3, 1
ANY_HOST = "*"
EFFECTIVE_WITHIN_S = 30.0


class CreateAcls(Request[CreateAclsRequest_v1]):  # type: ignore[misc]  # aiokafka ships no type hints
    API_KEY = 30

    def __init__(self, grants: Iterable[Grant]) -> None:
        self.rows = [
            (g.resource, g.name, g.pattern, g.kafka_principal, ANY_HOST, g.operation, ALLOW)
            for g in grants
        ]

    def build(self, request_struct_class: type[CreateAclsRequest_v1]) -> CreateAclsRequest_v1:
        return request_struct_class(self.rows)


class DescribeAllAcls(Request[DescribeAclsRequest_v1]):  # type: ignore[misc]  # aiokafka ships no type hints
    API_KEY = 29

    def build(self, request_struct_class: type[DescribeAclsRequest_v1]) -> DescribeAclsRequest_v1:
        return request_struct_class(ANY, None, MATCH_ANY, None, None, ANY, ANY)


class DeleteAcls(Request[DeleteAclsRequest_v1]):  # type: ignore[misc]  # aiokafka ships no type hints
    API_KEY = 31

    def __init__(self, entries: Iterable[tuple[Any, ...]]) -> None:
        self.rows = list(entries)

    def build(self, request_struct_class: type[DeleteAclsRequest_v1]) -> DeleteAclsRequest_v1:
        return request_struct_class(self.rows)


# --- SCRAM users (AlterUserScramCredentials, API key 51, version 0) ----------------------------

SCRAM_MECHANISMS = {"SCRAM-SHA-256": (1, "sha256"), "SCRAM-SHA-512": (2, "sha512")}
SCRAM_ITERATIONS = 8192  # Kafka's minimum is 4096


class AlterUserScramCredentialsResponse_v0(Response):  # type: ignore[misc]  # aiokafka ships no type hints
    API_KEY = 51
    API_VERSION = 0
    SCHEMA = Schema(
        ("throttle_time_ms", Int32),
        (
            "results",
            CompactArray(
                ("user", CompactString("utf-8")),
                ("error_code", Int16),
                ("error_message", CompactString("utf-8")),
                ("tags", TaggedFields),
            ),
        ),
        ("tags", TaggedFields),
    )


class AlterUserScramCredentialsRequest_v0(RequestStruct):  # type: ignore[misc]  # aiokafka ships no type hints
    FLEXIBLE_VERSION = True
    API_KEY = 51
    API_VERSION = 0
    RESPONSE_TYPE = AlterUserScramCredentialsResponse_v0
    SCHEMA = Schema(
        (
            "deletions",
            CompactArray(("name", CompactString("utf-8")), ("mechanism", Int8),
                         ("tags", TaggedFields)),
        ),
        (
            "upsertions",
            CompactArray(
                ("name", CompactString("utf-8")),
                ("mechanism", Int8),
                ("iterations", Int32),
                ("salt", CompactBytes),
                ("salted_password", CompactBytes),
                ("tags", TaggedFields),
            ),
        ),
        ("tags", TaggedFields),
    )  # fmt: skip


class UpsertScramUsers(Request[AlterUserScramCredentialsRequest_v0]):  # type: ignore[misc]  # aiokafka ships no type hints
    """Set each user's SCRAM credentials. The broker never sees a password: the client sends a
    random salt and the salted password (RFC 5802's Hi(), which is PBKDF2 with HMAC)."""

    API_KEY = 51

    def __init__(self, passwords: dict[str, str], mechanism: str) -> None:
        code, digest = SCRAM_MECHANISMS[mechanism]
        self.rows: list[tuple[Any, ...]] = []
        for user, password in sorted(passwords.items()):
            salt = secrets.token_bytes(32)
            salted = hashlib.pbkdf2_hmac(digest, password.encode(), salt, SCRAM_ITERATIONS)
            self.rows.append((user, code, SCRAM_ITERATIONS, salt, salted, {}))

    def build(
        self, request_struct_class: type[AlterUserScramCredentialsRequest_v0]
    ) -> AlterUserScramCredentialsRequest_v0:
        return request_struct_class([], self.rows, {})


def principal_passwords(names: Iterable[str]) -> dict[str, str]:
    """Each principal's password: KAFKA_PASSWORD_<NAME>, or its development password with
    DEVELOPMENT=1. The admin's own is not changed here (it logs in with it)."""
    found: dict[str, str] = {}
    for name in names:
        if name == ADMIN:
            continue
        variable = password_variable(name)
        value = os.environ.get(variable, "")
        if not value and not development_mode():
            raise SecretError(f"{variable} is not set: the password of Kafka principal {name}")
        found[name] = value or development_password(name)
    return found


async def upsert_users(
    admin: AIOKafkaAdminClient, passwords: dict[str, str], mechanism: str
) -> None:
    response = await admin._send_request(UpsertScramUsers(passwords, mechanism))
    for user, code, message, _tags in response.results:
        _raise_for(code, message, f"setting the SCRAM credentials of {user}")


# --- ACLs ---------------------------------------------------------------------------------------


def _raise_for(code: int, message: str | None, what: str) -> None:
    if code:
        raise RuntimeError(f"{what} failed: {for_code(code).__name__} {message or ''}".strip())


async def current_acls(admin: AIOKafkaAdminClient) -> set[tuple[Any, ...]]:
    """Every ACL entry the broker holds, as (type, name, pattern, principal, host, op, perm)."""
    response = await admin._send_request(DescribeAllAcls())
    _raise_for(response.error_code, response.error_message, "describing the ACLs")
    return {
        (rtype, rname, rpattern, principal, host, operation, permission)
        for rtype, rname, rpattern, acls in response.resources
        for principal, host, operation, permission in acls
    }


def wanted(table: Iterable[Grant]) -> set[tuple[Any, ...]]:
    return {
        (int(g.resource), g.name, int(g.pattern), g.kafka_principal, ANY_HOST,
         int(g.operation), ALLOW)
        for g in table
    }  # fmt: skip


async def apply_acls(admin: AIOKafkaAdminClient, table: Iterable[Grant]) -> tuple[int, int]:
    """Add the missing entries and remove the others; (added, removed)."""
    target = wanted(table)
    existing = await current_acls(admin)
    missing = target - existing
    stale = existing - target
    if missing:
        response = await admin._send_request(CreateAcls(_as_grants(missing)))
        for code, message in response.creation_responses:
            _raise_for(code, message, "creating an ACL")
    if stale:
        response = await admin._send_request(DeleteAcls(sorted(stale)))
        for code, message, _matching in response.filter_responses:
            _raise_for(code, message, "removing an ACL")
    if missing or stale:
        await effective(admin, target)
    return len(missing), len(stale)


async def effective(admin: AIOKafkaAdminClient, target: set[tuple[Any, ...]]) -> None:
    """Wait until the broker's own authorizer holds exactly ``target``. The controller answers
    once the change is in the metadata log; the broker applies it a moment later, and a
    service started in that moment would be refused. The broker applies the log in order, so
    users created before the ACLs are in place by then too."""
    deadline = asyncio.get_running_loop().time() + EFFECTIVE_WITHIN_S
    while await current_acls(admin) != target:
        if asyncio.get_running_loop().time() > deadline:
            raise RuntimeError(f"the broker did not apply the ACLs within {EFFECTIVE_WITHIN_S}s")
        await asyncio.sleep(0.05)


def _as_grants(rows: Iterable[tuple[Any, ...]]) -> list[Grant]:
    return [
        Grant(principal.removeprefix("User:"), Resource(rtype), name, Pattern(pattern),
              Operation(operation))
        for rtype, name, pattern, principal, _host, operation, _perm in sorted(rows)
    ]  # fmt: skip


async def setup(bootstrap: str, credentials: KafkaCredentials) -> tuple[int, int]:
    """Users, then topics, then the ACL table; (ACLs added, ACLs removed)."""
    passwords = principal_passwords(principals())
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, **connection_kwargs(credentials))
    await admin.start()
    try:
        await upsert_users(admin, passwords, credentials.mechanism)
        await ensure_topics(bootstrap, declared_topics(), credentials)
        return await apply_acls(admin, acl_table())
    finally:
        await admin.close()


COMPOSE_ENV = Path(__file__).resolve().parents[1] / ".local" / "secrets" / "compose.env"


def write_compose_env(path: Path = COMPOSE_ENV) -> Path:
    """The passwords ``docker compose --env-file`` needs, from the development passwords (the
    same as ``make up``'s): KAFKA_ADMIN_PASSWORD, KAFKA_CONTROLLER_PASSWORD and one
    KAFKA_PASSWORD_<NAME> per principal. Mode 0600; never committed (``.local/``)."""
    lines = [
        f"KAFKA_ADMIN_PASSWORD={development_password(ADMIN)}",
        f"KAFKA_CONTROLLER_PASSWORD={development_password('controller')}",
        *(f"{password_variable(p)}={development_password(p)}" for p in principals() if p != ADMIN),
    ]
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as out:
        out.write("\n".join(lines) + "\n")
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m deploy.kafka_setup", description=__doc__)
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument("--bootstrap", help="set up the broker there")
    group.add_argument(
        "--compose-env",
        action="store_true",
        help=f"write the development passwords for docker compose to {COMPOSE_ENV}",
    )
    args = parser.parse_args(argv)
    if args.compose_env:
        # the services mount the checkout read-only: their development token keys are made here
        ensure_development_keys([PEOPLE_ISSUER, *token_issuers()])
        print(f"wrote {write_compose_env()}: docker compose --env-file <that file> up")
        return 0
    logging.basicConfig(level=logging.WARNING)
    credentials = credentials_from_env(ADMIN)
    added, removed = asyncio.run(setup(args.bootstrap, credentials))
    print(f"kafka set-up: topics present, ACLs added {added}, removed {removed}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
