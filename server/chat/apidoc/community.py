"""Chat in the OpenAPI document, continued from chats.py: server/chat/invite_routes.py (invite links), blocks, and
the admins' report queue (server/chat/routes.py). Their schemas (Invite, InvitePreview, Report) are chats.py's."""

from __future__ import annotations

from server.chat.apidoc.chats import ADMIN_ONLY, NOT_MEMBER, PATH_PARAMS
from server.chat.moderation import RESOLUTIONS
from server.web.apidoc.kit import (
    JSON,
    PAGE_PARAMS,
    STRING,
    TIME,
    ApiBook,
    array,
    no_content,
    obj,
    paged,
    query,
    ref,
    reply,
)
from server.web.validation import Field

SCHEMAS: dict[str, JSON] = {}


def paths() -> dict[str, dict[str, JSON]]:
    book = ApiBook(path_params=PATH_PARAMS)
    _invites_and_blocks(book)
    _moderation(book)
    return book.paths


def _invites_and_blocks(book: ApiBook) -> None:
    book.op(
        "POST",
        "/api/chats/{chat_id}/invites",
        tag="chat",
        summary="Create an invite link to a group (group admins)",
        fields={
            "expires_in": Field(int, required=False, nullable=True),
            "max_uses": Field(int, required=False, nullable=True),
        },
        refine={
            "expires_in": {"minimum": 60, "maximum": 365 * 86400, "description": "seconds; null: never"},
            "max_uses": {"minimum": 1, "maximum": 100_000, "description": "null: unlimited"},
        },
        ok={201: reply("The invite, with its `url`.", ref("Invite"))},
        errors={403: ADMIN_ONLY, 404: NOT_MEMBER},
    )
    book.op(
        "GET",
        "/api/chats/{chat_id}/invites",
        tag="chat",
        summary="A group's invite links (group admins)",
        ok={200: reply("Every invite, whatever its state.", obj({"invites": array(ref("Invite"))}))},
        errors={403: ADMIN_ONLY, 404: NOT_MEMBER},
    )
    book.op(
        "DELETE",
        "/api/chats/{chat_id}/invites/{invite_id}",
        tag="chat",
        summary="Revoke an invite link (group admins)",
        ok={204: no_content("Revoked.")},
        errors={403: ADMIN_ONLY, 404: f"{NOT_MEMBER} Or `invite_not_found` (also when already revoked)."},
    )
    gone = {404: "`invite_not_found`.", 410: "`invite_expired`: revoked, expired or used up."}
    book.op(
        "GET",
        "/api/invites/{code}",
        tag="chat",
        summary="What an invite link leads to, before joining",
        ok={200: reply("The group's name and size.", ref("InvitePreview"))},
        errors=gone,
    )
    book.op(
        "POST",
        "/api/invites/{code}/join",
        tag="chat",
        summary="Join a group with an invite link (a member already: nothing changes)",
        ok={200: reply("The chat.", ref("Chat"))},
        errors={**gone, 403: "`group_full`."},
    )
    book.op(
        "GET",
        "/api/blocks",
        tag="chat",
        summary="The users the caller blocked",
        ok={200: reply("Blocked users.", obj({"blocks": array(obj({"user_id": STRING, "since": TIME}))}))},
    )
    book.op(
        "POST",
        "/api/blocks",
        tag="chat",
        summary="Block a user: no messages in your direct chat either way, and no presence",
        fields={"user_id": Field(str, max_length=64)},
        ok={204: no_content("Blocked.")},
        errors={404: "`user_not_found`."},
    )
    book.op(
        "DELETE",
        "/api/blocks/{user_id}",
        tag="chat",
        summary="Unblock a user",
        ok={204: no_content("Unblocked.")},
        errors={404: "`not_blocked`."},
    )


def _moderation(book: ApiBook) -> None:
    book.op(
        "GET",
        "/api/admin/reports",
        tag="admin",
        summary="The queue of reported messages, with each message",
        auth="admin",
        params=[
            query("state", {"type": "string", "enum": ["open", "all"], "default": "open"}),
            *PAGE_PARAMS,
        ],
        ok={200: reply("A page of reports.", paged("reports", ref("Report")))},
        errors={400: "`state`, `limit` or `cursor` is not valid."},
    )
    book.op(
        "POST",
        "/api/admin/reports/{report_id}/resolve",
        tag="admin",
        summary="Resolve a report: dismiss it, delete the message, or suspend its sender",
        auth="admin",
        fields={"action": Field(str, choices=RESOLUTIONS)},
        ok={200: reply("The report, resolved (without its message).", ref("Report"))},
        errors={400: "`already_resolved`, or a bad body.", 404: "`report_not_found`."},
    )
    book.op(
        "DELETE",
        "/api/admin/chats/{chat_id}/messages/{message_id}",
        tag="admin",
        summary="Delete any message for everyone (moderation)",
        auth="admin",
        ok={204: no_content("Deleted (or already deleted); members get `message.deleted` with `moderated`.")},
        errors={404: "`message_not_found`."},
    )
