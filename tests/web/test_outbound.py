"""Outbound calls (webhooks, push services): addresses that wrap a private IPv4 one are refused like the plain
ones, answers are read up to a cap and no further, only 2xx counts as delivered, and calls run a bounded number
at once."""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.abc import AbstractResolver, ResolveResult

from server.chat.push import EndpointRefused, check_endpoint
from server.iot.rules.webhook import WebhookRefused, check_url
from server.web.outbound import (
    WAITING_PER_SLOT,
    AddressRefused,
    CheckedResolver,
    OutboundBusy,
    OutboundLimiter,
    check_address,
    embedded_ipv4,
    post_bounded,
)

# Each form of IPv6 address that carries an IPv4 one, with the IPv4 inside.
WRAPPED = [
    ("::ffff:10.0.0.1", "10.0.0.1"),  # IPv4-mapped
    ("::ffff:127.0.0.1", "127.0.0.1"),
    ("::10.0.0.1", "10.0.0.1"),  # IPv4-compatible
    ("::127.0.0.1", "127.0.0.1"),
    ("2002:a00:1::1", "10.0.0.1"),  # 6to4
    ("2002:7f00:1::", "127.0.0.1"),
    ("2002:a9fe:a9fe::", "169.254.169.254"),
    ("2002:c0a8:101::5", "192.168.1.1"),
    ("2001:0:4136:e378:8000:63bf:f5ff:fffe", "10.0.0.1"),  # Teredo: the client's address, inverted
    ("2001:0:4136:e378:8000:63bf:80ff:fffe", "127.0.0.1"),
    ("64:ff9b::10.0.0.1", "10.0.0.1"),  # NAT64, the well-known prefix
    ("64:ff9b::127.0.0.1", "127.0.0.1"),
    ("64:ff9b::169.254.169.254", "169.254.169.254"),
]


@pytest.mark.parametrize(("wrapped", "inner"), WRAPPED)
def test_the_ipv4_address_inside_each_form_is_found(wrapped: str, inner: str) -> None:
    assert embedded_ipv4(ipaddress.ip_address(wrapped)) == ipaddress.IPv4Address(inner)


@pytest.mark.parametrize(("wrapped", "inner"), [*WRAPPED, ("64:ff9b:1::a00:1", "")])
def test_a_wrapped_private_address_is_refused_like_the_plain_one(wrapped: str, inner: str) -> None:
    address = ipaddress.ip_address(wrapped)
    with pytest.raises(AddressRefused):
        check_address(address)
    with pytest.raises(AddressRefused):  # loopback allowed (push in development) is not private allowed
        check_address(address, allow_loopback=not inner.startswith("127."))
    # The webhook's and the push service's checks are this one, for literal addresses and resolved ones.
    with pytest.raises(WebhookRefused):
        check_url(f"http://[{wrapped}]:8080/hook", allow_private=False)
    with pytest.raises(EndpointRefused):
        check_endpoint(f"https://[{wrapped}]/wpush/x", allow_loopback=False)


def test_public_addresses_pass() -> None:
    for public in ("8.8.8.8", "::ffff:8.8.8.8", "2606:4700:4700::1111"):
        check_address(ipaddress.ip_address(public))
    check_address(ipaddress.ip_address("2002:a00:1::1"), allow_private=True)  # private allowed: so is 6to4 of one


class FixedResolver(AbstractResolver):
    def __init__(self, *addresses: str) -> None:
        self.addresses = addresses

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        return [
            {"hostname": host, "host": a, "port": port, "family": socket.AF_INET6, "proto": 0, "flags": 0}
            for a in self.addresses
        ]

    async def close(self) -> None:
        return None


async def test_a_name_resolving_to_a_wrapped_private_address_is_refused() -> None:
    resolver = CheckedResolver(
        check_address, AddressRefused, OSError, inner=FixedResolver("2606:4700::1", "2002:a00:1::")
    )
    with pytest.raises(OSError, match=r"hooks\.example resolves to 2002:a00:1:: carries 10\.0\.0\.1"):
        await resolver.resolve("hooks.example", 443)


