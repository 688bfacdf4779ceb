"""Webhook calls for rule actions: http(s) only, a timeout, a few retries with backoff, no redirects, and no
private, loopback or link-local destinations unless WEBHOOK_ALLOW_PRIVATE is set.

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

from server.web.outbound import CheckedResolver, IPAddress, unmapped

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
    address = unmapped(address)
    if address.is_multicast or address.is_unspecified or address.is_reserved:
        raise WebhookRefused(f"{address} is not an address a webhook can call")
    if allow_private:
        return
    if address.is_loopback:
        raise WebhookRefused(f"{address} is a loopback address")
    if address.is_link_local:
        raise WebhookRefused(f"{address} is a link-local address")
    if address.is_private or not address.is_global:
        raise WebhookRefused(f"{address} is a private address")


@dataclass(frozen=True)
class Delivery:
    status: int
    attempts: int


class WebhookSender:
    def __init__(self, *, allow_private: bool, timeout: float = 5.0, attempts: int = 3, backoff: float = 0.5) -> None:
        self.allow_private = allow_private
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
            )
        return self._session

    async def post(self, url: str, payload: dict[str, Any]) -> Delivery:
        """POST the payload as JSON; retries network errors and 5xx answers. Raises on final failure."""
        check_url(url, allow_private=self.allow_private)
        body = orjson.dumps(payload)
        last_error = "no attempt"
        for attempt in range(1, self.attempts + 1):
            if attempt > 1:
                await asyncio.sleep(self.backoff * 2 ** (attempt - 2))
            try:
                async with self._client().post(
                    url, data=body, headers={"Content-Type": "application/json"}, allow_redirects=False
                ) as response:
                    await response.read()
                    if response.status < 500:
                        if response.status >= 400:
                            raise WebhookFailed(f"the webhook answered {response.status}", attempt)
                        return Delivery(response.status, attempt)
                    last_error = f"the webhook answered {response.status}"
            except WebhookRefused:
                raise
            except (aiohttp.ClientError, TimeoutError) as exc:
                last_error = f"{type(exc).__name__}: {exc}"[:200]
        raise WebhookFailed(last_error, self.attempts)

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


class WebhookFailed(Exception):
    def __init__(self, message: str, attempts: int) -> None:
        super().__init__(message)
        self.attempts = attempts
