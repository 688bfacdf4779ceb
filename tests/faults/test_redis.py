"""Redis blinks (reset, or a silent hang): the process stays up, /readyz names Redis within seconds, what needs
Redis (sign-ins and chat sends count against shared rate limits) answers 503 or an `unavailable` frame, what
succeeds is stored, and after the restore the broker delivers again (a second device gets a message sent after
it) within seconds, with no restart."""

from __future__ import annotations

import asyncio
import time
import uuid
from pathlib import Path

import aiohttp
import pytest

from tests.e2e.server_process import running_server
from tests.faults.kit import (
    READY_WITHIN,
    RECOVER_WITHIN,
    Load,
    Peer,
    Site,
    create_admins,
    host_port,
    service_url,
    stored_entries,
    until_ready,
)
from tests.faults.proxy import Cut, FaultProxy

pytestmark = pytest.mark.slow
CUT_SECONDS = 3.0


async def _signed_in(site: Site, who: int, deadline: float) -> Peer:
    """A signed-in socket; while Redis's breaker still refuses (`unavailable`, socket closed), a new try."""
    while True:
        peer = Peer(await site.session.ws_connect(site.server.ws_url))
        reply = await peer.call("auth", token=site.tokens[who])
        if reply["type"] == "result":
            return peer
        await peer.close()
        assert reply["error"]["code"] == "unavailable", reply
        assert time.monotonic() < deadline, f"no socket signed in in time: {reply}"
        await asyncio.sleep(0.2)


async def _delivered(site: Site, text: str, within: float) -> float:
    """Send `text` as the first account until the second account's socket receives it; returns the time taken."""
    started = time.monotonic()
    receiver = await _signed_in(site, 1, started + within)
    sender = await _signed_in(site, 0, started + within)
    try:
        while True:
            reply = await sender.call("message.send", chat_id=site.chat_id, client_id=str(uuid.uuid4()), text=text)
            if reply["type"] == "result":
                for _ in range(20):
                    if any(text in str(push) for push in receiver.pushes):
                        return time.monotonic() - started
                    await asyncio.sleep(0.05)
            assert time.monotonic() - started < within, f"{text!r} never reached the other device: {reply}"
            await asyncio.sleep(0.2)
    finally:
        await sender.close()
        await receiver.close()


async def _socket_during_cut(site: Site) -> None:
    """A device that connects while Redis is away: signed in, or told `unavailable` — never left without an answer."""
    peer = Peer(await site.session.ws_connect(site.server.ws_url))
    try:
        reply = await peer.call("auth", token=site.tokens[1])
        assert reply["type"] == "result" or reply["error"]["code"] == "unavailable", reply
    finally:
        await peer.close()


@pytest.mark.parametrize("mode", ["reset", "hang"])
async def test_redis_cut_and_restored(tmp_path: Path, mode: Cut) -> None:
    redis_url = service_url("TEST_REDIS_URL")
    create_admins({"DATA_DIR": str(tmp_path / "data")})
    with FaultProxy(*host_port(redis_url, 6379)) as proxy:
        env = {"REDIS_URL": proxy.url_for(redis_url), "REDIS_TIMEOUT_SECONDS": "1"}
        with running_server(tmp_path, env=env) as server:
            async with aiohttp.ClientSession() as session:
                site = await Site.open(server, session)
                await _delivered(site, "before", RECOVER_WITHIN)
                peer = await site.peer(0)
                async with Load(site, peer) as load:
                    await asyncio.sleep(0.5)
                    proxy.cut(mode)
                    body = await until_ready(session, server, ready=False, within=READY_WITHIN)
                    assert body["checks"]["redis"] is False
                    await _socket_during_cut(site)
                    await asyncio.sleep(CUT_SECONDS)
                    proxy.restore()
                    restored = time.monotonic()
                    await until_ready(session, server, ready=True, within=RECOVER_WITHIN)
                    await load.until_all_acknowledge_after(restored, RECOVER_WITHIN)
                await peer.close()
                await _delivered(site, "after", RECOVER_WITHIN)
                assert server.running
                for outcomes in load.every():
                    assert not outcomes.wrong, outcomes.wrong[:5]
                assert load.logins.refused > 0  # the cut was felt, and answered honestly
                history = set(await site.history())
                assert set(load.sends.acknowledged) <= history
            stored = await stored_entries(f"sqlite://{tmp_path / 'data' / 'app.db'}", site.channel_id)
            assert {int(e) for e in load.writes.acknowledged} <= set(stored)
