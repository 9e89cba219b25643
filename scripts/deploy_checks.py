"""Checks for scripts/validate-deploy that no off-the-shelf tool makes.

    deploy_checks.py checkov-report NAME REPORT.json MIN_RESOURCES
        Print checkov's failures; fail on any failure, parsing error, or fewer resources
        scanned than expected (checkov silently passes files it cannot parse).
    deploy_checks.py split-crds RENDERED.yaml CRDS.yaml
        Move the Prometheus Operator objects (monitoring.coreos.com) of a rendered overlay to
        CRDS.yaml (kubernetes-validate knows only the built-in kinds); CRDS.yaml is written only
        when there are some.
    deploy_checks.py monitoring CRDS_DIR
        The monitoring objects (scripts/monitoring_checks.py): rules and dashboards read only
        metrics that exist, PromQL parses, every process is scraped.
    deploy_checks.py structure OUT_DIR
        OUT_DIR holds the rendered overlays (*.yaml) and `docker-compose config` output
        (compose.json). Checks that every process the code has (services/*/app.py: WORKERS,
        COMMANDS) is deployed the way docs/design.md and k8s/README.md say, that the NetworkPolicies
        allow exactly the gRPC calls the code makes, that k8s/README.md documents exactly the
        Secrets referenced, and that the README's Configuration table lists every environment
        variable the code reads (and the deploy files set no other); every compose worker has a
        healthcheck on its /healthz. Every container has
        ephemeral-storage requests and limits; every worker a PodDisruptionBudget, a topology
        spread and a liveness probe on its /healthz. The scheduled backup (CronJob `backup`)
        runs `sotay backup --keep N` on a ReadWriteOnce volume with every service's database, one
        run at a time, with deadlines and history limits.

Runs with the validation venv's Python (PyYAML comes with checkov).
"""

from __future__ import annotations

import ast
import json
import re
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
SERVICES = ("identity", "documents", "meetings", "notifications", "reports")
BACKING = {"postgres", "elasticsearch", "seaweedfs", "mailpit"}
# Workers that must never run twice. None since every worker claims its work (leases, SKIP LOCKED, advisory
# locks, conditional updates) or applies each event once (processed_events): tests/integration/test_replicas.py
# kills one of two copies of each under load. A worker added without such a guard goes here.
SINGLETONS: set[str] = set()
# gRPC calls between processes (the code's service_addr() uses): caller -> servers called.
GRPC_CALLS = {
    "gateway": set(SERVICES),
    "documents": {"identity"},  # token keys, units
    "meetings": {"identity", "documents"},  # token keys, rosters; attached documents
    "notifications": {"identity"},  # token keys, units, rosters
    "notifications-consume": {"identity", "documents", "meetings"},  # EventLogService
    "documents-units": {"identity"},  # EventLogService
    "reports": {"identity"},  # token keys
    "reports-consume": {"identity", "documents", "meetings", "notifications"},  # EventLogService
    "restore": set(SERVICES),  # grpc.health.v1: refuses while a service it restores serves
}
# The scheduled backup (k8s/base/backup.yaml): the one CronJob that is not a suspended template;
# beside it the template of a restore from the same volume.
BACKUP = "backup"
RESTORE = "restore"
BACKUP_URLS = "/run/secrets/database-url"  # DATABASE_URL_FILE's folder: one file per service
# Backend settings each process cannot work without (DATABASE_URL for every one of them but the
# backup, which reads each service's from DATABASE_URL_FILE).
NEEDS = {
    BACKUP: {"DATABASE_URL_FILE", "S3_ENDPOINT", "S3_ACCESS_KEY", "S3_SECRET_KEY"},
    RESTORE: {"DATABASE_URL_FILE", "S3_ENDPOINT", "S3_ACCESS_KEY", "S3_SECRET_KEY", "ELASTICSEARCH_URL"},
    "documents": {"ELASTICSEARCH_URL", "S3_ENDPOINT", "S3_ACCESS_KEY", "S3_SECRET_KEY"},
    "documents-indexer": {"ELASTICSEARCH_URL"},
    "documents-reindex": {"ELASTICSEARCH_URL"},
    "documents-ocr": {"S3_ENDPOINT", "S3_ACCESS_KEY", "S3_SECRET_KEY"},
    "meetings": {"MEETINGS_BALLOT_KEY"},
    "gateway": {"GATEWAY_SECRET_KEY"},
    "notifications": {"VAPID_PRIVATE_KEY_FILE"},
    "notifications-delivery": {"VAPID_PRIVATE_KEY_FILE", "SMTP_HOST"},
}


