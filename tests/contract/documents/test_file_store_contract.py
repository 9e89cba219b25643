"""One contract for every document file store: a local folder (embedded) and S3 (the real
SeaweedFS of scripts/backing-services).

What the service relies on (services/documents/storage/__init__.py, `BlobStore`): bytes come back
as they were put, small or multipart-large; a put is verified against the SHA-256 and size
computed while the file was received and leaves nothing behind when they differ; a missing key
or a store that does not answer is UNAVAILABLE with a reason, never a raw OS or SDK error.
"""

from __future__ import annotations

import hashlib
import io
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import minio.api
import pytest

from services.core.errors import Unavailable
from services.documents.storage import BlobStore, blob_key
from tests.support.documents import blob_store

SMALL = "Nghị quyết số 05-NQ/TU về xây dựng Đảng. ".encode() * 1000
KINDS = ["local", "s3"]


@pytest.fixture(params=KINDS)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[BlobStore]:
    with blob_store(request.param, tmp_path) as made:
        made.ensure()
        yield made


@pytest.fixture(params=KINDS)
def unreachable(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[BlobStore]:
    """A store that cannot be reached: a folder where a file stands, an S3 port nobody listens on."""
    if request.param == "local":
        (tmp_path / "files").write_bytes(b"not a folder")
        with blob_store("local", tmp_path) as made:
            yield made
        return
    with blob_store("s3", tmp_path, endpoint="127.0.0.1:9") as made:
        yield made


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def put(store: BlobStore, key: str, data: bytes, *, digest: str = "", size: int = -1) -> None:
    store.put(key, io.BytesIO(data), len(data) if size < 0 else size, digest or sha(data), "text/plain")


def read(store: BlobStore, key: str) -> bytes:
    return b"".join(store.chunks(key))


def reason(call: Callable[[], Any]) -> str:
    with pytest.raises(Unavailable) as failed:
        call()
    return failed.value.reason


def test_what_is_put_comes_back_whole(store: BlobStore, tmp_path: Path) -> None:
    key = blob_key("doc-1", 1, sha(SMALL))
    assert not store.exists(key)
    put(store, key, SMALL)
    assert store.exists(key)
    assert read(store, key) == SMALL
    assert [len(c) for c in store.chunks(key, chunk_size=4096)][:2] == [4096, 4096]
    copy = tmp_path / "copy.txt"
    store.to_path(key, copy)
    assert copy.read_bytes() == SMALL


def test_keys_hold_their_own_bytes(store: BlobStore) -> None:
    first, second = b"phien ban 1", "phiên bản 2".encode()
    put(store, "docs/d/v1-a", first)
    put(store, "docs/d/v2-b", second)
    assert (read(store, "docs/d/v1-a"), read(store, "docs/d/v2-b")) == (first, second)


def test_a_large_object_goes_in_parts_and_comes_back_whole(store: BlobStore) -> None:
    from services.documents.storage.s3 import PART_SIZE

    data = (SMALL * (PART_SIZE // len(SMALL) + 2))[: PART_SIZE + 123_457]
    put(store, "docs/big/v1", data)
    assert sha(read(store, "docs/big/v1")) == sha(data)


def test_a_put_whose_sha256_differs_is_refused_and_leaves_nothing(store: BlobStore) -> None:
    assert reason(lambda: put(store, "docs/bad/v1", SMALL, digest=sha(b"other bytes"))) == "storage_checksum"
    assert not store.exists("docs/bad/v1")
    put(store, "docs/bad/v1", SMALL)  # the key is still free for the right bytes
    assert read(store, "docs/bad/v1") == SMALL


def test_a_put_shorter_than_announced_is_refused(store: BlobStore) -> None:
    with pytest.raises(Unavailable):
        put(store, "docs/short/v1", SMALL, size=len(SMALL) + 10)
    assert not store.exists("docs/short/v1")


def test_delete_removes_and_a_missing_key_is_unavailable(store: BlobStore, tmp_path: Path) -> None:
    put(store, "docs/gone/v1", SMALL)
    store.delete("docs/gone/v1")
    store.delete("docs/gone/v1")  # deleting twice (undoing a failed upload) is no error
    store.delete("docs/never/v1")
    assert not store.exists("docs/gone/v1")
    assert reason(lambda: read(store, "docs/gone/v1")) == "storage_unavailable"
    assert reason(lambda: store.to_path("docs/never/v1", tmp_path / "x")) == "storage_unavailable"


def test_a_presigned_url_when_given_serves_the_bytes_as_an_attachment(store: BlobStore) -> None:
    put(store, "docs/url/v1", SMALL)
    url = store.presigned_url("docs/url/v1", "Nghị quyết 05.txt", "text/plain", 60)
    if store.kind == "local":
        assert url == ""  # the gateway streams the file itself
        return
    with urllib.request.urlopen(url, timeout=10) as response:
        assert response.read() == SMALL
        disposition = response.headers["Content-Disposition"]
    assert disposition.startswith("attachment") and "Ngh%E1%BB%8B%20quy%E1%BA%BFt%2005.txt" in disposition


def test_a_store_that_cannot_be_reached_is_unavailable(unreachable: BlobStore) -> None:
    assert reason(lambda: put(unreachable, "docs/x/v1", SMALL)) == "storage_unavailable"
    assert reason(lambda: read(unreachable, "docs/x/v1")) == "storage_unavailable"


# ---------------------------------------------------------------- S3 only: one round trip per put


def test_s3_put_is_verified_by_its_signed_sha256_without_a_stat(tmp_path: Path) -> None:
    """The put is signed with the SHA-256 computed while receiving (the SDK does not hash the body
    again) and the server checks the body against it: a put that succeeds needs no stat."""
    with blob_store("s3", tmp_path) as store:
        client: Any = store.client  # type: ignore[attr-defined]
        stats: list[str] = []
        real_stat: Callable[..., Any] = client.stat_object

        def counted(*args: Any, **kw: Any) -> Any:
            stats.append(args[1])
            return real_stat(*args, **kw)

        client.stat_object = counted
        data = "Nội dung văn bản ".encode() * 50_000
        hashed: list[int] = []
        sdk_hash = minio.api.sha256_hash

        def counted_hash(body: Any) -> str:
            hashed.append(len(body or b""))
            return sdk_hash(body)

        minio.api.sha256_hash = counted_hash  # type: ignore[assignment]
        try:
            put(store, "docs/a/v1", data)
        finally:
            minio.api.sha256_hash = sdk_hash  # type: ignore[assignment]
        assert stats == [] and len(data) not in hashed
        assert read(store, "docs/a/v1") == data
