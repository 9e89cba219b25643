"""The deployment files (Dockerfile, k8s/, docker-compose.yml) pass scripts/validate-deploy.

The script installs its pinned tools into ~/.cache/sotay/deploy-venv on first use (about a
minute from PyPI); later runs take seconds.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.timeout(900)
def test_validate_deploy_passes() -> None:
    result = subprocess.run(
        [str(ROOT / "scripts" / "validate-deploy")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert result.returncode == 0, f"{result.stdout[-10000:]}\n{result.stderr[-5000:]}"
