"""Provisions MQTT devices on Mosquitto's dynamic-security plugin: the server logs in as the plugin's admin and sends
commands to `$CONTROL/dynamic-security/v1`, so the broker itself decides who may publish and subscribe where.

What the broker is told:
  default access       deny publishing, subscribing and receiving (unsubscribing stays allowed)
  role ts-bridge       (added to the admin client the bridge logs in with) publish on channels/+/subscribe/#,
                       subscribe to channels/+/publish/#
  group ts-anonymous   (the anonymous group) may publish only the forms that carry the write key in the topic:
                       channels/+/publish/+ and channels/+/publish/fields/+/+ (the bridge checks the key)
  per device           a client (its user name, password and client id) with a role ts-device-{id}: for each of its
                       channels, publish on channels/{id}/publish[/fields/+] and subscribe to and receive
                       channels/{id}/subscribe/#, as the user chose
Nobody else may subscribe to a channel's topics, so a private channel's points reach only devices allowed to read it.
On every (re)connection the whole set is sent again from the database, which is the truth: a broker that lost its
state, or missed changes while it was away, is brought back in step.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import ssl
import uuid
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Any

import aiomqtt
import orjson

from server.storage.mqtt_devices import ChannelGrant, MqttDevice

log = logging.getLogger(__name__)
_client_log = logging.getLogger(__name__ + ".client")
_client_log.setLevel(logging.WARNING)  # paho's DEBUG lines would carry the commands, passwords included

CONTROL_TOPIC = "$CONTROL/dynamic-security/v1"
RESPONSE_TOPIC = CONTROL_TOPIC + "/response"
BRIDGE_ROLE = "ts-bridge"
ANONYMOUS = "ts-anonymous"  # the anonymous group, and its role
DEVICE_ROLE = "ts-device-"
COMMANDS_PER_MESSAGE = 100
REPLY_TIMEOUT = 5.0
BACKOFF_FIRST, BACKOFF_MAX = 0.5, 30.0
# Answers that mean the broker already is as we want it.
_FINE = ("not found", "already exists", "already has", "already in")

Command = dict[str, Any]


def _acl(kind: str, topic: str, *, allow: bool = True, priority: int = 0) -> Command:
    return {"acltype": kind, "topic": topic, "allow": allow, "priority": priority}


def device_acls(grants: Iterable[ChannelGrant]) -> list[Command]:
    acls: list[Command] = []
    for grant in grants:
        base = f"channels/{grant.channel_id}"
        if grant.publish:
            acls += [
                _acl("publishClientSend", f"{base}/publish"),
                _acl("publishClientSend", f"{base}/publish/fields/+"),
            ]
        if grant.subscribe:
            acls += [
                _acl("subscribePattern", f"{base}/subscribe/#"),
                _acl("publishClientReceive", f"{base}/subscribe/#"),
                _acl("unsubscribePattern", f"{base}/subscribe/#"),
            ]
    return acls


def _acl_set(acls: Iterable[Command]) -> set[tuple[str, str, bool, int]]:
    return {(a["acltype"], a["topic"], bool(a.get("allow")), int(a.get("priority", 0))) for a in acls}


def device_role(device_id: str) -> str:
    return DEVICE_ROLE + device_id


def device_commands(device: MqttDevice, password: str) -> list[Command]:
    """The device as the broker should hold it, from scratch (a connected device is disconnected and reconnects
    with its new rights: the broker keeps no subscription it no longer allows)."""
    role = device_role(device.id)
    return [
        *removal_commands(device),
        {"command": "createRole", "rolename": role, "acls": device_acls(device.channels)},
        {
            "command": "createClient",
            "username": device.username,
            "password": password,
            "clientid": device.client_id,
            "textname": "thingspeak device",
            "roles": [{"rolename": role}],
        },
        *([{"command": "disableClient", "username": device.username}] if device.suspended else []),
    ]


def suspension_commands(devices: Iterable[MqttDevice]) -> list[Command]:
    """A suspended account's devices may not connect (a connected one is disconnected); unsuspended, they may."""
    return [{"command": "disableClient" if d.suspended else "enableClient", "username": d.username} for d in devices]


def removal_commands(device: MqttDevice) -> list[Command]:
    return [
        {"command": "deleteClient", "username": device.username},
        {"command": "deleteRole", "rolename": device_role(device.id)},
    ]


def _role(name: str, acls: list[Command]) -> list[Command]:
    return [
        {"command": "createRole", "rolename": name},
        *({"command": "addRoleACL", "rolename": name, **acl} for acl in acls),
    ]


