"""One-time activation codes: the first sign-in of members created by import (no password yet)."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field

from gateway import clients
from gateway.api import Routes
from gateway.convert import to_json
from gateway.routes.auth import limit_login_attempts
from gateway.schemas.auth import Tokens
from gateway.schemas.common import Body, Reply
from gateway.security import client_ip
from sotay.identity.v1 import identity_pb2 as pb

routes = Routes("activation", "First sign-in of imported members with one-time activation codes")

Id = Annotated[str, Field(min_length=1, max_length=100)]


class IssueCodesBody(Body):
    member_ids: list[Id] = Field(
        default_factory=list, max_length=500,
        description="members of the unit; empty: every active member of it with no password yet",
    )


class ActivationCode(Reply):
    member_id: str
    full_name: str
    login: str = Field(description="what the member signs in with: phone number, else party card number")
    code: str = Field(description="shown once; only its hash is kept")
    expires_at: str


class ActivationCodes(Reply):
    codes: list[ActivationCode]


class RedeemBody(Body):
    login: str = Field(min_length=1, max_length=256, description="login name, phone or party card number")
    code: str = Field(min_length=1, max_length=64)
    new_password: str = Field(min_length=1, max_length=1024)


@routes.route(
    "/units/<unit_id>/activation-codes", "POST", body=IssueCodesBody, response=ActivationCodes,
    summary="Issue one-time activation codes to members of a unit (admin of the subtree or cell officer)",
)
def issue_codes(unit_id: str, body: IssueCodesBody) -> dict[str, Any]:
    reply = clients.identity().IssueActivationCodes(
        pb.IssueActivationCodesRequest(unit_id=unit_id, member_ids=body.member_ids)
    )
    return to_json(reply)


@routes.route(
    "/auth/activate", "POST", auth=False, body=RedeemBody, response=Tokens, guards=[limit_login_attempts],
    summary="Set a first password with an activation code, and sign in",
)
def activate(body: RedeemBody) -> dict[str, Any]:
    """401 activation_code_invalid for a wrong, used or expired code; 429 when locked or rate-limited."""
    reply = clients.identity().RedeemActivationCode(
        pb.RedeemActivationCodeRequest(login=body.login, code=body.code, new_password=body.new_password,
                                       client_ip=client_ip())
    )
    return to_json(reply)
