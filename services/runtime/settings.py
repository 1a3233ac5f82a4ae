"""Configuration from environment variables, with defaults that match the local stack."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TypeVar

from services.runtime.kafka_auth import KafkaCredentials, credentials_from_env


def env_str(name: str, default: str) -> str:
    return os.environ.get(name, default)


Number = TypeVar("Number", int, float)


def _env_number(name: str, default: Number, kind: type[Number], what: str) -> Number:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return kind(raw)
    except ValueError as exc:
        raise ValueError(f"environment variable {name} must be {what}, got {raw!r}") from exc


def env_int(name: str, default: int) -> int:
    return _env_number(name, default, int, "an integer")


def env_float(name: str, default: float) -> float:
    return _env_number(name, default, float, "a number")


ROLES = ("all", "worker", "api")


def _role(raw: str) -> str:
    if raw not in ROLES:
        raise ValueError(f"environment variable SERVICE_ROLE must be one of {ROLES}, got {raw!r}")
    return raw


@dataclass(frozen=True)
class RuntimeSettings:
    """What every service reads from its environment.

    KAFKA_BOOTSTRAP   Kafka bootstrap servers            (default 127.0.0.1:19092)
    KAFKA_USERNAME    the service's Kafka principal       (DEVELOPMENT=1: default the service name)
    KAFKA_PASSWORD    its SCRAM password                  (DEVELOPMENT=1: default its development
                      password from .local/secrets/kafka/; required otherwise)
    KAFKA_SASL_MECHANISM     SCRAM-SHA-512 or SCRAM-SHA-256 (default SCRAM-SHA-512)
    KAFKA_SECURITY_PROTOCOL  SASL_SSL or SASL_PLAINTEXT (default SASL_SSL; DEVELOPMENT=1:
                      SASL_PLAINTEXT, the local broker listens on loopback only)
    DATABASE_URL      the service's own database          (default .../<service> on port 15432)
    HTTP_HOST         address of /metrics, /healthz ...   (default 127.0.0.1)
    HTTP_PORT         port of the same                    (default per service)
    FORWARDED_ALLOW_IPS  the proxies whose X-Forwarded-For is believed as the client's address
                      (comma-separated addresses or networks; default 127.0.0.1: the web client
                      and a reverse proxy on the same host); anyone else's header is ignored
    CONSUMER_GROUP    Kafka consumer group                (default the service name)
    KAFKA_REPLICATION_FACTOR  replicas of each topic the service creates (default 1; a
                      cluster of three brokers: 3; services/runtime/topics.py)
    MAX_BATCH         records handled in one transaction  (default 2000)
    CONSUMERS         consumers of each topic in this process, one group (default 1)
    OUTBOX_BATCH      outbox rows published per round     (default 5000)
    OUTBOX_POLL_S     relay's fallback poll interval      (default 0.5)
    SCHEDULE_POLL_S   how often due scheduled jobs are run (default 1.0)
    RETENTION_DAYS    how long consumed message ids, published outbox rows and finished jobs
                      are kept; a command retried later than that is not recognised (default 7)
    AUDIT_RETENTION_DAYS  how long the audit of staff deeds and refused commands is kept
                      (default 730)
    CLOCK_SHIFT_S     seconds added to the service's clock, for rehearsals (default 0)
    LOG_LEVEL         logging level                       (default INFO)
    SERVICE_ROLE      all: consume and serve reads; worker: consume only (HTTP keeps the
                      operations endpoints); api: serve reads only, so heavy read traffic runs
                      in processes of its own and never slows message handling (default all)
    """

    service: str
    kafka_bootstrap: str
    kafka_credentials: KafkaCredentials
    database_url: str
    http_host: str
    http_port: int
    consumer_group: str
    max_batch: int
    consumers: int
    outbox_batch: int
    outbox_poll_s: float
    schedule_poll_s: float
    retention_days: float
    audit_retention_days: float
    log_level: str
    role: str
    forwarded_allow_ips: str = "127.0.0.1"

    @property
    def consumes(self) -> bool:
        return self.role in ("all", "worker")

    @property
    def serves_reads(self) -> bool:
        return self.role in ("all", "api")

    @classmethod
    def from_env(cls, service: str, default_http_port: int) -> RuntimeSettings:
        return cls(
            service=service,
            kafka_bootstrap=env_str("KAFKA_BOOTSTRAP", "127.0.0.1:19092"),
            kafka_credentials=credentials_from_env(service),
            database_url=env_str(
                "DATABASE_URL", f"postgresql://postgres@127.0.0.1:15432/{service}"
            ),
            http_host=env_str("HTTP_HOST", "127.0.0.1"),
            http_port=env_int("HTTP_PORT", default_http_port),
            consumer_group=env_str("CONSUMER_GROUP", service),
            max_batch=env_int("MAX_BATCH", 2000),
            consumers=max(1, env_int("CONSUMERS", 1)),
            outbox_batch=env_int("OUTBOX_BATCH", 5000),
            outbox_poll_s=env_float("OUTBOX_POLL_S", 0.5),
            schedule_poll_s=env_float("SCHEDULE_POLL_S", 1.0),
            retention_days=env_float("RETENTION_DAYS", 7.0),
            audit_retention_days=env_float("AUDIT_RETENTION_DAYS", 730.0),
            log_level=env_str("LOG_LEVEL", "INFO"),
            role=_role(env_str("SERVICE_ROLE", "all")),
            forwarded_allow_ips=env_str("FORWARDED_ALLOW_IPS", "127.0.0.1"),
        )
