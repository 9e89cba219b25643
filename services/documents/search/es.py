"""Elasticsearch search index (7.x server, client of the same major; an 8.x server is spoken to
in REST API compatibility mode, found out from the server's version at the first request).

- Writes go to an alias (`ES_INDEX_ALIAS`, default `sotay-documents`) over a versioned index
  `<alias>-v<timestamp>`; `reindex` builds a new index and swaps the alias in one atomic
  `_aliases` call, then drops the old index.
- Every write carries the document's change counter as an external version
  (`external_gte`): replays are harmless and an older state never replaces a newer one.
- Analysis: `vi` = standard tokenizer + lowercase + asciifolding(preserve_original), so
  `nghi quyet` finds `nghị quyết` and `dang` finds `Đảng` (asciifolding folds đ -> d); the
  `.exact` sub-fields keep the accents and rank exact spellings and exact phrases first.
- Highlights: the body keeps term vectors with offsets for the fast-vector highlighter (fvh);
  title and summary (a few dozen words) are highlighted by the unified highlighter, which
  re-analyses their short text. The default (unified) highlighter on the body breaks a whole long
  body into sentences for every hit (up to ~70 ms a query over long documents); term vectors on
  title and summary too made every hit decode its term vectors three times (Lucene reads a
  document's vectors of every field at once), ~1.5 ms a search. An index made before body term
  vectors (`ensure` leaves it alone) is highlighted the old way until
  `python -m services.documents reindex` rebuilds it.
- Scoring: every word must match, accents optional (cross_fields over title, summary, body, number
  and issuing body); the accent and phrase boosts rescore the best RESCORE_WINDOW hits only.
"""

from __future__ import annotations

import base64
import http.client
import logging
import socket
import ssl
import threading
import time
import urllib.parse
import uuid
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import certifi
import orjson
from elasticsearch import Elasticsearch, helpers
from elasticsearch.exceptions import ConnectionError as EsConnectionError
from elasticsearch.exceptions import NotFoundError, TransportError

from services.core.config import env, env_int
from services.documents.search import (
    MAX_WINDOW,
    SORT_NEWEST,
    SORT_OLDEST,
    Hit,
    IndexedDocument,
    SearchQuery,
    SearchResult,
    SearchUnavailable,
    number_text,
)
from services.documents.search.query import parse

log = logging.getLogger("sotay.documents.es")
RESCORE_WINDOW = 100

_TEXT = {"type": "text", "analyzer": "vi", "fields": {"exact": {"type": "text", "analyzer": "vi_exact"}}}
_BODY = {**_TEXT, "term_vector": "with_positions_offsets"}  # for the fvh highlighter (see above)


def index_body(shards: int, replicas: int) -> dict[str, Any]:
    return {
        "settings": {
            "number_of_shards": shards,
            "number_of_replicas": replicas,
            "refresh_interval": "1s",
            "analysis": {
                "filter": {"vi_folding": {"type": "asciifolding", "preserve_original": True}},
                "analyzer": {
                    "vi": {"type": "custom", "tokenizer": "standard", "filter": ["lowercase", "vi_folding"]},
                    "vi_exact": {"type": "custom", "tokenizer": "standard", "filter": ["lowercase"]},
                },
                "normalizer": {"folded": {"type": "custom", "filter": ["lowercase", "asciifolding"]}},
            },
        },
        "mappings": {
            "dynamic": "strict",
            "properties": {
                "title": _TEXT,
                "summary": _TEXT,
                "body": _BODY,
                "number": {"type": "keyword"},
                "number_key": {"type": "keyword"},
                "number_text": {"type": "text", "analyzer": "vi"},
                "doc_type": {"type": "keyword"},
                "category": {"type": "keyword"},
                "issuing_body": {
                    "type": "text",
                    "analyzer": "vi",
                    "fields": {"key": {"type": "keyword", "normalizer": "folded"}},
                },
                "issued_on": {"type": "date", "format": "strict_date"},
                "published_at": {"type": "double"},
                "unit_id": {"type": "keyword"},
                "publisher_chain": {"type": "keyword"},
                "audience_unit_ids": {"type": "keyword"},
            },
        },
    }


