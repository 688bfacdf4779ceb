"""Chat attachments in the OpenAPI document: server/chat/attachment_routes.py (rules in server/chat/attachments.py)."""

from __future__ import annotations

from server.chat.apidoc.chats import NOT_MEMBER
from server.web.apidoc.kit import (
    ATTACHMENT_ID,
    BOOLEAN,
    INTEGER,
    JSON,
    STRING,
    TIME,
    ApiBook,
    nullable,
    obj,
    query,
    ref,
    reply,
)

PATH_PARAMS: dict[str, JSON] = {
    "chat_id": {"type": "string", "pattern": "^[A-Za-z0-9-]{1,64}$"},
    "attachment_id": ATTACHMENT_ID,
}
_ATTACHMENT = {
    "id": ATTACHMENT_ID,
    "kind": {"type": "string", "enum": ["image", "video", "voice", "document", "encrypted"]},
    "mime": STRING,
    "size": INTEGER,
    "name": nullable(STRING),
    "width": nullable(INTEGER),
    "height": nullable(INTEGER),
    "thumbnail": BOOLEAN,
}

SCHEMAS: dict[str, JSON] = {
    "AttachmentRef": obj(_ATTACHMENT),
    "Attachment": obj({**_ATTACHMENT, "chat_id": STRING, "created_at": TIME}),
}


def paths() -> dict[str, dict[str, JSON]]:
    book = ApiBook(path_params=PATH_PARAMS)
    _attachments(book)
    return book.paths


def _attachments(book: ApiBook) -> None:
    upload = {
        "multipart/form-data": {
            "schema": obj({"file": {"type": "string", "contentMediaType": "application/octet-stream"}}),
            "encoding": {"file": {"contentType": "*/*"}},
        },
        "*/*": {
            "schema": {
                "contentMediaType": "application/octet-stream",
                "description": "the raw file (any Content-Type but multipart; it is ignored), named by `?name=`",
            }
        },
    }
    book.op(
        "POST",
        "/api/chats/{chat_id}/attachments",
        tag="attachments",
        summary="Upload a file into a chat, for a message to take",
        description="Multipart with one part named `file` (its filename names the attachment), or the raw file "
        "as the body. What the file is comes from its bytes alone: images are re-encoded without metadata and "
        "get a thumbnail; in an end-to-end chat the file is opaque (`encrypted`). An upload no message takes "
        "within a day is removed.",
        params=[query("name", {"type": "string", "maxLength": 1024}, "the file's name, for a raw body")],
        body=upload,
        body_required=True,
        ok={201: reply("Stored.", ref("Attachment"))},
        errors={
            400: "`empty_file`, no `file` part, `name` too long, or `unreadable_image`.",
            404: NOT_MEMBER,
            413: "`upload_too_large` (over MAX_UPLOAD_BYTES; images over MAX_IMAGE_UPLOAD_BYTES) or "
            "`image_too_large` (over MAX_IMAGE_PIXELS).",
            415: "`unsupported_type`: not an accepted image, video, voice or document.",
            429: "Too many uploads; see `Retry-After`.",
        },
    )
    file_headers = {
        "Content-Disposition": {"description": "inline or attachment, with the name", "schema": STRING},
        "Content-Security-Policy": {"description": "sandboxed: the file never runs as a page", "schema": STRING},
    }
    not_found = "`attachment_not_found`: no such file, or not one the caller may see."
    book.op(
        "GET",
        "/api/attachments/{attachment_id}",
        tag="attachments",
        summary="Fetch an attachment: a member's own upload, one of a message they see, or their group's avatar",
        ok={200: {"description": "The file.", "headers": file_headers, "content": {"*/*": {"schema": {}}}}},
        errors={404: not_found},
    )
    book.op(
        "GET",
        "/api/attachments/{attachment_id}/thumbnail",
        tag="attachments",
        summary="An image attachment's thumbnail (WebP)",
        ok={200: {"description": "The thumbnail.", "headers": file_headers, "content": {"image/webp": {"schema": {}}}}},
        errors={404: f"{not_found} Or `thumbnail_not_found`."},
    )
