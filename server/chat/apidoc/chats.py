"""Chat in the OpenAPI document: server/chat/routes.py (chats, members, settings, history, messages, reports). Invites,
blocks and the admins' report queue are in community.py. Every route needs a signed-in user."""

from __future__ import annotations

from server.chat.attachments import MAX_PER_MESSAGE
from server.chat.messages import HISTORY_MAX, MAX_CIPHERTEXT, MAX_EMOJI, MAX_TEXT
from server.chat.moderation import MAX_REASON, RESOLUTIONS
from server.chat.presence import VISIBILITY
from server.chat.service import MAX_BROADCAST_MEMBERS, MAX_DESCRIPTION, MAX_MEMBERS, MAX_NAME, MEMBERS_LISTED
from server.storage.chat.records import ROLES as CHAT_ROLES
from server.web.apidoc.kit import (
    ATTACHMENT_ID,
    BOOLEAN,
    INTEGER,
    JSON,
    PAGE_PARAMS,
    STRING,
    TIME,
    ApiBook,
    array,
    digits,
    no_content,
    nullable,
    obj,
    paged,
    query,
    ref,
    reply,
)
from server.web.validation import Field

USER_IDS = array({"type": "string", "minLength": 1, "maxLength": 64}, maxItems=MAX_MEMBERS)

CHAT_ID: JSON = {"type": "string", "pattern": "^[A-Za-z0-9-]{1,64}$"}
PATH_PARAMS: dict[str, JSON] = {
    "chat_id": CHAT_ID,
    "message_id": digits(18, "a message id (ids run 1, 2, 3… per chat)"),
    "user_id": {"type": "string", "maxLength": 64},
    "invite_id": {"type": "string", "maxLength": 64},
    "report_id": {"type": "string", "maxLength": 64},
    "code": {"type": "string", "minLength": 1, "maxLength": 64},
    "emoji": {"type": "string", "minLength": 1, "maxLength": MAX_EMOJI, "description": "one emoji (URL-encoded)"},
}

# Members of the answers, shared by several schemas.
_CHAT = {
    "id": STRING,
    "kind": {"type": "string", "enum": ["direct", "group"]},
    "e2e": {"type": "boolean", "description": "end to end: messages are ciphertext the server cannot read"},
    "broadcast": {"type": "boolean", "description": "a channel: only the owner and admins post; members read, react"},
    "name": nullable(STRING),
    "description": nullable(STRING),
    "avatar_id": nullable(STRING),
    "created_by": nullable(STRING),
    "created_at": TIME,
    "last_message_id": INTEGER,
    "last_message_at": nullable(TIME),
}
_MEMBER_SETTINGS = {
    "role": {"type": "string", "enum": list(CHAT_ROLES)},
    "read_id": INTEGER,
    "delivered_id": INTEGER,
    "pinned_at": nullable(TIME),
    "muted_until": nullable(TIME),
    "archived": BOOLEAN,
}
_MESSAGE = {
    "chat_id": STRING,
    "id": INTEGER,
    "sender_id": nullable(STRING),
    "client_id": nullable(STRING),
    "kind": {"type": "string", "enum": ["text", "system", "call"]},
    "reply_to": nullable(INTEGER),
    "created_at": TIME,
    "edited": BOOLEAN,
    "edited_at": nullable(TIME),
    "deleted": BOOLEAN,
}
_MESSAGE_EXTRAS = {
    "text": {**nullable(STRING), "description": "plain chats (null once deleted for everyone)"},
    "ciphertext": {**nullable(STRING), "description": "end-to-end chats: base64 (null once deleted)"},
    "mentions": array(STRING),
    "forward": obj({"sender_id": nullable(STRING), "created_at": TIME}),
    "attachments": array(ref("AttachmentRef")),
    "reactions": {"type": "object", "additionalProperties": array(STRING), "description": "emoji -> user ids"},
    "silent": {
        "type": "boolean",
        "const": True,
        "description": "end-to-end chats: a reaction inside the ciphertext (no unread, no push, no chat list preview)",
    },
    "call": {
        **obj(
            {
                "call_id": STRING,
                "media": {"type": "string", "enum": ["audio", "video"]},
                "outcome": {"type": "string", "enum": ["answered", "missed", "declined", "busy"]},
                "duration": {"type": "number", "description": "seconds from answer to hangup (0 unless answered)"},
                "reason": STRING,
                "participants": INTEGER,
            },
            required=["call_id", "media", "outcome", "duration", "reason"],
        ),
        "description": "kind call: a call in this chat (who called is sender_id)",
    },
}
_REPORT = {
    "id": STRING,
    "chat_id": STRING,
    "message_id": INTEGER,
    "reporter_id": nullable(STRING),
    "reason": nullable(STRING),
    "created_at": TIME,
    "resolved_at": nullable(TIME),
    "resolved_by": nullable(STRING),
    "resolution": nullable({"type": "string", "enum": list(RESOLUTIONS)}),
}

