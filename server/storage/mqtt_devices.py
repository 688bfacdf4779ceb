"""MQTT device storage: a device's broker credentials (the password encrypted) and the channels it may use."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from server.crypto.keyring import Keyring
from server.storage.database import Database, Executor, Row
from server.storage.sql import Sealer, in_list


@dataclass(frozen=True)
class ChannelGrant:
    channel_id: int
    publish: bool
    subscribe: bool


@dataclass(frozen=True)
class MqttDevice:
    id: str
    user_id: str
    name: str
    client_id: str
    username: str
    created_at: float
    updated_at: float
    channels: tuple[ChannelGrant, ...]
    suspended: bool = False  # its user's account is suspended: the broker refuses the device


_SELECT = "SELECT d.*, u.suspended_at AS owner_suspended_at FROM mqtt_devices d LEFT JOIN users u ON u.id = d.user_id"


class MqttDeviceRepository:
    def __init__(self, db: Database, keyring: Keyring) -> None:
        self.db = db
        self._sealer = Sealer(keyring, "mqtt_devices")

    async def create(
        self,
        tx: Executor,
        *,
        device_id: str,
        user_id: str,
        name: str,
        client_id: str,
        username: str,
        password: str,
        now: float,
    ) -> None:
        await tx.execute(
            "INSERT INTO mqtt_devices (id, user_id, name, client_id, username, password, created_at, updated_at)"
            " VALUES ($1, $2, $3, $4, $5, $6, $7, $7)",
            device_id,
            user_id,
            name,
            client_id,
            username,
            self._sealer.seal(password, "password", device_id),
            now,
        )

    async def set_channels(self, tx: Executor, device_id: str, grants: Sequence[ChannelGrant]) -> None:
        await tx.execute("DELETE FROM mqtt_device_channels WHERE device_id = $1", device_id)
        await tx.executemany(
            "INSERT INTO mqtt_device_channels (device_id, channel_id, publish, subscribe) VALUES ($1, $2, $3, $4)",
            [(device_id, g.channel_id, int(g.publish), int(g.subscribe)) for g in grants],
        )

    async def rename(self, tx: Executor, device_id: str, name: str | None, now: float) -> None:
        if name is None:
            await tx.execute("UPDATE mqtt_devices SET updated_at = $2 WHERE id = $1", device_id, now)
        else:
            await tx.execute("UPDATE mqtt_devices SET name = $2, updated_at = $3 WHERE id = $1", device_id, name, now)

    async def delete(self, tx: Executor, device_id: str) -> None:
        await tx.execute("DELETE FROM mqtt_devices WHERE id = $1", device_id)

    async def get(self, device_id: str, tx: Executor | None = None) -> MqttDevice | None:
        row = await (tx or self.db).fetchrow(f"{_SELECT} WHERE d.id = $1", device_id)
        if row is None:
            return None
        [device] = await self._with_channels([row], tx)
        return device

    async def of_user(self, user_id: str, after: tuple[float, str] | None, limit: int) -> list[MqttDevice]:
        if after is None:
            rows = await self.db.fetch(
                f"{_SELECT} WHERE d.user_id = $1 ORDER BY d.created_at, d.id LIMIT $2", user_id, limit
            )
        else:
            rows = await self.db.fetch(
                f"{_SELECT} WHERE d.user_id = $1 AND (d.created_at > $2 OR (d.created_at = $2 AND d.id > $3))"
                " ORDER BY d.created_at, d.id LIMIT $4",
                user_id,
                after[0],
                after[1],
                limit,
            )
        return await self._with_channels(rows)

    async def all_of_user(self, user_id: str) -> list[MqttDevice]:
        return await self._with_channels(await self.db.fetch(f"{_SELECT} WHERE d.user_id = $1", user_id))

    async def count_of_user(self, user_id: str) -> int:
        return int(await self.db.fetchval("SELECT COUNT(*) FROM mqtt_devices WHERE user_id = $1", user_id))

    async def everything(self) -> list[tuple[MqttDevice, str]]:
        """Every device with its password: what a broker needs to be provisioned from nothing."""
        rows = await self.db.fetch(f"{_SELECT} ORDER BY d.created_at, d.id")
        devices = await self._with_channels(rows)
        return [
            (device, self._sealer.open(bytes(row["password"]), "password", device.id))
            for device, row in zip(devices, rows, strict=True)
        ]

    async def password(self, device_id: str) -> str | None:
        blob = await self.db.fetchval("SELECT password FROM mqtt_devices WHERE id = $1", device_id)
        return None if blob is None else self._sealer.open(bytes(blob), "password", device_id)

    async def _with_channels(self, rows: Sequence[Row], tx: Executor | None = None) -> list[MqttDevice]:
        grants: dict[str, list[ChannelGrant]] = {row["id"]: [] for row in rows}
        ids = list(grants)
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            found = await (tx or self.db).fetch(
                "SELECT device_id, channel_id, publish, subscribe FROM mqtt_device_channels"
                f" WHERE {in_list('device_id', len(chunk))} ORDER BY channel_id",
                *chunk,
            )
            for g in found:
                grants[g["device_id"]].append(
                    ChannelGrant(int(g["channel_id"]), bool(g["publish"]), bool(g["subscribe"]))
                )
        return [
            MqttDevice(
                id=row["id"],
                user_id=row["user_id"],
                name=row["name"],
                client_id=row["client_id"],
                username=row["username"],
                created_at=float(row["created_at"]),
                updated_at=float(row["updated_at"]),
                channels=tuple(grants[row["id"]]),
                suspended=row["owner_suspended_at"] is not None,
            )
            for row in rows
        ]
