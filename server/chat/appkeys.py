"""The chat domain's typed application keys."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

if TYPE_CHECKING:
    from server.chat.attachments import AttachmentService
    from server.chat.inbox import ToDeviceInbox
    from server.chat.invites import InviteService
    from server.chat.keydir import KeyDirectory
    from server.chat.messages import MessageService
    from server.chat.moderation import ModerationService
    from server.chat.presence import PresenceService
    from server.chat.push import PushService
    from server.chat.service import ChatService

chat_key: web.AppKey[ChatService] = web.AppKey("chat")
messages_key: web.AppKey[MessageService] = web.AppKey("messages")
invites_key: web.AppKey[InviteService] = web.AppKey("invites")
attachments_key: web.AppKey[AttachmentService] = web.AppKey("attachments")
presence_key: web.AppKey[PresenceService] = web.AppKey("presence")
moderation_key: web.AppKey[ModerationService] = web.AppKey("moderation")
push_key: web.AppKey[PushService] = web.AppKey("push")
key_directory_key: web.AppKey[KeyDirectory] = web.AppKey("key_directory")
inbox_key: web.AppKey[ToDeviceInbox] = web.AppKey("todevice_inbox")