SCHEMAS: dict[str, JSON] = {
    "MemberSettings": obj(_MEMBER_SETTINGS),
    "Member": obj(
        {
            "user_id": STRING,
            "display_name": nullable(STRING),
            "role": {"type": "string", "enum": list(CHAT_ROLES)},
            "joined_at": TIME,
        }
    ),
    "Chat": obj(
        {
            **_CHAT,
            "me": ref("MemberSettings"),
            "members": {
                **array(ref("Member")),
                "description": f"every member, up to {MEMBERS_LISTED}; above, the owner and admins only (page the rest"
                " with GET /api/chats/{chat_id}/members)",
            },
            "member_count": INTEGER,
            "members_complete": {"type": "boolean", "description": "false when `members` holds the admins only"},
        }
    ),
    "ChatListEntry": obj(
        {
            **_CHAT,
            "me": ref("MemberSettings"),
            "last_message": nullable(ref("Message")),
            "unread": INTEGER,
            "peer": {
                **obj({"user_id": STRING, "display_name": nullable(STRING)}),
                "description": "direct chats only: the other member",
            },
        },
        required=[*_CHAT, "me", "last_message", "unread"],
    ),
    "Message": {
        **obj({**_MESSAGE, **_MESSAGE_EXTRAS}, required=list(_MESSAGE)),
        "oneOf": [{"required": ["text"]}, {"required": ["ciphertext"]}],
    },
    "SentMessage": {
        "allOf": [ref("Message")],
        **obj({"duplicate": {"type": "boolean", "description": "this client_id was sent before: the original"}}),
    },
    "History": obj(
        {
            "chat_id": STRING,
            "messages": array(ref("Message")),
            "read_id": INTEGER,
            "last_message_id": INTEGER,
            "has_more": BOOLEAN,
        }
    ),
    "Invite": obj(
        {
            "id": STRING,
            "chat_id": STRING,
            "code": STRING,
            "created_by": nullable(STRING),
            "created_at": TIME,
            "expires_at": nullable(TIME),
            "max_uses": nullable(INTEGER),
            "uses": INTEGER,
            "state": {"type": "string", "enum": ["active", "revoked", "expired", "used_up"]},
            "url": {"type": "string", "description": "the link to share (only when created)"},
        },
        required=["id", "chat_id", "code", "created_by", "created_at", "expires_at", "max_uses", "uses", "state"],
    ),
    "InvitePreview": obj(
        {
            "chat_id": STRING,
            "name": nullable(STRING),
            "description": nullable(STRING),
            "members": INTEGER,
            "broadcast": BOOLEAN,
        }
    ),
    "Report": obj(
        {**_REPORT, "message": {**nullable(ref("Message")), "description": "in the queue only"}}, required=list(_REPORT)
    ),
    "ChatPreferences": obj(
        {"presence": {"type": "string", "enum": list(VISIBILITY)}, "push_previews": BOOLEAN},
    ),
}


def paths() -> dict[str, dict[str, JSON]]:
    book = ApiBook(path_params=PATH_PARAMS)
    _chats(book)
    _messages(book)
    return book.paths


NOT_MEMBER = "`chat_not_found`: no such chat, or the caller is not a member (answered alike)."
NO_MEMBER = f"{NOT_MEMBER} Or `member_not_found`."
ADMIN_ONLY = "`not_a_group`, or the caller is not a group admin."
WITH_MEMBERS = reply("The chat with its members.", ref("Chat"))


