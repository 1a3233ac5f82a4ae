"""Who a process is on Kafka: its SASL/SCRAM credentials and the connection arguments built from
them, for every Kafka connection it opens.

ARCHITECTURE.md, "Security": every service and client authenticates as its own principal, and
the broker's ACLs decide what each may read and write. One function (:func:`connection_kwargs`)
turns the credentials into the keyword arguments of aiokafka's producer, consumer and admin
client, and :func:`faststream_security` into FastStream's equivalent, so that no connection of a
service (its subscribers, the outbox relay, the topic set-up, the Kafka probe) is forgotten and
left anonymous, which the broker would refuse anyway.

Only the standard library is imported: the local stack reads and makes the development
passwords before the project's dependencies are installed.

Development: `make up` and the test stacks make a random password per principal, once, in
``.local/secrets/kafka/<principal>.password`` (mode 0600, never committed), and create the SCRAM
users from them. With DEVELOPMENT=1 a process without KAFKA_USERNAME/KAFKA_PASSWORD uses its own
principal's development password. Anywhere else they must be set, or the process refuses to
start: a service left anonymous would be refused by the broker at its first request, later and
less clearly.
"""

from __future__ import annotations

import fcntl
import os
import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from services.runtime.secrets import SecretError, development_mode

DEV_SECRETS_DIR = Path(__file__).resolve().parents[2] / ".local" / "secrets" / "kafka"
MECHANISMS = ("SCRAM-SHA-512", "SCRAM-SHA-256")
PROTOCOLS = ("SASL_PLAINTEXT", "SASL_SSL")
DEFAULT_MECHANISM = "SCRAM-SHA-512"
# SASL_PLAINTEXT is for the loopback broker of a development machine only: outside
# DEVELOPMENT=1 the default is SASL_SSL, so a password never crosses a network in clear
DEV_PROTOCOL = "SASL_PLAINTEXT"
PROD_PROTOCOL = "SASL_SSL"
PASSWORD_BYTES = 32
# a principal's name goes into file names and the broker's JAAS and ACL entries: keep it plain
PRINCIPAL_NAME = re.compile(r"[a-z][a-z0-9_-]{0,63}")


@dataclass(frozen=True)
class KafkaCredentials:
    """A principal's name and password, and how to present them."""

    username: str
    password: str = field(repr=False)
    mechanism: str = DEFAULT_MECHANISM
    protocol: str = DEV_PROTOCOL

    def __post_init__(self) -> None:
        if self.mechanism not in MECHANISMS:
            raise SecretError(f"KAFKA_SASL_MECHANISM must be one of {MECHANISMS}")
        if self.protocol not in PROTOCOLS:
            raise SecretError(f"KAFKA_SECURITY_PROTOCOL must be one of {PROTOCOLS}")
        if not self.username or not self.password:
            raise SecretError("a Kafka principal needs a user name and a password")


def check_principal(name: str) -> str:
    if not PRINCIPAL_NAME.fullmatch(name):
        raise ValueError(f"{name!r} is no principal name (lower-case letters, digits, - and _)")
    return name


def connection_kwargs(credentials: KafkaCredentials) -> dict[str, Any]:
    """The keyword arguments aiokafka's producer, consumer and admin client take to
    authenticate as ``credentials``."""
    kwargs: dict[str, Any] = {
        "security_protocol": credentials.protocol,
        "sasl_mechanism": credentials.mechanism,
        "sasl_plain_username": credentials.username,
        "sasl_plain_password": credentials.password,
    }
    if credentials.protocol == "SASL_SSL":
        import ssl

        kwargs["ssl_context"] = ssl.create_default_context()
    return kwargs


def faststream_security(credentials: KafkaCredentials) -> Any:
    """The same credentials for FastStream's KafkaBroker (which also documents them in the
    AsyncAPI document). Imported here, not at the top: this module stays standard-library."""
    import ssl

    from faststream.security import SASLScram256, SASLScram512

    kind = SASLScram512 if credentials.mechanism == "SCRAM-SHA-512" else SASLScram256
    use_ssl = credentials.protocol == "SASL_SSL"
    return kind(
        credentials.username,
        credentials.password,
        ssl_context=ssl.create_default_context() if use_ssl else None,
        use_ssl=use_ssl,
    )


# --- development passwords ----------------------------------------------------------------------


def development_password(principal: str, directory: Path = DEV_SECRETS_DIR) -> str:
    """The development password of ``principal``, made (random, mode 0600) when missing.

    Under a lock: two test stacks starting at once must agree on one password."""
    check_principal(principal)
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = directory / f"{principal}.password"
    with open(directory / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if path.exists():
            return path.read_text().strip()
        password = secrets.token_urlsafe(PASSWORD_BYTES)  # letters, digits, - and _ only
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w") as out:
            out.write(password + "\n")
        return password


def ensure_development_credentials(
    principals: Iterable[str], directory: Path = DEV_SECRETS_DIR
) -> dict[str, str]:
    """Every principal's development password, made when missing."""
    return {p: development_password(p, directory) for p in principals}


def development_credentials(principal: str, directory: Path = DEV_SECRETS_DIR) -> KafkaCredentials:
    """A principal's development credentials, as the local stack created them."""
    return KafkaCredentials(principal, development_password(principal, directory))


# --- from the environment -----------------------------------------------------------------------


def credentials_from_env(principal: str) -> KafkaCredentials:
    """KAFKA_USERNAME, KAFKA_PASSWORD, KAFKA_SASL_MECHANISM, KAFKA_SECURITY_PROTOCOL.

    With DEVELOPMENT=1 a missing user name is ``principal`` and a missing password its
    development password. Otherwise both must be set, or SecretError (the value of a password
    is never part of the message)."""
    username = os.environ.get("KAFKA_USERNAME", "").strip()
    password = os.environ.get("KAFKA_PASSWORD", "")
    mechanism = os.environ.get("KAFKA_SASL_MECHANISM", "").strip() or DEFAULT_MECHANISM
    if development_mode():
        protocol = os.environ.get("KAFKA_SECURITY_PROTOCOL", "").strip() or DEV_PROTOCOL
        username = username or principal
        password = password or development_password(username)
        return KafkaCredentials(username, password, mechanism, protocol)
    protocol = os.environ.get("KAFKA_SECURITY_PROTOCOL", "").strip() or PROD_PROTOCOL
    missing = [n for n, v in (("KAFKA_USERNAME", username), ("KAFKA_PASSWORD", password)) if not v]
    if missing:
        raise SecretError(
            f"{' and '.join(missing)} not set: every Kafka connection authenticates as its own "
            f"principal; set them, or run with DEVELOPMENT=1 on a development machine"
        )
    return KafkaCredentials(username, password, mechanism, protocol)
