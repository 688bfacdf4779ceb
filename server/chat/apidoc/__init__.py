"""The chat domain's part of the OpenAPI document (server/web/openapi.py): one module per route module."""

from __future__ import annotations

from aiohttp import web

from server.chat.apidoc import attachments, chats, community, keys, push, todevice
from server.web.openapi import add_part


def document(app: web.Application) -> None:
    add_part(app, chats, tags=[("chat", "Chats, members, messages, invites, blocks and reports")])
    add_part(app, community)
    add_part(app, keys, tags=[("keys", "The end-to-end key directory: public keys and one-time prekeys")])
    add_part(app, todevice, tags=[("todevice", "To-device messages: each device's inbox of end-to-end payloads")])
    add_part(app, push, tags=[("push", "Web Push subscriptions")])
    add_part(app, attachments, tags=[("attachments", "Chat uploads and their files")])
