"""Wiring of the documents service: servicers on a gRPC server, and its workers."""

from __future__ import annotations

import contextlib
import threading

from services.core.auth import KeySource
from services.core.db import Database
from services.core.entry import Worker, identity_keys
from services.core.identity_client import IdentityClient
from services.core.server import Register, service_with_event_log
from services.documents import merges, report_facts
from services.documents.indexer import Indexer, reindex_all
from services.documents.migrations import MIGRATIONS, tune_postgres
from services.documents.ocr import run_ocr
from services.documents.search import SearchUnavailable, make_search_index
from services.documents.servicer import PUBLIC_METHODS, DocumentsServicer
from services.documents.storage import make_blob_store
from sotay.documents.v1 import documents_pb2, documents_pb2_grpc

SERVICE_NAME = documents_pb2.DESCRIPTOR.services_by_name["DocumentsService"].full_name

__all__ = ["COMMANDS", "MIGRATIONS", "WORKERS", "build"]


def build(db: Database) -> tuple[Register, KeySource, set[str]]:
    tune_postgres(db)
    blobs = make_blob_store()
    index = make_search_index()
    # When search is down the indexer creates the index later; searches answer UNAVAILABLE meanwhile.
    with contextlib.suppress(SearchUnavailable):
        index.ensure()
    servicer = DocumentsServicer(db, blobs, index, IdentityClient())
    register = service_with_event_log(
        documents_pb2_grpc.add_DocumentsServiceServicer_to_server, servicer, SERVICE_NAME, db
    )
    return register, identity_keys(), PUBLIC_METHODS


def run_indexer(db: Database, stop: threading.Event) -> None:
    Indexer(db, make_search_index()).run(stop)


def run_ocr_worker(db: Database, stop: threading.Event) -> None:
    run_ocr(db, make_blob_store(), stop)


def run_reindex(db: Database, stop: threading.Event) -> None:
    from tqdm import tqdm

    with tqdm(unit="docs", desc="reindex") as bar:
        last = [0]

        def progress(done: int) -> None:
            bar.update(done - last[0])
            last[0] = done

        name, count = reindex_all(db, make_search_index(), progress)
    print(f"reindexed {count} documents into {name}; the alias now points at it")


# Long-running background processes, and one-shot commands (`python -m services.documents <name>`).
WORKERS: dict[str, Worker] = {"indexer": run_indexer, "ocr": run_ocr_worker, "units": merges.run}
COMMANDS: dict[str, Worker] = {"reindex": run_reindex, "report-facts": report_facts.run}