def _dict_keys(path: Path, names: tuple[str, ...]) -> dict[str, list[str]]:
    """String keys of the module-level dict literals `names` in a Python file."""
    found: dict[str, list[str]] = {}
    for node in ast.parse(path.read_text()).body:
        target = (
            node.target
            if isinstance(node, ast.AnnAssign)
            else (node.targets[0] if isinstance(node, ast.Assign) and len(node.targets) == 1 else None)
        )
        if isinstance(target, ast.Name) and target.id in names and isinstance(node.value, ast.Dict):
            found[target.id] = [k.value for k in node.value.keys if isinstance(k, ast.Constant)]
    return found


def code_processes() -> tuple[dict[str, int], dict[str, list[str]], dict[str, list[str]]]:
    """(server ports, long-running workers, one-shot commands) per service, read from the code."""
    ports: dict[str, int] = {}
    for node in ast.parse((ROOT / "services/core/config.py").read_text()).body:
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", "") == "SERVICE_PORTS":
            ports = ast.literal_eval(node.value)
    workers, commands = {}, {}
    for service in SERVICES:
        found = _dict_keys(ROOT / "services" / service / "app.py", ("WORKERS", "COMMANDS"))
        workers[service] = ["relay", *found.get("WORKERS", [])]  # services.core.entry adds the relay
        commands[service] = found.get("COMMANDS", [])
    return ports, workers, commands


SERVERS, WORKERS, COMMANDS = code_processes()


class Problems(list[str]):
    def check(self, ok: object, message: str) -> None:
        if not ok:
            self.append(message)


# --- checkov -----------------------------------------------------------------------------


def checkov_report(name: str, path: Path, min_resources: int) -> int:
    data = json.loads(path.read_text() or "null")
    if data is None:
        print(f"checkov wrote no report ({path.name})")
        return 1
    reports = data if isinstance(data, list) else [data]
    status = 0
    for report in reports:
        summary = report.get("summary", report)  # a scan with no results is a bare summary
        failed = report.get("results", {}).get("failed_checks", [])
        for check in failed:
            lines = "-".join(str(n) for n in check.get("file_line_range", []))
            print(
                f"  {check['check_id']} {check.get('check_name', '')}\n"
                f"      {check.get('resource', '')} ({check.get('file_path', '')}:{lines})"
            )
        print(
            f"checkov {report.get('check_type', name)}: passed {summary['passed']}, "
            f"failed {summary['failed']}, skipped {summary['skipped']}, "
            f"parsing errors {summary['parsing_errors']}, resources {summary['resource_count']}"
        )
        if summary["failed"] or summary["parsing_errors"] or failed:
            status = 1
        if summary["resource_count"] < min_resources:
            print(f"expected at least {min_resources} resources scanned")
            status = 1
    return status


# --- environment variables ---------------------------------------------------------------

_ENV_READ = re.compile(
    r"""\b(?:env|env_int|env_float|cap_below)\(\s*"([A-Z][A-Z0-9_]*)"|os\.environ(?:\.get\(|\[)\s*"([A-Z][A-Z0-9_]*)"|"""
    r"""os\.getenv\(\s*"([A-Z][A-Z0-9_]*)\""""
)


def code_variables() -> set[str]:
    """Every environment variable services/ and gateway/ read."""
    found = {f"{s.upper()}_ADDR" for s in SERVICES}  # services.core.config.service_addr (f-string)
    found |= {"OTEL_TRACES_SAMPLER", "OTEL_TRACES_SAMPLER_ARG"}  # read by the SDK services.core.tracing sets up
    for folder in ("services", "gateway"):
        for path in (ROOT / folder).rglob("*.py"):
            for match in _ENV_READ.finditer(path.read_text()):
                found.add(next(g for g in match.groups() if g))
    return found


def documented_variables() -> set[str]:
    """Variable names in the first column of the README's Configuration table."""
    text = (ROOT / "README.md").read_text()
    section = text.split("\n## Configuration", 1)[1].split("\n## ", 1)[0]
    names: set[str] = set()
    for line in section.splitlines():
        cells = line.split("|")
        if line.startswith("|") and len(cells) > 2:
            names |= set(re.findall(r"`([A-Z][A-Z0-9_]+)`", cells[1]))
    return names


