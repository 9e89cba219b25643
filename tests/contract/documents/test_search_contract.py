"""One contract for every search backend: SQLite FTS5 (embedded) and Elasticsearch (real server).

Vietnamese folding, exact accents and phrases first, document numbers typed loosely, filters,
sorting, paging, highlights, and permission filtering inside the query: a member of commune B
never sees commune A's document in hits, totals, highlights or facets.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from services.documents.search import (
    SORT_NEWEST,
    SORT_OLDEST,
    SearchIndex,
    SearchQuery,
    SearchResult,
    Visibility,
)
from tests.support.documents import doc, search_index

PROVINCE, COMMUNE_A, COMMUNE_B, CELL_A, CELL_B = "prov", "xa-a", "xa-b", "cb-a", "cb-b"
MEMBER_A = Visibility(units=(PROVINCE, COMMUNE_A, CELL_A))
MEMBER_B = Visibility(units=(PROVINCE, COMMUNE_B, CELL_B))
EDITOR_A = Visibility(units=(PROVINCE, COMMUNE_A), manage_units=(COMMUNE_A,))


@pytest.fixture(params=["fts5", "elasticsearch"])
def index(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[SearchIndex]:
    with search_index(request.param, tmp_path) as idx:
        yield idx


def load(index: SearchIndex, *docs) -> None:  # type: ignore[no-untyped-def]
    index.upsert(list(docs))
    index.refresh()


def ids(result: SearchResult) -> list[str]:
    return [h.id for h in result.hits]


def find(index: SearchIndex, text: str, vis: Visibility = MEMBER_A, **kw) -> SearchResult:  # type: ignore[no-untyped-def]
    return index.search(SearchQuery(visibility=vis, text=text, **kw))


def corpus(index: SearchIndex) -> None:
    load(
        index,
        doc(
            "nq",
            "Nghị quyết về xây dựng Đảng trong sạch vững mạnh",
            (PROVINCE,),
            number="05-NQ/TU",
            doc_type="NQ",
            category="hoc-tap-nghi-quyet",
            issued_on="2025-03-01",
            body="Tăng cường công tác xây dựng, chỉnh đốn Đảng; đạo đức cách mạng của cán bộ, đảng viên.",
        ),
        doc(
            "qc",
            "Quy chế làm việc của Tỉnh ủy",
            (PROVINCE,),
            number="28-QC/TU",
            doc_type="QC",
            issued_on="2024-11-20",
            body="Quy chế quy định trách nhiệm và lề lối làm việc.",
        ),
        doc(
            "cv",
            "Công văn về việc tổ chức sinh hoạt chi bộ",
            (COMMUNE_A,),
            number="3055-CV/HU",
            doc_type="CV",
            category="thong-bao-noi-bo",
            issued_on="2025-05-10",
            issuing_body="Đảng ủy xã A",
            body="Các chi bộ tổ chức sinh hoạt thường kỳ đúng quy định.",
        ),
        doc(
            "qd",
            "Quyết định chuẩn y kết quả bầu cử",
            (COMMUNE_B,),
            number="123-QĐ/ĐU",
            doc_type="QĐ",
            issued_on="2025-02-02",
            issuing_body="Đảng ủy xã B",
            body="Bí mật xã B: kế hoạch riêng của xã B về đạo đức và Đảng.",
        ),
    )


def test_folded_query_finds_accented_text(index: SearchIndex) -> None:
    corpus(index)
    assert "nq" in ids(find(index, "nghi quyet"))
    assert "nq" in ids(find(index, "NGHỊ QUYẾT"))
    assert "nq" in ids(find(index, "dang"))  # đ folded to d at index and query time
    assert "nq" in ids(find(index, "dao duc"))
    assert ids(find(index, "chinh don dang")) == ["nq"]
    assert find(index, "khong co tu nay").total == 0


def test_exact_accents_and_phrases_rank_first(index: SearchIndex) -> None:
    load(
        index,
        doc("loose", "Bàn về đăng ký và đang làm", (PROVINCE,), body="đăng đang đăng đang"),
        doc("exact", "Bàn về Đảng và nhà nước", (PROVINCE,), body="Đảng lãnh đạo"),
    )
    assert ids(find(index, "Đảng"))[0] == "exact"
    load(
        index,
        doc("words", "Quyết nghị cần xây dựng", (PROVINCE,), body="xây dựng, nghị lực và quyết tâm"),
        doc("phrase", "Thông báo kết luận", (PROVINCE,), body="triển khai nghị quyết xây dựng"),
    )
    assert ids(find(index, "nghị quyết"))[0] == "phrase"


@pytest.mark.parametrize("typed", ["28-QC/TU", "28-qc/tu", "28 qc tu", "28-qc", "28 QC"])
def test_number_typed_exactly_or_loosely(index: SearchIndex, typed: str) -> None:
    corpus(index)
    assert ids(find(index, typed))[0] == "qc"


def test_numbers_with_d_stroke_and_other_issuers(index: SearchIndex) -> None:
    corpus(index)
    vis_b = MEMBER_B
    assert ids(find(index, "123-QĐ/ĐU", vis_b))[0] == "qd"
    assert ids(find(index, "123 qd du", vis_b))[0] == "qd"
    assert ids(find(index, "3055-CV/HU"))[0] == "cv"


def test_filters_sort_and_paging(index: SearchIndex) -> None:
    corpus(index)
    assert ids(find(index, "", doc_types=("QC",))) == ["qc"]
    assert ids(find(index, "", categories=("hoc-tap-nghi-quyet",))) == ["nq"]
    assert ids(find(index, "", issued_from="2025-01-01", issued_to="2025-04-01")) == ["nq"]
    assert ids(find(index, "", issuing_body="dang uy xa a")) == ["cv"]
    assert ids(find(index, "", unit_id=COMMUNE_A)) == ["cv"]
    assert ids(find(index, "", sort=SORT_NEWEST)) == ["cv", "nq", "qc"]
    assert ids(find(index, "", sort=SORT_OLDEST)) == ["qc", "nq", "cv"]
    first = find(index, "", sort=SORT_NEWEST, size=2)
    second = find(index, "", sort=SORT_NEWEST, size=2, offset=2)
    assert first.total == second.total == 3
    assert ids(first) + ids(second) == ["cv", "nq", "qc"]


def test_highlights_mark_the_accented_words(index: SearchIndex) -> None:
    corpus(index)
    hit = find(index, "dao duc").hits[0]
    assert hit.id == "nq"
    body = " ".join(hit.highlights["body"])
    assert "<mark>đạo</mark>" in body and "<mark>đức</mark>" in body
    title = find(index, "xay dung dang").hits[0].highlights["title"][0]
    assert "<mark>xây</mark>" in title and "<mark>Đảng</mark>" in title


def test_permission_filter_inside_the_query(index: SearchIndex) -> None:
    corpus(index)
    # Commune A's member: never commune B's document, whatever the query.
    for text in ("", "bi mat xa b", "123-QĐ/ĐU", "dang", "quyet dinh chuan y"):
        result = find(index, text, MEMBER_A)
        assert "qd" not in ids(result)
        everything = repr(result)
        assert "xã B" not in everything and "Bí mật" not in everything
        assert all(v != "QĐ" for v, _ in result.facets["doc_type"])
    assert find(index, "bi mat xa b", MEMBER_A).total == 0
    assert find(index, "", MEMBER_A).total == 3
    # And the reverse.
    result_b = find(index, "sinh hoat chi bo", MEMBER_B)
    assert result_b.total == 0 and result_b.hits == []
    assert {v for v, _ in find(index, "", MEMBER_B).facets["doc_type"]} == {"NQ", "QC", "QĐ"}
    # An editor of commune A also sees what commune A published (via the publisher chain).
    load(
        index,
        doc(
            "draft-a",
            "Kế hoạch của xã A gửi chi bộ",
            (CELL_A,),
            unit_id=COMMUNE_A,
            chain=(PROVINCE, COMMUNE_A),
            number="7-KH/ĐU",
            doc_type="KH",
        ),
    )
    assert "draft-a" in ids(find(index, "ke hoach", EDITOR_A))
    assert "draft-a" not in ids(find(index, "ke hoach", MEMBER_B))
    assert find(index, "", Visibility(units=())).total == 0


def test_versions_never_go_back_and_deletes_stick(index: SearchIndex) -> None:
    load(index, doc("d", "Bản mới", (PROVINCE,), version=3))
    load(index, doc("d", "Bản cũ", (PROVINCE,), version=2))
    assert [h.title for h in find(index, "").hits] == ["Bản mới"]
    load(index, doc("d", "Bản mới", (PROVINCE,), version=3))  # a replay changes nothing
    assert find(index, "").total == 1
    index.delete([("d", 4)])
    index.refresh()
    assert find(index, "").total == 0
    load(index, doc("d", "Bản cũ", (PROVINCE,), version=3))
    assert find(index, "").total == 0
    load(index, doc("d", "Bản khôi phục", (PROVINCE,), version=5))
    assert [h.title for h in find(index, "").hits] == ["Bản khôi phục"]


def test_reindex_swaps_atomically(index: SearchIndex) -> None:
    corpus(index)
    name = index.reindex([doc("only", "Chỉ thị mới về học tập", (PROVINCE,), number="9-CT/TU", doc_type="CT")])
    assert name
    index.refresh()
    assert ids(find(index, "")) == ["only"]
    index.upsert([doc("after", "Thông báo sau khi dựng lại", (PROVINCE,), version=1)])
    index.refresh()
    assert set(ids(find(index, ""))) == {"only", "after"}
