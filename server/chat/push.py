"""Web Push for chat: each device's subscription, and `notify`, which sends a JSON payload to all of a user's
devices (RFC 8030 delivery, RFC 8291 aes128gcm encryption by pywebpush, RFC 8292 VAPID), over aiohttp's client.

Endpoints are https URLs of public hosts. Every address a host name resolves to is checked when connecting, and
redirects are not followed, so a subscription cannot make the server call into its own network; plain http on
loopback is allowed only when PUSH_ALLOW_LOOPBACK is on (development, tests). Only a 2xx answer is a delivery (a
redirect is a failure); at most OUTBOUND_MAX_REPLY_BYTES of an answer are read; pushes run through an
`OutboundLimiter` (so many at once per recipient and overall), and one it refuses is not sent ("busy").
"""

from __future__ import annotations

import asyncio
import enum
import functools
import ipaddress
import logging
import math
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import jwt
import orjson
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from pywebpush import WebPusher  # type: ignore[import-untyped]

from server.encoding import Base64Error, decode_base64url, encode_base64url
from server.errors import ValidationError
from server.storage.database import IntegrityError
from server.storage.push import PushRepository, PushSubscription
from server.web import outbound
from server.web.outbound import CheckedResolver, IPAddress, OutboundBusy, OutboundLimiter, post_bounded

if TYPE_CHECKING:
    import aiohttp

    from server.config import Settings

log = logging.getLogger(__name__)

URGENCIES = ("very-low", "low", "normal", "high")
# A push message is one 4096-byte aes128gcm record: less its header (86), delimiter (1) and tag (16).
MAX_PAYLOAD_BYTES = 3993
SHOWN = ("message", "call", "call.missed")  # the pushes the service worker shows as notifications, with texts
MAX_ENDPOINT = 2048
MAX_KEY = 200
SEND_TIMEOUT = 10.0  # seconds for one push service to take a push
JWT_SECONDS = 12 * 3600  # RFC 8292 allows at most 24 hours
_LOOPBACK_NAMES = ("localhost", "localhost.")


# -- parsing a browser's PushSubscription ---------------------------------------------------------------


@dataclass(frozen=True)
class SubscriptionInput:
    endpoint: str
    p256dh: str  # base64url without padding
    auth: str
    expires_at: float | None  # seconds


class EndpointRefused(Exception):
    """The endpoint (or an address its host resolves to) is not one the server calls."""


def _check_address(address: IPAddress, *, allow_loopback: bool) -> None:
    try:
        outbound.check_address(address, allow_loopback=allow_loopback)
    except outbound.AddressRefused as exc:
        raise EndpointRefused(str(exc)) from None


def check_endpoint(endpoint: str, *, allow_loopback: bool) -> None:
    """Refuse an endpoint the server must not call: only https (http too on loopback, when allowed), a host,
    no user info, no private or loopback literal address."""
    parts = urlsplit(endpoint)
    host = (parts.hostname or "").lower()
    if not host:
        raise EndpointRefused("no host")
    if parts.username is not None or parts.password is not None:
        raise EndpointRefused("user info in the URL")
    try:
        _ = parts.port
    except ValueError:
        raise EndpointRefused("a port that is not a number from 0 to 65535") from None
    try:
        literal: ipaddress.IPv4Address | ipaddress.IPv6Address | None = ipaddress.ip_address(host)
    except ValueError:
        literal = None
    loopback = host in _LOOPBACK_NAMES or (literal is not None and literal.is_loopback)
    if loopback and not allow_loopback:
        raise EndpointRefused("a loopback host")
    if parts.scheme != "https" and not (parts.scheme == "http" and loopback):
        raise EndpointRefused("not https")
    if literal is not None:
        _check_address(literal, allow_loopback=allow_loopback)