def base_commands() -> list[Command]:
    return [
        {
            "command": "setDefaultACLAccess",
            "acls": [
                {"acltype": "publishClientSend", "allow": False},
                {"acltype": "publishClientReceive", "allow": False},
                {"acltype": "subscribe", "allow": False},
                {"acltype": "unsubscribe", "allow": True},
            ],
        },
        # Created once, then only added to: deleting or changing a role disconnects every client holding it, and
        # the admin client (this connection, and the bridge's) holds ts-bridge.
        *_role(
            BRIDGE_ROLE,
            [
                _acl("publishClientSend", "channels/+/subscribe/#"),
                _acl("subscribePattern", "channels/+/publish/#"),
                # Mosquitto checks a shared subscription with its $share/{group}/ prefix.
                _acl("subscribePattern", "$share/+/channels/+/publish/#"),
                _acl("publishClientReceive", "channels/+/publish/#"),
            ],
        ),
        *_role(
            ANONYMOUS,
            [
                _acl("publishClientSend", "channels/+/publish/+"),
                _acl("publishClientSend", "channels/+/publish/fields/+/+"),
            ],
        ),
        {"command": "createGroup", "groupname": ANONYMOUS},
        {"command": "addGroupRole", "groupname": ANONYMOUS, "rolename": ANONYMOUS},
        {"command": "setAnonymousGroup", "groupname": ANONYMOUS},
    ]


class DynSecError(Exception):
    """The broker refused a command (the text is the broker's, with the command's name; never a password)."""


DeviceSource = Callable[[], Awaitable[Sequence[tuple[MqttDevice, str]]]]


