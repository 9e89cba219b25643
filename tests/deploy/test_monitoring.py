"""The alerts and dashboards (k8s/monitoring) read only metrics the code exports: a metric renamed
or removed in the code fails here, not silently in production. scripts/validate-deploy runs the
same checks on the rendered overlays (and that the monitors select every process)."""

from __future__ import annotations

import sys
from pathlib import Path

from prometheus_client import REGISTRY

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))

import monitoring_checks  # noqa: E402


def test_every_rule_and_panel_reads_metrics_that_exist() -> None:
    problems: list[str] = []
    used = monitoring_checks.check_rules_and_dashboards(lambda ok, msg: ok or problems.append(msg))
    assert problems == []
    read = set().union(*used.values())
    # The alerts the issue asks for read these series of ours.
    assert {"sotay_gateway_requests_total", "sotay_gateway_request_duration_seconds_bucket",
            "sotay_consumer_lag_events", "sotay_delivery_oldest_due_age_seconds",
            "sotay_outbox_oldest_unrelayed_age_seconds", "sotay_worker_loop_up"} <= read


def test_a_metric_nothing_exports_is_reported() -> None:
    problems: list[str] = []
    exported = monitoring_checks.code_metrics() - {"sotay_consumer_lag_events"}
    monitoring_checks.check_rules_and_dashboards(lambda ok, msg: ok or problems.append(msg), exported)
    assert problems and all("sotay_consumer_lag_events" in p for p in problems)
    assert monitoring_checks.metric_names('sum(rate(a_total{x="1"}[5m])) / on() group_left b') == {"a_total", "b"}


def test_the_code_scan_finds_what_the_registries_hold() -> None:
    """The names read from the source are the ones the imported code registers."""
    import gateway.metrics  # noqa: F401
    import services.core.liveness
    import services.notifications.delivery.worker  # noqa: F401

    registered = {s.name for family in REGISTRY.collect() for s in family.samples
                  if s.name.startswith(("sotay_", "grpc_", "outbox_", "token_"))}
    scanned = monitoring_checks.code_metrics()
    assert registered and registered <= scanned, sorted(registered - scanned)
