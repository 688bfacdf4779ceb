"""Calls the server makes to addresses that users give it (webhooks, push services).

A URL's host is a name, and a name can resolve to anything, a private address included. So every address the
host resolves to is checked when connecting, not only the literal addresses a URL may carry; an IPv6 address
that carries an IPv4 one (IPv4-mapped or -compatible, 6to4, Teredo, NAT64) is checked for the IPv4 inside too.

Answers are read up to a small cap and the connection is then closed, so a peer answering gigabytes costs
the cap; `Reply.failure` is the one place that says which answers count as delivered (2xx only). Calls go
through an `OutboundLimiter`: at most so many at once overall and per user, with a bounded number waiting;
past that a call is refused at once as busy.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import socket
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import DefaultResolver

if TYPE_CHECKING:
    import aiohttp

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# Answers are read up to this many bytes (OUTBOUND_MAX_REPLY_BYTES); the rest is never read.
MAX_REPLY_BYTES = 16 << 10
# Calls that may wait for a slot, as a multiple of the slots (overall, and per user).
WAITING_PER_SLOT = 16

_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")  # RFC 6052's well-known prefix: the IPv4 is the last 32 bits
_NAT64_LOCAL = ipaddress.IPv6Network("64:ff9b:1::/48")  # RFC 8215: local use, so where the IPv4 sits varies


def embedded_ipv4(address: IPAddress) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 one carries, if any: IPv4-mapped (::ffff:10.0.0.1), IPv4-compatible
    (::10.0.0.1), 6to4 (2002:0a00:0001::), Teredo (2001:0::/32, the client's address inverted in the last 32
    bits) and NAT64 (64:ff9b::10.0.0.1)."""
    if isinstance(address, ipaddress.IPv4Address):
        return None
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address.teredo is not None:
        return address.teredo[1]
    low = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    if address in _NAT64:
        return low
    if int(address) >> 32 == 0 and int(address) > 1:  # ::a.b.c.d, not :: or ::1
        return low
    return None


def unmapped(address: IPAddress) -> IPAddress:
    """The IPv4 address inside an IPv4-mapped IPv6 one (::ffff:10.0.0.1 is 10.0.0.1), else the address."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


class AddressRefused(Exception):
    """An address the server does not call; the message says why ("10.0.0.1 is a private address")."""


def check_address(address: IPAddress, *, allow_private: bool = False, allow_loopback: bool = False) -> None:
    """Refuse multicast, unspecified and reserved addresses always; loopback unless `allow_loopback` or
    `allow_private`; link-local, private and other non-global ones unless `allow_private`. An address that
    carries an IPv4 one is refused if either is; an IPv4-mapped one is its IPv4 address."""
    address = unmapped(address)
    inner = embedded_ipv4(address)
    if inner is not None:
        try:
            check_address(inner, allow_private=allow_private, allow_loopback=allow_loopback)
        except AddressRefused as exc:
            raise AddressRefused(f"{address} carries {exc}") from None
    if address.is_multicast or address.is_unspecified or address.is_reserved:
        raise AddressRefused(f"{address} is not an address the server calls")
    if allow_private:
        return
    if address.is_loopback:
        if allow_loopback:
            return
        raise AddressRefused(f"{address} is a loopback address")
    if address.is_link_local:
        raise AddressRefused(f"{address} is a link-local address")
    if address.is_private or not address.is_global or address in _NAT64_LOCAL:
        raise AddressRefused(f"{address} is a private address")


class CheckedResolver(AbstractResolver):
    """Resolves as usual, then refuses the host if `check` refuses any of its addresses (by raising `refused`);
    what is raised then is `fail` of the reason. `inner` resolves (default: the system's resolver)."""

    def __init__(
        self,
        check: Callable[[IPAddress], None],
        refused: type[Exception],
        fail: Callable[[str], Exception],
        inner: AbstractResolver | None = None,
    ) -> None:
        self._inner = inner or DefaultResolver()
        self._check, self._refused, self._fail = check, refused, fail

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        results = await self._inner.resolve(host, port, family)
        if not results:
            raise self._fail(f"{host} does not resolve")
        for result in results:
            try:
                self._check(ipaddress.ip_address(result["host"]))
            except self._refused as exc:
                raise self._fail(f"{host} resolves to {exc}") from None
        return results

    async def close(self) -> None:
        await self._inner.close()


# -- answers --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Reply:
    status: int
    body: bytes  # at most the cap
    truncated: bool  # the peer had more to say; it was not read and the connection was closed

    @property
    def failure(self) -> str | None:
        """None for a 2xx answer (delivered); otherwise why it is not a delivery, in words."""
        if 200 <= self.status < 300:
            return None
        if 300 <= self.status < 400:
            return f"answered {self.status}, a redirect (redirects are not followed)"
        return f"answered {self.status}"


async def post_bounded(
    session: aiohttp.ClientSession,
    url: str,
    *,
    data: bytes,
    headers: Mapping[str, str],
    max_reply_bytes: int = MAX_REPLY_BYTES,
) -> Reply:
    """POST without following redirects and read at most `max_reply_bytes` of the answer; if there is more, the
    connection is closed instead of reading (or buffering) the rest."""
    async with session.post(
        url, data=data, headers={"Accept-Encoding": "identity", **headers}, allow_redirects=False
    ) as response:
        chunks: list[bytes] = []
        left = max_reply_bytes
        while left > 0:
            chunk = await response.content.read(left)
            if not chunk:
                break
            chunks.append(chunk)
            left -= len(chunk)
        truncated = left == 0 and not response.content.at_eof()
        if truncated:
            response.close()  # drop the connection: never read what is left
        return Reply(response.status, b"".join(chunks), truncated)


# -- how many at once -----------------------------------------------------------------------------------


class OutboundBusy(Exception):
    """Too many calls are already running and waiting (for this user, or overall); this one is not made."""


@dataclass
class _UserSlots:
    semaphore: asyncio.Semaphore
    pending: int = 0  # running and waiting


@dataclass
class OutboundLimiter:
    """At most `total` calls at once and `per_user` of one user; a call waits for a slot, but at most
    WAITING_PER_SLOT times as many calls may be pending (running or waiting), overall and per user, and one
    more is refused at once with OutboundBusy. So neither memory nor tasks grow without bound."""

    total: int = 64
    per_user: int = 4
    _all: asyncio.Semaphore = field(init=False)
    _pending: int = field(init=False, default=0)
    _users: dict[str, _UserSlots] = field(init=False, default_factory=dict)
    in_flight: int = field(init=False, default=0)  # calls running now (tests and metrics read it)

    def __post_init__(self) -> None:
        self._all = asyncio.Semaphore(self.total)

    @property
    def waiting(self) -> int:
        return self._pending - self.in_flight

    @contextlib.asynccontextmanager
    async def slot(self, user: str) -> AsyncIterator[None]:
        slots = self._users.get(user)
        if slots is None:
            slots = self._users[user] = _UserSlots(asyncio.Semaphore(self.per_user))
        if slots.pending >= self.per_user * WAITING_PER_SLOT:
            raise OutboundBusy(f"busy: {slots.pending} calls of this user are already running or waiting")
        if self._pending >= self.total * WAITING_PER_SLOT:
            raise OutboundBusy(f"busy: {self._pending} calls are already running or waiting")
        slots.pending += 1
        self._pending += 1
        try:
            async with slots.semaphore, self._all:
                self.in_flight += 1
                try:
                    yield
                finally:
                    self.in_flight -= 1
        finally:
            slots.pending -= 1
            self._pending -= 1
            if slots.pending == 0:
                del self._users[user]
