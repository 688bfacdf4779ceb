"""Access tokens (short-lived JWT) and opaque secrets (refresh tokens, e-mail links), stored only as hashes."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

import jwt

from server.errors import Unauthorized

_ALGORITHM = "HS256"


@dataclass(frozen=True)
class AccessClaims:
    user_id: str
    session_id: str
    role: str


class AccessTokens:
    def __init__(self, secret: bytes, lifetime_seconds: int) -> None:
        self._secret = secret
        self.lifetime = lifetime_seconds

    def issue(self, *, user_id: str, session_id: str, role: str, now: float) -> str:
        payload = {
            "sub": user_id,
            "sid": session_id,
            "role": role,
            "typ": "access",
            "iat": int(now),
            "exp": int(now) + self.lifetime,
        }
        return jwt.encode(payload, self._secret, algorithm=_ALGORITHM)

    def read(self, token: str) -> AccessClaims:
        try:
            payload = jwt.decode(
                token, self._secret, algorithms=[_ALGORITHM], options={"require": ["sub", "sid", "exp", "iat"]}
            )
        except jwt.ExpiredSignatureError as exc:
            raise Unauthorized("the access token has expired; refresh it", code="token_expired") from exc
        except jwt.PyJWTError as exc:
            raise Unauthorized("the access token is not valid", code="invalid_token") from exc
        if payload.get("typ") != "access":
            raise Unauthorized("the access token is not valid", code="invalid_token")
        return AccessClaims(str(payload["sub"]), str(payload["sid"]), str(payload.get("role", "user")))


def new_secret() -> str:
    """An unguessable token for a refresh token or an e-mail link."""
    return secrets.token_urlsafe(32)


def secret_hash(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()
