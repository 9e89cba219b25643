"""Checks of the monitoring objects (k8s/monitoring) that kubernetes-validate cannot make: it
knows no CRDs, and no Prometheus Operator schema is published on a registry reachable here as
Python or JSON. So these are structural checks of our own, with PromQL parsed by `promql-parser`
(the Rust parser of GreptimeDB's, from PyPI):

- every alert and recording rule parses as PromQL; alerts have a severity, a summary and a runbook
  link to a heading of docs/operations.md;
- every metric a rule or a dashboard panel reads is one the code exports (its Prometheus
  registries: Counter/Gauge/Histogram and the scrape-time gauges), one the rules record, or one
  of the cluster's usual exporters (EXTERNAL);
- the ServiceMonitors and PodMonitors select every server, the gateway and every worker on a port
  the pods have (monitors_cover).

Used by scripts/deploy_checks.py (validate-deploy) and tests/deploy/test_monitoring.py.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import promql_parser
import yaml

ROOT = Path(__file__).resolve().parent.parent
MONITORING = ROOT / "k8s" / "monitoring"
Check = Callable[[object, str], None]

# Metrics of other exporters the alerts use, by the prefix of their names.
EXTERNAL = {
    "up": "Prometheus (every scrape target)",
    "kube_": "kube-state-metrics",
    "kubelet_volume_stats_": "the kubelet",
    "certmanager_": "cert-manager",
    "probe_": "the blackbox exporter",
}
_DEFINITION = re.compile(
    r"\b(Counter|Gauge|Histogram|Summary|GaugeMetricFamily|CounterMetricFamily|gauge)\(\s*\"([a-zA-Z_:][a-zA-Z0-9_:]*)\""
)


def code_metrics(roots: Iterable[Path] = (ROOT / "services", ROOT / "gateway")) -> set[str]:
    """Every series name the code's registries can expose (histograms' and counters' suffixes too)."""
    names: set[str] = set()
    for root in roots:
        for path in root.rglob("*.py"):
            for kind, name in _DEFINITION.findall(path.read_text(encoding="utf-8")):
                if kind in ("Counter", "CounterMetricFamily"):
                    base = name.removesuffix("_total")
                    names |= {f"{base}_total", f"{base}_created"}
                elif kind in ("Histogram", "Summary"):
                    names |= {f"{name}_bucket", f"{name}_count", f"{name}_sum", f"{name}_created"}
                else:
                    names.add(name)
    return names


def metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression selects (ValueError when it does not parse)."""
    found: set[str] = set()

    def walk(node: Any) -> None:
        if type(node).__name__ == "VectorSelector":
            found.add(node.name)
            return
        for attr in ("lhs", "rhs", "expr", "param", "vector_selector", "args"):
            child = getattr(node, attr, None)
            for item in child if isinstance(child, list) else [child]:
                if item is not None:
                    walk(item)

    try:
        walk(promql_parser.parse(expr))
    except Exception as exc:  # the parser raises its own error types
        raise ValueError(f"{expr!r} does not parse: {exc}") from None
    return found


def external(name: str) -> bool:
    return any(name == prefix or (prefix.endswith("_") and name.startswith(prefix)) for prefix in EXTERNAL)


def anchors(markdown: Path) -> set[str]:
    """GitHub's anchors of a Markdown file's headings."""
    out = set()
    for line in markdown.read_text(encoding="utf-8").splitlines():
        if line.startswith("#"):
            title = line.lstrip("#").strip().lower()
            out.add(re.sub(r"[^\w\- ]", "", title).replace(" ", "-"))
    return out


def rule_groups(path: Path = MONITORING / "alerts.yaml") -> list[dict]:
    return list(yaml.safe_load(path.read_text(encoding="utf-8"))["spec"]["groups"])


def dashboard_exprs(folder: Path = MONITORING / "dashboards") -> dict[str, list[str]]:
    out = {}
    for path in sorted(folder.glob("*.json")):
        board = json.loads(path.read_text(encoding="utf-8"))
        out[path.name] = [t["expr"] for p in board.get("panels", []) for t in p.get("targets", [])]
    return out


def check_rules_and_dashboards(check: Check, metrics: set[str] | None = None) -> dict[str, set[str]]:
    """The checks above on k8s/monitoring; returns each rule's and panel's metric names."""
    exported = code_metrics() if metrics is None else metrics
    groups = rule_groups()
    recorded = {r["record"] for g in groups for r in g["rules"] if "record" in r}
    runbooks = anchors(ROOT / "docs" / "operations.md")
    used: dict[str, set[str]] = {}
    exprs: list[tuple[str, str]] = []
    for group in groups:
        for rule in group["rules"]:
            name = rule.get("alert") or rule.get("record", "?")
            exprs.append((f"rule {name}", rule["expr"]))
            if "alert" in rule:
                check(rule.get("labels", {}).get("severity") in ("warning", "critical"),
                      f"alert {name}: severity must be warning or critical")
                notes = rule.get("annotations", {})
                check(notes.get("summary"), f"alert {name}: no summary")
                link = str(notes.get("runbook", ""))
                check(link.startswith("docs/operations.md#") and link.split("#", 1)[1] in runbooks,
                      f"alert {name}: runbook {link!r} is not a heading of docs/operations.md")
    for board, board_exprs in dashboard_exprs().items():
        exprs += [(f"dashboard {board}", e) for e in board_exprs]
    for where, expr in exprs:
        try:
            names = metric_names(expr)
        except ValueError as exc:
            check(False, f"{where}: {exc}")
            continue
        used[f"{where}: {expr.strip()[:60]}"] = names
        unknown = sorted(n for n in names if n not in exported and n not in recorded and not external(n))
        check(not unknown, f"{where} reads metrics nothing exports: {unknown}")
    return used


def _selects(selector: dict, labels: dict[str, str]) -> bool:
    if any(labels.get(k) != v for k, v in selector.get("matchLabels", {}).items()):
        return False
    for rule in selector.get("matchExpressions", []):
        value = labels.get(rule["key"])
        op = rule["operator"]
        if (op == "In" and value not in rule["values"]) or (op == "NotIn" and value in rule["values"]) \
                or (op == "Exists" and value is None) or (op == "DoesNotExist" and value is not None):
            return False
    return True


def monitors_cover(objects: list[dict], check: Check, where: str) -> None:
    """Every server and the gateway (their Services) and every worker (its pods) are scraped on a
    port they have; the monitors' own fields are the ones the operator's v1 API has."""
    by_kind: dict[str, list[dict]] = {}
    for obj in objects:
        by_kind.setdefault(obj["kind"], []).append(obj)
    service_monitors, pod_monitors = by_kind.get("ServiceMonitor", []), by_kind.get("PodMonitor", [])
    check(service_monitors and pod_monitors and by_kind.get("PrometheusRule"),
          f"{where} expected ServiceMonitors, a PodMonitor and a PrometheusRule")
    for monitor in service_monitors + pod_monitors:
        check(monitor["apiVersion"] == "monitoring.coreos.com/v1", f"{where} {monitor['metadata']['name']}: apiVersion")
        spec = monitor["spec"]
        endpoints = spec.get("endpoints" if monitor["kind"] == "ServiceMonitor" else "podMetricsEndpoints", [])
        allowed = {"selector", "podTargetLabels", "targetLabels", "namespaceSelector", "jobLabel",
                   "endpoints" if monitor["kind"] == "ServiceMonitor" else "podMetricsEndpoints"}
        check(set(spec) <= allowed, f"{where} {monitor['metadata']['name']}: unexpected fields {set(spec) - allowed}")
        check(endpoints and all(set(e) <= {"port", "path", "interval", "scrapeTimeout", "scheme"} for e in endpoints),
              f"{where} {monitor['metadata']['name']}: endpoints need a port, and only known fields")
    for service in by_kind.get("Service", []):
        ports = {p.get("name") for p in service["spec"].get("ports", [])}
        labels = service["metadata"].get("labels", {})
        scraped = [m for m in service_monitors if _selects(m["spec"]["selector"], labels)
                   and all(e["port"] in ports for e in m["spec"]["endpoints"])]
        check(scraped, f"{where} Service {service['metadata']['name']} is scraped by no ServiceMonitor on its ports")
    for deployment in by_kind.get("Deployment", []):
        template = deployment["spec"]["template"]
        labels = template["metadata"]["labels"]
        if labels.get("app.kubernetes.io/component") in ("grpc-server", "http-server"):
            check(not any(_selects(m["spec"]["selector"], labels) for m in pod_monitors),
                  f"{where} {deployment['metadata']['name']} would be scraped twice (PodMonitor and ServiceMonitor)")
            continue
        ports = {p.get("name") for c in template["spec"]["containers"] for p in c.get("ports", [])}
        scraped = [m for m in pod_monitors if _selects(m["spec"]["selector"], labels)
                   and all(e["port"] in ports for e in m["spec"]["podMetricsEndpoints"])]
        check(scraped, f"{where} worker {deployment['metadata']['name']} is scraped by no PodMonitor on its ports")