def _index_action(doc: IndexedDocument) -> dict[str, Any]:
    """A bulk write that an older version of the document never overwrites."""
    return {"_op_type": "index", "_id": doc.id, "version": doc.version, "version_type": "external_gte",
            "_source": _source(doc)}


def _source(doc: IndexedDocument) -> dict[str, Any]:
    return {
        "title": doc.title,
        "summary": doc.summary,
        "body": doc.body,
        "number": doc.number,
        "number_key": doc.number_key,
        "number_text": number_text(doc),
        "doc_type": doc.doc_type,
        "category": doc.category,
        "issuing_body": doc.issuing_body,
        "issued_on": doc.issued_on or None,
        "published_at": doc.published_at,
        "unit_id": doc.unit_id,
        "publisher_chain": list(doc.publisher_chain),
        "audience_unit_ids": list(doc.audience_unit_ids),
    }


class _NoDelay(http.client.HTTPConnection):
    def connect(self) -> None:
        super().connect()
        # headers and body are two writes: without this, Nagle holds the body back until the
        # server acknowledges the headers (up to a delayed-ACK timeout on a real network)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


class _NoDelayTls(http.client.HTTPSConnection):
    def connect(self) -> None:
        super().connect()
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


class _SearchConnection:
    """`POST <path>` with a JSON body over one kept-alive HTTP connection per thread.

    Searches are the hot path and go this way, without elasticsearch-py's layers (transport,
    serializer, urllib3 2) and their CPU per request (bench/documents.py search); everything else
    goes through elasticsearch-py. Same URL forms as the client: http(s), credentials and a path
    prefix in the URL; certificates are checked against certifi's roots as the client does. A
    kept-alive connection the server has closed is reopened once; a timeout is not retried.
    """

    def __init__(self, url: str, timeout: float) -> None:
        parts = urllib.parse.urlsplit(url if "://" in url else f"http://{url}")
        self.https = parts.scheme == "https"
        self.host = parts.hostname or "localhost"
        self.port = parts.port or 9200
        self.prefix = parts.path.rstrip("/")
        self.timeout = timeout
        self.headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if parts.username is not None:
            login = f"{urllib.parse.unquote(parts.username)}:{urllib.parse.unquote(parts.password or '')}"
            self.headers["Authorization"] = "Basic " + base64.b64encode(login.encode()).decode()
        self._tls = ssl.create_default_context(cafile=certifi.where()) if self.https else None
        self._local = threading.local()

    def _connection(self) -> tuple[http.client.HTTPConnection, bool]:
        conn: http.client.HTTPConnection | None = getattr(self._local, "conn", None)
        if conn is not None:
            return conn, True
        if self._tls is not None:
            conn = _NoDelayTls(self.host, self.port, timeout=self.timeout, context=self._tls)
        else:
            conn = _NoDelay(self.host, self.port, timeout=self.timeout)
        self._local.conn = conn
        return conn, False

    def _drop(self) -> None:
        conn = getattr(self._local, "conn", None)
        self._local.conn = None
        if conn is not None:
            conn.close()

    def post(self, path: str, body: dict[str, Any], what: str) -> dict[str, Any]:
        payload = orjson.dumps(body)
        while True:
            conn, reused = self._connection()
            try:
                conn.request("POST", self.prefix + path, body=payload, headers=self.headers)
                reply = conn.getresponse()
                data = reply.read()
            except TimeoutError as exc:
                self._drop()
                raise SearchUnavailable(f"Elasticsearch did not answer in time ({what})") from exc
            except (OSError, http.client.HTTPException) as exc:
                self._drop()
                if reused:  # a kept-alive connection the server has closed meanwhile: once more, anew
                    continue
                raise SearchUnavailable(f"Elasticsearch is not reachable ({what})") from exc
            if reply.status == 200:
                result: dict[str, Any] = orjson.loads(data)
                return result
            if reply.status >= 500 or reply.status == 429:
                raise SearchUnavailable(f"Elasticsearch failed ({what}): {reply.status}")
            detail = data[:2000].decode(errors="replace")
            raise TransportError(reply.status, f"Elasticsearch refused the {what}", detail)

    def close(self) -> None:
        self._drop()