def check_configuration(problems: Problems) -> set[str]:
    code, documented = code_variables(), documented_variables()
    problems.check(
        code <= documented,
        f"README.md Configuration table misses variables the code reads: {sorted(code - documented)}",
    )
    elsewhere = "\n".join(path.read_text() for folder in ("tests", "scripts") for path in (ROOT / folder).rglob("*.py"))
    stale = {name for name in documented - code if f'"{name}"' not in elsewhere}
    problems.check(not stale, f"README.md Configuration table lists variables nothing reads: {sorted(stale)}")
    return code


# --- rendered Kubernetes manifests ----------------------------------------------------


def documented_secrets() -> set[tuple[str, str]]:
    """(secret, key) rows of the table in k8s/README.md: | `name` | `KEY` | ..."""
    rows = re.findall(r"^\|\s*`(sotay-[\w-]+)`\s*\|\s*`([^`]+)`", (ROOT / "k8s/README.md").read_text(), re.M)
    return set(rows)


def pod_spec(obj: dict) -> dict | None:
    """The pod template of a Deployment or a Job, or of the Job template of a CronJob."""
    if obj["kind"] in ("Deployment", "Job"):
        return obj["spec"]["template"]["spec"]
    if obj["kind"] == "CronJob":
        return obj["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    return None


def pod_labels(obj: dict) -> dict[str, str]:
    if obj["kind"] == "CronJob":
        return obj["spec"]["jobTemplate"]["spec"]["template"]["metadata"]["labels"]
    return obj["spec"]["template"]["metadata"]["labels"]


def containers(pod: dict) -> list[dict]:
    return pod.get("initContainers", []) + pod["containers"]


def referenced_secrets(objects: list[dict]) -> set[tuple[str, str]]:
    found = set()
    for obj in objects:
        if obj["kind"] == "Ingress":
            for tls in obj["spec"].get("tls", []):
                found |= {(tls["secretName"], "tls.crt"), (tls["secretName"], "tls.key")}
        pod = pod_spec(obj)
        if pod is None:
            continue
        for container in containers(pod):
            for env in container.get("env", []):
                ref = env.get("valueFrom", {}).get("secretKeyRef")
                if ref:
                    found.add((ref["name"], ref["key"]))
            for source in container.get("envFrom", []):
                if "secretRef" in source:
                    found.add((source["secretRef"]["name"], "*"))
        for volume in pod.get("volumes", []):
            secret = volume.get("secret")
            if secret:
                for item in secret.get("items", [{"key": "*"}]):
                    found.add((secret["secretName"], item["key"]))
            for source in volume.get("projected", {}).get("sources", []):
                if "secret" in source:
                    for item in source["secret"].get("items", [{"key": "*"}]):
                        found.add((source["secret"]["name"], item["key"]))
    return found


def _selects(selector: dict | None, labels: dict[str, str]) -> bool:
    if selector is None:
        return False
    for key, value in selector.get("matchLabels", {}).items():
        if labels.get(key) != value:
            return False
    for expr in selector.get("matchExpressions", []):
        key, op, values = expr["key"], expr["operator"], expr.get("values", [])
        if (
            (op == "In" and labels.get(key) not in values)
            or (op == "NotIn" and key in labels and labels[key] in values)
            or (op == "Exists" and key not in labels)
            or (op == "DoesNotExist" and key in labels)
        ):
            return False
    return True


def _peer_matches(peer: dict, labels: dict[str, str], namespace: str, own_namespace: str) -> bool:
    if "ipBlock" in peer:
        return False  # the rules we check are pod to pod
    if "namespaceSelector" in peer:
        if not _selects(peer["namespaceSelector"], {"kubernetes.io/metadata.name": namespace}):
            return False
        return _selects(peer.get("podSelector", {}), labels)
    return namespace == own_namespace and _selects(peer.get("podSelector", {}), labels)


def _port_matches(rule: dict, port: int) -> bool:
    ports = rule.get("ports")
    if not ports:
        return True
    return any(
        p.get("protocol", "TCP") == "TCP"
        and isinstance(p.get("port"), int)
        and p["port"] <= port <= p.get("endPort", p["port"])
        for p in ports
    )


def allowed(policies: list[dict], src: tuple[dict, str], dst: tuple[dict, str], port: int) -> bool:
    """Do the NetworkPolicies (of one namespace) let src (labels, namespace) reach dst on TCP port?"""
    (src_labels, src_ns), (dst_labels, dst_ns) = src, dst
    own = policies[0]["metadata"]["namespace"] if policies else ""

    def side(kind: str, subject: tuple[dict, str], other: tuple[dict, str], key: str) -> bool:
        if subject[1] != own:
            return True  # another namespace's policies are not ours to check
        chosen = [
            p
            for p in policies
            if kind in p["spec"].get("policyTypes", ["Ingress"]) and _selects(p["spec"]["podSelector"], subject[0])
        ]
        return not chosen or any(
            _port_matches(rule, port)
            and (key not in rule or any(_peer_matches(peer, other[0], other[1], own) for peer in rule[key]))
            for p in chosen
            for rule in p["spec"].get(kind.lower(), [])
        )

    return side("Egress", (src_labels, src_ns), (dst_labels, dst_ns), "to") and side(
        "Ingress", (dst_labels, dst_ns), (src_labels, src_ns), "from"
    )


def check_network(
    where: str, workloads: dict[str, dict], policies: list[dict], namespace: str, problems: Problems
) -> None:
    """Every pod may call exactly the gRPC servers GRPC_CALLS lists, and outsiders reach what they must."""
    for caller, obj in sorted(workloads.items()):
        for server, port in SERVERS.items():
            if server not in workloads:
                continue
            want = server in GRPC_CALLS.get(caller, set())
            got = allowed(policies, (pod_labels(obj), namespace), (pod_labels(workloads[server]), namespace), port)
            problems.check(
                got == want,
                f"{where} NetworkPolicies {'block' if want else 'allow'} {caller} -> {server}:{port}",
            )
    outside = [
        ("ingress-nginx", "gateway", 8080),
        ("monitoring", "gateway", 8080),
        *[("monitoring", server, 9100) for server in SERVERS],
        *[("monitoring", name, 9200) for name in workloads if name.count("-") and name.split("-")[0] in SERVERS],
    ]
    for source_ns, target, port in outside:
        if target in workloads:
            problems.check(
                allowed(policies, ({}, source_ns), (pod_labels(workloads[target]), namespace), port),
                f"{where} NetworkPolicies block {source_ns} -> {target}:{port}",
            )


def check_backup(where: str, cronjob: dict, claims: dict[str, dict], problems: Problems) -> None:
    """The nightly backup: scheduled, one run at a time with deadlines and history limits, each
    service's DATABASE_URL as a file, `sotay backup --keep N ROOT` on a ReadWriteOnce claim."""
    spec = cronjob["spec"]
    job = spec["jobTemplate"]["spec"]
    problems.check(not spec.get("suspend"), f"{where} CronJob {BACKUP} must run by its schedule (not suspended)")
    problems.check(spec.get("concurrencyPolicy") == "Forbid", f"{where} CronJob {BACKUP}: concurrencyPolicy Forbid")
    for key, owner in (("startingDeadlineSeconds", spec), ("successfulJobsHistoryLimit", spec),
                       ("failedJobsHistoryLimit", spec), ("activeDeadlineSeconds", job)):
        problems.check(isinstance(owner.get(key), int) and owner[key] > 0, f"{where} CronJob {BACKUP} needs {key}")
    pod = job["template"]["spec"]
    main = pod["containers"][0]
    args = main.get("args", [])
    problems.check(
        len(args) == 5 and args[:3] == ["sotay", "backup", "--keep"] and str(args[3]).isdigit() and int(args[3]) > 0,
        f"{where} CronJob {BACKUP} args should be `sotay backup --keep N ROOT`, not {args}",
    )
    volumes = {v["name"]: v for v in pod.get("volumes", [])}
    mounts = {m["mountPath"]: m["name"] for m in main.get("volumeMounts", [])}
    claim = volumes.get(mounts.get(str(args[-1]) if args else "", ""), {}).get("persistentVolumeClaim", {})
    pvc = claims.get(claim.get("claimName", ""), {}).get("spec", {})
    problems.check(
        pvc.get("accessModes") == ["ReadWriteOnce"] and pvc.get("resources", {}).get("requests", {}).get("storage"),
        f"{where} CronJob {BACKUP} should write to a ReadWriteOnce PersistentVolumeClaim with a size",
    )
    env = {e["name"]: e.get("value") for e in main.get("env", [])}
    problems.check(env.get("DATABASE_URL_FILE") == BACKUP_URLS + "/{service}",
                   f"{where} CronJob {BACKUP}: DATABASE_URL_FILE should be {BACKUP_URLS}/{{service}}")
    sources = volumes.get(mounts.get(BACKUP_URLS, ""), {}).get("projected", {}).get("sources", [])
    files = {(src["secret"]["name"], item["key"], item["path"]) for src in sources if "secret" in src
             for item in src["secret"].get("items", [])}
    want = {(f"sotay-{service}", "DATABASE_URL", service) for service in SERVICES}
    problems.check(files == want, f"{where} CronJob {BACKUP} should mount each service's DATABASE_URL at "
                                  f"{BACKUP_URLS}/<service>: missing {sorted(want - files)}")


def check_restore(where: str, cronjob: dict, backup: dict | None, problems: Problems) -> None:
    """The restore template: suspended, run once, from the backup's volume and database URLs."""
    pod = pod_spec(cronjob) or {"containers": [{}]}
    main = pod["containers"][0]
    problems.check(cronjob["spec"].get("suspend") is True,
                   f"{where} CronJob {RESTORE} is a template: keep it suspended")
    problems.check(cronjob["spec"]["jobTemplate"]["spec"].get("backoffLimit") == 0,
                   f"{where} CronJob {RESTORE}: a failed restore must not start again by itself (backoffLimit 0)")
    problems.check(main.get("args") == ["sotay", "restore", "--latest", "/backups"], f"{where} CronJob {RESTORE} args")
    if backup is None:
        return
    backup_pod = pod_spec(backup) or {}
    problems.check(pod.get("volumes") == backup_pod.get("volumes")
                   and main.get("volumeMounts") == backup_pod.get("containers", [{}])[0].get("volumeMounts"),
                   f"{where} CronJob {RESTORE} should mount what {BACKUP} mounts")


def check_overlay(path: Path, variables: set[str], problems: Problems) -> None:
    objects = [o for o in yaml.safe_load_all(path.read_text()) if o]
    where = f"{path.stem}:"
    by_kind: dict[str, dict[str, dict]] = {}
    for obj in objects:
        by_kind.setdefault(obj["kind"], {})[obj["metadata"]["name"]] = obj
    namespaces = set(by_kind.get("Namespace", {}))
    problems.check(len(namespaces) == 1, f"{where} expected one Namespace, found {sorted(namespaces)}")
    namespace = next(iter(namespaces), "")
    for obj in objects:
        if obj["kind"] != "Namespace":
            problems.check(
                obj["metadata"].get("namespace") in namespaces,
                f"{where} {obj['kind']}/{obj['metadata']['name']} is not in the overlay's namespace",
            )

    deployments = by_kind.get("Deployment", {})
    cronjobs = by_kind.get("CronJob", {})
    workloads = {**deployments, **cronjobs, **by_kind.get("Job", {})}
    expected = {"gateway", *SERVERS} | {f"{s}-{w}" for s, ws in WORKERS.items() for w in ws}
    problems.check(
        set(deployments) == expected,
        f"{where} Deployments differ: missing {sorted(expected - set(deployments))}, "
        f"unexpected {sorted(set(deployments) - expected)}",
    )
    expected_jobs = {f"{s}-{c}" for s, cs in COMMANDS.items() for c in cs} | {BACKUP, RESTORE}
    problems.check(
        set(cronjobs) == expected_jobs,
        f"{where} CronJobs (one-shot command templates and the backup) differ: "
        f"missing {sorted(expected_jobs - set(cronjobs))}, unexpected {sorted(set(cronjobs) - expected_jobs)}",
    )
    if BACKUP in cronjobs:
        check_backup(where, cronjobs[BACKUP], by_kind.get("PersistentVolumeClaim", {}), problems)
    if RESTORE in cronjobs:
        check_restore(where, cronjobs[RESTORE], cronjobs.get(BACKUP), problems)
    images = {c["image"] for obj in workloads.values() for c in containers(pod_spec(obj) or {"containers": []})}
    problems.check(len(images) == 1, f"{where} every process should run one image, found {sorted(images)}")
    problems.check(
        not any(i == "sotay" or i.startswith("sotay:") for i in images),
        f"{where} the overlay does not set the image (`images:`)",
    )

    for service, port in SERVERS.items():
        deployment = deployments.get(service)
        if deployment is None:
            continue
        pod = deployment["spec"]["template"]["spec"]
        server = pod["containers"][0]
        problems.check(server["args"] == ["python", "-m", f"services.{service}", "serve"], f"{where} {service} args")
        env = {e["name"]: e.get("value") for e in server.get("env", [])}
        problems.check(env.get("GRPC_PORT") == str(port), f"{where} {service} GRPC_PORT should be {port}")
        for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
            problems.check(
                server.get(probe, {}).get("grpc", {}).get("port") == port,
                f"{where} {service} {probe} should be a grpc probe on {port}",
            )
        migrate = [c["args"] for c in pod.get("initContainers", [])]
        problems.check(
            migrate == [["python", "-m", f"services.{service}", "migrate", "--wait"]],
            f"{where} {service} should wait for its schema in an init container",
        )
        job = by_kind.get("Job", {}).get(f"{service}-migrate")
        job_args = [c["args"] for c in (job or {}).get("spec", {}).get("template", {}).get("spec", {}).get(
            "containers", [])]
        problems.check(
            job_args == [["python", "-m", f"services.{service}", "migrate"]],
            f"{where} {service} should migrate once per release in the Job {service}-migrate",
        )
        ports = by_kind.get("Service", {}).get(service, {}).get("spec", {}).get("ports", [])
        problems.check(any(p["port"] == port for p in ports), f"{where} Service {service} should expose {port}")
    for service, workers in WORKERS.items():
        for worker in workers:
            name = f"{service}-{worker}"
            deployment = deployments.get(name)
            if not deployment:
                continue
            args = deployment["spec"]["template"]["spec"]["containers"][0]["args"]
            problems.check(args == ["python", "-m", f"services.{service}", worker], f"{where} {name} args")
            if name in SINGLETONS:
                problems.check(
                    deployment["spec"].get("replicas") == 1
                    and deployment["spec"].get("strategy", {}).get("type") == "Recreate",
                    f"{where} {name} must run exactly one replica (replicas: 1, strategy Recreate)",
                )
    for service, commands in COMMANDS.items():
        for command in commands:
            cronjob = cronjobs.get(f"{service}-{command}")
            if not cronjob:
                continue
            pod = pod_spec(cronjob) or {"containers": [{}]}
            problems.check(
                cronjob["spec"].get("suspend") is True,
                f"{where} CronJob {service}-{command} is a Job template: it must stay suspended",
            )
            problems.check(
                pod["containers"][0].get("args") == ["python", "-m", f"services.{service}", command],
                f"{where} CronJob {service}-{command} args",
            )

    for name in ["gateway", *SERVERS]:
        hpa = by_kind.get("HorizontalPodAutoscaler", {}).get(name)
        problems.check(hpa and hpa["spec"]["scaleTargetRef"]["name"] == name, f"{where} no HPA for {name}")
        problems.check(name in by_kind.get("PodDisruptionBudget", {}), f"{where} no PodDisruptionBudget for {name}")
        problems.check(
            "replicas" not in deployments.get(name, {}).get("spec", {}),
            f"{where} {name} sets replicas although its HPA owns the count",
        )
    for name, obj in sorted(workloads.items()):
        for container in containers(pod_spec(obj) or {"containers": []}):
            resources = container.get("resources", {})
            problems.check(
                all("ephemeral-storage" in resources.get(k, {}) for k in ("requests", "limits")),
                f"{where} {name}/{container['name']} lacks ephemeral-storage requests and limits",
            )
    budgets = list(by_kind.get("PodDisruptionBudget", {}).values())
    for name, deployment in sorted(deployments.items()):
        if name == "gateway" or name in SERVERS:
            continue
        labels = pod_labels(deployment)
        pod = deployment["spec"]["template"]["spec"]
        problems.check(
            any(_selects(b["spec"]["selector"], labels) for b in budgets),
            f"{where} worker {name} has no PodDisruptionBudget",
        )
        problems.check(
            any(_selects(t.get("labelSelector"), labels) for t in pod.get("topologySpreadConstraints", [])),
            f"{where} worker {name} has no topologySpreadConstraints selecting its pods",
        )
        probe = pod["containers"][0].get("livenessProbe", {}).get("httpGet", {})
        problems.check(
            probe.get("path") == "/healthz" and probe.get("port") == "metrics",
            f"{where} worker {name} needs a liveness probe on /healthz of its metrics port",
        )
    policies = list(by_kind.get("NetworkPolicy", {}).values())
    deny = by_kind.get("NetworkPolicy", {}).get("default-deny", {}).get("spec", {})
    problems.check(
        deny.get("podSelector") == {} and set(deny.get("policyTypes", [])) == {"Ingress", "Egress"},
        f"{where} NetworkPolicy default-deny should deny all ingress and egress",
    )
    check_network(where, workloads, policies, namespace, problems)
    problems.check("gateway" in by_kind.get("Ingress", {}), f"{where} no Ingress for the gateway")

    # Environment: only variables the code reads; each process gets the backends it needs.
    config = {
        key
        for cm in by_kind.get("ConfigMap", {}).values()
        if cm["metadata"]["name"].startswith("sotay-config")
        for key in cm.get("data", {})
    }
    problems.check(config <= variables, f"{where} ConfigMap sets variables no code reads: {sorted(config - variables)}")
    for name, obj in sorted(workloads.items()):
        pod = pod_spec(obj) or {"containers": []}
        main = pod["containers"][0]
        for container in containers(pod):
            names = {e["name"] for e in container.get("env", [])}
            problems.check(
                names <= variables,
                f"{where} {name}/{container['name']} sets variables no code reads: {sorted(names - variables)}",
            )
        if name == "gateway":
            continue
        has = {e["name"] for e in main.get("env", [])} | config
        missing = ({"DATABASE_URL"} if name not in (BACKUP, RESTORE) else set()) | NEEDS.get(name, set())
        missing -= has
        problems.check(not missing, f"{where} {name} lacks {sorted(missing)}")

    documented, referenced = documented_secrets(), referenced_secrets(objects)
    problems.check(
        referenced <= documented,
        f"{where} Secrets used but not documented in k8s/README.md: {sorted(referenced - documented)}",
    )
    problems.check(
        documented <= referenced,
        f"{where} Secrets documented in k8s/README.md but unused: {sorted(documented - referenced)}",
    )


# --- docker-compose.yml (as normalised by `docker-compose config`) -------------------


def check_compose(path: Path, variables: set[str], problems: Problems) -> None:
    services = json.loads(path.read_text())["services"]
    app = {"gateway"} | {f"{s}-migrate" for s in SERVERS} | set(SERVERS)
    app |= {f"{s}-{w}" for s, ws in WORKERS.items() for w in ws}
    problems.check(
        set(services) == app | BACKING,
        f"compose: services differ: missing {sorted(app | BACKING - set(services))}, "
        f"unexpected {sorted(set(services) - app - BACKING)}",
    )
    images = {services[name].get("image") for name in app if name in services}
    problems.check(len(images) == 1, f"compose: every process should run one image, found {images}")
    for name in sorted(app & set(services)):
        svc = services[name]
        problems.check("build" in svc, f"compose: {name} should build the repository's image")
        problems.check(svc.get("read_only") is True, f"compose: {name} should have a read-only root")
        problems.check("ALL" in svc.get("cap_drop", []), f"compose: {name} should drop all capabilities")
        problems.check(
            "no-new-privileges:true" in svc.get("security_opt", []),
            f"compose: {name} should set no-new-privileges",
        )
        problems.check(not svc.get("privileged"), f"compose: {name} must not be privileged")
        env = svc.get("environment", {}) or {}
        problems.check(
            set(env) <= variables,
            f"compose: {name} sets variables no code reads: {sorted(set(env) - variables)}",
        )
        owner, _, role = name.partition("-")
        depends = svc.get("depends_on", {})
        if name != "gateway":
            missing = ({"DATABASE_URL"} | NEEDS.get(name, set())) - set(env)
            problems.check(not missing, f"compose: {name} lacks {sorted(missing)}")
        if name in SINGLETONS:
            problems.check(
                (svc.get("deploy") or {}).get("replicas", 1) == 1 and svc.get("scale", 1) == 1,
                f"compose: {name} must run exactly one replica",
            )
        if role == "migrate":
            problems.check(svc.get("restart") == "no", f"compose: {name} is one-shot (restart: no)")
            problems.check(
                svc["command"] == ["python", "-m", f"services.{owner}", "migrate"], f"compose: {name} command"
            )
            problems.check(
                depends.get("postgres", {}).get("condition") == "service_healthy",
                f"compose: {name} should wait for a healthy postgres",
            )
        elif owner in SERVERS:
            problems.check(
                svc["command"] == ["python", "-m", f"services.{owner}", role or "serve"],
                f"compose: {name} command",
            )
            problems.check(
                depends.get(f"{owner}-migrate", {}).get("condition") == "service_completed_successfully",
                f"compose: {name} should start after {owner}-migrate completed",
            )
            if not role:
                problems.check(env.get("GRPC_PORT") == str(SERVERS[owner]), f"compose: {name} GRPC_PORT")
                problems.check("healthcheck" in svc, f"compose: {name} needs a healthcheck")
            else:  # a worker: its liveness endpoint, as the Kubernetes probe
                test = " ".join((svc.get("healthcheck") or {}).get("test") or [])
                problems.check("/healthz" in test and "METRICS_PORT" in test and env.get("METRICS_PORT"),
                               f"compose: {name} needs a healthcheck on /healthz of its metrics port")
    for name in BACKING | {"gateway"}:
        problems.check("healthcheck" in services.get(name, {}), f"compose: {name} needs a healthcheck")
    gateway_deps = services.get("gateway", {}).get("depends_on", {})
    problems.check(
        all(gateway_deps.get(s, {}).get("condition") == "service_healthy" for s in SERVERS),
        "compose: gateway should wait for every gRPC server to be healthy",
    )
    published = {name for name, svc in services.items() if svc.get("ports")}
    problems.check(
        published <= {"gateway", "mailpit", "seaweedfs"},
        f"compose: only gateway, mailpit and seaweedfs (download links) publish ports, not {published}",
    )


def structure(out: Path) -> int:
    problems = Problems()
    variables = check_configuration(problems)
    overlays = sorted(out.glob("*.yaml"))
    problems.check(overlays, f"no rendered overlays in {out}")
    for path in overlays:
        check_overlay(path, variables, problems)
    check_compose(out / "compose.json", variables, problems)
    for problem in problems:
        print(f"  {problem}")
    print(
        f"processes from the code: servers {sorted(SERVERS)}, workers "
        f"{sorted(f'{s}-{w}' for s, ws in WORKERS.items() for w in ws)}, "
        f"commands {sorted(f'{s}-{c}' for s, cs in COMMANDS.items() for c in cs)}"
    )
    print(f"{len(overlays)} overlays and docker-compose.yml: {len(problems)} problem(s)")
    return 1 if problems else 0


CRD_GROUP = "monitoring.coreos.com/"


def split_crds(rendered: Path, crds: Path) -> int:
    objects = [o for o in yaml.safe_load_all(rendered.read_text()) if o]
    custom = [o for o in objects if o["apiVersion"].startswith(CRD_GROUP)]
    if custom:
        rendered.write_text(yaml.safe_dump_all([o for o in objects if o not in custom], sort_keys=False))
        crds.parent.mkdir(parents=True, exist_ok=True)
        crds.write_text(yaml.safe_dump_all(custom, sort_keys=False))
        print(f"{rendered.name}: {len(custom)} Prometheus Operator objects moved to {crds}")
    return 0


def monitoring(crds_dir: Path) -> int:
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import monitoring_checks

    problems = Problems()
    rendered = sorted(crds_dir.glob("*.yaml"))
    problems.check(rendered, f"no overlay renders the monitoring objects (k8s/monitoring) into {crds_dir}")
    used = monitoring_checks.check_rules_and_dashboards(problems.check)
    for path in rendered:
        overlay = [o for o in yaml.safe_load_all((crds_dir.parent / path.name).read_text()) if o]
        custom = [o for o in yaml.safe_load_all(path.read_text()) if o]
        monitoring_checks.monitors_cover(overlay + custom, problems.check, f"{path.stem}:")
    for problem in problems:
        print(f"  {problem}")
    print(f"{len(used)} rules and panels read {len(set().union(*used.values()))} metrics; "
          f"{len(rendered)} overlay(s) with monitoring: {len(problems)} problem(s)")
    return 1 if problems else 0


def main(argv: list[str]) -> int:
    if len(argv) == 3 and argv[0] == "split-crds":
        return split_crds(Path(argv[1]), Path(argv[2]))
    if len(argv) == 2 and argv[0] == "monitoring":
        return monitoring(Path(argv[1]))
    if len(argv) == 4 and argv[0] == "checkov-report":
        return checkov_report(argv[1], Path(argv[2]), int(argv[3]))
    if len(argv) == 2 and argv[0] == "structure":
        return structure(Path(argv[1]))
    print(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
