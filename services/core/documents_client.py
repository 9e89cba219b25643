"""What the other services ask documents: a document as the caller sees it.

Calls go through core.clients (token, request id and deadline forwarded; errors by `translate`);
nothing is cached: a document's state (draft, published, withdrawn) matters at the moment asked.
"""

from __future__ import annotations

from services.core.clients import LazyStub, call
from sotay.documents.v1 import documents_pb2 as dpb
from sotay.documents.v1 import documents_pb2_grpc

SERVICE = "documents"


class DocumentsClient:
    def __init__(self, target: str = "") -> None:
        self._stub = LazyStub(
            SERVICE, dpb.DESCRIPTOR.services_by_name["DocumentsService"], documents_pb2_grpc.DocumentsServiceStub,
            target,
        )

    @property
    def stub(self) -> documents_pb2_grpc.DocumentsServiceStub:
        return self._stub.get()

    def document(self, document_id: str) -> dpb.Document:
        """The document if the caller may see it; else NOT_FOUND `document_not_found`."""
        return call(SERVICE, lambda: self.stub.GetDocument(dpb.GetDocumentRequest(id=document_id)).document, "document")
