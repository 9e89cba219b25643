"""Sign in and out, tokens, passwords and the signed-in account (`/me`).

This is a public contract other clients rely on; change it only with a new API version.
"""

from __future__ import annotations

from typing import Any

from flask import current_app

from gateway import clients
from gateway.api import Routes
from gateway.convert import to_json
from gateway.errors import ApiError
from gateway.ratelimit import SlidingWindowLimiter
from gateway.schemas.auth import ChangePasswordBody, LoginBody, LogoutBody, RefreshBody, Tokens
from gateway.schemas.identity import Me
from gateway.security import client_ip
from gateway.settings import Settings
from sotay.identity.v1 import identity_pb2 as pb

routes = Routes("auth", "Sign in, tokens, passwords and the signed-in account")


def login_limiter() -> SlidingWindowLimiter:
    extensions = current_app.extensions
    limiter = extensions.get("sotay.login_limiter")
    if limiter is None:
        settings: Settings = extensions["sotay.settings"]
        limiter = SlidingWindowLimiter(settings.login_rate_limit)
        limiter = extensions.setdefault("sotay.login_limiter", limiter)
    return limiter  # type: ignore[no-any-return]


def limit_login_attempts() -> None:
    """LOGIN_RATE_LIMIT attempts per client IP per minute, in this process.

    A cheap first line only; identity's per-account failure counting and lockout is the real,
    shared protection against password guessing.
    """
    wait = login_limiter().hit(client_ip())
    if wait:
        raise ApiError(
            429,
            "rate_limited",
            "too many login attempts from this address; try again later",
            {"retry_after": str(wait)},
            {"Retry-After": str(wait)},
        )


@routes.route(
    "/auth/login", "POST", auth=False, body=LoginBody, response=Tokens, guards=[limit_login_attempts],
    summary="Sign in with a login name (or phone, or party card number) and a password",
)
def login(body: LoginBody) -> dict[str, Any]:
    """401 for wrong credentials; 429 (with Retry-After) when the login is locked or rate-limited."""
    reply = clients.identity().Login(
        pb.LoginRequest(username=body.username, password=body.password, client_ip=client_ip())
    )
    return to_json(reply)


@routes.route(
    "/auth/refresh", "POST", auth=False, body=RefreshBody, response=Tokens,
    summary="Trade a refresh token for new tokens (the old refresh token stops working)",
)
def refresh(body: RefreshBody) -> dict[str, Any]:
    return to_json(clients.identity().RefreshToken(pb.RefreshTokenRequest(refresh_token=body.refresh_token)))


@routes.route(
    "/auth/logout", "POST", auth=False, body=LogoutBody, status=204, summary="Revoke a refresh token"
)
def logout(body: LogoutBody) -> None:
    clients.identity().Logout(pb.LogoutRequest(refresh_token=body.refresh_token))


@routes.route(
    "/auth/password", "POST", body=ChangePasswordBody, status=204, summary="Change your own password"
)
def change_password(body: ChangePasswordBody) -> None:
    clients.identity().ChangePassword(
        pb.ChangePasswordRequest(current_password=body.current_password, new_password=body.new_password),
    )


def me_json(reply: pb.GetMeResponse) -> dict[str, Any]:
    return {"id": reply.account_id, **to_json(reply)}


@routes.route("/me", "GET", response=Me, summary="The signed-in account, its roles and member profile")
def me() -> dict[str, Any]:
    return me_json(clients.identity().GetMe(pb.GetMeRequest()))
