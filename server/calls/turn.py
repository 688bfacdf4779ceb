"""TURN credentials in coturn's REST-API form (`use-auth-secret`): short-lived, made from the secret coturn shares.

The username is `expiry:user_id` (expiry in Unix seconds) and the password base64(HMAC-SHA1(secret, username)), so
coturn checks them without asking us, and refuses them once `expiry` has passed. Without a secret there is no
TURN: clients get the STUN URLs (if any) and gather host candidates.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit


@dataclass(frozen=True)
class TurnCredential:
    username: str
    credential: str
    expires_at: int


def issue_turn_credentials(secret: str, user_id: str, now: float, ttl_seconds: int) -> TurnCredential:
    """A credential for `user_id` that coturn accepts until `now + ttl_seconds`."""
    expires_at = int(now) + ttl_seconds
    username = f"{expires_at}:{user_id}"
    digest = hmac.new(secret.encode(), username.encode(), hashlib.sha1).digest()
    return TurnCredential(username, base64.b64encode(digest).decode(), expires_at)


def stun_urls(turn_urls: tuple[str, ...]) -> list[str]:
    """The STUN URL of each TURN server (coturn answers STUN on its plain TURN port), once per host, in order. A
    `turns:` URL alone stands for its host's default port (STUN is not spoken over TLS here)."""
    plain: dict[str, str] = {}  # host -> its stun: URL
    for url in turn_urls:
        scheme, _, rest = url.partition(":")
        if scheme not in ("turn", "turns"):
            continue
        hostport = rest.split("?", 1)[0]
        host = urlsplit(f"//{hostport}").hostname or hostport
        bracketed = f"[{host}]" if ":" in host else host
        if scheme == "turn":
            plain[host] = f"stun:{hostport}"
        else:
            plain.setdefault(host, f"stun:{bracketed}")
    return list(dict.fromkeys(plain.values()))


def ice_servers(
    secret: str | None, turn_urls: tuple[str, ...], user_id: str, now: float, ttl_seconds: int
) -> dict[str, Any]:
    """What RTCPeerConnection's `iceServers` takes, and how long it is good for."""
    servers: list[dict[str, Any]] = []
    stun = stun_urls(turn_urls)
    if stun:
        servers.append({"urls": stun})
    if secret and turn_urls:
        turn = issue_turn_credentials(secret, user_id, now, ttl_seconds)
        servers.append({"urls": list(turn_urls), "username": turn.username, "credential": turn.credential})
    return {"ice_servers": servers, "ttl": ttl_seconds, "expires_at": int(now) + ttl_seconds}


def sfu_ice_servers(secret: str | None, turn_url: str | None, now: float, ttl_seconds: int) -> list[dict[str, Any]]:
    """The ICE servers for one of the SFU's own peer connections: TURN at `turn_url` with a fresh credential (as
    user `sfu`), so its media can meet clients through coturn; none without a secret or URL (host candidates)."""
    if not secret or not turn_url:
        return []
    turn = issue_turn_credentials(secret, "sfu", now, ttl_seconds)
    return [{"urls": [turn_url], "username": turn.username, "credential": turn.credential}]
