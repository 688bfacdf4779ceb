"""Steps the chat tests share: users, chats, a WebSocket client that separates replies from pushes, and a browser
and push service for Web Push."""

from __future__ import annotations

import asyncio
import base64
import io
import itertools
import os
import uuid
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import http_ece  # type: ignore[import-untyped]
import orjson
from aiohttp import web
from aiohttp.test_utils import TestClient
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from PIL import Image

from tests.helpers import bearer, verified_user

_ids = itertools.count(1)


class Peer:
    """One device's WebSocket: `call` sends a command and returns its reply; pushes collect in `pushes`."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse, *, raw: bool = False) -> None:
        self.ws = ws
        self._raw = raw  # every frame into `pushes`, replies too
        self.pushes: list[dict[str, Any]] = []
        self._replies: dict[Any, asyncio.Future[dict[str, Any]]] = {}
        self._arrived = asyncio.Event()
        self._reader = asyncio.get_running_loop().create_task(self._read())

    async def _read(self) -> None:
        async for message in self.ws:
            if message.type != aiohttp.WSMsgType.TEXT:
                break
            frame = message.json()
            is_reply = not self._raw and frame["type"] in ("result", "error", "pong")
            waiter = self._replies.pop(frame.get("id"), None) if is_reply else None
            if waiter is not None:
                waiter.set_result(frame)
            else:
                self.pushes.append(frame)
                self._arrived.set()

    async def call(self, kind: str, **fields: Any) -> dict[str, Any]:
        frame_id = next(_ids)
        waiter: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._replies[frame_id] = waiter
        await self.ws.send_json({"type": kind, "id": frame_id, **fields})
        return await asyncio.wait_for(waiter, 10)

    async def ok(self, kind: str, **fields: Any) -> dict[str, Any]:
        reply = await self.call(kind, **fields)
        assert reply["type"] == "result", reply
        result: dict[str, Any] = reply["result"]
        return result

    async def wait_for(self, kind: str, count: int = 1, timeout: float = 10, **match: Any) -> list[dict[str, Any]]:
        """Wait until `count` pushes of this type (with these field values) have arrived; returns them."""

        def found() -> list[dict[str, Any]]:
            return [p for p in self.pushes if p["type"] == kind and all(p.get(k) == v for k, v in match.items())]

        async def wait() -> list[dict[str, Any]]:
            while len(found()) < count:
                self._arrived.clear()
                await self._arrived.wait()
            return found()

        return await asyncio.wait_for(wait(), timeout)

    async def wait_for_any(self, timeout: float = 10) -> None:
        """Wait for the next frame to arrive."""
        self._arrived.clear()
        await asyncio.wait_for(self._arrived.wait(), timeout)

    def seqs(self) -> list[int]:
        return [p["seq"] for p in self.pushes if "seq" in p]

    async def closed_by_server(self, timeout: float = 10) -> int | None:
        """Wait until the server closes this socket; returns its close code."""
        await asyncio.wait_for(asyncio.shield(self._reader), timeout)
        return self.ws.close_code

    async def close(self) -> None:
        await self.ws.close()
        self._reader.cancel()


async def connect(client: TestClient, grant: dict[str, Any], after_seq: int | None = None) -> Peer:
    peer = Peer(await client.ws_connect("/ws"))
    await peer.ok("auth", token=grant["access_token"])
    if after_seq is not None:
        await peer.ok("sync", after_seq=after_seq)
    return peer


async def users(client: TestClient, count: int) -> list[dict[str, Any]]:
    """`count` signed-in users with confirmed addresses (made without mail: the chat tests are not about accounts)."""
    return [await verified_user(client) for _ in range(count)]


def uid(grant: dict[str, Any]) -> str:
    value: str = grant["user"]["id"]
    return value


async def group(client: TestClient, owner: dict[str, Any], members: list[dict[str, Any]], **extra: Any) -> str:
    resp = await client.post(
        "/api/chats",
        json={"kind": "group", "name": "Team", "members": [uid(m) for m in members], **extra},
        headers=bearer(owner),
    )
    assert resp.status == 201, await resp.text()
    chat_id: str = (await resp.json())["id"]
    return chat_id


async def direct(client: TestClient, a: dict[str, Any], b: dict[str, Any], **extra: Any) -> str:
    resp = await client.post("/api/chats", json={"kind": "direct", "user_id": uid(b), **extra}, headers=bearer(a))
    assert resp.status in (200, 201), await resp.text()
    chat_id: str = (await resp.json())["id"]
    return chat_id


def client_id() -> str:
    return str(uuid.uuid4())


# -- attachments ---------------------------------------------------------------------------------------
PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"


def png(size: tuple[int, int] = (64, 48), noise: bool = False) -> bytes:
    im = Image.frombytes("RGB", size, os.urandom(size[0] * size[1] * 3)) if noise else Image.new("RGB", size, "green")
    out = io.BytesIO()
    im.save(out, "PNG")
    return out.getvalue()


async def upload(
    client: TestClient,
    grant: dict[str, Any],
    chat_id: str,
    data: bytes,
    name: str = "file.bin",
    content_type: str = "application/octet-stream",
) -> aiohttp.ClientResponse:
    form = aiohttp.FormData(quote_fields=False)  # the name as browsers send it: UTF-8, not percent-encoded
    form.add_field("file", data, filename=name, content_type=content_type)
    return await client.post(f"/api/chats/{chat_id}/attachments", data=form, headers=bearer(grant))


async def uploaded(client: TestClient, grant: dict[str, Any], chat_id: str, data: bytes, **kw: Any) -> dict[str, Any]:
    resp = await upload(client, grant, chat_id, data, **kw)
    assert resp.status == 201, await resp.text()
    body: dict[str, Any] = await resp.json()
    return body


# -- web push: a browser and a push service ---------------------------------------------------------------


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass
class Browser:
    """What a browser keeps for one subscription: its P-256 key pair and auth secret (RFC 8291)."""

    endpoint: str
    private_key: ec.EllipticCurvePrivateKey = field(default_factory=lambda: ec.generate_private_key(ec.SECP256R1()))
    auth: bytes = field(default_factory=lambda: os.urandom(16))

    def subscription(self, **extra: Any) -> dict[str, Any]:
        point = self.private_key.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )
        return {
            "endpoint": self.endpoint,
            "expirationTime": None,
            "keys": {"p256dh": b64url(point), "auth": b64url(self.auth)},
            **extra,
        }

    def decrypt(self, body: bytes) -> Any:
        plain = http_ece.decrypt(body, private_key=self.private_key, auth_secret=self.auth, version="aes128gcm")
        return orjson.loads(plain)


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes


class PushEndpoint:
    """A push service on loopback: records every POST and answers with the status (after the delay) set for
    its path."""

    def __init__(self) -> None:
        self.origin = ""
        self.received: list[Received] = []
        self.status: dict[str, int] = {}
        self.delay: dict[str, float] = {}
        self._arrived = asyncio.Event()

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        self.received.append(Received(request.path, dict(request.headers), body))
        self._arrived.set()
        await asyncio.sleep(self.delay.get(request.path, 0))
        return web.Response(status=self.status.get(request.path, 201))

    def browser(self, answer: int = 201, delay: float = 0) -> Browser:
        path = f"/wpush/{uuid.uuid4().hex}"
        self.status[path] = answer
        self.delay[path] = delay
        return Browser(self.origin + path)

    def to(self, browser: Browser) -> list[Received]:
        return [r for r in self.received if r.path == urlsplit(browser.endpoint).path]

    async def wait_for(self, browser: Browser, count: int, timeout: float = 10) -> list[Received]:
        """What this browser's endpoint received, once there are at least `count`."""
        try:
            async with asyncio.timeout(timeout):
                while len(self.to(browser)) < count:
                    self._arrived.clear()
                    await self._arrived.wait()
        except TimeoutError:
            raise AssertionError(f"{len(self.to(browser))} pushes, expected {count}") from None
        return self.to(browser)


async def subscribe(client: TestClient, grant: dict[str, Any], browser: Browser) -> dict[str, Any]:
    resp = await client.post("/api/push/subscriptions", json=browser.subscription(), headers=bearer(grant))
    assert resp.status == 201, await resp.text()
    body: dict[str, Any] = await resp.json()
    return body
