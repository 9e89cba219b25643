"""gunicorn settings from the environment."""

from __future__ import annotations

import importlib
import types

import pytest


def _load(monkeypatch: pytest.MonkeyPatch, **env: str) -> types.ModuleType:
    for name in [f"GATEWAY_{n}" for n in ("BIND", "WORKERS", "THREADS", "ACCESS_LOG", "CONTROL_SOCKET")]:
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    import gateway.gunicorn_conf as conf

    return importlib.reload(conf)


def test_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    conf = _load(monkeypatch)
    assert conf.bind == ["127.0.0.1:8080"]
    assert conf.workers == 2
    assert conf.worker_class == "gateway.worker.GatewayWorker"  # gthread with health threads
    assert conf.threads == 8
    assert conf.limit_request_line == 8190  # gunicorn's largest; longer is a 414 in the JSON shape
    assert conf.preload_app is False
    assert conf.reuse_port is True  # connections spread over the workers by the kernel
    assert conf.errorlog == "-"
    assert conf.accesslog is None
    assert conf.control_socket_disable is True


def test_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    conf = _load(monkeypatch, GATEWAY_BIND="0.0.0.0:9000", GATEWAY_WORKERS="4", GATEWAY_THREADS="16",
                 GATEWAY_ACCESS_LOG="/dev/stderr")
    assert conf.bind == ["0.0.0.0:9000"]
    assert (conf.workers, conf.threads) == (4, 16)
    assert conf.accesslog == "/dev/stderr"


def test_the_access_log_is_json(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    import datetime as dt
    import json

    from gunicorn.config import Config

    conf = _load(monkeypatch)
    cfg = Config()
    cfg.set("accesslog", "-")
    logger = conf.JsonLogger(cfg)
    resp = types.SimpleNamespace(status="200 OK", headers=[("X-Request-Id", "r1")], sent=12)
    environ = {"REQUEST_METHOD": "GET", "PATH_INFO": "/api/v1/me", "REMOTE_ADDR": "10.1.2.3",
               "HTTP_USER_AGENT": 'quote " in agent'}
    logger.access(resp, None, environ, dt.timedelta(milliseconds=5))
    line = capsys.readouterr().out.strip().splitlines()[-1]
    entry = json.loads(line)
    assert entry["request_id"] == "r1"
    assert entry["status"] == 200
    assert entry["path"] == "/api/v1/me"
    assert entry["agent"] == 'quote " in agent'
