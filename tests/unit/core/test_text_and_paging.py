import pytest

from services.core.errors import InvalidArgument
from services.core.paging import decode_token, next_token, page_size
from services.core.text import fold


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