def _chats(book: ApiBook) -> None:
    book.op(
        "GET",
        "/api/chats",
        tag="chat",
        summary="The caller's chats: pinned first, then by latest activity",
        description="A direct chat someone else started with the caller is left out until its first message: "
        "starting a chat tells the other person nothing until something is said (no `chat.created`, no typing "
        "either; the first `message.new` brings it).",
        params=[query("archived", {"type": "string", "enum": ["true", "false"]}, "only archived, or only not")],
        ok={200: reply("Every chat of the caller.", obj({"chats": array(ref("ChatListEntry"))}))},
        errors={400: "`archived` is not true or false."},
    )
    book.op(
        "POST",
        "/api/chats",
        tag="chat",
        summary="Start a direct chat or create a group",
        description="`direct` takes `user_id` (and `e2e`): two users have at most one plain and one end-to-end "
        "direct chat, and the existing one of the kind asked for is returned (200). The other user hears nothing "
        "of a new direct chat (it is not in their list, their events or their pushes) until its first message. "
        "`group` takes `name`, `description`, `members` (and `e2e`, and `broadcast` for a channel, where only the "
        f"owner and admins post; a channel holds up to {MAX_BROADCAST_MEMBERS:,} members, a plain group "
        f"{MAX_MEMBERS:,}); the caller is its owner.",
        fields={
            "kind": Field(str, choices=("direct", "group")),
            "user_id": Field(str, required=False, max_length=64),
            "name": Field(str, required=False, max_length=MAX_NAME, min_length=1),
            "description": Field(str, required=False, max_length=MAX_DESCRIPTION, nullable=True),
            "members": Field(list, required=False),
            "e2e": Field(bool, required=False),
            "broadcast": Field(bool, required=False),
        },
        refine={"members": USER_IDS},
        body_extra={
            "oneOf": [
                {
                    "properties": {"kind": {"const": "direct"}},
                    "required": ["user_id"],
                    "not": {
                        "anyOf": [
                            {"required": ["name"]},
                            {"required": ["description"]},
                            {"required": ["members"]},
                            {"required": ["broadcast"]},
                        ]
                    },
                },
                {"properties": {"kind": {"const": "group"}}, "required": ["name"], "not": {"required": ["user_id"]}},
            ]
        },
        ok={
            200: reply("The direct chat of this kind with this user already existed.", ref("Chat")),
            201: reply("Created.", ref("Chat")),
        },
        errors={404: "`user_not_found`: the other user, or a member, does not exist or is suspended."},
    )
    book.op(
        "GET",
        "/api/chats/{chat_id}",
        tag="chat",
        summary="A chat with its members",
        ok={200: reply("The chat.", ref("Chat"))},
        errors={404: NOT_MEMBER},
    )
    book.op(
        "PATCH",
        "/api/chats/{chat_id}",
        tag="chat",
        summary="Change a group's name, description or avatar (group admins), or whether it is a channel (its owner)",
        fields={
            "name": Field(str, required=False, max_length=MAX_NAME, min_length=1),
            "description": Field(str, required=False, max_length=MAX_DESCRIPTION, nullable=True),
            "avatar_id": Field(str, required=False, max_length=64, nullable=True),
            "broadcast": Field(bool, required=False),
        },
        refine={
            "avatar_id": {"description": "an image the caller uploaded to this chat (POST …/attachments); null: none"},
            "broadcast": {
                "description": "true: only the owner and admins post; false is refused while the group has more "
                f"members than a plain group holds ({MAX_MEMBERS:,})"
            },
        },
        body_extra={"minProperties": 1},
        ok={200: reply("The chat as changed.", ref("Chat"))},
        errors={
            400: "Nothing to change, `avatar_id` not an image the caller uploaded here, `broadcast: false` for a "
            "group too big to be a plain one, or a bad body.",
            403: f"{ADMIN_ONLY} `broadcast`: the owner only.",
            404: NOT_MEMBER,
        },
    )
    book.op(
        "GET",
        "/api/chats/{chat_id}/members",
        tag="chat",
        summary="A page of the chat's members: the owner, then admins, then members, each by user id",
        params=PAGE_PARAMS,
        ok={200: reply("A page of members.", paged("members", ref("Member")))},
        errors={400: "`limit` or `cursor` is not valid.", 404: NOT_MEMBER},
    )
    book.op(
        "POST",
        "/api/chats/{chat_id}/members",
        tag="chat",
        summary="Add members to a group (group admins)",
        fields={"user_ids": Field(list)},
        refine={"user_ids": USER_IDS},
        ok={200: WITH_MEMBERS},
        errors={403: ADMIN_ONLY, 404: f"{NOT_MEMBER} Or `user_not_found`."},
    )
    book.op(
        "DELETE",
        "/api/chats/{chat_id}/members/{user_id}",
        tag="chat",
        summary="Remove a member from a group (group admins; only the owner removes admins)",
        ok={204: no_content("Removed.")},
        errors={
            400: "`use_leave`: the caller names themselves.",
            403: "`not_a_group`, or not allowed to remove this member.",
            404: NO_MEMBER,
        },
    )
    book.op(
        "PATCH",
        "/api/chats/{chat_id}/members/{user_id}",
        tag="chat",
        summary="Set a member's role (the group's owner; making another owner hands ownership over)",
        fields={"role": Field(str, choices=CHAT_ROLES)},
        ok={200: WITH_MEMBERS},
        errors={403: "`not_a_group`, or the caller is not the owner.", 404: NO_MEMBER},
    )
    book.op(
        "POST",
        "/api/chats/{chat_id}/leave",
        tag="chat",
        summary="Leave a group (an owner's role passes to the longest-serving admin, else member)",
        ok={204: no_content("Left.")},
        errors={403: "`not_a_group`: a direct chat cannot be left.", 404: NOT_MEMBER},
    )
    book.op(
        "PATCH",
        "/api/chats/{chat_id}/settings",
        tag="chat",
        summary="Pin, mute or archive a chat for the caller (kept in step across their devices)",
        fields={
            "pinned": Field(bool, required=False),
            "archived": Field(bool, required=False),
            "muted_until": Field(float, required=False, nullable=True),
        },
        refine={
            "muted_until": {
                "description": "seconds since the epoch, null to unmute. Written as a JSON number with a fraction "
                "(`1767225600.0`): the route refuses a JSON integer as `wrong_type`."
            }
        },
        ok={200: reply("The caller's settings for the chat.", obj({"chat_id": STRING, **_MEMBER_SETTINGS}))},
        errors={404: NOT_MEMBER},
    )
    book.op(
        "GET",
        "/api/me/chat-settings",
        tag="chat",
        summary="Who sees the caller's presence, and whether push notifications show previews",
        ok={200: reply("The preferences.", ref("ChatPreferences"))},
    )
    book.op(
        "PATCH",
        "/api/me/chat-settings",
        tag="chat",
        summary="Change the presence and push preview preferences",
        fields={
            "presence": Field(str, required=False, choices=VISIBILITY),
            "push_previews": Field(bool, required=False),
        },
        ok={200: reply("The preferences as changed.", ref("ChatPreferences"))},
    )


