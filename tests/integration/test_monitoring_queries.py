"""The dashboard's queries and the alert rules against the running services: each query parses
(promtool), and every metric it names is one a process of the stack exposes on /metrics (or
Prometheus itself), so a renamed metric cannot leave a blank panel or an alert that never fires."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import httpx
import pytest
import yaml

from tests.monitoring import alert_expressions, dashboard_expressions, metric_names
from tests.support import System

pytestmark = pytest.mark.stack

# what Prometheus records about its targets and itself, not exposed by a service
PROMETHEUS_OWN = re.compile(r"^(up|scrape_\w+|prometheus_\w+)$")
SUFFIXES = {
    "counter": ("_total", "_created"),
    "histogram": ("_bucket", "_sum", "_count", "_created"),
    "summary": ("_sum", "_count", "_created"),
}


def exposed_names(text: str) -> set[str]:
    """Metric names in Prometheus' text format: the samples', and each family's with the
    suffixes its type gives its samples (a family without a sample yet still names them)."""
    names: set[str] = set()
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            _, _, family, kind = line.split(" ", 3)
            base = family.removesuffix("_total") if kind == "counter" else family
            names |= {base, *(base + s for s in SUFFIXES.get(kind, ()))}
        elif line and not line.startswith("#"):
            names.add(re.split(r"[{ ]", line, maxsplit=1)[0])
    return names


@pytest.fixture(scope="module")
def exposed(system: System) -> set[str]:
    names: set[str] = set()
    with httpx.Client(timeout=10) as http:
        for name, process in system.by_name.items():
            answer = http.get(f"http://127.0.0.1:{process.http_port}/metrics")
            assert answer.status_code == 200, name
            names |= exposed_names(answer.text)
    return names


@pytest.mark.parametrize("source", ["dashboard", "alerts"])
def test_every_metric_a_query_names_is_exposed(source: str, exposed: set[str]) -> None:
    queries = dashboard_expressions() if source == "dashboard" else alert_expressions()
    unknown = {
        (name, query)
        for query in queries
        for name in metric_names(query)
        if name not in exposed and not PROMETHEUS_OWN.match(name)
    }
    assert unknown == set()


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool is not installed")
def test_every_dashboard_query_parses(tmp_path: Path) -> None:
    """promtool checks PromQL in rule files: each query becomes a recording rule."""
    rules = {"groups": [{"name": "dashboard", "rules": [
        {"record": f"dashboard:query_{n}", "expr": expr}
        for n, expr in enumerate(dashboard_expressions())
    ]}]}  # fmt: skip
    path = tmp_path / "dashboard.rules.yml"
    path.write_text(yaml.safe_dump(rules, allow_unicode=True))
    done = subprocess.run(["promtool", "check", "rules", str(path)],
                          capture_output=True, text=True, check=False)  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr


def test_exposed_names_follow_the_families_types() -> None:
    text = (
        "# TYPE jobs_total counter\n"
        "# TYPE wait_seconds histogram\n"
        'wait_seconds_bucket{le="1.0"} 2.0\n'
        "# TYPE depth gauge\n"
        "depth 3.0\n"
    )
    assert exposed_names(text) == {
        "jobs", "jobs_total", "jobs_created", "wait_seconds", "wait_seconds_bucket",
        "wait_seconds_sum", "wait_seconds_count", "wait_seconds_created", "depth",
    }  # fmt: skip