class DynSecProvisioner:
    """One admin connection to the broker, reconnecting; `apply` sends commands while it is connected."""

    def __init__(
        self,
        host: str,
        port: int,
        *,
        username: str,
        password: str,
        tls: bool,
        devices: DeviceSource,
        bridge_username: str | None = None,
        backoff: tuple[float, float] = (BACKOFF_FIRST, BACKOFF_MAX),
    ) -> None:
        self._host, self._port, self._tls = host, port, tls
        self._username, self._password = username, password
        self._bridge_username = bridge_username if bridge_username != username else None
        self._devices = devices
        self._backoff = backoff
        self._client: aiomqtt.Client | None = None
        self._replies: asyncio.Queue[list[Command]] = asyncio.Queue()
        self._lock = asyncio.Lock()
        self._stopping = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.synced = asyncio.Event()  # set while connected and in step with the database
        self.syncs = 0

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="mqtt-dynsec")

    async def close(self) -> None:
        if self._task is None:
            return
        self._stopping.set()
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        self._task = None

    async def apply(self, commands: Sequence[Command]) -> bool:
        """Send commands now; False if the broker is not reachable (the next connection's full sync sends them).
        While a sync is under way (it may have read the database before this change) they wait for it to end."""
        client = self._client
        if client is None:
            return False
        try:
            await asyncio.wait_for(self.synced.wait(), REPLY_TIMEOUT * 2)
            await self._send(client, commands)
        except (aiomqtt.MqttError, TimeoutError, DynSecError) as exc:
            log.warning("mqtt dynsec: a change did not reach the broker (%s); it is sent on the next connection", exc)
            return False
        return True

    async def _run(self) -> None:
        delay = self._backoff[0]
        while not self._stopping.is_set():
            try:
                async with aiomqtt.Client(
                    self._host,
                    self._port,
                    username=self._username,
                    password=self._password,
                    identifier=f"thingspeak-dynsec-{uuid.uuid4().hex[:12]}",
                    clean_session=True,
                    keepalive=30,
                    timeout=REPLY_TIMEOUT,
                    tls_context=ssl.create_default_context() if self._tls else None,
                    logger=_client_log,
                ) as client:
                    await client.subscribe(RESPONSE_TOPIC, qos=1)
                    reader = asyncio.create_task(self._read(client))
                    self._client = client  # changes made from now on wait for the sync, then go out
                    try:
                        if await self._give_admin_the_bridge_role(client):
                            # The broker disconnects a client whose roles change, this one too: wait for it.
                            with contextlib.suppress(aiomqtt.MqttError, TimeoutError):
                                await asyncio.wait_for(reader, REPLY_TIMEOUT)
                            raise DynSecError("the admin client was given the bridge role; reconnecting")
                        await self._sync(client)
                        self.synced.set()
                        self.syncs += 1
                        delay = self._backoff[0]
                        await reader  # until the connection ends
                    finally:
                        self.synced.clear()
                        self._client = None
                        reader.cancel()
                        with contextlib.suppress(asyncio.CancelledError, aiomqtt.MqttError):
                            await reader
            except (aiomqtt.MqttError, TimeoutError, DynSecError) as exc:
                if self._stopping.is_set():
                    break
                log.warning("mqtt dynsec: broker %s:%d (%s); retrying in %.1f s", self._host, self._port, exc, delay)
            except Exception:
                log.exception("mqtt dynsec: provisioning %s:%d failed", self._host, self._port)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), delay * random.uniform(0.8, 1.2))
            delay = min(delay * 2, self._backoff[1])

    async def _read(self, client: aiomqtt.Client) -> None:
        async for message in client.messages:
            with contextlib.suppress(orjson.JSONDecodeError, AttributeError, TypeError):
                self._replies.put_nowait(list(orjson.loads(message.payload).get("responses", [])))

    async def _sync(self, client: aiomqtt.Client) -> None:
        """Bring the broker in step with the database: base roles, every device, and no device it no longer has.
        A device the broker already holds as it should is left alone (changing it would disconnect it)."""
        await self._send(client, base_commands())
        if self._bridge_username is not None:
            await self._give_bridge_user_its_role(client, self._bridge_username)
        devices = await self._devices()
        roles, clients = await self._send(
            client,
            [
                {"command": "listRoles", "verbose": True, "count": -1},
                {"command": "listClients", "verbose": True, "count": -1},
            ],
        )
        held_roles = {r["rolename"]: _acl_set(r.get("acls", [])) for r in roles.get("data", {}).get("roles", [])}
        held_clients = {
            c["username"]: (c.get("clientid"), [r.get("rolename") for r in c.get("roles", [])], bool(c.get("disabled")))
            for c in clients.get("data", {}).get("clients", [])
        }
        known = {device_role(d.id) for d, _ in devices}
        commands: list[Command] = [
            {"command": "deleteClient", "username": name}
            for name, (_, held, _) in held_clients.items()
            if any(r.startswith(DEVICE_ROLE) and r not in known for r in held)
        ]
        commands += [
            {"command": "deleteRole", "rolename": name}
            for name in held_roles
            if name.startswith(DEVICE_ROLE) and name not in known
        ]
        changed = 0
        for device, password in devices:
            role = device_role(device.id)
            wanted = (device.client_id, [role], device.suspended)
            if (
                held_roles.get(role) == _acl_set(device_acls(device.channels))
                and held_clients.get(device.username) == wanted
            ):
                continue
            commands += device_commands(device, password)
            changed += 1
        await self._send(client, commands)
        log.info(
            "mqtt dynsec: broker %s:%d in step: %d devices (%d provisioned now)",
            self._host,
            self._port,
            len(devices),
            changed,
        )

    async def _give_admin_the_bridge_role(self, client: aiomqtt.Client) -> bool:
        """True if the admin client (the one the bridge logs in with) had to be given the bridge's role."""
        await self._send(client, [{"command": "createRole", "rolename": BRIDGE_ROLE}])  # its rights come in the sync
        [found] = await self._send(client, [{"command": "getClient", "username": self._username}])
        roles = found.get("data", {}).get("client", {}).get("roles", [])
        if any(r.get("rolename") == BRIDGE_ROLE for r in roles):
            return False
        command = {"command": "addClientRole", "username": self._username, "rolename": BRIDGE_ROLE}
        await client.publish(CONTROL_TOPIC, orjson.dumps({"commands": [command]}), qos=0)  # no answer comes
        return True

    async def _give_bridge_user_its_role(self, client: aiomqtt.Client, username: str) -> None:
        """The bridge logs in as a user of its own (MQTT_URL names one): it needs the bridge's role too."""
        [found] = await self._send(client, [{"command": "getClient", "username": username}])
        if "data" not in found:
            log.warning("mqtt dynsec: the bridge's user (from MQTT_URL) is not a client of the broker")
            return
        if not any(r.get("rolename") == BRIDGE_ROLE for r in found["data"].get("client", {}).get("roles", [])):
            await self._send(client, [{"command": "addClientRole", "username": username, "rolename": BRIDGE_ROLE}])

    async def _send(self, client: aiomqtt.Client, commands: Sequence[Command]) -> list[Command]:
        """Send commands in messages of COMMANDS_PER_MESSAGE; the broker's answers, in order."""
        answers: list[Command] = []
        async with self._lock:
            for start in range(0, len(commands), COMMANDS_PER_MESSAGE):
                chunk = commands[start : start + COMMANDS_PER_MESSAGE]
                while not self._replies.empty():
                    self._replies.get_nowait()  # a late answer to a command that timed out
                await client.publish(CONTROL_TOPIC, orjson.dumps({"commands": chunk}), qos=1)
                async with asyncio.timeout(REPLY_TIMEOUT):
                    replies = await self._replies.get()
                for command, reply in zip(chunk, replies, strict=False):
                    error = reply.get("error")
                    if error and not any(fine in str(error).lower() for fine in _FINE):
                        raise DynSecError(f"{command['command']}: {error}")
                answers += replies
        return answers
