"""Calls across server processes sharing one database and Redis: a chat's calls live in one process, and the
commands of devices connected to another reach it; busy and replay work across processes too."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from server.app import create_app
from server.config import Settings
from tests.calls.callkit import ANSWER, CANDIDATE, Device, call_entries, device, invite, new_id
from tests.chat.chatkit import connect, direct, users


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
