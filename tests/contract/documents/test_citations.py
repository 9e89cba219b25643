"""Document numbers as Vietnamese texts cite them, on every search backend (SQLite FTS5 and
Elasticsearch): "Nghị quyết số 06-NQ/TU", "06/NQ-TU", "NQ 06" all find Nghị quyết 06-NQ/TU, also
when the document's own number is written without the leading zero."""

from __future__ import annotations

import pytest

from services.documents.search import SearchIndex
from tests.contract.documents.test_search_contract import PROVINCE, find, ids, index, load
from tests.support.documents import doc

__all__ = ["index"]

WITH_ISSUER = [
    "Nghị quyết số 06-NQ/TU", "nghi quyet so 06-nq/tu", "06-NQ/TU", "06/NQ-TU", "6-NQ/TU", "NQ-06/TU",
    "số 06-NQ/TU", "06 nq tu",
]
WITHOUT_ISSUER = ["NQ 06", "NQ06", "Nghị quyết số 06", "nghị quyết 6"]


def corpus(index: SearchIndex, number: str) -> None:
    load(
        index,
        doc("nq06", "Về tăng cường công tác xây dựng Đảng", (PROVINCE,), number=number, doc_type="NQ",
            issued_on="2025-06-01", body="Các cấp ủy triển khai thực hiện đến từng chi bộ."),
        doc("nq16", "Về chuyển đổi số trong các cơ quan Đảng", (PROVINCE,), number="16-NQ/TU", doc_type="NQ",
            issued_on="2025-07-01", body="Ứng dụng nền tảng số Sổ tay Đảng viên; nghị quyết số 06 được nhắc lại."),
        doc("qc06", "Quy chế làm việc", (PROVINCE,), number="06-QC/TU", doc_type="QC", issued_on="2024-01-01",
            body="Quy chế số 06 về lề lối làm việc."),
        doc("nq06hu", "Nghị quyết của Huyện ủy", (PROVINCE,), number="06-NQ/HU", doc_type="NQ",
            issued_on="2024-02-02", body="Huyện ủy ban hành."),
    )


@pytest.mark.parametrize("number", ["06-NQ/TU", "6-NQ/TU"])
@pytest.mark.parametrize("typed", WITH_ISSUER + WITHOUT_ISSUER)
def test_a_number_cited_any_common_way_finds_the_document_first(index: SearchIndex, number: str, typed: str) -> None:
    corpus(index, number)
    found = ids(find(index, typed))
    if typed in WITH_ISSUER:
        assert found and found[0] == "nq06", found
    else:  # both resolutions numbered 06 are what was asked for
        assert set(found[:2]) == {"nq06", "nq06hu"}, found
    assert "qc06" not in found  # another type with the same number is not it


def test_the_issuer_tells_two_resolutions_of_the_same_number_apart(index: SearchIndex) -> None:
    corpus(index, "06-NQ/TU")
    assert ids(find(index, "06-NQ/HU"))[0] == "nq06hu"
    assert ids(find(index, "Quy chế số 06"))[0] == "qc06"
    # Words beside the citation still have to match.
    assert ids(find(index, "Nghị quyết số 06 về xây dựng Đảng"))[0] == "nq06"
