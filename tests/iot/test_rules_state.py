"""Rule state lives in the database: a restarted server carries on (a triggered threshold does not fire again,
a PID's integral continues, a no-data rule stays fired). No-data rules run on the engine's clock, which the
tests move on instead of sleeping."""

from __future__ import annotations

import time
from typing import Any

import pytest

from server.app import create_app
from server.config import Settings
from server.iot.appkeys import rule_engine_key
from server.iot.rules import pid
from tests.helpers import new_channel
from tests.iot.test_rules import (
    bulk,
    commands,
    create_rule,
    events,
    get_rule,
    kinds_of,
    new_talkback,
    threshold,
    update,
)

PID = {"field": 1, "setpoint": 20, "kp": 1, "ki": 0.1, "kd": 0, "output_min": 0, "output_max": 100}


async def test_triggered_threshold_stays_triggered_across_a_restart(aiohttp_client: Any, settings: Settings) -> None:
    client = await aiohttp_client(create_app(settings))
    owner = await new_channel(client)
    tb = await new_talkback(client, owner)
    action = [{"type": "talkback", "talkback_id": tb["id"], "command": "HOT {value}"}]
    rule = await create_rule(client, owner, kind="threshold", config=threshold(), actions=action)
    await update(client, owner, field1="31")
    assert await commands(client, tb) == ["HOT 31"]
    await client.close()

    client = await aiohttp_client(create_app(settings))
    await update(client, owner, field1="32")  # still above: already triggered before the restart
    assert await commands(client, tb) == ["HOT 31"]
    await update(client, owner, field1="27")
    await update(client, owner, field1="31")
    assert await commands(client, tb) == ["HOT 31", "HOT 31"]
    assert kinds_of(await events(client, owner, rule)) == ["triggered", "action", "cleared", "triggered", "action"]


async def test_pid_output_becomes_talkback_commands_and_its_integral_survives_a_restart(
    aiohttp_client: Any, settings: Settings
) -> None:
    client = await aiohttp_client(create_app(settings))
    owner = await new_channel(client)
    tb = await new_talkback(client, owner)
    rule = await create_rule(
        client,
        owner,
        kind="pid",
        config=PID,
        actions=[{"type": "talkback", "talkback_id": tb["id"], "command": "SET {value:.1f}"}],
    )
    t0 = 1_700_000_000
    # error 2 (P only: no dt yet) -> 2; error 2 for 10 s -> integral 20 -> 2 + 2; error 1 -> integral 30 -> 1 + 3.
    await bulk(
        client, owner, [{"created_at": str(t0 + t), "field1": v} for t, v in ((0, "18"), (10, "18"), (20, "19"))]
    )
    assert await commands(client, tb) == ["SET 2.0", "SET 4.0", "SET 4.0"]
    assert (await get_rule(client, owner, rule))["state"]["integral"] == pytest.approx(30)
    await client.close()

    client = await aiohttp_client(create_app(settings))
    await bulk(client, owner, [{"created_at": str(t0 + 30), "field1": "19"}])
    # The integral went on from 30 to 40 (1 + 4); a fresh controller would have answered 1.
    assert await commands(client, tb) == ["SET 2.0", "SET 4.0", "SET 4.0", "SET 5.0"]
    state = (await get_rule(client, owner, rule))["state"]
    assert (state["integral"], state["prev_at"], state["output"]) == (pytest.approx(40), t0 + 30, pytest.approx(5))


async def test_no_data_fires_once_per_silence_and_rearms_when_data_comes(
    aiohttp_client: Any, settings: Settings
) -> None:
    client = await aiohttp_client(create_app(settings))
    now = [time.time()]
    engine = client.app[rule_engine_key]
    engine.clock = lambda: now[0]
    owner = await new_channel(client)
    tb = await new_talkback(client, owner)
    rule = await create_rule(
        client,
        owner,
        kind="no_data",
        config={"seconds": 60},
        actions=[{"type": "talkback", "talkback_id": tb["id"], "command": "OFFLINE"}],
    )
    # The rule's silence starts at its creation, on the real clock: start the engine's clock from there,
    # however long the setup above took on a busy machine.
    now[0] = max(now[0], time.time())
    await engine.tick()
    assert await commands(client, tb) == []
    now[0] += 61
    await engine.tick()
    now[0] += 300
    await engine.tick()  # the same silence: no second firing
    assert await commands(client, tb) == ["OFFLINE"]

    await update(client, owner, field1="1")  # data again: re-armed, and the silence is counted from here
    now[0] += 59
    await engine.tick()
    assert await commands(client, tb) == ["OFFLINE"]
    now[0] += 2
    await engine.tick()
    await engine.settle()
    assert await commands(client, tb) == ["OFFLINE", "OFFLINE"]
    found = await events(client, owner, rule)
    assert kinds_of(found) == ["no_data", "action", "resumed", "no_data", "action"]
    assert 60 <= found[0]["detail"]["silent_seconds"] <= 62  # counted from when the rule was made
    await client.close()

    # After a restart the rule is still fired for this silence; new data re-arms it as before.
    client = await aiohttp_client(create_app(settings))
    engine = client.app[rule_engine_key]
    engine.clock = lambda: now[0]
    now[0] += 1000
    await engine.tick()
    assert await commands(client, tb) == ["OFFLINE", "OFFLINE"]
    await update(client, owner, field1="2")
    now[0] += 61
    await engine.tick()
    await engine.settle()
    assert await commands(client, tb) == ["OFFLINE", "OFFLINE", "OFFLINE"]


def test_pid_anti_windup() -> None:
    config = pid.PidConfig(setpoint=100, kp=0.5, ki=1, kd=0, output_min=0, output_max=10)
    state = pid.PidState()
    for t in range(0, 200, 10):  # far below the setpoint for a long time: the output saturates at 10
        stepped = pid.step(config, state, 0, t)
        assert stepped is not None
        state = stepped
    assert state.output == 10
    assert state.integral == 0  # the proportional part alone saturates: nothing was integrated
    stepped = pid.step(config, state, 110, 200)  # above the setpoint: the output drops at once, no wind-down
    assert stepped is not None
    assert stepped.output == 0

    # With no proportional part, integration stops exactly at the limit.
    config = pid.PidConfig(setpoint=1, kp=0, ki=1, kd=0, output_min=0, output_max=10)
    state = pid.PidState()
    outputs = []
    for t in (0, 5, 15, 100):
        stepped = pid.step(config, state, 0, t)
        assert stepped is not None
        state = stepped
        outputs.append(state.output)
    assert outputs == [0, 5, 10, 10]
    assert state.integral == 10
    assert pid.step(config, state, 0, 100) is None  # not newer than the last point: ignored


def test_pid_derivative_acts_on_the_measurement() -> None:
    config = pid.PidConfig(setpoint=50, kp=0, ki=0, kd=2, output_min=-100, output_max=100)
    first = pid.step(config, pid.PidState(), 40, 0)
    assert first is not None
    rising = pid.step(config, first, 45, 5)  # rising 1 per second toward the setpoint: the D part brakes
    assert rising is not None
    assert rising.output == pytest.approx(-2)
    cooling = pid.PidConfig(setpoint=50, kp=1, ki=0, kd=0, output_min=0, output_max=100, reverse=True)
    hot = pid.step(cooling, pid.PidState(), 60, 0)
    assert hot is not None
    assert hot.output == 10
