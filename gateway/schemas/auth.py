"""Login, tokens and passwords."""

from __future__ import annotations

from pydantic import Field

from gateway.schemas.common import Body, Reply


class LoginBody(Body):
    username: str = Field(min_length=1, max_length=256, description="login name, phone or party card number")
    password: str = Field(min_length=1, max_length=1024)


class RefreshBody(Body):
    refresh_token: str = Field(min_length=1, max_length=1024)


class LogoutBody(Body):
    refresh_token: str = Field(min_length=1, max_length=1024)


class ChangePasswordBody(Body):
    current_password: str = Field(min_length=1, max_length=1024)
    new_password: str = Field(min_length=1, max_length=1024)


class ResetPasswordBody(Body):
    new_password: str = Field(min_length=1, max_length=1024)


class Tokens(Reply):
    access_token: str
    refresh_token: str
    expires_in: int = Field(description="seconds the access token stays valid")
