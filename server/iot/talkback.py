"""TalkBack rules: who may create and use a TalkBack, its queue and its limits, and executing the next command
(optionally logged to a channel's status field, as ThingSpeak's "Log to Channel" does)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence

from server.errors import ApiError
from server.iot.channels import key_user, new_api_key, suspended, unauthorized
from server.iot.ingest import FeedService
from server.iot.thingspeak import ThingSpeakError
from server.storage.channels import ChannelRepository, Point
from server.storage.talkback import Command, TalkBack, TalkBackRepository
from server.web.params import int_param

log = logging.getLogger(__name__)

MAX_COMMAND = 255  # ThingSpeak's limit for a command_string
MAX_QUEUE = 8000  # ThingSpeak's limit on the commands of one TalkBack
MAX_TALKBACKS = 100  # per owner
MAX_NAME = 255
MAX_POSITION = 1_000_000
KEEP_EXECUTED = 100  # executed commands kept for "last executed" and look-ups by id


def talkback_not_found() -> ThingSpeakError:
    return ThingSpeakError("The TalkBack was not found.", code="error_resource_not_found", status=404)


def command_not_found() -> ThingSpeakError:
    return ThingSpeakError("The command was not found.", code="error_resource_not_found", status=404)


def check_command_string(value: object) -> str:
    if not isinstance(value, str) or not value:
        raise ThingSpeakError("{field} is required", field="command_string")
    if len(value) > MAX_COMMAND:
        raise ThingSpeakError("{field} is longer than {limit} characters", field="command_string", limit=MAX_COMMAND)
    if "\x00" in value:
        raise ThingSpeakError("{field} must not contain NUL characters", field="command_string")
    return value


def check_position(value: object) -> int | None:
    """A queue position (1 is first), or None for "at the end"."""
    if value is None or value == "":
        return None
    return int_param(value, "position", low=1, high=MAX_POSITION)


class TalkBackService:
    def __init__(
        self,
        repo: TalkBackRepository,
        channels: ChannelRepository,
        feeds: FeedService | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.repo = repo
        self._db = repo.db
        self._channels = channels
        self._feeds = feeds
        self._clock = clock

    # -- TalkBacks (their owner) --------------------------------------------------------------------
    async def _check_channel(self, channel_id: int | None, owner_id: str) -> None:
        if channel_id is None:
            return
        channel = await self._channels.get(channel_id)
        if channel is None or channel.owner_id != owner_id:
            raise ThingSpeakError("{field} is not a channel of yours", field="channel_id", status=400)

    async def create(self, owner_id: str, name: str, channel_id: int | None) -> tuple[TalkBack, str]:
        await self._check_channel(channel_id, owner_id)
        if await self.repo.count_of_owner(owner_id) >= MAX_TALKBACKS:
            raise ApiError(
                "an account has at most {limit} TalkBacks", code="too_many_talkbacks", status=409, limit=MAX_TALKBACKS
            )
        key, now = new_api_key(), self._clock()
        async with self._db.transaction() as tx:
            talkback_id = await self.repo.create(tx, owner_id, name, channel_id, now)
            await self.repo.set_key(tx, talkback_id, key, now)
            talkback = await self.repo.get(talkback_id, tx)
        assert talkback is not None
        return talkback, key

    async def of_owner(self, owner_id: str) -> list[tuple[TalkBack, str]]:
        talkbacks = await self.repo.of_owner(owner_id, MAX_TALKBACKS)
        return [(t, await self.key_of(t.id)) for t in talkbacks]

    async def key_of(self, talkback_id: int) -> str:
        return await self.repo.key_of(talkback_id) or ""

    async def owned(self, talkback_id: int, owner_id: str) -> TalkBack:
        """The TalkBack if `owner_id` owns it; anyone else is told it does not exist."""
        talkback = await self.repo.get(talkback_id)
        if talkback is None or talkback.owner_id != owner_id:
            raise talkback_not_found()
        return talkback

    async def update(
        self, talkback_id: int, owner_id: str, *, name: str | None, channel_id: int | None, set_channel: bool
    ) -> TalkBack:
        current = await self.owned(talkback_id, owner_id)
        if set_channel:
            await self._check_channel(channel_id, owner_id)
        async with self._db.transaction() as tx:
            await self.repo.update(
                tx,
                talkback_id,
                name if name is not None else current.name,
                channel_id if set_channel else current.channel_id,
                self._clock(),
            )
            talkback = await self.repo.get(talkback_id, tx)
        assert talkback is not None
        return talkback

    async def delete(self, talkback_id: int, owner_id: str) -> TalkBack:
        talkback = await self.owned(talkback_id, owner_id)
        async with self._db.transaction() as tx:
            await self.repo.delete(tx, talkback_id)
        return talkback

    async def regenerate_key(self, talkback_id: int, owner_id: str) -> str:
        await self.owned(talkback_id, owner_id)
        key = new_api_key()
        async with self._db.transaction() as tx:
            await self.repo.set_key(tx, talkback_id, key, self._clock())
        return key

    # -- access to the queue ------------------------------------------------------------------------
    async def authorise(self, talkback_id: int, api_key: str | None, user_id: str | None = None) -> TalkBack:
        """The TalkBack if the caller may use its queue: its own API key, or its owner (signed in or by user key)."""
        talkback = await self.repo.get(talkback_id)
        if talkback is None:
            raise talkback_not_found()
        if user_id is not None and user_id == talkback.owner_id:
            return talkback
        if api_key and len(api_key) <= 64:
            found = await self._by_key(api_key)
            if found is not None and found.id == talkback_id:
                return talkback
            if await key_user(self._channels, api_key) == talkback.owner_id:
                return talkback
        raise unauthorized()

    async def by_key(self, api_key: str | None) -> TalkBack:
        talkback = await self._by_key(api_key) if api_key and len(api_key) <= 64 else None
        if talkback is None:
            raise unauthorized("Please make sure that your TalkBack API key is correct.")
        return talkback

    async def _by_key(self, api_key: str) -> TalkBack | None:
        """The one place a TalkBack key is looked up: its TalkBack, None if unknown, refused if its owner is
        suspended."""
        found = await self.repo.talkback_of_key(api_key)
        if found is None:
            return None
        talkback, owner_suspended = found
        if owner_suspended:
            raise suspended()
        return talkback

    # -- commands -----------------------------------------------------------------------------------
    async def add_command(self, talkback: TalkBack, command_string: str, position: int | None) -> Command:
        return (await self.add_commands(talkback, [command_string], position))[0]

    async def add_commands(
        self, talkback: TalkBack, command_strings: Sequence[str], position: int | None = None
    ) -> list[Command]:
        """Queue commands in order, all or none."""
        now = self._clock()
        async with self._db.transaction() as tx:
            if await self.repo.queued_count(tx, talkback.id) + len(command_strings) > MAX_QUEUE:
                raise ThingSpeakError("a TalkBack holds at most {limit} commands", status=409, limit=MAX_QUEUE)
            added = []
            for offset, command_string in enumerate(command_strings):
                at = None if position is None else position + offset
                added.append(await self.repo.add_command(tx, talkback.id, command_string, at, now))
            return added

    async def queue_for_owner(self, talkback_id: int, owner_id: str, command_strings: Sequence[str]) -> list[Command]:
        """Queue commands on behalf of the TalkBack's owner (automation rules)."""
        return await self.add_commands(await self.owned(talkback_id, owner_id), command_strings)

    async def commands(self, talkback: TalkBack) -> list[Command]:
        return await self.repo.queue(talkback.id, MAX_QUEUE)

    async def command(self, talkback: TalkBack, command_id: int) -> Command:
        found = await self.repo.command(talkback.id, command_id)
        if found is None:
            raise command_not_found()
        return found

    async def update_command(
        self, talkback: TalkBack, command_id: int, command_string: str | None, position: int | None
    ) -> Command:
        async with self._db.transaction() as tx:
            found = await self.repo.update_command(tx, talkback.id, command_id, command_string, position)
        if found is None:
            raise command_not_found()
        return found

    async def delete_command(self, talkback: TalkBack, command_id: int) -> Command:
        async with self._db.transaction() as tx:
            found = await self.repo.delete_command(tx, talkback.id, command_id)
        if found is None:
            raise command_not_found()
        return found

    async def delete_commands(self, talkback: TalkBack) -> int:
        async with self._db.transaction() as tx:
            return await self.repo.delete_commands(tx, talkback.id)

    async def last_executed(self, talkback: TalkBack) -> Command:
        found = await self.repo.last_executed(talkback.id)
        if found is None:
            raise ThingSpeakError("no command was executed yet", code="error_resource_not_found", status=404)
        return found

    async def executed(self, talkback: TalkBack, before: tuple[float, int] | None, limit: int) -> list[Command]:
        """Its executed commands, newest first (the newest KEEP_EXECUTED are kept)."""
        return await self.repo.executed(talkback.id, before, limit)

    async def execute_next(self, talkback: TalkBack) -> Command | None:
        """Take the next command off the queue (None when it is empty)."""
        command = await self.repo.execute_next(talkback.id, self._clock(), KEEP_EXECUTED)
        if command is not None and talkback.channel_id is not None:
            await self._log_to_channel(talkback, command)
        return command

    async def _log_to_channel(self, talkback: TalkBack, command: Command) -> None:
        if self._feeds is None:
            return
        channel = await self._channels.get(talkback.channel_id) if talkback.channel_id is not None else None
        if channel is None or channel.owner_id != talkback.owner_id:
            return
        try:
            await self._feeds.write(channel, [Point(created_at=self._feeds.now(), status=command.command_string)])
        except Exception:
            log.warning("logging TalkBack %d's command to channel %d failed", talkback.id, channel.id, exc_info=True)
