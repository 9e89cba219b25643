"""HTTP load with wrk (Debian package, installed on demand): requests/s and latency percentiles."""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from pathlib import Path

UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def ensure_wrk() -> str:
    found = shutil.which("wrk")
    if found:
        return found
    subprocess.run(["apt-get", "install", "-y", "-qq", "wrk"], check=True, capture_output=True)
    return str(shutil.which("wrk"))


def _ms(text: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)(us|ms|s)", text.strip()).groups()  # type: ignore[union-attr]
    return round(float(number) * UNITS[unit], 3)


def run_wrk(url: str, headers: dict[str, str], connections: int = 32, seconds: int = 15,
            threads: int = 2) -> dict[str, float]:
    """Closed-loop load from `connections` connections; only 127.0.0.1 URLs."""
    assert url.startswith("http://127.0.0.1:"), "load tests target loopback only"
    script = "".join(f'wrk.headers["{k}"] = "{v}"\n' for k, v in headers.items())
    script += 'done = function(summary, latency, requests)\n  io.write(string.format("NON2XX %d\\n", ' \
              "summary.errors.status))\nend\n"
    with tempfile.TemporaryDirectory() as tmp:
        lua = Path(tmp) / "headers.lua"
        lua.write_text(script)
        out = subprocess.run(
            [ensure_wrk(), f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--latency", "-s", str(lua), url],
            check=True, capture_output=True, text=True,
        ).stdout
    pct = dict(re.findall(r"^\s+(50|75|90|99)%\s+(\S+)$", out, re.M))
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    errors = int(re.search(r"NON2XX (\d+)", out).group(1))  # type: ignore[union-attr]
    sock = re.search(r"Socket errors: (.*)", out)
    return {
        "requests_per_s": rps,
        "p50_ms": _ms(pct["50"]),
        "p90_ms": _ms(pct["90"]),
        "p99_ms": _ms(pct["99"]),
        "non_2xx": errors,
        "socket_errors": sock.group(1) if sock else "none",  # type: ignore[dict-item]
    }
