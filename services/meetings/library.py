"""What the meetings service asks documents: can the cell's members read a document attached to
their meeting? It must exist, be published and be addressed to the cell or one of its ancestors.

The call carries the secretary's token (core.clients), so documents also checks that the
secretary may see it. Answers its title, the default name of the attachment.
"""

from __future__ import annotations

import grpc

from services.core.clients import LazyStub
from services.core.errors import FailedPrecondition, NotFound, Unavailable
from sotay.documents.v1 import documents_pb2 as dpb
from sotay.documents.v1 import documents_pb2_grpc


class Library:
    def __init__(self, target: str = "") -> None:
        self._stub = LazyStub(
            "documents", dpb.DESCRIPTOR.services_by_name["DocumentsService"], documents_pb2_grpc.DocumentsServiceStub,
            target,
        )

    @property
    def stub(self) -> documents_pb2_grpc.DocumentsServiceStub:
        return self._stub.get()

    def title_for_cell(self, document_id: str, cell_chain: tuple[str, ...]) -> str:
        """The document's title, when the cell (`cell_chain`: root first, the cell last) may read it."""
        try:
            doc = self.stub.GetDocument(dpb.GetDocumentRequest(id=document_id)).document
        except grpc.RpcError as exc:
            code = exc.code()  # type: ignore[attr-defined]
            if code in (grpc.StatusCode.NOT_FOUND, grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.PERMISSION_DENIED):
                raise NotFound("document_not_found", f"document {document_id} does not exist") from None
            raise Unavailable("documents_unavailable", f"documents did not answer ({code.name})") from None
        if doc.status != dpb.DOCUMENT_STATUS_PUBLISHED:
            raise FailedPrecondition("document_not_published", "publish the document before sending it to the members")
        if not set(doc.audience_unit_ids or [doc.unit_id]) & set(cell_chain):
            raise FailedPrecondition("document_not_for_this_cell", "the document is not addressed to this cell")
        return doc.metadata.title
