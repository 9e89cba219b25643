"""Hooks of the schemathesis runs in test_schemathesis.py (loaded by the schemathesis CLI through
SCHEMATHESIS_HOOKS; they read what the test gives them from the environment).

- `requires_token`: the check of the pass without a token: every operation whose OpenAPI
  `security` is not empty answers 401 in the gateway's JSON error shape (a method the path does
  not have is a 405 from routing, whatever the token).
- Status counts: each response's status is appended to the file SOTAY_FUZZ_STATUSES names.
- Real ids: on reads (GET), a path parameter named in SOTAY_FUZZ_IDS (JSON: name -> ids of seeded
  rows) is replaced by one of them for about half of the generated values (chosen from the value
  itself, so a seed gives the same cases), so reads reach real rows and not only "not found".
"""

from __future__ import annotations

import hashlib
import json
import os
from typing import Any

import schemathesis

from gateway.gunicorn_conf import limit_request_line

FUZZ_IDS: dict[str, list[str]] = json.loads(os.environ.get("SOTAY_FUZZ_IDS", "{}"))
STATUSES = os.environ.get("SOTAY_FUZZ_STATUSES", "")


@schemathesis.check
def requires_token(ctx: Any, response: Any, case: Any) -> bool | None:
    if not case.operation.definition.raw.get("security") or case.method.upper() != case.operation.method.upper():
        return None  # a public operation, or a method the path does not have
    if response.status_code == 414 and len(_request_line(response)) > limit_request_line:
        return True  # gunicorn cannot read a request line that long: no route, no token read
    if response.status_code != 401:
        raise AssertionError(f"{case.operation.label} answered {response.status_code}, not 401, without a valid token")
    error = json.loads(response.content)["error"]
    if error.get("status") != "UNAUTHENTICATED" or not error.get("reason"):
        raise AssertionError(f"{case.operation.label}: the 401 is not the JSON error shape: {error}")
    return True


def _request_line(response: Any) -> str:
    request = response.request
    return f"{request.method} {request.path_url} HTTP/1.1"


@schemathesis.hook
def map_path_parameters(context: Any, path_parameters: dict[str, Any]) -> dict[str, Any]:
    if context.operation is None or context.operation.method.upper() != "GET" or not path_parameters:
        return path_parameters
    mapped = dict(path_parameters)
    for name, value in path_parameters.items():
        ids = FUZZ_IDS.get(name)
        if ids:
            digest = hashlib.sha256(repr(value).encode()).digest()
            if digest[0] % 2 == 0:
                mapped[name] = ids[digest[1] % len(ids)]
    return mapped


@schemathesis.hook
def after_call(context: Any, case: Any, response: Any) -> None:
    if STATUSES:
        with open(STATUSES, "a", encoding="utf-8") as out:
            out.write(f"{response.status_code}\n")
