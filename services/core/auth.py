"""Access tokens: who the caller is, verified locally from identity's public keys.

Access tokens are EdDSA (Ed25519) JWTs with a `kid` header. Claims:
  sub   account id            mid  member id ("" for a non-member account)
  uid   the account's unit    anc  ancestor unit ids of uid, root first, uid last
  roles [{"r": role, "u": unit id}]  (a role on a unit applies to its whole subtree)
  tv    the account's token version      sid  the login (refresh token family) it came from
Every service verifies tokens with the public keys identity serves; there is no call to
identity per request. Keys are fetched again only when an unknown `kid` shows up. A verified
token is then checked against revocations (services/core/revocation.py).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import jwt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import load_pem_public_key

from services.core.errors import PermissionDenied, Unauthenticated, Unavailable

ALGORITHM = "EdDSA"
ISSUER = "sotay-identity"

ROLE_MEMBER = "member"
ROLE_CELL_SECRETARY = "cell_secretary"
ROLE_CELL_DEPUTY = "cell_deputy"
ROLE_CELL_COMMITTEE = "cell_committee"
ROLE_EDITOR = "editor"
ROLE_ADMIN = "admin"
ROLES = (ROLE_MEMBER, ROLE_CELL_SECRETARY, ROLE_CELL_DEPUTY, ROLE_CELL_COMMITTEE, ROLE_EDITOR, ROLE_ADMIN)


@dataclass(frozen=True)
class Grant:
    role: str
    unit_id: str


@dataclass(frozen=True)
class Principal:
    account_id: str
    member_id: str
    unit_id: str
    ancestors: tuple[str, ...]
    grants: tuple[Grant, ...] = field(default_factory=tuple)
    token: str = ""
    token_version: int = 0
    session_id: str = ""

    def grant_units(self, roles: Iterable[str]) -> set[str]:
        wanted = set(roles)
        return {g.unit_id for g in self.grants if g.role in wanted}

    def has_role_over(self, unit_chain: Sequence[str], *roles: str) -> bool:
        """True when one of `roles` is granted on a unit in `unit_chain` (a unit and its ancestors)."""
        return bool(self.grant_units(roles) & set(unit_chain))

    def require_member(self, what: str) -> str:
        """The caller's member id; PERMISSION_DENIED `not_a_member` for an account with no member
        (a province admin's): `what` says what only members do."""
        if not self.member_id or not self.ancestors:
            raise PermissionDenied("not_a_member", what)
        return self.member_id

    def sees(self, audience_unit_id: str) -> bool:
        """Content addressed to the caller's own unit or one of its ancestors."""
        return audience_unit_id in self.ancestors


def issue_access_token(
    key: Ed25519PrivateKey,
    kid: str,
    principal: Principal,
    ttl_seconds: int,
    now: float | None = None,
) -> str:
    issued = int(now if now is not None else time.time())
    claims = {
        "iss": ISSUER,
        "sub": principal.account_id,
        "mid": principal.member_id,
        "uid": principal.unit_id,
        "anc": list(principal.ancestors),
        "roles": [{"r": g.role, "u": g.unit_id} for g in principal.grants],
        "tv": principal.token_version,
        "sid": principal.session_id,
        "iat": issued,
        "exp": issued + ttl_seconds,
    }
    return jwt.encode(claims, key, algorithm=ALGORITHM, headers={"kid": kid})


KeySource = Callable[[], dict[str, str]]  # kid -> public key PEM


class RevocationCheck(Protocol):
    def check(self, principal: Principal) -> None: ...


class TokenVerifier:
    """Verifies access tokens against public keys from `source`, refetched on an unknown kid, then
    asks `revocations` (when given) whether the token was revoked."""

    def __init__(
        self,
        source: KeySource,
        refetch_interval: float = 5.0,
        cache_size: int = 20000,
        revocations: RevocationCheck | None = None,
    ) -> None:
        self._source = source
        self.revocations = revocations
        self._verified: dict[str, tuple[Principal, float]] = {}
        self._cache_size = cache_size
        self._keys: dict[str, Ed25519PublicKey] = {}
        self._lock = threading.Lock()
        self._last_fetch = 0.0
        self._fetch_failed = False  # the last fetch could not reach the source
        self._interval = refetch_interval

    def _key(self, kid: str) -> Ed25519PublicKey:
        key = self._keys.get(kid)
        if key is not None:
            return key
        with self._lock:
            if kid not in self._keys and time.monotonic() - self._last_fetch >= self._interval:
                self._last_fetch = time.monotonic()
                try:
                    source = self._source()
                except Unavailable:  # identity unreachable: keep the keys known
                    self._fetch_failed = True
                    raise
                self._fetch_failed = False
                fetched = {}
                for k, pem in source.items():
                    public = load_pem_public_key(pem.encode())
                    if isinstance(public, Ed25519PublicKey):
                        fetched[k] = public
                self._keys = fetched
        key = self._keys.get(kid)
        if key is None and self._fetch_failed:  # not the token's fault
            raise Unavailable("token_keys_unavailable", "cannot check the access token now; try again")
        if key is None:
            raise Unauthenticated("token_key_unknown", "access token signed with an unknown key")
        return key

    def verify(self, token: str) -> Principal:
        """The token's principal; a token seen before skips the signature check until it expires,
        never the revocation check."""
        cached = self._verified.get(token)
        if cached is not None and time.time() < cached[1]:
            principal = cached[0]
        else:
            if cached is not None:
                self._verified.pop(token, None)
            principal, expires = self._verify(token)
            if len(self._verified) >= self._cache_size:
                self._verified.clear()  # bounded: a burst of new tokens just restarts the cache
            self._verified[token] = (principal, expires)
        self.check_revoked(principal)
        return principal

    def check_revoked(self, principal: Principal) -> None:
        """Raise when the principal's token has been revoked since (streams ask before each message)."""
        if self.revocations is not None:
            self.revocations.check(principal)

    def _verify(self, token: str) -> tuple[Principal, float]:
        try:
            kid = jwt.get_unverified_header(token).get("kid", "")
            claims = jwt.decode(
                token,
                self._key(str(kid)),
                algorithms=[ALGORITHM],
                issuer=ISSUER,
                options={"require": ["exp", "iat", "sub"]},
            )
        except jwt.ExpiredSignatureError as exc:
            raise Unauthenticated("token_expired", "access token has expired") from exc
        except jwt.PyJWTError as exc:
            raise Unauthenticated("token_invalid", "access token is not valid") from exc
        principal = Principal(
            account_id=str(claims["sub"]),
            member_id=str(claims.get("mid", "")),
            unit_id=str(claims.get("uid", "")),
            ancestors=tuple(str(a) for a in claims.get("anc", [])),
            grants=tuple(Grant(str(g["r"]), str(g["u"])) for g in claims.get("roles", [])),
            token=token,
            token_version=int(claims.get("tv", 0)),
            session_id=str(claims.get("sid", "")),
        )
        return principal, float(claims["exp"])
