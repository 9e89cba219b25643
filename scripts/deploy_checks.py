"""Checks for scripts/validate-deploy that no off-the-shelf tool makes.

    deploy_checks.py checkov-report NAME REPORT.json MIN_RESOURCES
        Print checkov's failures; fail on any failure, parsing error, or fewer resources
        scanned than expected (checkov silently passes files it cannot parse).
    deploy_checks.py structure OUT_DIR
        OUT_DIR holds the rendered overlays (*.yaml) and `docker-compose config` output
        (compose.json). Checks that every process is deployed the way DESIGN.md and
        k8s/README.md say, and that k8s/README.md documents exactly the Secrets referenced.

Runs with the validation venv's Python (PyYAML comes with checkov).
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
SERVERS = {"identity": 50051, "documents": 50052, "meetings": 50053, "notifications": 50054}
WORKERS = {
    "identity": ["relay"],
    "documents": ["relay", "indexer", "ocr"],
    "meetings": ["relay"],
    "notifications": ["relay", "delivery"],
}
BACKING = {"postgres", "elasticsearch", "seaweedfs", "mailpit"}


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


# --- rendered Kubernetes manifests ----------------------------------------------------


def documented_secrets() -> set[tuple[str, str]]:
    """(secret, key) rows of the table in k8s/README.md: | `name` | `KEY` | ..."""
    rows = re.findall(r"^\|\s*`(sotay-[\w-]+)`\s*\|\s*`([^`]+)`", (ROOT / "k8s/README.md").read_text(), re.M)
    return set(rows)


def referenced_secrets(objects: list[dict]) -> set[tuple[str, str]]:
    found = set()
    for obj in objects:
        if obj["kind"] == "Ingress":
            for tls in obj["spec"].get("tls", []):
                found |= {(tls["secretName"], "tls.crt"), (tls["secretName"], "tls.key")}
        if obj["kind"] != "Deployment":
            continue
        pod = obj["spec"]["template"]["spec"]
        for container in pod.get("initContainers", []) + pod["containers"]:
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
    return found


def check_overlay(path: Path, problems: Problems) -> None:
    objects = [o for o in yaml.safe_load_all(path.read_text()) if o]
    where = f"{path.stem}:"
    by_kind: dict[str, dict[str, dict]] = {}
    for obj in objects:
        by_kind.setdefault(obj["kind"], {})[obj["metadata"]["name"]] = obj
    namespaces = set(by_kind.get("Namespace", {}))
    problems.check(len(namespaces) == 1, f"{where} expected one Namespace, found {sorted(namespaces)}")
    for obj in objects:
        if obj["kind"] != "Namespace":
            problems.check(
                obj["metadata"].get("namespace") in namespaces,
                f"{where} {obj['kind']}/{obj['metadata']['name']} is not in the overlay's namespace",
            )

    deployments = by_kind.get("Deployment", {})
    expected = {"gateway", *SERVERS} | {f"{s}-{w}" for s, ws in WORKERS.items() for w in ws}
    problems.check(
        set(deployments) == expected,
        f"{where} Deployments differ: missing {sorted(expected - set(deployments))}, "
        f"unexpected {sorted(set(deployments) - expected)}",
    )
    images = {
        c["image"]
        for d in deployments.values()
        for c in d["spec"]["template"]["spec"].get("initContainers", [])
        + d["spec"]["template"]["spec"]["containers"]
    }
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
        problems.check(
            server["args"] == ["python", "-m", f"services.{service}", "serve"], f"{where} {service} args"
        )
        env = {e["name"]: e.get("value") for e in server.get("env", [])}
        problems.check(env.get("GRPC_PORT") == str(port), f"{where} {service} GRPC_PORT should be {port}")
        for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
            problems.check(
                server.get(probe, {}).get("grpc", {}).get("port") == port,
                f"{where} {service} {probe} should be a grpc probe on {port}",
            )
        migrate = [c["args"] for c in pod.get("initContainers", [])]
        problems.check(
            migrate == [["python", "-m", f"services.{service}", "migrate"]],
            f"{where} {service} should migrate in an init container",
        )
        ports = by_kind.get("Service", {}).get(service, {}).get("spec", {}).get("ports", [])
        problems.check(
            any(p["port"] == port for p in ports), f"{where} Service {service} should expose {port}"
        )
    for service, workers in WORKERS.items():
        for worker in workers:
            deployment = deployments.get(f"{service}-{worker}")
            if deployment:
                args = deployment["spec"]["template"]["spec"]["containers"][0]["args"]
                problems.check(
                    args == ["python", "-m", f"services.{service}", worker],
                    f"{where} {service}-{worker} args",
                )

    for name in ["gateway", *SERVERS]:
        hpa = by_kind.get("HorizontalPodAutoscaler", {}).get(name)
        problems.check(hpa and hpa["spec"]["scaleTargetRef"]["name"] == name, f"{where} no HPA for {name}")
        problems.check(
            name in by_kind.get("PodDisruptionBudget", {}), f"{where} no PodDisruptionBudget for {name}"
        )
        problems.check(
            "replicas" not in deployments.get(name, {}).get("spec", {}),
            f"{where} {name} sets replicas although its HPA owns the count",
        )
    deny = by_kind.get("NetworkPolicy", {}).get("default-deny", {}).get("spec", {})
    problems.check(
        deny.get("podSelector") == {} and set(deny.get("policyTypes", [])) == {"Ingress", "Egress"},
        f"{where} NetworkPolicy default-deny should deny all ingress and egress",
    )
    problems.check("gateway" in by_kind.get("Ingress", {}), f"{where} no Ingress for the gateway")

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


def check_compose(path: Path, problems: Problems) -> None:
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
        owner, _, role = name.partition("-")
        depends = svc.get("depends_on", {})
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
                env = svc.get("environment", {})
                problems.check(env.get("GRPC_PORT") == str(SERVERS[owner]), f"compose: {name} GRPC_PORT")
                problems.check("healthcheck" in svc, f"compose: {name} needs a healthcheck")
    for name in BACKING | {"gateway"}:
        problems.check("healthcheck" in services.get(name, {}), f"compose: {name} needs a healthcheck")
    gateway_deps = services.get("gateway", {}).get("depends_on", {})
    problems.check(
        all(gateway_deps.get(s, {}).get("condition") == "service_healthy" for s in SERVERS),
        "compose: gateway should wait for every gRPC server to be healthy",
    )
    published = {name for name, svc in services.items() if svc.get("ports")}
    problems.check(
        published <= {"gateway", "mailpit"},
        f"compose: only gateway and mailpit publish ports, not {published}",
    )


def structure(out: Path) -> int:
    problems = Problems()
    overlays = sorted(out.glob("*.yaml"))
    problems.check(overlays, f"no rendered overlays in {out}")
    for path in overlays:
        check_overlay(path, problems)
    check_compose(out / "compose.json", problems)
    for problem in problems:
        print(f"  {problem}")
    print(f"{len(overlays)} overlays and docker-compose.yml: {len(problems)} problem(s)")
    return 1 if problems else 0


def main(argv: list[str]) -> int:
    if len(argv) == 4 and argv[0] == "checkov-report":
        return checkov_report(argv[1], Path(argv[2]), int(argv[3]))
    if len(argv) == 2 and argv[0] == "structure":
        return structure(Path(argv[1]))
    print(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
