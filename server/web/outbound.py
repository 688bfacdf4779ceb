"""Calls the server makes to addresses that users give it (webhooks, push services).

A URL's host is a name, and a name can resolve to anything, a private address included. So every address the
host resolves to is checked when connecting, not only the literal addresses a URL may carry.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable

from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import DefaultResolver

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def unmapped(address: IPAddress) -> IPAddress:
    """The IPv4 address inside an IPv4-mapped IPv6 one (::ffff:10.0.0.1 is 10.0.0.1), else the address."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


class CheckedResolver(AbstractResolver):
    """Resolves as usual, then refuses the host if `check` refuses any of its addresses (by raising `refused`);
    what is raised then is `fail` of the reason."""

    def __init__(
        self, check: Callable[[IPAddress], None], refused: type[Exception], fail: Callable[[str], Exception]
    ) -> None:
        self._inner = DefaultResolver()
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
