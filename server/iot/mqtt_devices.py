"""MQTT devices, as ThingSpeak has them: broker credentials a user makes for a device (client id, user name and a
password shown once), each allowed to publish to and subscribe to channels of the user's. The database is the
truth; the broker learns each change through the dynamic-security provisioner (server/iot/dynsec.py)."""

from __future__ import annotations

import secrets
import string
import time
import uuid
from collections.abc import Callable, Sequence
from typing import Any

from server.errors import NotFound, ValidationError
from server.iot.dynsec import DynSecProvisioner, device_commands, removal_commands, suspension_commands
from server.storage.channels import ChannelRepository
from server.storage.mqtt_devices import ChannelGrant, MqttDevice, MqttDeviceRepository

MAX_NAME = 255
MAX_CHANNELS = 100  # per device
MAX_DEVICES = 100  # per user
_ALPHABET = string.ascii_letters + string.digits


def new_credential(length: int) -> str:
    return "".join(secrets.choice(_ALPHABET) for _ in range(length))


def not_found() -> NotFound:
    return NotFound("no such MQTT device of yours", code="device_not_found")


def parse_grants(raw: Any) -> list[ChannelGrant]:
    """`[{"channel_id", "publish", "subscribe"}, ...]` from a request body, checked."""
    if not isinstance(raw, list) or len(raw) > MAX_CHANNELS:
        raise ValidationError("{field} must be a list of at most {limit}", field="channels", limit=MAX_CHANNELS)
    grants: dict[int, ChannelGrant] = {}
    for index, item in enumerate(raw):
        if not isinstance(item, dict) or set(item) - {"channel_id", "publish", "subscribe"}:
            raise ValidationError(
                "channels[{index}] must be an object with channel_id, publish, subscribe", field="channels", index=index
            )
        channel_id = item.get("channel_id")
        publish, subscribe = item.get("publish", False), item.get("subscribe", False)
        if isinstance(channel_id, bool) or not isinstance(channel_id, int) or not 1 <= channel_id < 2**63:
            raise ValidationError("channels[{index}].channel_id must be a channel id", field="channels", index=index)
        if not isinstance(publish, bool) or not isinstance(subscribe, bool):
            raise ValidationError(
                "channels[{index}]: publish and subscribe must be true or false", field="channels", index=index
            )
        if not (publish or subscribe):
            raise ValidationError("channels[{index}]: allow publish, subscribe or both", field="channels", index=index)
        if channel_id in grants:
            raise ValidationError(
                "channels[{index}]: channel {channel_id} is listed twice",
                field="channels",
                index=index,
                channel_id=channel_id,
            )
        grants[channel_id] = ChannelGrant(channel_id, publish, subscribe)
    return list(grants.values())


class MqttDeviceService:
    def __init__(
        self, repo: MqttDeviceRepository, channels: ChannelRepository, clock: Callable[[], float] = time.time
    ) -> None:
        self.repo = repo
        self._channels = channels
        self._db = repo.db
        self._clock = clock
        self.provisioner: DynSecProvisioner | None = None  # set when MQTT_ADMIN_USERNAME is

    async def _check_channels(self, user_id: str, grants: Sequence[ChannelGrant]) -> None:
        owned = {c.id for c in await self._channels.of_owner(user_id)}
        for grant in grants:
            if grant.channel_id not in owned:
                raise NotFound(
                    "no channel {channel_id} of yours",
                    code="channel_not_found",
                    field="channels",
                    channel_id=grant.channel_id,
                )

    async def _tell_broker(self, commands: list[dict[str, Any]]) -> bool:
        return self.provisioner is not None and await self.provisioner.apply(commands)

    async def create(self, user_id: str, name: str, grants: Sequence[ChannelGrant]) -> tuple[MqttDevice, str, bool]:
        """The new device, its password (never shown again) and whether the broker has it already."""
        await self._check_channels(user_id, grants)
        if await self.repo.count_of_user(user_id) >= MAX_DEVICES:
            raise ValidationError(
                "at most {limit} MQTT devices per account", code="too_many_devices", limit=MAX_DEVICES
            )
        device_id, password = uuid.uuid4().hex, new_credential(24)
        client_id = new_credential(23)  # ThingSpeak's length; MQTT 3.1 brokers take up to 23 characters
        async with self._db.transaction() as tx:
            await self.repo.create(
                tx,
                device_id=device_id,
                user_id=user_id,
                name=name,
                client_id=client_id,
                username=client_id,  # as ThingSpeak: the user name is the client id
                password=password,
                now=self._clock(),
            )
            await self.repo.set_channels(tx, device_id, grants)
            device = await self.repo.get(device_id, tx)
        assert device is not None
        return device, password, await self._tell_broker(device_commands(device, password))

    async def get(self, user_id: str, device_id: str) -> MqttDevice:
        device = await self.repo.get(device_id)
        if device is None or device.user_id != user_id:
            raise not_found()
        return device

    async def of_user(self, user_id: str, after: tuple[float, str] | None, limit: int) -> list[MqttDevice]:
        return await self.repo.of_user(user_id, after, limit)

    async def update(
        self, user_id: str, device_id: str, name: str | None, grants: Sequence[ChannelGrant] | None
    ) -> tuple[MqttDevice, bool]:
        await self.get(user_id, device_id)
        if grants is not None:
            await self._check_channels(user_id, grants)
        async with self._db.transaction() as tx:
            await self.repo.rename(tx, device_id, name, self._clock())
            if grants is not None:
                await self.repo.set_channels(tx, device_id, grants)
            device = await self.repo.get(device_id, tx)
        if device is None:  # deleted meanwhile
            raise not_found()
        if grants is None:  # a new name: nothing the broker holds (re-provisioning would disconnect the device)
            return device, self.provisioner is not None and self.provisioner.synced.is_set()
        password = await self.repo.password(device_id)
        provisioned = password is not None and await self._tell_broker(device_commands(device, password))
        return device, provisioned

    async def delete(self, user_id: str, device_id: str) -> bool:
        device = await self.get(user_id, device_id)
        async with self._db.transaction() as tx:
            await self.repo.delete(tx, device_id)
        return await self._tell_broker(removal_commands(device))

    async def owner_suspension_changed(self, user_id: str) -> None:
        """Tell the broker: a suspended account's devices are refused, an unsuspended one's let in again."""
        devices = await self.repo.all_of_user(user_id)
        if devices:
            await self._tell_broker(suspension_commands(devices))

    async def everything(self) -> list[tuple[MqttDevice, str]]:
        return await self.repo.everything()