# REST API compatibility (8.x servers answer a 7.x client as 7.x would): these media types on both
# Accept and Content-Type. A 7.x server refuses them (406), so they are sent to 8.x and later only.
COMPATIBLE = {
    "application/json": "application/vnd.elasticsearch+json;compatible-with=7",
    "application/x-ndjson": "application/vnd.elasticsearch+x-ndjson;compatible-with=7",
}


def compatible_headers(headers: dict[str, str] | None) -> dict[str, str]:
    """`headers` of a request in compatibility mode: JSON and NDJSON media types in their
    compatible-with=7 form, JSON when the request named none."""
    out = {k.lower(): v for k, v in (headers or {}).items()}
    for name in ("accept", "content-type"):
        media = out.get(name, "application/json")
        out[name] = COMPATIBLE.get(media.split(";")[0].strip(), media)
    return out


def needs_compatibility(server_info: dict[str, Any]) -> bool:
    """Whether a server (its `GET /` answer) needs compatibility mode: major version 8 or later."""
    number = str(server_info.get("version", {}).get("number", "7"))
    return int(number.split(".")[0]) >= 8


class ElasticIndex:
    kind = "elasticsearch"

    def __init__(self, url: str, alias: str, timeout: float = 10.0) -> None:
        self.alias = alias
        self.client = Elasticsearch(url, timeout=timeout, max_retries=1, retry_on_timeout=False)
        self._searches = _SearchConnection(url, timeout)
        # Every request of the client goes through _perform, which adds compatibility headers for 8.x.
        self._perform_plain = self.client.transport.perform_request
        self.client.transport.perform_request = self._perform  # type: ignore[method-assign,assignment]
        self.compatibility: bool | None = None  # unknown until the server has answered once
        self.shards = env_int("ES_SHARDS", 1)
        self.replicas = env_int("ES_REPLICAS", 0)
        self.refresh_on_write = env("ES_REFRESH_ON_WRITE", "false") == "true"
        # Bulk requests are cut at this size: documents with long texts would otherwise make one
        # request of hundreds of MB, which a small heap refuses (429, circuit breaker) forever.
        self.bulk_bytes = env_int("ES_BULK_MAX_BYTES", 8 * 1024 * 1024)
        self._highlighter: str | None = None  # "fvh" when the index has body term vectors

    def _perform(
        self, method: str, url: str, headers: dict[str, str] | None = None, params: Any = None, body: Any = None
    ) -> Any:
        if self.compatibility is None:
            self._detect()
        if self.compatibility:
            headers = compatible_headers(headers)
        return self._perform_plain(method, url, headers=headers, params=params, body=body)

    def _detect(self) -> None:
        """Ask the server its version (any major answers `GET /` in plain JSON)."""
        info: dict[str, Any] = self._perform_plain("GET", "/")  # type: ignore[assignment]
        compatibility = needs_compatibility(info)
        if compatibility:
            self._searches.headers = compatible_headers(self._searches.headers)
            log.info("Elasticsearch 8 or later: requests in 7.x REST API compatibility mode")
        self.compatibility = compatibility

    def _call(self, what: str, fn: Callable[[], Any]) -> Any:
        try:
            return fn()
        except EsConnectionError as exc:
            raise SearchUnavailable(f"Elasticsearch is not reachable ({what})") from exc
        except TransportError as exc:
            if isinstance(exc.status_code, int) and exc.status_code < 500 and exc.status_code != 429:
                raise
            raise SearchUnavailable(f"Elasticsearch failed ({what}): {exc.status_code}") from exc

    def _new_index(self) -> str:
        name = f"{self.alias}-v{time.strftime('%Y%m%d%H%M%S')}-{uuid.uuid4().hex[:6]}"
        body = index_body(self.shards, self.replicas)
        self._call(
            "create index",
            lambda: self.client.indices.create(index=name, settings=body["settings"], mappings=body["mappings"]),
        )
        return name

    def ensure(self) -> None:
        exists = self._call("alias check", lambda: self.client.indices.exists_alias(name=self.alias))
        if exists:
            return
        name = self._new_index()
        try:
            self._call(
                "alias",
                lambda: self.client.indices.update_aliases(
                    body={"actions": [{"add": {"index": name, "alias": self.alias, "is_write_index": True}}]}
                ),
            )
        except TransportError:
            self.client.indices.delete(index=name, ignore=[404])
            raise

    def indices(self) -> list[str]:
        try:
            found = self._call("aliases", lambda: self.client.indices.get_alias(name=self.alias))
        except NotFoundError:
            return []
        return sorted(found)

    def close(self) -> None:
        self._searches.close()
        self.client.close()

    def highlighter(self) -> str:
        """Of the body: fvh when every index behind the alias keeps its term vectors, else unified
        (an older index)."""
        if self._highlighter is None:
            found = self._call("mapping", lambda: self.client.indices.get_mapping(index=self.alias))
            vectors = [
                m.get("mappings", {}).get("properties", {}).get("body", {}).get("term_vector") for m in found.values()
            ]
            self._highlighter = "fvh" if vectors and all(v == "with_positions_offsets" for v in vectors) else "unified"
        return self._highlighter

    def refresh(self) -> None:
        self._call("refresh", lambda: self.client.indices.refresh(index=self.alias))

    # ------------------------------------------------------------ writes

    def _bulk(self, actions: list[dict[str, Any]], index: str | None = None) -> None:
        if not actions:
            return
        target = index or self.alias
        for action in actions:
            action["_index"] = target

        def run() -> Any:
            return helpers.bulk(
                self.client,
                actions,
                raise_on_error=False,
                raise_on_exception=True,
                refresh=self.refresh_on_write,
                request_timeout=60,
                max_chunk_bytes=self.bulk_bytes,
            )

        _, errors = self._call("bulk", run)
        failed = []
        for item in errors:  # a version conflict means a newer state is indexed; a missing delete is done
            result = next(iter(item.values()))
            if result.get("status") in (409, 404):
                continue
            failed.append(result)
        if failed:
            if any(int(f.get("status", 500)) >= 500 or f.get("status") == 429 for f in failed):
                raise SearchUnavailable(f"Elasticsearch refused {len(failed)} writes")
            raise RuntimeError(f"Elasticsearch refused {len(failed)} writes: {failed[0]}")

    def upsert(self, docs: list[IndexedDocument]) -> None:
        self._bulk([_index_action(d) for d in docs])

    def delete(self, items: list[tuple[str, int]]) -> None:
        self._bulk(
            [
                {"_op_type": "delete", "_id": doc_id, "version": version, "version_type": "external_gte"}
                for doc_id, version in items
            ]
        )

    def reindex(self, docs: Iterable[IndexedDocument], progress: Callable[[int], None] | None = None) -> str:
        old = self.indices()
        name = self._new_index()
        self._call(
            "settings",
            lambda: self.client.indices.put_settings(index=name, body={"index": {"refresh_interval": "-1"}}),
        )
        done = 0
        for batch in _batches(docs, 500):
            self._bulk(
                [_index_action(d) for d in batch],
                index=name,
            )
            done += len(batch)
            if progress:
                progress(done)
        self._call(
            "settings",
            lambda: self.client.indices.put_settings(index=name, body={"index": {"refresh_interval": "1s"}}),
        )
        self._call("refresh", lambda: self.client.indices.refresh(index=name))
        actions: list[dict[str, Any]] = [{"remove": {"index": o, "alias": self.alias}} for o in old]
        actions.append({"add": {"index": name, "alias": self.alias, "is_write_index": True}})
        self._call("alias swap", lambda: self.client.indices.update_aliases(body={"actions": actions}))
        for o in old:
            self.client.indices.delete(index=o, ignore=[404])
        self._highlighter = None
        return name

    def drop(self) -> None:
        """Delete the alias's indices (tests)."""
        for name in self.indices():
            self.client.indices.delete(index=name, ignore=[404])

    # ------------------------------------------------------------ reads

    def _filters(self, q: SearchQuery) -> list[dict[str, Any]]:
        vis = q.visibility
        allowed: list[dict[str, Any]] = []
        if vis.units:
            allowed.append({"terms": {"audience_unit_ids": list(vis.units)}})
        if vis.manage_units:
            allowed.append({"terms": {"publisher_chain": list(vis.manage_units)}})
        if not allowed:
            allowed.append({"ids": {"values": []}})  # nobody to see: nothing
        out: list[dict[str, Any]] = [{"bool": {"should": allowed, "minimum_should_match": 1}}]
        if q.doc_types:
            out.append({"terms": {"doc_type": list(q.doc_types)}})
        if q.categories:
            out.append({"terms": {"category": list(q.categories)}})
        if q.issuing_body:
            out.append({"term": {"issuing_body.key": q.issuing_body}})
        if q.issued_from or q.issued_to:
            bounds = {k: v for k, v in (("gte", q.issued_from), ("lte", q.issued_to)) if v}
            out.append({"range": {"issued_on": bounds}})
        if q.unit_id:
            out.append({"term": {"unit_id": q.unit_id}})
        return out

    def body(self, q: SearchQuery) -> dict[str, Any]:
        parsed = parse(q.text)
        text = " ".join(parsed.exact_terms)
        folded = " ".join(parsed.folded_terms)
        must: list[dict[str, Any]] = []
        should: list[dict[str, Any]] = []
        if not parsed.empty:
            words: dict[str, Any] = {
                "multi_match": {
                    "query": text,
                    "type": "cross_fields",
                    "operator": "and",
                    "fields": ["title^3", "summary^2", "body", "number_text^4", "issuing_body"],
                }
            }
            if parsed.number is not None:
                num = parsed.number
                number_clause: dict[str, Any] = (
                    {"term": {"number_key": num.key}} if num.complete else {"prefix": {"number_key": num.prefix}}
                )
                must.append({"bool": {"should": [words, number_clause], "minimum_should_match": 1}})
                should.append({"constant_score": {"filter": number_clause, "boost": 100.0}})
            else:
                must.append(words)
            should += [
                {
                    "multi_match": {
                        "query": text,
                        "type": "cross_fields",
                        "operator": "or",
                        "boost": 2.0,
                        "fields": ["title.exact^3", "summary.exact^2", "body.exact"],
                    }
                },
                {
                    # The folded words: one token per position (the accented words of `text` would
                    # be two, the original and the folded, and a slower multi-term phrase); the
                    # accents themselves are the next clause's.
                    "multi_match": {
                        "query": folded,
                        "type": "phrase",
                        "boost": 3.0,
                        "fields": ["title^3", "summary^2", "body"],
                    }
                },
                {
                    "multi_match": {
                        "query": text,
                        "type": "phrase",
                        "boost": 4.0,
                        "fields": ["title.exact^3", "summary.exact^2", "body.exact"],
                    }
                },
            ]
        query: dict[str, Any] = {"bool": {"filter": self._filters(q)}}
        rescore: dict[str, Any] | None = None
        if must:
            query["bool"]["must"] = must
            query["bool"]["should"] = should[:1] if parsed.number is not None else []
            boosts = should[1:] if parsed.number is not None else should
            # The accent and phrase boosts are scored for the best RESCORE_WINDOW first-pass hits
            # only (and at least as deep as the page), not for every match of a broad word (search
            # latency: bench/documents.py search). Inside the window a score is the same sum as
            # with the boosts in the query itself.
            rescore = {
                "window_size": min(max(RESCORE_WINDOW, q.offset + q.size), MAX_WINDOW),
                "query": {
                    "rescore_query": {"bool": {"should": boosts}},
                    "query_weight": 1.0,
                    "rescore_query_weight": 1.0,
                    "score_mode": "total",
                },
            }
        sort: list[Any] | None
        if q.sort == SORT_OLDEST:
            sort = [{"issued_on": {"order": "asc", "missing": "_last"}}, {"published_at": "asc"}]
        elif q.sort == SORT_NEWEST or parsed.empty:
            sort = [{"issued_on": {"order": "desc", "missing": "_last"}}, {"published_at": "desc"}]
        elif rescore is not None:
            sort = None  # by score: Elasticsearch takes no sort with a rescore
        else:
            sort = ["_score", {"issued_on": {"order": "desc", "missing": "_last"}}]
        size = max(0, min(q.size, MAX_WINDOW - q.offset))
        body: dict[str, Any] = {
            "query": query,
            "from": q.offset,
            "size": size,
            "track_total_hits": True,
            "track_scores": True,
            "_source": ["title", "number", "doc_type", "category", "issuing_body", "issued_on", "unit_id"],
            "aggs": {
                "doc_type": {"terms": {"field": "doc_type", "size": 50}},
                "category": {"terms": {"field": "category", "size": 20}},
            },
        }
        if sort is not None:
            body["sort"] = sort
        elif rescore is not None:
            body["rescore"] = rescore
        if not parsed.empty:
            body["highlight"] = {
                # The words on the highlighted fields only: the same marks as the query's own
                # cross_fields blend over five fields, with less highlighter work (bench/documents.py search).
                "highlight_query": {"multi_match": {"query": text, "fields": ["title", "summary", "body"]}},
                "encoder": "html",
                "pre_tags": ["<mark>"],
                "post_tags": ["</mark>"],
                "fields": {
                    "title": {"type": "unified", "number_of_fragments": 0},
                    "summary": {"type": "unified", "fragment_size": 160, "number_of_fragments": 2},
                    "body": {"type": self.highlighter(), "fragment_size": 160, "number_of_fragments": 2},
                },
            }
        return body

    def search(self, q: SearchQuery) -> SearchResult:
        if self.compatibility is None:
            self._call("version", self._detect)
        reply = self._searches.post(f"/{urllib.parse.quote(self.alias)}/_search", self.body(q), "search")
        hits = []
        for h in reply["hits"]["hits"]:
            src = h["_source"]
            hits.append(
                Hit(
                    id=h["_id"],
                    score=float(h.get("_score") or 0.0),
                    title=src.get("title", ""),
                    number=src.get("number") or "",
                    doc_type=src.get("doc_type") or "",
                    category=src.get("category") or "",
                    issuing_body=src.get("issuing_body") or "",
                    issued_on=src.get("issued_on") or "",
                    unit_id=src.get("unit_id") or "",
                    highlights={k: list(v) for k, v in (h.get("highlight") or {}).items()},
                )
            )
        aggs = reply.get("aggregations", {})
        facets = {
            name: [(b["key"], int(b["doc_count"])) for b in aggs.get(name, {}).get("buckets", [])]
            for name in ("doc_type", "category")
        }
        return SearchResult(total=int(reply["hits"]["total"]["value"]), hits=hits, facets=facets)


def _batches(items: Iterable[IndexedDocument], size: int) -> Iterator[list[IndexedDocument]]:
    batch: list[IndexedDocument] = []
    for item in items:
        batch.append(item)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch
