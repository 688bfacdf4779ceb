"""Live feeds over the WebSocket: each committed point goes to the channel's subscribers; a subscriber that
comes back with the last entry id it saw first gets what it missed, then the live points, with no gap or
repeat."""

from __future__ import annotations

from datetime import UTC
from typing import Any

from aiohttp import web

from server.errors import ApiError, ValidationError
from server.iot.appkeys import channels_key
from server.iot.channels import ChannelService
from server.iot.thingspeak import entry_dict
from server.keys import broker_key
from server.realtime.broker import Broker
from server.realtime.commands import CommandTableDef
from server.realtime.connections import Connection
from server.storage.channels import FIELDS, Channel, Written

BACKFILL_LIMIT = 8000  # as many as one ThingSpeak read returns
BACKFILL_PAGE = 500  # entries per frame while catching up
MAX_FOLLOWED = 50  # channels one connection may follow

commands = CommandTableDef()


def topic(channel_id: int) -> str:
    return f"channel:{channel_id}"


def publisher(broker: Broker) -> Any:
    """A FeedService listener that publishes what was just committed."""

    def publish(channel: Channel, written: Written) -> None:
        name = topic(channel.id)
        if not broker.wanted(name):
            return  # nobody follows this channel: a bulk write of 14,400 points costs nothing here
        # Raw rows are cheap to build and to send between processes; subscribers format what they forward.
        rows = [[p.created_at, *p.fields, p.latitude, p.longitude, p.elevation, p.status] for p in written.points]
        broker.publish(name, {"channel_id": channel.id, "first_entry_id": written.first_entry_id, "rows": rows})

    return publish


def _int(frame: dict[str, Any], name: str, *, required: bool) -> int | None:
    value = frame.get(name)
    if value is None and not required:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or value < 0 or value > 2**62:
        raise ValidationError("{field} must be a non-negative integer", field=name)
    return value


def _following(conn: Connection) -> int:
    return sum(1 for key in conn.subscriptions if isinstance(key, tuple) and key[0] == "channel")


@commands.command("channel.subscribe", anonymous=True)  # public channels need no account
async def subscribe(request: web.Request, conn: Connection, frame: dict[str, Any]) -> dict[str, Any]:
    channel_id = _int(frame, "channel_id", required=True)
    after = _int(frame, "after_entry_id", required=False)
    api_key = frame.get("api_key")
    if api_key is not None and not isinstance(api_key, str):
        raise ValidationError("api_key must be a string", field="api_key")
    assert channel_id is not None
    service: ChannelService = request.app[channels_key]
    try:
        channel = await service.for_read(channel_id, api_key, conn.user_id)
    except ApiError as exc:
        if exc.code == "account_suspended":  # the key is right; its account is suspended: say so
            raise ApiError("this account is suspended", code="account_suspended", field="api_key") from exc
        # Over the socket, "no such channel" and "not yours" read the same: nothing leaks.
        raise ApiError(
            "no such channel, or it needs a read key", code="channel_not_readable", field="channel_id"
        ) from exc
    if ("channel", channel_id) in conn.subscriptions:
        raise ApiError("already subscribed to this channel", code="already_subscribed", field="channel_id")
    if _following(conn) >= MAX_FOLLOWED:
        raise ApiError(
            "at most {limit} channel subscriptions per connection", code="too_many_subscriptions", limit=MAX_FOLLOWED
        )

    # Subscribe first, hold live entries back while catching up, then let them through past what was sent.
    held: list[dict[str, Any]] = []
    state = {"catching_up": True, "last": after if after is not None else channel.last_entry_id}

    def on_event(event: dict[str, Any]) -> None:
        if state["catching_up"]:
            held.append(event)
            return
        _forward(conn, channel_id, event, state)

    conn.subscribe(("channel", channel_id), await request.app[broker_key].subscribe(topic(channel_id), on_event))
    if after is not None:
        await _backfill(conn, service, channel_id, after, state)
    state["catching_up"] = False
    for event in held:
        _forward(conn, channel_id, event, state)
    return {"channel_id": channel_id, "last_entry_id": state["last"]}


async def _backfill(
    conn: Connection, service: ChannelService, channel_id: int, after: int, state: dict[str, Any]
) -> None:
    sent = 0
    cursor = after
    while sent < BACKFILL_LIMIT:
        rows = await service.entries_after(channel_id, cursor, min(BACKFILL_PAGE, BACKFILL_LIMIT - sent))
        if not rows:
            return
        entries = [
            entry_dict(
                int(r["entry_id"]),
                float(r["created_at"]),
                (r[f] for f in FIELDS),
                UTC,
                latitude=r["latitude"],
                longitude=r["longitude"],
                elevation=r["elevation"],
                status=r["status"],
                location=True,
                with_status=True,
            )
            for r in rows
        ]
        conn.send({"type": "channel.entries", "channel_id": channel_id, "entries": entries, "backfill": True})
        cursor = entries[-1]["entry_id"]
        state["last"] = cursor
        sent += len(entries)


def _forward(conn: Connection, channel_id: int, event: dict[str, Any], state: dict[str, Any]) -> None:
    first: int = event["first_entry_id"]
    skip = max(0, state["last"] - first + 1)
    fresh = [
        entry_dict(
            first + i,
            row[0],
            row[1:9],
            UTC,
            latitude=row[9],
            longitude=row[10],
            elevation=row[11],
            status=row[12],
            location=True,
            with_status=True,
        )
        for i, row in enumerate(event["rows"][skip:], start=skip)
    ]
    if not fresh:
        return
    state["last"] = fresh[-1]["entry_id"]
    conn.send({"type": "channel.entries", "channel_id": channel_id, "entries": fresh})


@commands.command("channel.unsubscribe", anonymous=True)
async def unsubscribe(request: web.Request, conn: Connection, frame: dict[str, Any]) -> dict[str, Any]:
    channel_id = _int(frame, "channel_id", required=True)
    assert channel_id is not None
    if not conn.unsubscribe(("channel", channel_id)):
        raise ApiError("not subscribed to this channel", code="not_subscribed", field="channel_id")
    return {"channel_id": channel_id}
