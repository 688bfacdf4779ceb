"""1:1 call signalling over the WebSocket: every transition of the state machine, and each bad one.

Alice calls Bob, who has two devices. Frames are checked on every device: who rings, who stops, who hears
the answer and the candidates. Each bad step gets its error and changes nothing (the call goes on).
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from tests.calls.callkit import ANSWER, CANDIDATE, OFFER, SDP, Device, call_entries, device, invite, new_id
from tests.chat.chatkit import Peer, connect, direct, group, uid, users
from tests.helpers import bearer

pytestmark = pytest.mark.timeout(60)


@pytest.fixture(name="pair")
async def pair_fixture(client: TestClient) -> tuple[dict[str, Any], dict[str, Any], str]:
    alice, bob = await users(client, 2)
    return alice, bob, await direct(client, alice, bob)


async def test_a_call_rings_every_device_and_the_first_answer_wins(client: TestClient, pair: Any) -> None:
    alice, bob, chat_id = pair
    caller, caller_laptop = await device(client, alice), await device(client, alice)
    phone, laptop = await device(client, bob), await device(client, bob)
    call_id = new_id()

    result = await invite(caller, chat_id, call_id)
    assert result["state"] == "ringing"
    assert result["expires_at"] > 0
    for ringing in (phone, laptop):
        frame = await ringing.wait_for("call.invite", call_id=call_id)
        assert frame["caller_id"] == uid(alice)
        assert frame["party_id"] == caller.party_id
        assert frame["offer"] == OFFER
        assert frame["media"] == "video"
        assert frame["lifetime"] == 60_000
    state = await caller_laptop.wait_for("call.state", call_id=call_id)
    assert state["state"] == "ringing"
    assert state["callee_id"] == uid(bob)
    assert not caller.saw("call.state")  # the calling device knows

    assert (await phone.ok("call.answer", call_id=call_id, answer=ANSWER))["state"] == "connected"
    answer = await caller.wait_for("call.answer", call_id=call_id)
    assert answer["party_id"] == phone.party_id
    assert answer["answer"] == ANSWER
    elsewhere = await laptop.wait_for("call.select_answer", call_id=call_id)
    assert elsewhere["selected_party_id"] == phone.party_id
    assert elsewhere["reason"] == "answered_elsewhere"
    await caller_laptop.wait_for("call.select_answer", call_id=call_id)
    assert not phone.saw("call.select_answer")
    assert not caller_laptop.saw("call.answer")

    late = await laptop.error("call.answer", call_id=call_id, party_id=laptop.party_id, answer=ANSWER)
    assert late["code"] == "already_answered"
    selected = await caller.ok("call.select_answer", call_id=call_id, selected_party_id=phone.party_id)
    assert selected["selected_party_id"] == phone.party_id
    wrong = await caller.error(
        "call.select_answer", call_id=call_id, party_id=caller.party_id, selected_party_id=laptop.party_id
    )
    assert wrong["code"] == "invalid_state"
    own = await caller.error("call.answer", call_id=call_id, party_id=caller.party_id, answer=ANSWER)
    assert own["code"] == "invalid_state"


async def test_candidates_go_to_the_ringing_devices_then_only_to_the_one_that_answered(
    client: TestClient, pair: Any
) -> None:
    alice, bob, chat_id = pair
    caller = await device(client, alice)
    phone, laptop = await device(client, bob), await device(client, bob)
    call_id = new_id()
    await invite(caller, chat_id, call_id)
    assert (await caller.ok("call.candidates", call_id=call_id, candidates=[CANDIDATE]))["sent"] == 1
    for ringing in (phone, laptop):
        frame = await ringing.wait_for("call.candidates", call_id=call_id)
        assert frame["candidates"] == [CANDIDATE]
        assert frame["party_id"] == caller.party_id

    # A device that connects while it rings hears the invite with the candidates so far.
    tablet = await device(client, bob)
    replayed = await tablet.wait_for("call.invite", call_id=call_id)
    assert replayed["candidates"] == [CANDIDATE]

    await phone.ok("call.answer", call_id=call_id, answer=ANSWER)
    end = {"candidate": "", "sdpMid": "0"}
    await caller.ok("call.candidates", call_id=call_id, candidates=[CANDIDATE, end])
    await phone.wait_for("call.candidates", call_id=call_id, candidates=[CANDIDATE, end])
    await phone.ok("call.candidates", call_id=call_id, candidates=[CANDIDATE])
    await caller.wait_for("call.candidates", party_id=phone.party_id)
    await asyncio.sleep(0.1)
    assert len(laptop.saw("call.candidates")) == 1  # only the one from before the answer

    # Candidates from a device that is not a party, for an unknown call, or malformed change nothing.
    assert (await laptop.error("call.candidates", call_id=call_id, party_id=laptop.party_id, candidates=[CANDIDATE]))[
        "code"
    ] == "not_a_party"
    impostor = await laptop.error("call.candidates", call_id=call_id, party_id=phone.party_id, candidates=[CANDIDATE])
    assert impostor["code"] == "not_a_party"  # another device's party id is not this connection's
    unknown = await phone.error("call.candidates", call_id=new_id(), party_id=phone.party_id, candidates=[CANDIDATE])
    assert unknown["code"] == "call_not_found"
    for bad in ([], [CANDIDATE] * 51, [{"candidate": "x" * 2000}], [{"candidate": "nonsense"}], ["a"], [{"x": 1}]):
        error = await phone.error("call.candidates", call_id=call_id, party_id=phone.party_id, candidates=bad)
        assert error["field"] == "candidates", (bad, error)


async def test_negotiate_and_media_reach_the_other_party_once_answered(client: TestClient, pair: Any) -> None:
    alice, bob, chat_id = pair
    caller, phone = await device(client, alice), await device(client, bob)
    call_id = new_id()
    await invite(caller, chat_id, call_id, media="audio")
    early = await caller.error("call.negotiate", call_id=call_id, party_id=caller.party_id, description=OFFER)
    assert early["code"] == "invalid_state"
    await phone.ok("call.answer", call_id=call_id, answer=ANSWER)

    await caller.ok("call.negotiate", call_id=call_id, description=OFFER)
    renegotiation = await phone.wait_for("call.negotiate", call_id=call_id)
    assert renegotiation["description"] == OFFER
    assert renegotiation["party_id"] == caller.party_id
    await phone.ok("call.negotiate", call_id=call_id, description=ANSWER)
    await caller.wait_for("call.negotiate", party_id=phone.party_id)

    muted = await caller.ok("call.media", call_id=call_id, audio_muted=True)
    assert muted["audio_muted"] is True
    assert muted["video_muted"] is True
    seen = await phone.wait_for("call.media", call_id=call_id)
    assert seen["user_id"] == uid(alice)
    assert seen["audio_muted"] is True
    assert seen["screenshare"] is False
    await caller.ok("call.media", call_id=call_id, video_muted=False, screenshare=True)
    seen = (await phone.peer.wait_for("call.media", count=2))[-1]
    assert seen["audio_muted"] is True
    assert seen["video_muted"] is False
    assert seen["screenshare"] is True

    target = await caller.error(
        "call.negotiate", call_id=call_id, party_id=caller.party_id, description=OFFER, target="publish"
    )
    assert target["code"] == "invalid_state"


async def test_hangup_ends_it_for_both_and_the_chat_records_an_answered_call(client: TestClient, pair: Any) -> None:
    alice, bob, chat_id = pair
    caller, phone, laptop = await device(client, alice), await device(client, bob), await device(client, bob)
    call_id = new_id()
    await invite(caller, chat_id, call_id)
    await phone.ok("call.answer", call_id=call_id, answer=ANSWER)
    await asyncio.sleep(0.2)
    assert (await phone.ok("call.hangup", call_id=call_id))["state"] == "ended"
    for each in (caller, phone, laptop):
        frame = await each.wait_for("call.hangup", call_id=call_id)
        assert frame["reason"] == "user_hangup"
        assert frame["party_id"] == phone.party_id
        assert frame["user_id"] == uid(bob)

    (entry,) = await call_entries(client, alice, chat_id)
    assert entry["sender_id"] == uid(alice)
    assert entry["text"] is None
    assert entry["call"]["outcome"] == "answered"
    assert entry["call"]["media"] == "video"
    assert entry["call"]["duration"] >= 0.1
    assert entry["call"]["call_id"] == call_id
    pushed = await caller.peer.wait_for("message.new")
    assert pushed[-1]["message"]["call"]["outcome"] == "answered"  # through the numbered log, with a seq
    assert "seq" in pushed[-1]

    for kind, fields in (
        ("call.answer", {"answer": ANSWER}),
        ("call.hangup", {}),
        ("call.candidates", {"candidates": [CANDIDATE]}),
    ):
        error = await phone.error(kind, call_id=call_id, party_id=phone.party_id, **fields)
        assert error["code"] == "call_ended", (kind, error)
    # Ending twice writes one entry.
    await asyncio.sleep(0.2)
    assert len(await call_entries(client, bob, chat_id)) == 1


async def test_reject_declines_and_the_caller_cancelling_is_a_missed_call(client: TestClient, pair: Any) -> None:
    alice, bob, chat_id = pair
    caller, phone, laptop = await device(client, alice), await device(client, bob), await device(client, bob)
    declined = new_id()
    await invite(caller, chat_id, declined)
    await phone.wait_for("call.invite", call_id=declined)
    assert (await phone.ok("call.reject", call_id=declined))["state"] == "ended"
    reject = await caller.wait_for("call.reject", call_id=declined)
    assert reject["party_id"] == phone.party_id
    assert reject["user_id"] == uid(bob)
    stop = await laptop.wait_for("call.hangup", call_id=declined)
    assert stop["reason"] == "user_declined"

    cancelled = new_id()
    await invite(caller, chat_id, cancelled)
    caller_only = await phone.error("call.hangup", call_id=cancelled, party_id=caller.party_id)
    assert caller_only["code"] == "not_a_party"
    rejected_by_caller = await caller.error("call.reject", call_id=cancelled, party_id=caller.party_id)
    assert rejected_by_caller["code"] == "invalid_state"
    await caller.ok("call.hangup", call_id=cancelled)
    await laptop.wait_for("call.hangup", call_id=cancelled, reason="user_hangup")

    entries = await call_entries(client, bob, chat_id, 2)
    assert [e["call"]["outcome"] for e in entries] == ["declined", "missed"]


async def test_an_unanswered_invite_times_out_as_missed(client: TestClient, pair: Any) -> None:
    alice, bob, chat_id = pair
    caller, phone = await device(client, alice), await device(client, bob)
    call_id = new_id()
    await invite(caller, chat_id, call_id, lifetime=5000)
    for each in (caller, phone):
        hangup = (await each.peer.wait_for("call.hangup", call_id=call_id, timeout=15))[-1]
        assert hangup["reason"] == "invite_timeout"
        assert hangup["party_id"] is None
    (entry,) = await call_entries(client, bob, chat_id)
    assert entry["call"]["outcome"] == "missed"
    assert entry["call"]["reason"] == "invite_timeout"
    late = await phone.error("call.answer", call_id=call_id, party_id=phone.party_id, answer=ANSWER)
    assert late["code"] == "call_ended"


@pytest.mark.parametrize("second_is_lower", [True, False])
async def test_glare_keeps_the_lower_call_id_and_replaces_the_other(
    client: TestClient, pair: Any, second_is_lower: bool
) -> None:
    alice, bob, chat_id = pair
    a, b = await device(client, alice), await device(client, bob)
    low, high = "1" + new_id()[1:], "f" + new_id()[1:]
    first, second = (high, low) if second_is_lower else (low, high)
    await invite(a, chat_id, first)
    result = await invite(b, chat_id, second)
    if second_is_lower:
        assert result["state"] == "ringing"
        replaced = await a.wait_for("call.hangup", call_id=first)
        assert replaced["reason"] == "replaced"
        assert replaced["replaced_by"] == second
        await a.wait_for("call.invite", call_id=second)  # Alice now answers Bob's call
        await a.ok("call.answer", call_id=second, answer=ANSWER)
    else:
        assert result == {"call_id": second, "state": "replaced", "replaced_by": first}
        await b.ok("call.answer", call_id=first, answer=ANSWER)  # Bob answers Alice's call instead
        await a.wait_for("call.answer", call_id=first)
    status = await a.peer.ok("call.status", chat_id=chat_id)
    assert status["call"]["state"] == "connected"
    assert status["call"]["call_id"] == low
    await asyncio.sleep(0.2)
    entries = await call_entries(client, alice, chat_id, 0)
    assert entries == []  # the replaced call leaves no entry; the one that went on is not over yet


async def test_a_callee_in_another_call_on_every_device_is_busy(client: TestClient) -> None:
    alice, bob, carol = await users(client, 3)
    with_alice, with_carol = await direct(client, alice, bob), await direct(client, carol, bob)
    a, b, c = await device(client, alice), await device(client, bob), await device(client, carol)
    first = new_id()
    await invite(c, with_carol, first)
    await b.ok("call.answer", call_id=first, answer=ANSWER)

    busy = await invite(a, with_alice)
    assert busy["state"] == "ended"
    assert busy["reason"] == "user_busy"
    (entry,) = await call_entries(client, alice, with_alice)
    assert entry["call"]["outcome"] == "busy"

    # With a second device free, Bob's other device rings instead.
    laptop = await device(client, bob)
    call_id = new_id()
    assert (await invite(a, with_alice, call_id))["state"] == "ringing"
    await laptop.wait_for("call.invite", call_id=call_id)
    # The chat with a call going on takes no second invite.
    again = await a.error(
        "call.invite", chat_id=with_alice, call_id=new_id(), party_id=a.party_id, offer=OFFER, media="audio"
    )
    assert again["code"] == "invalid_state"


async def test_who_may_call_and_what_a_bad_invite_gets(client: TestClient, pair: Any) -> None:
    alice, bob, chat_id = pair
    (eve,) = await users(client, 1)
    a, e = await device(client, alice), await device(client, eve)
    fields: dict[str, Any] = {"chat_id": chat_id, "party_id": a.party_id, "offer": OFFER, "media": "video"}

    stranger = await e.error("call.invite", **{**fields, "call_id": new_id(), "party_id": e.party_id})
    assert stranger["code"] == "chat_not_found"
    team = await group(client, alice, [bob])
    assert (await a.error("call.invite", **{**fields, "chat_id": team, "call_id": new_id()}))[
        "code"
    ] == "not_a_direct_chat"
    bad = {
        "offer": [{"type": "offer"}, {"type": "answer", "sdp": SDP}, {"type": "offer", "sdp": "hello"}, {"sdp": SDP}],
        "media": ["screen"],
        "lifetime": [10, 10**6, "60"],
        "call_id": ["has space", "x" * 65, ""],
        "party_id": ["bad/party"],
    }
    for name, values in bad.items():
        for value in values:
            error = await a.error("call.invite", **{**fields, "call_id": new_id(), name: value})
            assert error["field"] == name, (name, value, error)
    huge = await a.error("call.invite", **{**fields, "call_id": new_id(), "offer": {"type": "offer", "sdp": SDP * 240}})
    assert huge["code"] == "too_long"
    nonsense = await a.error(
        "call.invite", **{**fields, "call_id": new_id(), "offer": {"type": "offer", "sdp": "v=0\r\n"}}
    )
    assert nonsense["code"] == "invalid_sdp"
    unknown = await a.error("call.invite", **{**fields, "call_id": new_id(), "sdp": SDP})
    assert unknown["code"] == "unknown_field"
    assert (await a.peer.ok("call.status", chat_id=chat_id))["call"] is None  # nothing of the above started a call

    resp = await client.post("/api/blocks", json={"user_id": uid(bob)}, headers=bearer(alice))
    assert resp.status in (200, 204), await resp.text()
    blocked = await a.error("call.invite", **{**fields, "call_id": new_id()})
    assert blocked["code"] == "blocked"
    b = await device(client, bob)
    assert (await b.error("call.invite", **{**fields, "call_id": new_id(), "party_id": b.party_id}))[
        "code"
    ] == "blocked"


async def test_invites_are_rate_limited(client: TestClient, pair: Any) -> None:
    alice, _, chat_id = pair
    a = await device(client, alice)
    codes = []
    for _ in range(11):
        reply = await a.peer.call(
            "call.invite", chat_id=chat_id, call_id=new_id(), party_id=a.party_id, offer=OFFER, media="audio"
        )
        codes.append(reply["result"]["state"] if reply["type"] == "result" else reply["error"]["code"])
    assert codes[0] == "ringing"
    assert codes[-1] == "rate_limited"


async def test_a_device_that_drops_comes_back_into_the_call(client: TestClient, pair: Any) -> None:
    alice, bob, chat_id = pair
    caller, phone = await device(client, alice), await device(client, bob)
    call_id = new_id()
    await invite(caller, chat_id, call_id, lifetime=5000)
    await phone.ok("call.answer", call_id=call_id, answer=ANSWER)
    await phone.ok("call.candidates", call_id=call_id, candidates=[CANDIDATE])

    await caller.close()
    lost = await phone.wait_for("call.party", call_id=call_id)
    assert lost["connected"] is False
    assert lost["party_id"] == caller.party_id

    back = Device(await connect(client, alice), caller.party_id)
    state = await back.wait_for("call.state", call_id=call_id)
    assert state["state"] == "connected"
    assert state["caller_party_id"] == caller.party_id
    # Until it resumes, the new connection does not hold the party.
    assert (await back.error("call.media", call_id=call_id, party_id=back.party_id))["code"] == "not_a_party"
    resumed = await back.ok("call.resume", call_id=call_id)
    assert resumed["state"] == "connected"
    assert resumed["answer"] == ANSWER
    assert resumed["candidates"] == [CANDIDATE]
    assert (await phone.peer.wait_for("call.party", count=2))[-1]["connected"] is True
    await back.ok("call.negotiate", call_id=call_id, description=OFFER)  # an ICE restart
    await phone.wait_for("call.negotiate", call_id=call_id)

    # A device that does not come back in time ends the call.
    await phone.close()
    hangup = (await back.peer.wait_for("call.hangup", call_id=call_id, timeout=15))[-1]
    assert hangup["reason"] == "connection_lost"
    (entry,) = await call_entries(client, alice, chat_id)
    assert entry["call"]["outcome"] == "answered"


async def test_a_stranger_learns_nothing_of_a_call(client: TestClient, pair: Any) -> None:
    alice, _bob, chat_id = pair
    (eve,) = await users(client, 1)
    caller, e = await device(client, alice), await device(client, eve)
    call_id = new_id()
    await invite(caller, chat_id, call_id)
    for kind, fields in (
        ("call.answer", {"answer": ANSWER}),
        ("call.reject", {}),
        ("call.hangup", {}),
        ("call.resume", {}),
        ("call.media", {"audio_muted": True}),
        ("call.negotiate", {"description": OFFER}),
        ("call.candidates", {"candidates": [CANDIDATE]}),
    ):
        error = await e.error(kind, call_id=call_id, party_id=caller.party_id, **fields)
        assert error["code"] == "call_not_found", (kind, error)
    assert (await e.error("call.status", chat_id=chat_id))["code"] == "call_not_found"
    assert (await e.error("call.resume", call_id=call_id, party_id=e.party_id))["code"] == "call_not_found"
    await asyncio.sleep(0.1)
    assert not e.saw("call.invite")
    assert not e.saw("call.state")
    status = await caller.peer.ok("call.status", chat_id=chat_id)
    assert status["call"]["state"] == "ringing"  # still ringing: nothing above changed it
    unused: Peer = e.peer
    assert unused.pushes == []


async def test_a_call_answered_while_the_caller_is_away_ends_if_it_does_not_come_back(
    client: TestClient, pair: Any
) -> None:
    alice, bob, chat_id = pair
    caller, phone = await device(client, alice), await device(client, bob)
    call_id = new_id()
    await invite(caller, chat_id, call_id, lifetime=5000)
    await caller.close()
    await phone.ok("call.answer", call_id=call_id, answer=ANSWER)
    away = await phone.wait_for("call.party", call_id=call_id)
    assert away["connected"] is False
    hangup = (await phone.peer.wait_for("call.hangup", call_id=call_id, timeout=15))[-1]
    assert hangup["reason"] == "connection_lost"
