"""Time spent in each step of an upload (Prometheus `documents_upload_step_seconds{step}`).

Steps: replay_check, unit_lookup, receive (spool + checksums), type_check, text_check (the
marking check on the top of the text, or the whole extraction of a small file), store_put,
db_transaction. bench/documents.py reads them from the server's metrics endpoint.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

from prometheus_client import Histogram

UPLOAD_STEP_SECONDS = Histogram(
    "documents_upload_step_seconds",
    "Time per step of UploadDocument / AddDocumentVersion",
    ["step"],
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)


def observe(name: str, seconds: float) -> None:
    UPLOAD_STEP_SECONDS.labels(name).observe(seconds)


@contextmanager
def step(name: str) -> Iterator[None]:
    started = time.perf_counter()
    try:
        yield
    finally:
        UPLOAD_STEP_SECONDS.labels(name).observe(time.perf_counter() - started)
