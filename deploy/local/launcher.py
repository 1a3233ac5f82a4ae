"""Starting a service: ``python -m <module>`` with the stack's addresses in its environment,
ready once its ``/readyz`` answers 200 (its database migrated, its topics there, its consumers
running)."""

from __future__ import annotations

import sys

from deploy.local.config import python_env
from deploy.local.errors import StackError
from deploy.local.probes import http_status
from deploy.local.supervisor import Supervisor
from services.registry import Need, Process, token_issuers
from services.runtime.identity import PEOPLE_ISSUER, ensure_development_keys
from services.runtime.kafka_auth import development_password

READY_TIMEOUT_S = 60.0


def service_env(
    process: Process,
    *,
    kafka_bootstrap: str,
    database_url: str,
    smtp_port: int,
    urls: dict[str, str] | None = None,
    kafka_replication: int = 1,
) -> dict[str, str]:
    """The environment a service process is started with. DEVELOPMENT=1: a local stack is the
    explicit development mode, where secrets may keep their public development defaults. Each
    service logs in to Kafka as its own principal (``deploy/kafka_acls.py``); a client (the
    web) has no database. ``urls``: where the stack's services answer HTTP (registry.urls)."""
    env = {
        "DEVELOPMENT": "1",
        "KAFKA_BOOTSTRAP": kafka_bootstrap,
        "KAFKA_REPLICATION_FACTOR": str(kafka_replication),
        **kafka_login(process.service.name),
        **(urls or {}),
        "HTTP_PORT": str(process.http_port),
    }
    if process.service.database:
        env["DATABASE_URL"] = database_url
    if Need.SMTP in process.service.needs:
        env["SMTP_HOST"] = "127.0.0.1"
        env["SMTP_PORT"] = str(smtp_port)
    return env


def kafka_login(principal: str) -> dict[str, str]:
    """The environment that makes a process log in to the local Kafka as ``principal``."""
    return {"KAFKA_USERNAME": principal, "KAFKA_PASSWORD": development_password(principal)}


class Launcher:
    """Runs service processes under a stack's supervisor; the infrastructure names are taken."""

    def __init__(self, supervisor: Supervisor, reserved: frozenset[str]) -> None:
        self.supervisor = supervisor
        self.reserved = reserved

    def start(self, name: str, module: str, env: dict[str, str], http_port: int) -> None:
        """Run ``python -m <module>`` as ``name`` and wait until its ``/readyz`` answers 200."""
        if name in self.reserved:
            raise StackError(f"{name!r} is the name of an infrastructure component")
        # before any service reads them, so none races to make them or misses one
        ensure_development_keys([PEOPLE_ISSUER, *token_issuers()])
        if self.supervisor.pid(name) is not None:
            return
        self.supervisor.check_port_free(name, http_port)
        log = self.supervisor.logs / f"{name}.log"
        process = self.supervisor.spawn(
            name, [sys.executable, "-m", module], log=log, env=python_env(**env)
        )
        self.supervisor.wait(
            name,
            lambda: http_status(f"http://127.0.0.1:{http_port}/readyz") == 200,
            timeout=READY_TIMEOUT_S,
            process=process,
            logs=[log],
        )
