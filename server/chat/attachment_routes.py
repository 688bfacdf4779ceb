"""Chat attachments over HTTP: upload into a chat, fetch a file or its thumbnail (server/chat/attachments.py).

An upload is either multipart/form-data with one part named `file` (its filename is the attachment's name), or
the raw file as the body with the name in `?name=`. Either way the body is read as it streams in, with a hard
cap; the client's Content-Type, on the request or on the part, is never looked at.
"""

from __future__ import annotations

from urllib.parse import quote

from aiohttp import BodyPartReader, web
from aiohttp.http_exceptions import HttpProcessingError
from aiohttp.multipart import BadContentDispositionHeader

from server.auth.guard import require_user
from server.chat.appkeys import attachments_key
from server.chat.attachments import AttachmentService, Served, Upload, too_large
from server.errors import ValidationError

routes = web.RouteTableDef()

_CHUNK = 64 * 1024
_MULTIPART_OVERHEAD = 16 * 1024  # boundaries and part headers around the file, in a body's Content-Length
_MAX_RAW_NAME = 1024
# Files are never run as a page: no scripts, no plugins, nothing loaded, even when opened directly.
_FILE_CSP = "default-src 'none'; style-src 'unsafe-inline'; sandbox"


def _attachments(request: web.Request) -> AttachmentService:
    return request.app[attachments_key]


@routes.post("/api/chats/{chat_id}/attachments")
async def upload(request: web.Request) -> web.Response:
    principal = await require_user(request)
    service = _attachments(request)
    incoming = await service.start_upload(principal.user.id, request.match_info["chat_id"])
    try:
        multipart = request.content_type == "multipart/form-data"
        slack = _MULTIPART_OVERHEAD if multipart else 0
        if request.content_length is not None and request.content_length > incoming.limit + slack:
            raise too_large(incoming.limit)
        name = await (_receive_multipart(request, incoming) if multipart else _receive_raw(request, incoming))
        view = await service.finish_upload(incoming, name)
    finally:
        incoming.discard()
    return web.json_response(view, status=201)


async def _receive_raw(request: web.Request, incoming: Upload) -> str | None:
    name = request.query.get("name")
    if name is not None and len(name) > _MAX_RAW_NAME:
        raise ValidationError(
            "{field} is longer than {limit} characters", field="name", code="too_long", limit=_MAX_RAW_NAME
        )
    async for chunk in request.content.iter_chunked(_CHUNK):
        await incoming.write(chunk)
    return name


async def _receive_multipart(request: web.Request, incoming: Upload) -> str | None:
    try:
        return await _read_form(request, incoming)
    except (ValueError, RuntimeError, HttpProcessingError, BadContentDispositionHeader) as exc:
        # aiohttp's multipart parser answers a malformed body or part header with these; the client gets a 400.
        raise ValidationError("the multipart body is malformed", field="file", code="malformed_multipart") from exc


async def _read_form(request: web.Request, incoming: Upload) -> str | None:
    reader = await request.multipart()
    skipped = 0
    while True:
        part = await reader.next()
        if part is None:
            raise ValidationError("send the file in a form field named file", field="file", code="required")
        if not isinstance(part, BodyPartReader):
            raise ValidationError("a form field must not hold another multipart body", field="file")
        if part.name == "file":
            break
        # Another field, of no use here: skipped, and small (the form's overhead allowance).
        while chunk := await part.read_chunk(_CHUNK):
            skipped += len(chunk)
            if skipped > _MULTIPART_OVERHEAD:
                raise too_large(incoming.limit)
    while chunk := await part.read_chunk(_CHUNK):
        await incoming.write(chunk)
    if not part.at_eof():  # the body ended before the part's closing boundary: a cut-off upload
        raise ValidationError("the multipart body ended inside the file", field="file", code="malformed_multipart")
    name = part.filename
    # Browsers send the name as UTF-8 with only these three escaped (the HTML form encoding).
    return None if name is None else name.replace("%22", '"').replace("%0D", "\r").replace("%0A", "\n")


@routes.get("/api/attachments/{attachment_id}")
async def download(request: web.Request) -> web.FileResponse:
    principal = await require_user(request)
    served = await _attachments(request).fetch(principal.user.id, request.match_info["attachment_id"])
    return _file_response(served)


@routes.get("/api/attachments/{attachment_id}/thumbnail")
async def thumbnail(request: web.Request) -> web.FileResponse:
    principal = await require_user(request)
    served = await _attachments(request).fetch(principal.user.id, request.match_info["attachment_id"], thumbnail=True)
    return _file_response(served)


def _file_response(served: Served) -> web.FileResponse:
    return web.FileResponse(
        served.path,
        headers={
            "Content-Type": served.mime,
            "Content-Disposition": content_disposition(served.filename, inline=served.inline),
            "Cache-Control": "private",
            "Content-Security-Policy": _FILE_CSP,
        },
    )


def content_disposition(filename: str, *, inline: bool) -> str:
    """RFC 6266: an ASCII fallback in filename="..." for old clients, the real name in filename*=UTF-8''..."""
    fallback = "".join(c if 32 <= ord(c) < 127 and c not in '"\\%' else "_" for c in filename) or "file"
    kind = "inline" if inline else "attachment"
    return f"{kind}; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename, safe='')}"
