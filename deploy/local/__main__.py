"""Command line of the local stack: ``python -m deploy.local install|up|down|status``.

``up`` starts PostgreSQL, Kafka, the SMTP sink and Prometheus, then every service of the
registry (``services/registry.py``); ``down`` stops whatever was started from the same root, from
any shell. ``KAFKA_BROKERS=3`` makes Kafka a cluster of three nodes (deploy/local/components/
kafka.py) and ``INSTANCES=N`` runs N processes of every service in its consumer group (ports
moved by 100 for each further one); the defaults are one of each.
"""

from __future__ import annotations

import argparse
import functools
import importlib.util
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

from deploy.local.stack import Stack, StackConfig, StackError
from services.registry import processes
from services.runtime.kafka_auth import DEV_SECRETS_DIR


def _importable(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:
        return False


def _timed(label: str, action: Callable[[], None]) -> None:
    started = time.monotonic()
    print(f"  {label:<16}", end="", flush=True)
    action()
    print(f"ready ({time.monotonic() - started:.1f}s)", flush=True)


def up(stack: Stack, *, infra_only: bool) -> None:
    processes = () if infra_only else stack.config.services
    missing = sorted({p.service.module for p in processes if not _importable(p.service.module)})
    if missing:
        raise StackError(
            f"service modules not found: {', '.join(missing)} (use `up --infra-only` "
            "to start only Kafka, PostgreSQL, SMTP and Prometheus)"
        )
    _timed("install", stack.install)
    _timed("postgres", stack.start_postgres)
    _timed("kafka", stack.start_kafka)
    _timed("smtp", stack.start_smtp)
    _timed("prometheus", stack.start_prometheus)
    for process in processes:
        _timed(process.name, functools.partial(stack.start_process, process))
    print()
    print(f"Kafka bootstrap   {stack.kafka_bootstrap}  (SASL/SCRAM-SHA-512, users: admin,")
    print(f"                  the services, kiosk, web; passwords in {DEV_SECRETS_DIR})")
    print(f"PostgreSQL        {stack.postgres_dsn('<db>')}")
    print(f"Mail (Maildir)    {stack.maildir}  (SMTP 127.0.0.1:{stack.config.smtp_port})")
    print(f"Prometheus        {stack.prometheus_url}")
    for process in processes:
        print(f"{process.name:<17} http://127.0.0.1:{process.http_port}/metrics")
    print(f"Logs              {stack.logs}")
    print("Stop with `make down` (python -m deploy.local down).")


def status(stack: Stack) -> int:
    rows = stack.status()
    for row in rows:
        state = "running" if row.alive else ("dead (stale pid file)" if row.pid else "stopped")
        pid = f"pid {row.pid}" if row.pid else ""
        print(f"{row.name:<12} {state:<22} {pid}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m deploy.local", description=__doc__)
    parser.add_argument("command", choices=["install", "up", "down", "status"])
    parser.add_argument("--root", type=Path, default=Path(".local/dev"), help="default .local/dev")
    parser.add_argument("--infra-only", action="store_true", help="up: no services")
    args = parser.parse_args(argv)
    brokers = int(os.environ.get("KAFKA_BROKERS") or 1)
    instances = int(os.environ.get("INSTANCES") or 1)
    stack = Stack(StackConfig(root=args.root, kafka_brokers=brokers,
                              services=processes(instances=instances)))  # fmt: skip
    try:
        if args.command == "install":
            _timed("install", stack.install)
        elif args.command == "up":
            up(stack, infra_only=args.infra_only)
        elif args.command == "down":
            stack.stop()
            print(f"stopped everything started from {stack.root}")
        else:
            return status(stack)
    except StackError as error:
        print(f"\nerror: {error}", file=sys.stderr)
        if args.command == "up":
            print("(what did start keeps running: stop it with `make down`)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
