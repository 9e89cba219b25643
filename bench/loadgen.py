"""HTTP load with wrk (Debian package, installed on demand): requests/s and latency percentiles."""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def ensure_wrk() -> str:
    found = shutil.which("wrk")
    if found:
        return found
    subprocess.run(["apt-get", "install", "-y", "-qq", "wrk"], check=True, capture_output=True)
    return str(shutil.which("wrk"))


def _ms(text: str) -> float:
    found = re.fullmatch(r"([\d.]+)(us|ms|s)", text.strip())
    if found is None:
        raise SystemExit(f"cannot read wrk's latency {text!r}")
    return round(float(found.group(1)) * UNITS[found.group(2)], 3)


def run_wrk(url: str, headers: dict[str, str] | None = None, connections: int = 32, seconds: float = 15,
            threads: int = 2, lua: str = "") -> dict[str, Any]:
    """Closed-loop load from `connections` connections; only 127.0.0.1 URLs. `lua` is a wrk
    script of its own (e.g. a `request()` varying the requests) instead of fixed `headers`."""
    assert url.startswith("http://127.0.0.1:"), "load tests target loopback only"
    script = lua or "".join(f'wrk.headers["{k}"] = "{v}"\n' for k, v in (headers or {}).items())
    script += 'done = function(summary, latency, requests)\n  io.write(string.format("NON2XX %d\\n", ' \
              "summary.errors.status))\nend\n"
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "load.lua"
        path.write_text(script)
        out = subprocess.run(
            [ensure_wrk(), f"-t{threads}", f"-c{connections}", f"-d{int(seconds)}s", "--latency", "-s", str(path),
             url], check=True, capture_output=True, text=True,
        ).stdout
    pct = dict(re.findall(r"^\s+(50|75|90|99)%\s+(\S+)\s*$", out, re.M))  # "1.44s " (seconds: a space)
    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    errors = re.search(r"NON2XX (\d+)", out)
    sock = re.search(r"Socket errors: (.*)", out)
    if rps is None or errors is None or set(pct) != {"50", "75", "90", "99"}:
        raise SystemExit(f"cannot read wrk's output:\n{out}")
    return {
        "requests_per_s": float(rps.group(1)),
        "p50_ms": _ms(pct["50"]),
        "p90_ms": _ms(pct["90"]),
        "p99_ms": _ms(pct["99"]),
        "non_2xx": int(errors.group(1)),
        "socket_errors": sock.group(1) if sock else "none",
    }
