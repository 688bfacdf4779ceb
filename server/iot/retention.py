"""Retention: points older than a channel's retention period are deleted in small batches, each its own short
transaction, so writers are never held up for long."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

from server.storage.channels import ChannelRepository

log = logging.getLogger(__name__)

BATCH = 2000


async def sweep(repo: ChannelRepository, *, now: float | None = None, batch: int = BATCH) -> int:
    """Delete every expired point once; returns how many were deleted."""
    moment = time.time() if now is None else now
    deleted = 0
    for channel_id, days in await repo.with_retention():
        before = moment - days * 86_400
        while True:
            count = await repo.delete_older_than(channel_id, before, batch)
            deleted += count
            if count < batch:
                break
            await asyncio.sleep(0.01)  # let queued writes through between batches
    if deleted:
        log.info("retention deleted %d points", deleted)
    return deleted


async def run_periodically(repo: ChannelRepository, interval: float, clock: Callable[[], float] = time.time) -> None:
    while True:
        await asyncio.sleep(interval)
        try:
            await sweep(repo, now=clock())
        except Exception:
            log.exception("retention sweep failed")
