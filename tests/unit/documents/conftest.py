"""The documents service on a real gRPC server, beside a real identity service, on two stacks:

- embedded: SQLite + a local folder + SQLite FTS5;
- production: PostgreSQL + S3 (SeaweedFS) + Elasticsearch, the real servers.
"""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
import pytest

from services.core.db import Database
from services.core.outbox import relay_once
from services.documents.app import MIGRATIONS, build
from services.documents.indexer import Indexer
from services.documents.search import SearchIndex, make_search_index
from sotay.documents.v1 import documents_pb2 as pb
from sotay.documents.v1 import documents_pb2_grpc
from sotay.identity.v1 import identity_pb2 as ipb
from tests.conftest import _postgres_schema_db, _sqlite_db, need_backing
from tests.support.documents import drop_bucket
from tests.support.identity import Identity, running_identity
from tests.support.service import running_service

Auth = list[tuple[str, str]]
NUMBERS = itertools.count(1000)


@dataclass
class People:
    province_admin: Auth
    editor_a: Auth
    member_a: Auth
    member_a2: Auth
    member_b: Auth
    commune_a: str
    commune_b: str
    cell_a: str
    cell_b: str
    member_a_id: str = ""
    member_a2_id: str = ""


@dataclass
class Stack:
    kind: str
    identity: Identity
    stub: documents_pb2_grpc.DocumentsServiceStub
    db: Database
    index: SearchIndex
    people: People
    env: dict[str, str] = field(default_factory=dict)

    def extract_now(self) -> None:
        """What the text worker does in the background for big files (not OCR), done now."""
        from services.documents.ocr import text_once
        from services.documents.storage import make_blob_store

        blobs = make_blob_store()
        while text_once(self.db, blobs):
            pass

    def index_now(self) -> None:
        """What the text worker (not OCR), the relay and the indexer do in the background, done now."""
        self.extract_now()
        relay_once(self.db, "documents")
        indexer = Indexer(self.db, self.index)
        while indexer.poll_once():
            pass
        self.index.refresh()


def _people(identity: Identity) -> People:
    auth = identity.admin()
    stub = identity.stub

    def unit(name: str, kind: int, parent: str) -> str:
        return str(
            stub.CreateUnit(ipb.CreateUnitRequest(name=name, kind=kind, parent_id=parent), metadata=auth).unit.id
        )

    def member(unit_id: str, name: str, phone: str) -> tuple[str, str]:
        m = stub.CreateMember(
            ipb.CreateMemberRequest(
                unit_id=unit_id,
                fields=ipb.MemberFields(
                    full_name=name, phone=phone, party_card_number=f"C{phone}", status=ipb.MEMBER_STATUS_OFFICIAL
                ),
                initial_password="mat-khau-dang-vien",
            ),
            metadata=auth,
        ).member
        return m.id, m.account_id

    commune_a = unit("Đảng ủy xã A", ipb.UNIT_KIND_COMMUNE, identity.root_id)
    commune_b = unit("Đảng ủy xã B", ipb.UNIT_KIND_COMMUNE, identity.root_id)
    cell_a = unit("Chi bộ thôn A1", ipb.UNIT_KIND_CELL, commune_a)
    cell_b = unit("Chi bộ thôn B1", ipb.UNIT_KIND_CELL, commune_b)
    _, editor_account = member(cell_a, "Biên tập viên xã A", "0911000001")
    stub.GrantRole(
        ipb.GrantRoleRequest(account_id=editor_account, role=ipb.ROLE_EDITOR, unit_id=commune_a), metadata=auth
    )
    member_a_id, _ = member(cell_a, "Nguyễn Văn An", "0911000002")
    member_a2_id, _ = member(cell_a, "Trần Thị Bình", "0911000003")
    member(cell_b, "Lê Văn Cường", "0911000004")
    token = lambda phone: identity.token(phone, "mat-khau-dang-vien")  # noqa: E731
    return People(
        province_admin=auth,
        editor_a=token("0911000001"),
        member_a=token("0911000002"),
        member_a2=token("0911000003"),
        member_b=token("0911000004"),
        commune_a=commune_a,
        commune_b=commune_b,
        cell_a=cell_a,
        cell_b=cell_b,
        member_a_id=member_a_id,
        member_a2_id=member_a2_id,
    )


def stack_env(kind: str, tmp_path: Path) -> dict[str, str]:
    if kind == "embedded":
        return {"DOCUMENTS_FILES_DIR": str(tmp_path / "files"), "DOCUMENTS_SEARCH_DB": str(tmp_path / "search.db")}
    return {
        "S3_ENDPOINT": need_backing("S3_ENDPOINT"),
        "S3_ACCESS_KEY": need_backing("S3_ACCESS_KEY"),
        "S3_SECRET_KEY": need_backing("S3_SECRET_KEY"),
        "S3_BUCKET": f"sotay-test-{uuid.uuid4().hex[:10]}",
        "ELASTICSEARCH_URL": need_backing("ELASTICSEARCH_URL"),
        "ES_INDEX_ALIAS": f"sotay-test-{uuid.uuid4().hex[:10]}",
    }


