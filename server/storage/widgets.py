"""Dashboard widget storage: one row per channel holding its widgets' specs, in display order, as JSON."""

from __future__ import annotations

from typing import Any

import orjson

from server.storage.database import Database


class WidgetRepository:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def of_channel(self, channel_id: int) -> tuple[list[dict[str, Any]], float | None]:
        """The channel's widgets and when they were last saved (an empty list and None if never)."""
        sql = "SELECT widgets, updated_at FROM channel_widgets WHERE channel_id = $1"
        row = await self.db.fetchrow(sql, channel_id)
        if row is None:
            return [], None
        widgets: list[dict[str, Any]] = orjson.loads(row["widgets"])
        return widgets, float(row["updated_at"])

    async def save(self, channel_id: int, widgets: list[dict[str, Any]], now: float) -> None:
        await self.db.execute(
            "INSERT INTO channel_widgets (channel_id, widgets, updated_at) VALUES ($1, $2, $3)"
            " ON CONFLICT (channel_id) DO UPDATE SET widgets = excluded.widgets, updated_at = excluded.updated_at",
            channel_id,
            orjson.dumps(widgets).decode(),
            now,
        )
