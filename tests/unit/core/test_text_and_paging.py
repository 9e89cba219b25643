import base64

import grpc
import pytest

from services.core.db import Database
from services.core.errors import InvalidArgument
from services.core.paging import MAX_OFFSET, decode_token, next_token, page_size, page_window
from services.core.text import fold
from sotay.identity.v1 import identity_pb2 as ipb
from tests.support.identity import running_identity


def forged(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode()


FORGED_TOKENS = [
    forged("o:" + "9" * 30),  # overflows every database integer
    forged(f"o:{MAX_OFFSET + 1}"),
    forged("o:-5"),
    forged("o:1e9"),
    base64.urlsafe_b64encode(b"o:\xff\xfe").decode(),  # not UTF-8 inside
    "====",
    "o:12",  # not base64 of anything numeric
    "é" * 10,
]


@pytest.mark.parametrize(("text", "folded"), [
    ("Nghị quyết", "nghi quyet"),
    ("Đảng ủy", "dang uy"),
    ("ĐẠO ĐỨC", "dao duc"),
    ("  Chi   bộ  ", "chi bo"),
    ("Nguyễn Thị Ánh", "nguyen thi anh"),
])
def test_fold_strips_diacritics_and_folds_d(text: str, folded: str) -> None:
    assert fold(text) == folded


def test_page_tokens_round_trip_and_reject_garbage() -> None:
    token = next_token(0, 50, 50, 120)
    assert decode_token(token) == 50
    assert next_token(100, 50, 20, 120) == ""
    with pytest.raises(InvalidArgument):
        decode_token("not-a-token!")
    with pytest.raises(InvalidArgument):
        page_size(-1)
    assert page_size(0) == 50 and page_size(10_000) == 500


def test_page_window_reads_the_size_and_token_of_a_list_request() -> None:
    assert page_window(ipb.ListMembersRequest()) == (50, 0)
    request = ipb.ListMembersRequest(page_size=10_000, page_token=next_token(0, 50, 50, 120))
    assert page_window(request) == (500, 50)
    assert page_window(request, default=20, maximum=100) == (100, 50)
    with pytest.raises(InvalidArgument):
        page_window(ipb.ListMembersRequest(page_size=-1))
    with pytest.raises(InvalidArgument):
        page_window(ipb.ListMembersRequest(page_token="not-a-token!"))


@pytest.mark.parametrize("token", FORGED_TOKENS)
def test_forged_page_tokens_are_invalid_arguments(token: str) -> None:
    with pytest.raises(InvalidArgument):
        decode_token(token)


def test_the_largest_offset_is_accepted() -> None:
    assert decode_token(forged(f"o:{MAX_OFFSET}")) == MAX_OFFSET


def test_a_service_answers_a_forged_page_token_with_invalid_argument(database: Database) -> None:
    """Through a real service and database: a 400 for the client, never INTERNAL."""
    with running_identity(database) as identity:
        for token in FORGED_TOKENS:
            with pytest.raises(grpc.RpcError) as caught:
                identity.stub.ListUnits(ipb.ListUnitsRequest(parent_id=identity.root_id, page_token=token),
                                        metadata=identity.admin(), timeout=10)
            assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT, (token, caught.value.details())
        page = identity.stub.ListUnits(ipb.ListUnitsRequest(parent_id=identity.root_id, page_token=forged(
            f"o:{MAX_OFFSET}")), metadata=identity.admin(), timeout=10)
        assert list(page.units) == []
