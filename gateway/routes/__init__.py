"""The REST API, one module per area. Each module has a `routes = Routes(...)` (gateway.api).

Adding an area (documents, meetings...) is adding one module here: `all_routes()` finds every
module of this package, and the app registers its routes and documents them in OpenAPI.
"""

from __future__ import annotations

import importlib
import pkgutil

from gateway.api import Routes


def all_routes() -> list[Routes]:
    found: list[Routes] = []
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        module = importlib.import_module(f"{__name__}.{info.name}")
        routes = getattr(module, "routes", None)
        if not isinstance(routes, Routes):
            raise RuntimeError(f"{module.__name__} has no `routes = Routes(...)`")
        found.append(routes)
    return found