@pytest.fixture
def make_stack(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., Any]]:
    """make_stack(kind, **env overrides) -> context manager yielding a Stack."""
    from contextlib import ExitStack, contextmanager

    exits = ExitStack()

    @contextmanager
    def make(kind: str, **overrides: str) -> Iterator[Stack]:
        env = {**stack_env(kind, tmp_path), **overrides}  # read before the variables are cleared
        for key in ("S3_ENDPOINT", "ELASTICSEARCH_URL", "DOCUMENTS_FILES_DIR", "DOCUMENTS_SEARCH_DB"):
            monkeypatch.delenv(key, raising=False)
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        gens: list[Iterator[Database]] = []
        for i in range(2):
            gen = (
                _sqlite_db(tmp_path / f"db{i}.sqlite")
                if kind == "embedded"
                else _postgres_schema_db(need_backing("SOTAY_TEST_DATABASE_URL"))
            )
            gens.append(gen)
        identity_db, documents_db = (next(g) for g in gens)
        index = make_search_index()
        try:
            with (
                running_identity(identity_db) as identity,
                running_service("documents", build, documents_db, MIGRATIONS, identity, monkeypatch) as channel,
            ):
                index.ensure()
                yield Stack(
                    kind,
                    identity,
                    documents_pb2_grpc.DocumentsServiceStub(channel),
                    documents_db,
                    index,
                    _people(identity),
                    env,
                )
        finally:
            drop = getattr(index, "drop", None)
            if drop is not None and "ES_INDEX_ALIAS" in env:
                from services.documents.search.es import ElasticIndex

                ElasticIndex(need_backing("ELASTICSEARCH_URL"), env["ES_INDEX_ALIAS"]).drop()
            if "S3_BUCKET" in env:
                drop_bucket(env["S3_BUCKET"])
            index.close()
            for g in gens:
                for _ in g:
                    pass

    yield make
    exits.close()


@pytest.fixture(params=["embedded", pytest.param("production", marks=pytest.mark.postgres)])
def stack(request: pytest.FixtureRequest, make_stack: Callable[..., Any]) -> Iterator[Stack]:
    with make_stack(request.param) as s:
        yield s


def upload(
    stack: Stack,
    auth: Auth,
    data: bytes,
    *,
    key: str | None = None,  # None: a new key; "": none (not idempotent)
    filename: str = "van-ban.docx",
    content_type: str = "",
    unit_id: str = "",
    audience: tuple[str, ...] = (),
    publish: bool = True,
    sha256: str = "",
    chunk: int = 64 * 1024,
    end: bool = True,
    end_size: int | None = None,
    **meta: Any,
) -> pb.UploadDocumentResponse:
    metadata = {
        "title": "Nghị quyết về công tác xây dựng Đảng",
        "number": f"{next(NUMBERS)}-NQ/TU",  # each upload its own: the register refuses a repeat
        "category": "hoc-tap-nghi-quyet",
        "issued_on": "2025-03-01",
        "issuing_body": "Tỉnh ủy Lạng Sơn",
        **meta,
    }
    header = pb.UploadHeader(
        idempotency_key=uuid.uuid4().hex if key is None else key,
        metadata=pb.DocumentMetadata(**metadata),
        unit_id=unit_id or stack.identity.root_id,
        audience_unit_ids=list(audience),
        publish=publish,
        filename=filename,
        content_type=content_type,
        sha256=sha256,
    )

    def messages() -> Iterator[pb.UploadDocumentRequest]:
        yield pb.UploadDocumentRequest(header=header)
        for i in range(0, len(data), chunk):
            yield pb.UploadDocumentRequest(chunk=data[i : i + chunk])
        if end:
            yield pb.UploadDocumentRequest(end=pb.UploadEnd(size=len(data) if end_size is None else end_size))

    return stack.stub.UploadDocument(messages(), metadata=auth, timeout=60)


def add_version(
    stack: Stack, auth: Auth, doc_id: str, data: bytes, *, key: str = "", filename: str = "v2.docx", note: str = ""
) -> pb.AddDocumentVersionResponse:
    header = pb.VersionHeader(document_id=doc_id, idempotency_key=key or uuid.uuid4().hex, filename=filename, note=note)

    def messages() -> Iterator[pb.AddDocumentVersionRequest]:
        yield pb.AddDocumentVersionRequest(header=header)
        yield pb.AddDocumentVersionRequest(chunk=data)
        yield pb.AddDocumentVersionRequest(end=pb.UploadEnd(size=len(data)))

    return stack.stub.AddDocumentVersion(messages(), metadata=auth, timeout=60)


def search(stack: Stack, auth: Auth, query: str = "", **kw: Any) -> pb.SearchDocumentsResponse:
    return stack.stub.SearchDocuments(pb.SearchDocumentsRequest(query=query, **kw), metadata=auth, timeout=10)


def code_and_reason(call: Callable[[], Any]) -> tuple[grpc.StatusCode, str]:
    from services.core.errors import error_info

    try:
        call()
    except grpc.RpcError as exc:
        return exc.code(), error_info(exc)[0]  # type: ignore[attr-defined]
    raise AssertionError("the call succeeded")