# -- bounded answers ------------------------------------------------------------------------------------


class HugeAnswer:
    """A loopback server whose answer is `total` bytes, made as it is sent; it counts what it managed to send
    and notes whether the client hung up before the end."""

    def __init__(self, status: int = 200, total: int = 50 << 20) -> None:
        self.status, self.total = status, total
        self.sent = 0
        self.hung_up = False
        self.done = asyncio.Event()

    async def handle(self, request: web.Request) -> web.StreamResponse:
        await request.read()
        response = web.StreamResponse(status=self.status)
        response.content_length = self.total
        await response.prepare(request)
        chunk = b"x" * (64 << 10)
        try:
            while self.sent < self.total:
                await response.write(chunk)
                self.sent += len(chunk)
            await response.write_eof()
        except ConnectionError:
            self.hung_up = True
        except asyncio.CancelledError:  # how the server tells a handler its client went away
            self.hung_up = True
            raise
        finally:
            self.done.set()
        return response

    async def wait(self) -> None:
        async with asyncio.timeout(30):
            await self.done.wait()


async def huge_server(aiohttp_server: Any, huge: HugeAnswer) -> str:
    app = web.Application()
    app.router.add_post("/hook", huge.handle)
    server = await aiohttp_server(app, host="127.0.0.1")
    return str(server.make_url("/hook"))


async def test_only_the_cap_of_a_huge_answer_is_read(aiohttp_server: Any) -> None:
    huge = HugeAnswer()
    url = await huge_server(aiohttp_server, huge)
    async with aiohttp.ClientSession() as session:
        reply = await post_bounded(session, url, data=b"{}", headers={}, max_reply_bytes=1000)
    assert (reply.status, len(reply.body), reply.truncated, reply.failure) == (200, 1000, True, None)
    await huge.wait()
    assert huge.hung_up  # the connection was closed, not drained
    assert huge.sent < huge.total // 2  # what the kernel's buffers took (a few MB), not the answer


@pytest.mark.parametrize(
    ("status", "failure"),
    [(204, None), (301, "answered 301, a redirect"), (307, "answered 307, a redirect"), (404, "answered 404")],
)
async def test_only_a_2xx_answer_is_a_delivery(aiohttp_server: Any, status: int, failure: str | None) -> None:
    async def answer(request: web.Request) -> web.Response:
        return web.Response(status=status, headers={"Location": "http://127.0.0.1:1/elsewhere"})

    app = web.Application()
    app.router.add_post("/hook", answer)
    server = await aiohttp_server(app, host="127.0.0.1")
    async with aiohttp.ClientSession() as session:
        reply = await post_bounded(session, str(server.make_url("/hook")), data=b"", headers={})
    assert reply.status == status
    assert (reply.failure or "").startswith(failure or "")
    assert (reply.failure is None) == (failure is None)


# -- how many at once -----------------------------------------------------------------------------------


async def test_the_limiter_runs_so_many_at_once_queues_a_bounded_number_and_refuses_the_rest() -> None:
    limiter = OutboundLimiter(total=3, per_user=2)
    gate = asyncio.Event()
    most = 0

    async def call(user: str) -> None:
        nonlocal most
        async with limiter.slot(user):
            most = max(most, limiter.in_flight)
            await gate.wait()

    alice = [asyncio.create_task(call("alice")) for _ in range(2 * WAITING_PER_SLOT)]
    bob = [asyncio.create_task(call("bob")) for _ in range(2)]
    for _ in range(100):
        await asyncio.sleep(0)
        if limiter.in_flight == 3:
            break
    assert limiter.in_flight == 3  # alice's two and one of bob's: the overall bound
    assert limiter.waiting == 2 * WAITING_PER_SLOT + 2 - 3
    with pytest.raises(OutboundBusy, match="of this user"):
        async with limiter.slot("alice"):
            pass
    gate.set()
    await asyncio.gather(*alice, *bob)
    assert most == 3
    assert (limiter.in_flight, limiter.waiting) == (0, 0)
    async with limiter.slot("alice"):  # free again
        pass