def parse_subscription(data: Any, *, allow_loopback: bool, now: float) -> SubscriptionInput:
    """A browser's PushSubscription JSON ({endpoint, expirationTime, keys: {p256dh, auth}}), checked; a 400 that
    names the field otherwise."""
    if not isinstance(data, dict):
        raise ValidationError("the body must be a PushSubscription JSON object", code="wrong_type")
    unknown = sorted(set(data) - {"endpoint", "expirationTime", "keys"})
    if unknown:
        raise ValidationError("unknown field {field}", field=unknown[0], code="unknown_field")

    endpoint = data.get("endpoint")
    if not isinstance(endpoint, str) or not endpoint:
        raise ValidationError("endpoint must be a non-empty string", field="endpoint", code="required")
    if len(endpoint) > MAX_ENDPOINT:
        raise ValidationError(
            "{field} is longer than {limit} characters", field="endpoint", code="too_long", limit=MAX_ENDPOINT
        )
    if not endpoint.isascii() or not endpoint.isprintable() or " " in endpoint:
        raise ValidationError("endpoint must be a URL without spaces or control characters", field="endpoint")
    try:
        check_endpoint(endpoint, allow_loopback=allow_loopback)
    except EndpointRefused as exc:
        raise ValidationError(
            "endpoint must be an https URL of a push service (got {reason})", field="endpoint", reason=str(exc)
        ) from None

    keys = data.get("keys")
    if not isinstance(keys, dict):
        raise ValidationError("keys must be an object with p256dh and auth", field="keys", code="wrong_type")
    unknown = sorted(set(keys) - {"p256dh", "auth"})
    if unknown:
        raise ValidationError("unknown field {field}", field=f"keys.{unknown[0]}", code="unknown_field")
    p256dh = _key(keys, "p256dh")
    try:
        if len(p256dh) != 65:  # uncompressed: 0x04, x, y (the curve would take a compressed point too)
            raise ValueError
        ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), p256dh)
    except ValueError:
        raise ValidationError("keys.p256dh must be an uncompressed P-256 public key", field="keys.p256dh") from None
    auth = _key(keys, "auth")
    if len(auth) != 16:
        raise ValidationError("keys.auth must be 16 bytes, base64url-encoded", field="keys.auth")

    expiration = data.get("expirationTime")
    expires_at: float | None = None
    if expiration is not None:
        if isinstance(expiration, bool) or not isinstance(expiration, int | float) or not math.isfinite(expiration):
            raise ValidationError("expirationTime must be a number or null", field="expirationTime", code="wrong_type")
        expires_at = expiration / 1000  # the browser counts milliseconds
        if expires_at <= now:
            raise ValidationError("expirationTime is in the past", field="expirationTime")
    return SubscriptionInput(endpoint, encode_base64url(p256dh), encode_base64url(auth), expires_at)


def _key(keys: dict[str, Any], name: str) -> bytes:
    field = f"keys.{name}"
    value = keys.get(name)
    if not isinstance(value, str) or not value:
        raise ValidationError("{field} must be a non-empty string", field=field, code="required")
    if len(value) > MAX_KEY:
        raise ValidationError("{field} is longer than {limit} characters", field=field, code="too_long", limit=MAX_KEY)
    try:
        return decode_base64url(value)
    except Base64Error:
        raise ValidationError("{field} must be base64url-encoded", field=field) from None


# -- the HTTP client ------------------------------------------------------------------------------------


def push_client_session(*, allow_loopback: bool, timeout: float = SEND_TIMEOUT) -> aiohttp.ClientSession:
    """The client session pushes go through: every resolved address checked, a total timeout per request."""
    import aiohttp

    # Refused as an OSError: aiohttp reports it as a connection error, like any unreachable host.
    check = functools.partial(_check_address, allow_loopback=allow_loopback)
    connector = aiohttp.TCPConnector(resolver=CheckedResolver(check, EndpointRefused, OSError), limit=100)
    # No decompression: the reply cap counts bytes as sent, so no compressed bomb hides behind it.
    return aiohttp.ClientSession(
        connector=connector, timeout=aiohttp.ClientTimeout(total=timeout), auto_decompress=False
    )


