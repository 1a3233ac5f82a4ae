"""The alert rules and the dashboard, read as files: every alert has a promtool test in which it
fires, and PromQL's metric names are found in a query (the stack test holds them to the names the
services expose, tests/integration/test_monitoring_queries.py)."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from tests.monitoring import alert_expressions, dashboard_expressions, metric_names

PROMETHEUS = Path(__file__).resolve().parents[2] / "deploy" / "prometheus"


def test_metric_names_are_read_from_a_query_without_functions_labels_or_groupings() -> None:
    expr = (
        'sum by (group, topic) (max by (group, topic, partition) (kafka_consumer_lag{job="a"}))'
        " > 1000 and on (group) deriv(kafka_brokers[10m]) > 0 or vector(1)"
        " unless histogram_quantile(0.99, rate(consumer_batch_seconds_bucket[5m:1m]))"
        ' / ignoring (le) up{job!="prometheus"} offset 5m'
    )
    assert metric_names(expr) == {
        "kafka_consumer_lag", "kafka_brokers", "consumer_batch_seconds_bucket", "up",
    }  # fmt: skip


def test_grafana_variables_and_strings_are_not_taken_for_metric_names() -> None:
    expr = 'rate(emails_total{outcome=~"sent|failed"}[$__rate_interval]) * on() group_left() x'
    assert metric_names(expr) == {"emails_total", "x"}


def test_every_alert_fires_in_a_promtool_test() -> None:
    rules = yaml.safe_load((PROMETHEUS / "alerts.yml").read_text())
    alerts = {r["alert"] for g in rules["groups"] for r in g["rules"] if "alert" in r}
    tests = yaml.safe_load((PROMETHEUS / "alerts.test.yml").read_text())
    fired = {
        case["alertname"]
        for t in tests["tests"]
        for case in t.get("alert_rule_test", [])
        if case.get("exp_alerts")
    }
    assert alerts and alerts - fired == set()


def test_the_dashboard_and_the_alerts_have_queries_to_check() -> None:
    dashboard = dashboard_expressions()
    assert len(dashboard) >= 8 and all(metric_names(e) for e in dashboard)
    alerts = alert_expressions()
    assert any(re.search(r"\bkafka_consumer_lag\b", e) for e in alerts)
