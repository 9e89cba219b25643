"""The meeting-quality rubric in force: data, not code.

MEETINGS_RUBRIC_FILE names a JSON file (see rubrics/hd12-100.json for the format: criteria with
points, groups, and rating thresholds; a criterion's optional "computed" names the fact of the
record that decides it, one of charter.COMPUTED_RULES); by default the 100-point example from the
HD 12 criteria.
A province changes its scoring by shipping another file, never by changing code.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

from services.core.config import env
from services.meetings.charter import Rubric, RubricError

DEFAULT_RUBRIC = Path(__file__).resolve().parent / "rubrics" / "hd12-100.json"


def load(path: Path) -> Rubric:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise RubricError(f"cannot read rubric {path}: {exc}") from exc
    if not isinstance(data, dict):
        raise RubricError(f"rubric {path} must be a JSON object")
    return Rubric.from_data(data)


@lru_cache(maxsize=1)
def current() -> Rubric:
    """The configured rubric (read once per process; a bad file stops the service at start)."""
    raw = env("MEETINGS_RUBRIC_FILE")
    return load(Path(raw) if raw else DEFAULT_RUBRIC)
