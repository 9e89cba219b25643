"""Elasticsearch specifics: bulk requests bounded in bytes, highlighting of indices made before
term vectors, the phrase boosts applied by rescoring the best hits, and the search connection
(kept alive, no Nagle delay, reopened) (real server)."""

from __future__ import annotations

import socket
import uuid
from pathlib import Path
from typing import Any

import pytest

from services.documents.search import SearchQuery, SearchUnavailable, Visibility
from services.documents.search.es import RESCORE_WINDOW, ElasticIndex, index_body
from tests.conftest import need_backing
from tests.support.documents import doc, search_index

UNIT = "11111111-1111-4111-8111-111111111111"
VIS = Visibility(units=(UNIT,))
TEXT = "Nghị quyết về công tác dân vận trong tình hình mới. " * 400  # ~20 KB each


def test_bulk_writes_are_cut_by_size(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ES_BULK_MAX_BYTES", str(64 * 1024))
    with search_index("elasticsearch", tmp_path) as index:
        assert isinstance(index, ElasticIndex) and index.bulk_bytes == 64 * 1024
        requests: list[int] = []
        real = index.client.bulk

        def counted(*args: Any, **kw: Any) -> Any:
            requests.append(len(kw.get("body") or args[0]))
            return real(*args, **kw)

        monkeypatch.setattr(index.client, "bulk", counted)
        index.upsert([doc(str(uuid.uuid4()), f"Văn bản {i}", (UNIT,), body=TEXT) for i in range(20)])
        index.refresh()
        assert len(requests) >= 5  # 20 documents of ~20 KB: several requests of at most ~64 KB
        assert index.search(SearchQuery(visibility=VIS, text="dan van")).total == 20


def test_an_index_made_before_term_vectors_is_still_highlighted(tmp_path: Path) -> None:
    alias = f"sotay-test-{uuid.uuid4().hex[:10]}"
    es = ElasticIndex(need_backing("ELASTICSEARCH_URL"), alias)
    old = index_body(1, 0)
    for field in ("title", "summary", "body"):
        spec = dict(old["mappings"]["properties"][field])
        spec.pop("term_vector", None)
        old["mappings"]["properties"][field] = {**spec, "index_options": "offsets"}
    name = f"{alias}-v1"
    es.client.indices.create(index=name, settings=old["settings"], mappings=old["mappings"])
    es.client.indices.update_aliases(body={"actions": [{"add": {"index": name, "alias": alias}}]})
    try:
        es.ensure()  # leaves the existing index alone
        es.upsert([doc(str(uuid.uuid4()), "Kế hoạch dân vận", (UNIT,), body=TEXT)])
        es.refresh()
        assert es.highlighter() == "unified"
        hit = es.search(SearchQuery(visibility=VIS, text="dan van")).hits[0]
        assert any("<mark>" in f for f in hit.highlights["body"])
        es.reindex([doc(str(uuid.uuid4()), "Kế hoạch dân vận", (UNIT,), body=TEXT)])
        assert es.highlighter() == "fvh"
        hit = es.search(SearchQuery(visibility=VIS, text="dan van")).hits[0]
        assert any("<mark>dân" in f for f in hit.highlights["body"])
    finally:
        es.drop()
        es.close()


def test_phrase_boosts_rescore_as_deep_as_the_page(tmp_path: Path) -> None:
    with search_index("elasticsearch", tmp_path) as index:
        assert isinstance(index, ElasticIndex)
        first = index.body(SearchQuery(visibility=VIS, text="dân vận"))
        assert "sort" not in first and first["rescore"]["window_size"] == RESCORE_WINDOW
        deep = index.body(SearchQuery(visibility=VIS, text="dân vận", offset=500, size=20))
        assert deep["rescore"]["window_size"] == 520
        newest = index.body(SearchQuery(visibility=VIS, text="dân vận", sort="newest"))
        assert "rescore" not in newest and newest["sort"]


def test_searches_survive_a_closed_connection_and_report_an_absent_server(tmp_path: Path) -> None:
    with search_index("elasticsearch", tmp_path) as index:
        assert isinstance(index, ElasticIndex)
        index.upsert([doc(str(uuid.uuid4()), "Kế hoạch dân vận", (UNIT,), body=TEXT)])
        index.refresh()
        assert index.search(SearchQuery(visibility=VIS, text="dan van")).total == 1
        kept = index._searches._local.conn
        assert kept.sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)  # no Nagle wait for the body
        kept.sock.close()  # as if the server (or a proxy) had closed the idle connection
        hit = index.search(SearchQuery(visibility=VIS, text="dân vận")).hits[0]
        assert any("<mark>dân</mark>" in f for f in hit.highlights["body"])
        assert "<mark>dân</mark>" in hit.highlights["title"][0]
    nobody = ElasticIndex("http://127.0.0.1:9", "sotay-nowhere")
    with pytest.raises(SearchUnavailable):
        nobody._searches.post("/sotay-nowhere/_search", {"size": 0}, "search")
    nobody.close()


def test_only_the_body_keeps_term_vectors() -> None:
    fields = index_body(1, 0)["mappings"]["properties"]
    assert fields["body"]["term_vector"] == "with_positions_offsets"
    assert "term_vector" not in fields["title"] and "term_vector" not in fields["summary"]
