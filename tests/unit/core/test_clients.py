"""Calls to another service: the one translation of its status codes into this service's errors,
the unit cache, the paging loop."""

from __future__ import annotations

import grpc
import pytest

from services.core import errors
from services.core.clients import TtlCache, call, pages, translate
from services.core.identity_client import IdentityClient
from sotay.identity.v1 import identity_pb2 as ipb
from tests.unit.gateway.test_errors import FakeRpcError, _service_error

C = grpc.StatusCode


def Failed(code: grpc.StatusCode, reason: str = "", **metadata: object) -> FakeRpcError:
    """A failed call as grpc raises it: code, details and the status (with ErrorInfo) in trailers."""
    details = f"{code.name} from the far side"
    if not reason:
        return FakeRpcError(code, details)
    error = errors.ServiceError(reason, details, **metadata)
    error.code = code
    return _service_error(error)


TABLE: list[tuple[grpc.StatusCode, type[errors.ServiceError]]] = [
    (C.INVALID_ARGUMENT, errors.InvalidArgument),
    (C.OUT_OF_RANGE, errors.InvalidArgument),
    (C.NOT_FOUND, errors.NotFound),
    (C.ALREADY_EXISTS, errors.AlreadyExists),
    (C.PERMISSION_DENIED, errors.PermissionDenied),
    (C.UNAUTHENTICATED, errors.Unauthenticated),
    (C.FAILED_PRECONDITION, errors.FailedPrecondition),
    (C.RESOURCE_EXHAUSTED, errors.ResourceExhausted),
    (C.UNAVAILABLE, errors.Unavailable),
    (C.DEADLINE_EXCEEDED, errors.Unavailable),
    (C.INTERNAL, errors.Unavailable),
    (C.UNKNOWN, errors.Unavailable),
    (C.CANCELLED, errors.Unavailable),
    (C.ABORTED, errors.Unavailable),
    (C.UNIMPLEMENTED, errors.Unavailable),
    (C.DATA_LOSS, errors.Unavailable),
]


def test_the_table_covers_every_failure_code() -> None:
    assert {code for code, _ in TABLE} == set(C) - {C.OK}


@pytest.mark.parametrize(("code", "kind"), TABLE, ids=[c.name for c, _ in TABLE])
def test_each_code_becomes_its_domain_error(code: grpc.StatusCode, kind: type[errors.ServiceError]) -> None:
    error = translate(Failed(code, "far_reason", unit_id="u1"), "identity")
    assert type(error) is kind and error.code == kind.code
    if kind is errors.Unavailable:  # the far side's reason means nothing to this caller
        assert (error.reason, error.metadata) == ("identity_unavailable", {})
        assert code.name in error.message
    else:
        assert (error.reason, error.metadata) == ("far_reason", {"unit_id": "u1"})
        assert error.message == f"{code.name} from the far side"


def test_a_refusal_without_a_reason_gets_one_naming_the_service() -> None:
    error = translate(Failed(C.PERMISSION_DENIED), "documents")
    assert isinstance(error, errors.PermissionDenied) and error.reason == "documents_permission_denied"


def test_what_was_asked_for_names_a_missing_thing() -> None:
    missing = translate(Failed(C.NOT_FOUND, "unit_not_found", unit_id="u1"), "identity", "unit", field="audience")
    assert isinstance(missing, errors.NotFound)
    assert (missing.reason, missing.metadata) == ("unit_not_found", {"field": "audience"})
    # A malformed id names nothing either: NOT_FOUND, as a well-formed unknown one.
    malformed = translate(Failed(C.INVALID_ARGUMENT, "invalid_id", field="id"), "documents", "document")
    assert isinstance(malformed, errors.NotFound) and malformed.reason == "document_not_found"
    # Any other refusal keeps its own reason; the field of this call's request is added.
    other = translate(Failed(C.INVALID_ARGUMENT, "bad_kind", field="kind"), "identity", "unit", field="cell")
    assert isinstance(other, errors.InvalidArgument)
    assert (other.reason, other.metadata) == ("bad_kind", {"field": "cell"})


