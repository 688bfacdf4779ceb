"""Calls across server processes sharing one database and Redis: a chat's calls live in one process, and the
commands of devices connected to another reach it; busy and replay work across processes too."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from server.app import create_app
from server.calls.appkeys import calls_key
from server.config import Settings
from tests.calls.callkit import ANSWER, CANDIDATE, Device, call_entries, device, invite, new_id
from tests.chat.chatkit import connect, direct, group, users


@pytest.fixture(name="two")
async def two_processes(aiohttp_client: Any, make_settings: Callable[..., Settings]) -> tuple[TestClient, TestClient]:
    url = os.environ.get("TEST_REDIS_URL")
    if not url:
        pytest.skip("TEST_REDIS_URL is not set (CI sets it)")
    settings = make_settings(redis_url=url)
    return await aiohttp_client(create_app(settings)), await aiohttp_client(create_app(settings))


async def test_a_call_between_devices_on_two_processes(two: tuple[TestClient, TestClient]) -> None:
    a, b = two
    alice, bob = await users(a, 2)
    chat_id = await direct(a, alice, bob)
    caller = await device(a, alice)
    phone, laptop = await device(b, bob), await device(a, bob)
    call_id = new_id()
    await invite(caller, chat_id, call_id)
    await phone.wait_for("call.invite", call_id=call_id)
    await laptop.wait_for("call.invite", call_id=call_id)

    status = await phone.peer.ok("call.status", chat_id=chat_id)  # asked on the other process
    assert status["call"]["state"] == "ringing"
    await phone.ok("call.answer", call_id=call_id, answer=ANSWER)  # forwarded to the call's process
    await caller.wait_for("call.answer", call_id=call_id)
    await laptop.wait_for("call.select_answer", call_id=call_id)
    late = await laptop.error("call.answer", call_id=call_id, party_id=laptop.party_id, answer=ANSWER)
    assert late["code"] == "already_answered"  # the error comes back across too
    await phone.ok("call.candidates", call_id=call_id, candidates=[CANDIDATE])
    await caller.wait_for("call.candidates", party_id=phone.party_id)

    # Bob is busy on every process now.
    (carol,) = await users(b, 1)
    with_carol = await direct(b, carol, bob)
    await laptop.close()
    c = await device(b, carol)
    busy = await invite(c, with_carol)
    assert busy["state"] == "ended"
    assert busy["reason"] == "user_busy"

    # The phone drops and comes back on the other process: it is replayed the call and resumes it there.
    await phone.close()
    await caller.wait_for("call.party", connected=False)
    back = Device(await connect(a, bob), phone.party_id)
    state = await back.wait_for("call.state", call_id=call_id)
    assert state["state"] == "connected"
    await back.ok("call.resume", call_id=call_id)
    await caller.peer.wait_for("call.party", connected=True)
    await back.ok("call.hangup", call_id=call_id)
    await caller.wait_for("call.hangup", call_id=call_id)
    entries = await call_entries(a, alice, chat_id)
    assert entries[0]["call"]["outcome"] == "answered"


async def test_a_group_call_lives_in_one_process_and_the_other_forwards_to_it(
    two: tuple[TestClient, TestClient],
) -> None:
    from tests.calls.sfu_clients import wait_for
    from tests.calls.test_group_calls import Participant

    a, b = two
    ann, ben = await users(a, 2)
    chat_id = await group(a, ann, [ben])
    here, there = Participant(await device(a, ann)), Participant(await device(b, ben))
    try:
        first = await here.join_call(chat_id)
        joined = await there.join_call(chat_id)  # on the other process: forwarded to the room's
        assert joined["call_id"] == first["call_id"]

        def both_see_video() -> bool:
            return all(p.video_frames_from_each() and min(p.video_frames_from_each()) >= 10 for p in (here, there))

        assert await wait_for(both_see_video, 30), [p.video_frames_from_each() for p in (here, there)]
        rooms_a = a.app[calls_key].local.rooms
        rooms_b = b.app[calls_key].local.rooms
        assert rooms_a is not None
        assert rooms_b is not None
        assert first["call_id"] in rooms_a.calls
        assert not rooms_b.calls  # the room lives in one process only
        await there.dev.ok("call.media", call_id=first["call_id"], video_muted=True)
        await here.dev.wait_for("call.room", call_id=first["call_id"])
        for person in (there, here):
            await person.dev.ok("call.hangup", call_id=first["call_id"])
        entries = await call_entries(a, ann, chat_id)
        assert entries[0]["call"]["participants"] == 2
    finally:
        for person in (here, there):
            await person.close()
