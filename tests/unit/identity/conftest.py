from collections.abc import Iterator

import pytest

from services.core.db import Database
from tests.support.identity import Identity, running_identity


@pytest.fixture
def identity(database: Database) -> Iterator[Identity]:
    with running_identity(database) as svc:
        yield svc
