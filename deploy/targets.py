"""Prometheus's scrape targets, derived from the service registry.

Prometheus finds the services through file-based discovery: its configuration names a JSON file
of target groups, one group per service, labelled with the service's name as ``job`` (the alert
rules group by it). The local stack writes that file for its own ports when it starts
Prometheus; ``python -m deploy.generate`` writes the checked-in ones (``deploy/prometheus/
targets/``). Prometheus watches the file, so a changed list needs no restart.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable

from services.registry import Process

TargetGroup = dict[str, list[str] | dict[str, str]]


def loopback(process: Process) -> str:
    """Where a process of a stack on this machine answers."""
    return f"127.0.0.1:{process.http_port}"


def target_groups(
    processes: Iterable[Process], address: Callable[[Process], str] = loopback
) -> list[TargetGroup]:
    """One group per service, in registry order, with the address of each of its processes."""
    groups: dict[str, list[str]] = {}
    for process in processes:
        groups.setdefault(process.service.name, []).append(address(process))
    return [{"targets": found, "labels": {"job": name}} for name, found in groups.items()]


def targets_json(processes: Iterable[Process], address: Callable[[Process], str] = loopback) -> str:
    """The file-based discovery file's text."""
    return json.dumps(target_groups(processes, address), indent=2) + "\n"