# -- the service ----------------------------------------------------------------------------------------


class Outcome(enum.Enum):
    DELIVERED = "delivered"
    GONE = "gone"  # 404 or 410: the browser unsubscribed or the subscription expired
    FAILED = "failed"
    BUSY = "busy"  # not sent: too many pushes to this user, or overall, already running and waiting


class PushService:
    def __init__(
        self,
        repo: PushRepository,
        client: aiohttp.ClientSession,
        *,
        vapid_private_key: bytes,
        subject: str,
        ttl_seconds: int,
        allow_loopback: bool,
        limiter: OutboundLimiter | None = None,
        max_reply_bytes: int = outbound.MAX_REPLY_BYTES,
        timeout: float = SEND_TIMEOUT,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.repo = repo
        self._client = client
        self._key = ec.derive_private_key(int.from_bytes(vapid_private_key, "big"), ec.SECP256R1())
        point = self._key.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )
        self.public_key = encode_base64url(point)  # the applicationServerKey browsers subscribe with
        self._subject = subject
        self.ttl_seconds = ttl_seconds
        self.allow_loopback = allow_loopback
        self.limiter = limiter or OutboundLimiter()
        self._max_reply_bytes = max_reply_bytes
        self._timeout = timeout
        self._clock = clock

    @classmethod
    def from_settings(cls, settings: Settings, repo: PushRepository, client: aiohttp.ClientSession) -> PushService:
        return cls(
            repo,
            client,
            vapid_private_key=settings.vapid_private_key,
            subject=settings.vapid_subject,
            ttl_seconds=settings.push_ttl_seconds,
            allow_loopback=settings.push_allow_loopback,
            limiter=OutboundLimiter(
                total=settings.outbound_max_in_flight, per_user=settings.outbound_max_in_flight_per_user
            ),
            max_reply_bytes=settings.outbound_max_reply_bytes,
        )

    # -- subscriptions ----------------------------------------------------------------------------------
    async def subscribe(self, *, user_id: str, session_id: str, data: Any) -> PushSubscription:
        """Store this device's subscription, replacing its previous one and any other with the same endpoint."""
        now = self._clock()
        parsed = parse_subscription(data, allow_loopback=self.allow_loopback, now=now)
        subscription = PushSubscription(
            id=uuid.uuid4().hex,
            user_id=user_id,
            session_id=session_id,
            endpoint=parsed.endpoint,
            p256dh=parsed.p256dh,
            auth=parsed.auth,
            expires_at=parsed.expires_at,
            created_at=now,
        )
        for attempt in (1, 2):
            try:
                async with self.repo.db.transaction() as tx:
                    await self.repo.replace(tx, subscription)
                break
            except IntegrityError:
                # Two subscribes of one device at once: the other committed between our delete and insert.
                if attempt == 2:
                    raise
        return subscription

    async def unsubscribe(self, session_id: str) -> bool:
        async with self.repo.db.transaction() as tx:
            return await self.repo.delete_for_session(tx, session_id) > 0

    # -- sending ----------------------------------------------------------------------------------------
    async def notify(
        self, user_id: str, payload: dict[str, Any], *, ttl: int | None = None, urgency: str = "normal"
    ) -> int:
        """Send `payload` (JSON) to every live subscription of the user's live sessions, all at once; returns
        how many push services accepted it. Subscriptions answered 404 or 410, and those of ended sessions, are
        deleted. Delivery problems are logged, never raised; a payload too large or a bad urgency is a
        ValueError (the caller's mistake)."""
        body = orjson.dumps(payload)
        if len(body) > MAX_PAYLOAD_BYTES:
            raise ValueError(f"a push payload takes at most {MAX_PAYLOAD_BYTES} bytes of JSON, got {len(body)}")
        if urgency not in URGENCIES:
            raise ValueError(f"urgency must be one of {', '.join(URGENCIES)}")
        ttl = self.ttl_seconds if ttl is None else max(0, int(ttl))
        # A push never fails the message that caused it: problems below are logged, not raised.
        try:
            found = await self.repo.for_user(user_id, self._clock())
        except Exception as exc:  # noqa: BLE001
            log.warning("push: reading the subscriptions failed (%s)", type(exc).__name__)
            return 0
        if payload.get("type") in SHOWN:  # shown in the user's language (pwa/sw.js): one short member more, if it fits
            with_language = orjson.dumps({**payload, "lang": found.language})
            body = with_language if len(with_language) <= MAX_PAYLOAD_BYTES else body
        outcomes = await asyncio.gather(*(self._send(s, body, ttl, urgency) for s in found.live))
        gone = [s.id for s, outcome in zip(found.live, outcomes, strict=True) if outcome is Outcome.GONE]
        if gone or found.dead:
            try:
                async with self.repo.db.transaction() as tx:
                    await self.repo.delete(tx, [*gone, *found.dead])
            except Exception as exc:  # noqa: BLE001 -- they are found again, and removed, on the next push
                log.warning(
                    "push: removing %d dead subscriptions failed (%s)", len(gone) + len(found.dead), type(exc).__name__
                )
        return sum(1 for outcome in outcomes if outcome is Outcome.DELIVERED)

    def _vapid_header(self, endpoint: str) -> str:
        parts = urlsplit(endpoint)
        # Claims in sorted order: some push services have been picky about it.
        claims = {
            "aud": f"{parts.scheme}://{parts.netloc}",
            "exp": int(self._clock()) + JWT_SECONDS,
            "sub": self._subject,
        }
        token = jwt.encode(claims, self._key, algorithm="ES256")
        return f"vapid t={token}, k={self.public_key}"

    async def _send(self, subscription: PushSubscription, body: bytes, ttl: int, urgency: str) -> Outcome:
        # Only our own subscription id is logged: endpoints and keys are device tokens.
        sid = subscription.id
        try:
            check_endpoint(subscription.endpoint, allow_loopback=self.allow_loopback)
            pusher = WebPusher(
                {"endpoint": subscription.endpoint, "keys": {"p256dh": subscription.p256dh, "auth": subscription.auth}}
            )
            encrypted: bytes = pusher.encode(body, "aes128gcm")["body"]
            headers = {
                "Authorization": self._vapid_header(subscription.endpoint),
                "TTL": str(ttl),
                "Urgency": urgency,
                "Content-Encoding": "aes128gcm",
                "Content-Type": "application/octet-stream",
            }
            async with self.limiter.slot(subscription.user_id), asyncio.timeout(self._timeout):
                reply = await post_bounded(
                    self._client,
                    subscription.endpoint,
                    data=encrypted,
                    headers=headers,
                    max_reply_bytes=self._max_reply_bytes,
                )
        except OutboundBusy as exc:
            log.warning("push subscription %s not sent: %s", sid, exc)
            return Outcome.BUSY
        except EndpointRefused as exc:
            log.warning("push subscription %s not sent: its endpoint is %s", sid, exc)
            return Outcome.FAILED
        except TimeoutError:
            log.warning("push subscription %s: the push service did not answer in %g s", sid, self._timeout)
            return Outcome.FAILED
        except Exception as exc:  # noqa: BLE001 -- one device's failure must not stop the others
            log.warning("push subscription %s: sending failed (%s)", sid, type(exc).__name__)
            return Outcome.FAILED
        if reply.failure is None:
            return Outcome.DELIVERED
        if reply.status in (404, 410):
            log.info("push subscription %s is gone (%d); removed", sid, reply.status)
            return Outcome.GONE
        log.warning("push subscription %s: the push service %s", sid, reply.failure)
        return Outcome.FAILED
