"""`sotay up --replicas N`: each copy of a server listens on its own port and every client is told
all of them; gateway copies bind their own ports; a comma list becomes a balanced gRPC target."""

from __future__ import annotations

from pathlib import Path

import pytest

from services import cli
from services.core.clients import grpc_target
from services.core.config import ServerConfig, database_url


@pytest.fixture(autouse=True)
def addresses(monkeypatch: pytest.MonkeyPatch) -> None:
    for service in cli.SERVICES:
        monkeypatch.delenv(f"{service.upper()}_ADDR", raising=False)
    monkeypatch.setenv("MEETINGS_ADDR", "127.0.0.1:6000")
    monkeypatch.setenv("GATEWAY_BIND", "127.0.0.1:7000")
    monkeypatch.delenv("METRICS_PORT", raising=False)


def by_name(replicas: int) -> dict[str, cli.Process]:
    return {p.name: p for p in cli.processes(replicas)}


def test_every_process_runs_once_per_replica_with_its_own_ports(tmp_path: Path) -> None:
    one, two = by_name(1), by_name(2)
    assert len(two) == 2 * len(one) and set(one) < set(two)
    assert {"meetings.2", "meetings-relay.2", "notifications-delivery.2", "gateway.2"} <= set(two)
    first = cli.process_env(two["meetings"], tmp_path, 2)
    second = cli.process_env(two["meetings.2"], tmp_path, 2)
    assert (first["GRPC_PORT"], second["GRPC_PORT"]) == ("6000", "6100")
    assert first["MEETINGS_ADDR"] == second["MEETINGS_ADDR"] == "127.0.0.1:6000,127.0.0.1:6100"
    assert first["IDENTITY_ADDR"] == "127.0.0.1:50051,127.0.0.1:50151"
    assert (first["METRICS_PORT"], second["METRICS_PORT"]) == ("9103", "9113")
    worker = cli.process_env(two["meetings-relay.2"], tmp_path, 2)
    assert "GRPC_PORT" not in worker
    # Every worker has a metrics port of its own (served on METRICS_PORT + 100), none shared.
    ports = [int(cli.process_env(p, tmp_path, 2)["METRICS_PORT"]) + 100 for p in two.values() if p.worker_metrics]
    assert len(ports) == len(set(ports)) == len([p for p in two.values() if p.worker_metrics]) > 20
    assert int(worker["METRICS_PORT"]) + 100 == two["meetings-relay.2"].worker_metrics
    assert worker["MEETINGS_ADDR"] == "127.0.0.1:6000,127.0.0.1:6100"
    gateways = [cli.process_env(two[n], tmp_path, 2)["GATEWAY_BIND"] for n in ("gateway", "gateway.2")]
    assert gateways == ["127.0.0.1:7000", "127.0.0.1:7100"]


def test_listed_addresses_are_the_replicas_own(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MEETINGS_ADDR", "127.0.0.1:6000, 127.0.0.1:6500")
    assert cli.replica_addrs("meetings", 3) == ["127.0.0.1:6000", "127.0.0.1:6500", "127.0.0.1:6200"]
    # A server started by hand with such a list (and no GRPC_PORT) listens on the first.
    monkeypatch.delenv("GRPC_PORT", raising=False)
    assert ServerConfig.from_env("meetings").port == 6000


def test_a_comma_list_is_one_round_robin_target_and_a_name_is_resolved() -> None:
    assert grpc_target("127.0.0.1:1,127.0.0.1:2") == "ipv4:127.0.0.1:1,127.0.0.1:2"
    assert grpc_target("[::1]:1,[::1]:2") == "ipv6:[::1]:1,[::1]:2"
    assert grpc_target("meetings:50053") == "dns:///meetings:50053"
    assert grpc_target("unix:/tmp/x.sock") == "unix:/tmp/x.sock"


def test_one_database_url_names_each_service_database(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql://u:p@db:5432/sotay_{service}")
    assert database_url("meetings") == "postgresql+psycopg://u:p@db:5432/sotay_meetings"


def test_replicas_come_from_the_flag_then_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SOTAY_REPLICAS", "3")
    assert cli.up_replicas(cli.argparse.Namespace(replicas=None)) == 3
    assert cli.up_replicas(cli.argparse.Namespace(replicas=2)) == 2
    with pytest.raises(SystemExit):
        cli.up_replicas(cli.argparse.Namespace(replicas=0))
