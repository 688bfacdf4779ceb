"""Webhook calls for rule actions: http(s) only, a timeout, a few retries with backoff, no redirects, and no
private, loopback or link-local destinations (nor IPv6 addresses that carry one) unless WEBHOOK_ALLOW_PRIVATE is
set. Only a 2xx answer is a delivery; at most OUTBOUND_MAX_REPLY_BYTES of it are read. Calls run through an
`OutboundLimiter` (so many at once per rule owner and overall); a call it refuses fails as busy.

The host name is resolved by a resolver that checks every address it returns, and the connection uses only
those addresses, so a name cannot pass the check and then connect somewhere else (DNS rebinding).
"""

from __future__ import annotations

import asyncio
import functools
import ipaddress
import logging
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import orjson

from server.web import outbound
from server.web.outbound import CheckedResolver, IPAddress, OutboundBusy, OutboundLimiter, post_bounded

log = logging.getLogger(__name__)

MAX_URL = 2000
USER_AGENT = "realtime-server-rules/1"


class WebhookRefused(Exception):
    """The URL or one of its addresses is not allowed; never retried."""


def check_url(url: Any, *, allow_private: bool) -> str:
    """The URL if it may be called (shape only, plus literal addresses); WebhookRefused says why not."""
    if not isinstance(url, str) or not url or len(url) > MAX_URL:
        raise WebhookRefused(f"the URL must be a string of at most {MAX_URL} characters")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise WebhookRefused("the URL must start with http:// or https://")
    if not parts.hostname:
        raise WebhookRefused("the URL has no host")
    try:
        _ = parts.port
    except ValueError:
        raise WebhookRefused("the URL's port is not a number from 0 to 65535") from None
    try:
        literal = ipaddress.ip_address(parts.hostname)
    except ValueError:
        return url
    check_address(literal, allow_private=allow_private)
    return url


def check_address(address: IPAddress, *, allow_private: bool) -> None:
    try:
        outbound.check_address(address, allow_private=allow_private)
    except outbound.AddressRefused as exc:
        raise WebhookRefused(str(exc)) from None


@dataclass(frozen=True)
class Delivery:
    status: int
    attempts: int


class WebhookSender:
    def __init__(
        self,
        *,
        allow_private: bool,
        limiter: OutboundLimiter | None = None,
        max_reply_bytes: int = outbound.MAX_REPLY_BYTES,
        timeout: float = 5.0,
        attempts: int = 3,
        backoff: float = 0.5,
    ) -> None:
        self.allow_private = allow_private
        self.limiter = limiter or OutboundLimiter()
        self.max_reply_bytes = max_reply_bytes
        self.timeout = timeout
        self.attempts = attempts
        self.backoff = backoff  # seconds before the 2nd attempt; doubles after that
        self._session: aiohttp.ClientSession | None = None

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None:
            connector = aiohttp.TCPConnector(
                resolver=CheckedResolver(
                    functools.partial(check_address, allow_private=self.allow_private), WebhookRefused, WebhookRefused
                ),
                use_dns_cache=False,
                limit=20,
            )
            self._session = aiohttp.ClientSession(
                connector=connector,
                timeout=aiohttp.ClientTimeout(total=self.timeout),
                headers={"User-Agent": USER_AGENT},
                auto_decompress=False,  # the cap counts bytes as sent: no compressed bomb behind it
            )
        return self._session

    async def post(self, url: str, payload: dict[str, Any], *, user: str) -> Delivery:
        """POST the payload as JSON on behalf of `user` (the rule's owner); retries network errors and 5xx
        answers. Raises WebhookRefused for a refused address, WebhookFailed on final failure (a redirect, a 4xx,
        the last 5xx or error, or busy: too many calls of this user or overall already running and waiting)."""
        check_url(url, allow_private=self.allow_private)
        try:
            async with self.limiter.slot(user):
                return await self._post(url, orjson.dumps(payload))
        except OutboundBusy as exc:
            raise WebhookFailed(str(exc), 0) from None

    async def _post(self, url: str, body: bytes) -> Delivery:
        last_error = "no attempt"
        for attempt in range(1, self.attempts + 1):
            if attempt > 1:
                await asyncio.sleep(self.backoff * 2 ** (attempt - 2))
            try:
                reply = await post_bounded(
                    self._client(),
                    url,
                    data=body,
                    headers={"Content-Type": "application/json"},
                    max_reply_bytes=self.max_reply_bytes,
                )
            except WebhookRefused:
                raise
            except (aiohttp.ClientError, TimeoutError) as exc:
                last_error = f"{type(exc).__name__}: {exc}"[:200]
                continue
            if reply.failure is None:
                return Delivery(reply.status, attempt)
            last_error = f"the webhook {reply.failure}"
            if reply.status < 500:  # a redirect or a 4xx: trying again would get the same answer
                raise WebhookFailed(last_error, attempt)
        raise WebhookFailed(last_error, self.attempts)

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


class WebhookFailed(Exception):
    def __init__(self, message: str, attempts: int) -> None:
        super().__init__(message)
        self.attempts = attempts
