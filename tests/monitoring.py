"""Reading the checked-in PromQL (the Grafana dashboard's queries, the alert rules) for the
tests that hold it to the metrics the services really expose."""

from __future__ import annotations

import json
import re
from pathlib import Path

import yaml

DEPLOY = Path(__file__).resolve().parents[1] / "deploy"
DASHBOARDS = DEPLOY / "grafana" / "dashboards"
ALERTS = DEPLOY / "prometheus" / "alerts.yml"

KEYWORDS = {
    "and", "or", "unless", "by", "without", "on", "ignoring", "group_left", "group_right",
    "offset", "bool", "inf", "nan", "atan2",
}  # fmt: skip
_STRINGS = re.compile(r'"(?:\\.|[^"\\])*"|\'(?:\\.|[^\'\\])*\'|`[^`]*`')
_MATCHERS = re.compile(r"\{[^}]*\}")
_RANGES = re.compile(r"\[[^\]]*\]")
_GROUPINGS = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)")
_OFFSETS = re.compile(r"\boffset\s+-?\w+")
_VARIABLES = re.compile(r"\$\{?\w+\}?")
_NAMES = re.compile(r"(?<![\w.:])([a-zA-Z_:][a-zA-Z0-9_:]*)(?![\w:])(?!\s*\()")


def metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression selects: what is left once strings, label
    matchers, ranges, groupings, offsets and Grafana variables are taken out, that is not a
    function (a name before a parenthesis), a keyword or a number."""
    text = _STRINGS.sub(" ", expr)
    for pattern in (_MATCHERS, _RANGES, _GROUPINGS, _OFFSETS, _VARIABLES):
        text = pattern.sub(" ", text)
    return {n for n in _NAMES.findall(text) if n.lower() not in KEYWORDS}


def dashboard_expressions() -> list[str]:
    found: list[str] = []
    for path in sorted(DASHBOARDS.glob("*.json")):
        for panel in json.loads(path.read_text("utf-8")).get("panels", []):
            found += [t["expr"] for t in panel.get("targets", []) if t.get("expr")]
    return found


def alert_expressions() -> list[str]:
    rules = yaml.safe_load(ALERTS.read_text("utf-8"))
    return [r["expr"] for g in rules["groups"] for r in g["rules"]]
