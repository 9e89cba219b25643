"""Elasticsearch 8.x servers are spoken to in REST API compatibility mode, 7.x servers (which
refuse those media types) in plain JSON; the mode comes from the server's version (real 7.x server)."""

from __future__ import annotations

import uuid

import pytest
import requests
from elasticsearch.client.utils import _COMPATIBILITY_MIMETYPE

from services.documents.search import SearchQuery, Visibility
from services.documents.search.es import ElasticIndex, compatible_headers, needs_compatibility
from tests.conftest import need_backing


def test_compatibility_media_types_are_the_clients_own() -> None:
    headers = compatible_headers({"Accept": "application/json", "Content-Type": "application/x-ndjson"})
    assert headers["accept"] == _COMPATIBILITY_MIMETYPE  # what ELASTIC_CLIENT_APIVERSIONING=true sends
    assert headers["content-type"] == "application/vnd.elasticsearch+x-ndjson;compatible-with=7"
    assert compatible_headers(None) == {"accept": _COMPATIBILITY_MIMETYPE, "content-type": _COMPATIBILITY_MIMETYPE}
    kept = compatible_headers({"accept": "text/plain", "authorization": "Basic x"})
    assert kept["accept"] == "text/plain" and kept["authorization"] == "Basic x"


@pytest.mark.parametrize(("number", "expected"), [("7.10.2", False), ("7.17.28", False), ("8.19.3", True),
                                                   ("9.1.0", True)])
def test_servers_from_8_on_need_compatibility(number: str, expected: bool) -> None:
    assert needs_compatibility({"version": {"number": number}}) is expected


def test_a_7x_server_is_spoken_to_in_plain_json_which_it_alone_accepts() -> None:
    url = need_backing("ELASTICSEARCH_URL")
    major = int(requests.get(url, timeout=10).json()["version"]["number"].split(".")[0])
    index = ElasticIndex(url, f"sotay-test-{uuid.uuid4().hex[:10]}")
    try:
        index.ensure()
        index.refresh()
        assert index.search(SearchQuery(visibility=Visibility(units=("u",)), text="nghi quyet")).total == 0
        assert index.compatibility is (major >= 8)
        if major < 8:  # why the mode is chosen by version: 7.x refuses the compatible media types
            refused = requests.post(f"{url}/_search", data="{}", headers=compatible_headers({}), timeout=10)
            assert refused.status_code == 406
    finally:
        for name in index.indices():
            index.client.indices.delete(index=name, ignore=[404])
        index.close()
