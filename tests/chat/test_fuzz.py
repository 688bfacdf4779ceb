"""Generated frames thrown at the WebSocket (hypothesis): every one gets a result or an error that names the
problem, the connection stays open, nothing fails inside the server, and only accepted messages are stored."""

from __future__ import annotations

import asyncio
import logging
import uuid
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from server.app import create_app
from server.config import RateLimit
from server.keys import database_key
from tests.chat.chatkit import Peer, group, uid, users

COMMANDS = [
    "sync",
    "message.send",
    "message.edit",
    "message.delete",
    "message.react",
    "chat.read",
    "chat.delivered",
    "chat.typing",
    "presence.follow",
    "presence.unfollow",
    "channel.subscribe",
    "channel.unsubscribe",
    "ping",
]
FIELDS = [
    "chat_id",
    "client_id",
    "text",
    "ciphertext",
    "message_id",
    "reply_to",
    "mentions",
    "forward",
    "emoji",
    "on",
    "for_everyone",
    "after_seq",
    "user_ids",
    "channel_id",
    "colour",
]

json_leaf = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False),
    st.text(max_size=40),
    st.text(min_size=3000, max_size=5000),
)
json_value = st.recursive(
    json_leaf,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=8,
)


def frames(chat_id: str, user_id: str) -> st.SearchStrategy[dict[str, Any]]:
    """Frames shaped like each command (each field plausible or any JSON, sometimes one dropped or one extra),
    and frames of any shape at all."""

    def maybe(plausible: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
        return st.one_of(*([plausible] * 6), json_value)

    chat = maybe(st.sampled_from([chat_id, chat_id, "0123456789abcdef01234567", ""]))
    message = maybe(st.integers(min_value=-2, max_value=8))
    text = maybe(st.text(max_size=200))
    shapes: dict[str, dict[str, st.SearchStrategy[Any]]] = {
        "sync": {"after_seq": maybe(st.integers(min_value=-2, max_value=60))},
        "message.send": {
            "chat_id": chat,
            "client_id": maybe(st.builds(lambda: str(uuid.uuid4()))),
            "text": text,
            "reply_to": maybe(st.none() | st.integers(min_value=-1, max_value=8)),
            "mentions": maybe(st.lists(st.sampled_from([user_id, "x"]), max_size=3)),
        },
        "message.edit": {"chat_id": chat, "message_id": message, "text": text},
        "message.delete": {"chat_id": chat, "message_id": message, "for_everyone": maybe(st.booleans())},
        "message.react": {
            "chat_id": chat,
            "message_id": message,
            "emoji": maybe(st.sampled_from(["👍", "🎉", "a b", ""])),
            "on": maybe(st.booleans()),
        },
        "chat.read": {"chat_id": chat, "message_id": message},
        "chat.delivered": {"chat_id": chat, "message_id": message},
        "chat.typing": {"chat_id": chat},
        "presence.follow": {"user_ids": maybe(st.lists(st.sampled_from([user_id, "nobody"]), max_size=3))},
        "presence.unfollow": {"user_ids": maybe(st.lists(st.sampled_from([user_id, "nobody"]), max_size=3))},
        "channel.subscribe": {"channel_id": maybe(st.integers(min_value=-1, max_value=3))},
    }

    def shaped(kind: str) -> st.SearchStrategy[dict[str, Any]]:
        return st.tuples(
            st.fixed_dictionaries(shapes[kind]),
            st.sampled_from([None] * 3 * len(shapes[kind]) + list(shapes[kind])),
            st.one_of(st.none(), st.none(), st.none(), st.tuples(st.sampled_from(FIELDS), json_value)),
        ).map(
            lambda parts: {
                **{k: v for k, v in parts[0].items() if k != parts[1]},
                **(dict([parts[2]]) if parts[2] else {}),
                "type": kind,
            }
        )

    ids = st.integers(min_value=0, max_value=10**6) | st.text(max_size=10)
    odd_ids = st.text(min_size=65, max_size=70) | st.none() | st.floats() | st.lists(st.none(), max_size=2)
    well_shaped = st.sampled_from(sorted(shapes)).flatmap(shaped)
    anything = st.builds(
        lambda kind, body: {**body, "type": kind},
        st.sampled_from(COMMANDS) | st.text(max_size=12) | json_value,
        st.dictionaries(st.sampled_from(FIELDS), json_value, max_size=5),
    )
    sends = st.builds(
        lambda text: {"type": "message.send", "chat_id": chat_id, "client_id": str(uuid.uuid4()), "text": text},
        st.text(max_size=300),
    )
    body = st.one_of(*([sends] * 3), *([well_shaped] * 6), anything)
    return st.builds(lambda frame, frame_id: {**frame, "id": frame_id}, body, st.one_of(*([ids] * 6), odd_ids))


@pytest.mark.timeout(300)
async def test_generated_frames_never_break_the_server(
    aiohttp_client: Any, make_settings: Any, caplog: pytest.LogCaptureFixture
) -> None:
    # A send limit the fuzzing does not reach, so frames get past it to the checks behind it.
    client: TestClient = await aiohttp_client(create_app(make_settings(rate_chat_send=RateLimit(100_000, 10))))
    alice, bob = await users(client, 2)
    chat_id = await group(client, alice, [bob])
    peer = Peer(await client.ws_connect("/ws"), raw=True)
    await peer.ws.send_json({"type": "auth", "id": "auth", "token": alice["access_token"]})
    await peer.wait_for("result")
    loop = asyncio.get_running_loop()
    accepted: set[int] = set()
    answers: dict[str, int] = {}

    async def one(frame: dict[str, Any]) -> None:
        peer.pushes.clear()
        await peer.ws.send_json(frame)
        # The reply to a frame with a usable id echoes it; a frame without one gets an error with id null.
        while not (replies := [p for p in peer.pushes if p["type"] in ("result", "error", "pong")]):
            await peer.wait_for_any(timeout=10)
        reply = replies[0]
        kind = reply["error"]["code"] if reply["type"] == "error" else reply["type"]
        answers[kind] = answers.get(kind, 0) + 1
        if reply["type"] == "error":
            error = reply["error"]
            assert error["code"] != "internal", (frame, reply)
            assert error["message"], (frame, reply)
        elif reply["type"] == "result" and frame.get("type") == "message.send":
            accepted.add(reply["result"]["id"])

    @settings(
        max_examples=250,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        database=None,
    )
    @given(frame=frames(chat_id, uid(bob)))
    def check(frame: dict[str, Any]) -> None:
        asyncio.run_coroutine_threadsafe(one(frame), loop).result(timeout=30)

    with caplog.at_level(logging.ERROR):
        await asyncio.to_thread(check)
        # The frames reached the commands, not only the frame checks: they drew several different answers.
        # (How many random frames are valid depends on the draw, so no count of successes is asked of them.)
        assert len(answers) >= 8, answers
        # After all that, well-formed frames still work as they should, and what they store is kept.
        drawn = len(accepted)
        for n in range(3):
            await one(
                {
                    "type": "message.send",
                    "id": f"s{n}",
                    "chat_id": chat_id,
                    "client_id": str(uuid.uuid4()),
                    "text": f"after the fuzz {n}",
                }
            )
        assert len(accepted) == drawn + 3, answers
        last = max(accepted)
        for frame in (
            {"type": "message.edit", "chat_id": chat_id, "message_id": last, "text": "edited after the fuzz"},
            {"type": "message.react", "chat_id": chat_id, "message_id": last, "emoji": "👍", "on": True},
            {"type": "chat.read", "chat_id": chat_id, "message_id": last},
        ):
            results = answers.get("result", 0)
            await one({**frame, "id": frame["type"]})
            assert answers.get("result", 0) == results + 1, (frame, peer.pushes)
    # Nothing failed inside the server.
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR], [r.getMessage() for r in caplog.records]
    # The connection is still open and answers.
    peer.pushes.clear()
    await peer.ws.send_json({"type": "ping", "id": "last"})
    assert (await peer.wait_for("pong"))[0]["id"] == "last"
    # Only accepted messages were stored.
    rows = await client.app[database_key].fetch("SELECT id FROM messages WHERE chat_id = $1", chat_id)
    assert {int(r["id"]) for r in rows} == accepted
    await peer.close()


async def test_oversize_frames_get_an_error_and_abusive_ones_close(client: TestClient) -> None:
    (alice,) = await users(client, 1)
    peer = Peer(await client.ws_connect("/ws"), raw=True)
    await peer.ws.send_str('{"type": "ping", "pad": "' + "é" * 40_000 + '"}')  # 80 KB in UTF-8
    error = (await peer.wait_for("error"))[0]
    assert error["error"]["code"] == "frame_too_large"
    await peer.ws.send_json({"type": "auth", "id": 1, "token": alice["access_token"]})
    assert (await peer.wait_for("result"))[0]["id"] == 1  # still open and working
    await peer.ws.send_str("x" * (1024 * 1024 + 10))
    await asyncio.wait_for(peer._reader, 10)
    assert peer.ws.closed
    assert peer.ws.close_code == 1009