def _messages(book: ApiBook) -> None:
    message = "/api/chats/{chat_id}/messages/{message_id}"
    no_message = f"{NOT_MEMBER} Or `message_not_found`."
    book.op(
        "GET",
        "/api/chats/{chat_id}/messages",
        tag="chat",
        summary="A page of history: newest first before `before`, or oldest first after `after`",
        params=[
            query("before", digits(18), "messages with smaller ids"),
            query("after", digits(18), "messages with larger ids (not with `before`)"),
            query("limit", {**digits(18), "default": 50}, f"clamped to 1..{HISTORY_MAX}"),
        ],
        ok={200: reply("The page.", ref("History"))},
        errors={400: "Not a whole number, or both `before` and `after`.", 404: NOT_MEMBER},
    )
    book.op(
        "POST",
        "/api/chats/{chat_id}/messages",
        tag="chat",
        summary="Send a message (idempotent by client_id)",
        description="Answered once the message is committed. A resend with the same `client_id` returns the "
        "original (200, `duplicate: true`) and sends nothing. Plain chats take `text`; end-to-end chats take "
        "`ciphertext`. `attachments` are the caller's own uploads to this chat that no message took yet; with "
        "them, `text` may be left out. `silent` (end-to-end chats only) marks a message that is not news, such as a "
        "reaction inside the ciphertext: it reaches every member's devices but counts as no unread, sends no push, "
        "is not the chat list's last message and moves no chat up the list.",
        fields={
            "client_id": Field(str, max_length=64),
            "text": Field(str, required=False, strip=False),
            "ciphertext": Field(str, required=False, strip=False),
            "reply_to": Field(int, required=False, nullable=True),
            "attachments": Field(list, required=False),
            "silent": Field(bool, required=False),
        },
        refine={
            "client_id": {"format": "uuid", "description": "a UUID the client makes"},
            "text": {"maxLength": MAX_TEXT, "description": "not blank, no NUL characters"},
            "ciphertext": {"maxLength": MAX_CIPHERTEXT, "contentEncoding": "base64"},
            "attachments": array(ATTACHMENT_ID, minItems=1, maxItems=MAX_PER_MESSAGE, uniqueItems=True),
        },
        ok={
            200: reply("A resend: the original message.", ref("SentMessage")),
            201: reply("Sent.", ref("SentMessage")),
        },
        errors={
            400: "A bad body, `reply_to` not a message of this chat, `attachments` not the caller's free uploads, or "
            "`silent` in a plain chat.",
            403: "`blocked`: a direct chat with a user who blocked the caller (or whom the caller blocked). "
            "`broadcast_only_admins`: a member of a channel (only its owner and admins post).",
            404: NOT_MEMBER,
            429: "More messages than the sending rate allows; see `Retry-After`.",
        },
    )
    book.op(
        "PATCH",
        message,
        tag="chat",
        summary="Edit one of the caller's messages",
        fields={"text": Field(str, required=False, strip=False), "ciphertext": Field(str, required=False, strip=False)},
        refine={"text": {"maxLength": MAX_TEXT}, "ciphertext": {"maxLength": MAX_CIPHERTEXT}},
        ok={200: reply("The message as edited.", ref("Message"))},
        errors={403: "Only the sender edits a message.", 404: no_message},
    )
    book.op(
        "DELETE",
        message,
        tag="chat",
        summary="Delete a message for the caller, or for everyone",
        description="For everyone: the sender within 48 hours, or a group admin.",
        params=[query("for", {"type": "string", "enum": ["me", "everyone"], "default": "me"})],
        ok={204: no_content("Deleted.")},
        errors={
            400: "`for` is not me or everyone.",
            403: "Not allowed to delete for everyone (`forbidden`, `delete_window_over`).",
            404: no_message,
        },
    )
    for method, summary in (("PUT", "React to a message"), ("DELETE", "Take a reaction back")):
        book.op(
            method,
            f"{message}/reactions/{{emoji}}",
            tag="chat",
            summary=summary,
            ok={204: no_content("Done (also when nothing changed).")},
            errors={
                400: "`emoji` is not one emoji, or the chat is end to end (its reactions are silent messages).",
                404: no_message,
            },
        )
    book.op(
        "POST",
        "/api/chats/{chat_id}/read",
        tag="chat",
        summary="Move the caller's read pointer up to a message (never back)",
        fields={"message_id": Field(int)},
        refine={"message_id": {"minimum": 1}},
        ok={
            200: reply("The caller's pointers.", obj({"chat_id": STRING, "read_id": INTEGER, "delivered_id": INTEGER}))
        },
        errors={404: NOT_MEMBER},
    )
    book.op(
        "GET",
        f"{message}/readers",
        tag="chat",
        summary="Who has read, and who has received, a message",
        ok={200: reply("Other members' ids.", obj({"read_by": array(STRING), "delivered_to": array(STRING)}))},
        errors={404: NOT_MEMBER},
    )
    book.op(
        "POST",
        f"{message}/report",
        tag="chat",
        summary="Report a message to the server's admins",
        fields={"reason": Field(str, required=False, nullable=True, max_length=MAX_REASON)},
        ok={201: reply("Reported.", obj({"id": STRING, "chat_id": STRING, "message_id": INTEGER}))},
        errors={404: no_message},
    )
