"""Blocking, reporting messages, and the server admins' queue of reports.

Blocking a user stops their messages in the direct chat with you (both ways) and hides your presence from
them. Any member may report a message they can see; server admins work through the queue and may dismiss
a report, delete the message for everyone, or suspend its sender (which also ends their sessions).
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any

from server.chat.messages import MessageService
from server.chat.service import ChatService
from server.chat.views import message_view
from server.errors import NotFound, ValidationError
from server.storage.chat.blocks import BlockRepository
from server.storage.chat.records import Report
from server.storage.chat.reports import ReportRepository
from server.storage.database import Executor
from server.storage.events import ChatEvent, NewEvent
from server.wiring import Signal

MAX_REASON = 1000
RESOLUTIONS = ("dismiss", "delete_message", "suspend_sender")

Suspend = Callable[[str], Awaitable[object]]


class ModerationService:
    def __init__(
        self,
        chats: ChatService,
        messages: MessageService,
        blocks: BlockRepository,
        reports: ReportRepository,
        suspend: Suspend,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._chats = chats
        self._messages = messages
        self._blocks = blocks
        self._reports = reports
        self._suspend = suspend
        self._clock = clock
        self.blocked: Signal[[str], None] = Signal("blocked")  # who blocked someone

    # -- blocks ------------------------------------------------------------------------------------
    async def block(self, user_id: str, other_id: str) -> None:
        if other_id == user_id:
            raise ValidationError("you cannot block yourself", field="user_id")
        if not await self._chats.user_exists(other_id):
            raise NotFound("no such user", code="user_not_found")
        await self._blocks.block(user_id, other_id, self._clock())
        self.blocked.send(user_id)  # the blocked user stops seeing this user's presence

    async def unblock(self, user_id: str, other_id: str) -> None:
        if not await self._blocks.unblock(user_id, other_id[:64]):
            raise NotFound("that user is not blocked", code="not_blocked")

    async def blocks(self, user_id: str) -> list[dict[str, Any]]:
        return [{"user_id": r["blocked_id"], "since": r["created_at"]} for r in await self._blocks.blocks(user_id)]

    # -- reports -----------------------------------------------------------------------------------
    async def report(self, user_id: str, chat_id: str, message_id: int, reason: str | None) -> dict[str, Any]:
        message = await self._messages.visible_message(user_id, chat_id, message_id)
        if message["deleted"]:
            raise NotFound("no such message", code="message_not_found")
        report_id = await self._reports.report(chat_id, message_id, user_id, reason, self._clock())
        return {"id": report_id, "chat_id": chat_id, "message_id": message_id}

    async def queue(self, *, open_only: bool, after: tuple[float, str] | None, limit: int) -> list[dict[str, Any]]:
        """Reports with the reported message, for admins: they must see what they judge."""
        out = []
        for report in await self._reports.reports(open_only=open_only, after=after, limit=limit):
            message = await self._messages.messages.message(report.chat_id, report.message_id)
            chat = await self._chats.chats.chat(report.chat_id)
            view = _report_view(report)
            view["message"] = message_view(message, bool(chat and chat.e2e)) if message else None
            out.append(view)
        return out

    async def resolve(self, admin_id: str, report_id: str, action: str) -> dict[str, Any]:
        if action not in RESOLUTIONS:
            raise ValidationError("{field} must be one of {choices}", field="action", choices=", ".join(RESOLUTIONS))
        report = await self._reports.report_by_id(report_id[:64])
        if report is None:
            raise NotFound("no such report", code="report_not_found")
        # Claimed first: of two admins acting on one report at once, only one acts.
        if report.resolved_at is not None or not await self._reports.resolve(
            report.id, admin_id, action, self._clock()
        ):
            raise ValidationError("this report is already resolved", code="already_resolved")
        if action == "delete_message":
            await self.delete_message(admin_id, report.chat_id, report.message_id)
        elif action == "suspend_sender":
            message = await self._messages.messages.message(report.chat_id, report.message_id)
            if message is not None and message.sender_id is not None:
                await self._suspend(message.sender_id)
        resolved = await self._reports.report_by_id(report.id)
        assert resolved is not None
        return _report_view(resolved)

    async def delete_message(self, admin_id: str, chat_id: str, message_id: int) -> None:
        """A server admin deletes a message for everyone, whether or not they are in the chat."""

        async def work(tx: Executor, now: float) -> list[NewEvent | ChatEvent]:
            message = await self._messages.messages.message(chat_id, message_id, tx)
            if message is None:
                raise NotFound("no such message", code="message_not_found")
            if message.deleted_at is not None:
                return []
            return await self._messages.erase(tx, chat_id, message_id, now, by=admin_id, moderated=True)

        await self._chats.change(work)


def _report_view(report: Report) -> dict[str, Any]:
    return {
        "id": report.id,
        "chat_id": report.chat_id,
        "message_id": report.message_id,
        "reporter_id": report.reporter_id,
        "reason": report.reason,
        "created_at": report.created_at,
        "resolved_at": report.resolved_at,
        "resolved_by": report.resolved_by,
        "resolution": report.resolution,
    }