def test_call_raises_the_translation_and_passes_answers() -> None:
    assert call("identity", lambda: 7) == 7

    def down() -> int:
        raise Failed(C.UNAVAILABLE)

    with pytest.raises(errors.Unavailable) as caught:
        call("identity", down)
    assert caught.value.reason == "identity_unavailable"


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_cache_keeps_answers_for_its_time_only() -> None:
    clock, loads = Clock(), []
    cache: TtlCache[str, int] = TtlCache(30, 10, clock)

    def load() -> int:
        loads.append(1)
        return len(loads)

    assert cache.get("a", load) == 1
    clock.now += 29.9
    assert cache.get("a", load) == 1
    clock.now += 0.2
    assert cache.get("a", load) == 2
    cache.forget("a")
    assert cache.get("a", load) == 3
    cache.forget()
    assert len(cache) == 0


def test_cache_drops_the_least_recently_used_and_keeps_no_failure() -> None:
    cache: TtlCache[str, str] = TtlCache(30, 2, Clock())
    cache.get("a", lambda: "A")
    cache.get("b", lambda: "B")
    assert cache.get("a", lambda: "new") == "A"  # a used last: b goes first
    cache.get("c", lambda: "C")
    assert len(cache) == 2
    assert cache.get("b", lambda: "B2") == "B2"
    assert cache.get("a", lambda: "A2") == "A2"  # c, b pushed a out

    def failing() -> str:
        raise errors.Unavailable("identity_unavailable", "down")

    with pytest.raises(errors.Unavailable):
        cache.get("d", failing)
    assert cache.get("d", lambda: "D") == "D"


class FakeIdentity:
    """The stub's GetUnit and ListRoster, counting calls."""

    def __init__(self, roster: int = 0) -> None:
        self.gets = 0
        self.members = [ipb.RosterEntry(member_id=f"m{i}") for i in range(roster)]
        self.pages: list[str] = []

    def GetUnit(self, request: ipb.GetUnitRequest) -> ipb.GetUnitResponse:
        self.gets += 1
        if request.id.startswith("0"):
            raise Failed(C.NOT_FOUND, "unit_not_found", unit_id=request.id)
        return ipb.GetUnitResponse(unit=ipb.Unit(id=request.id, name="Chi bộ", kind=ipb.UNIT_KIND_CELL,
                                                 ancestor_ids=["root"]))

    def ListRoster(self, request: ipb.ListRosterRequest) -> ipb.ListRosterResponse:
        self.pages.append(request.page_token)
        start = int(request.page_token or 0)
        end = start + 2  # pages of two, whatever was asked
        return ipb.ListRosterResponse(entries=self.members[start:end],
                                      next_page_token=str(end) if end < len(self.members) else "")


def client(fake: FakeIdentity, cache_seconds: float = 30) -> IdentityClient:
    c = IdentityClient("127.0.0.1:1", cache_seconds=cache_seconds)
    c._stub._stub = fake  # type: ignore[assignment]
    return c


UNIT = "6f1f7a2e-0000-4000-8000-000000000001"
MISSING = "0f1f7a2e-0000-4000-8000-000000000001"


def test_units_are_cached_and_misses_are_not() -> None:
    fake = FakeIdentity()
    identity = client(fake)
    assert identity.chain(UNIT) == ("root", UNIT) and identity.unit(UNIT).is_cell
    assert fake.gets == 1
    for _ in range(2):
        with pytest.raises(errors.NotFound) as caught:
            identity.unit(MISSING, "cell_unit_id")
        assert (caught.value.reason, caught.value.metadata) == ("unit_not_found", {"field": "cell_unit_id"})
    assert fake.gets == 3
    with pytest.raises(errors.NotFound):
        identity.unit("not-an-id")  # refused here, identity not asked
    with pytest.raises(errors.InvalidArgument) as empty:
        identity.unit("", "publisher_unit_id")
    assert empty.value.reason == "unit_required"
    assert fake.gets == 3
    uncached = client(fake, cache_seconds=0)
    uncached.unit(UNIT)
    uncached.unit(UNIT)
    assert fake.gets == 5


def test_the_roster_is_read_page_by_page_up_to_the_limit() -> None:
    fake = FakeIdentity(roster=5)
    identity = client(fake)
    assert [e.member_id for e in identity.roster(UNIT)] == ["m0", "m1", "m2", "m3", "m4"]
    assert fake.pages == ["", "2", "4"]
    fake.pages.clear()
    assert len(identity.roster(UNIT, limit=3)) == 4  # the page reaching the limit is the last asked
    assert fake.pages == ["", "2"]
    assert list(pages(lambda t: ipb.ListRosterResponse(), "entries")) == []
