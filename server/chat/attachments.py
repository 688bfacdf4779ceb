"""Chat attachments: uploads into a chat, who may fetch them, and handing them to a message. No aiohttp here.

Decisions:

- Only members upload; a chat the user is not a member of answers like one that does not exist (404
  chat_not_found), before a byte of the body is read. Uploads are rate-limited per user.
- Bytes stream into DATA_DIR/attachments/tmp/ with a hard cap (413, the partial file removed); a finished upload
  moves to DATA_DIR/attachments/<2 hex>/<random id> (+ ".thumb"). The client's name is only ever a column,
  encrypted at rest; it is cleaned (no directories, no control or bidi-override characters, 255 characters).
- What a file is comes from its content (server/chat/media.py). Images are re-encoded without metadata and get
  a thumbnail, in threads, at most IMAGE_WORKERS at a time. In an end-to-end chat the file is opaque ciphertext:
  kind "encrypted", type application/octet-stream, never looked at; clients put the real name and type inside.
- Who may fetch: a member of the attachment's chat who uploaded it, or who sees the message that took it (sent
  after they joined). So an upload no message took yet is the uploader's alone. Anyone else gets 404
  attachment_not_found, exactly as for an id that does not exist.
- A message takes uploads with `claim` (then `attach`, once it has its id) inside its own transaction: each
  must be the sender's upload to that chat, not taken before; all or none. Uploads no message took within
  UNCLAIMED_SECONDS are swept, and so are those of messages deleted for everyone (`forget`) and of deleted chats.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
import secrets
import time
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from server.chat import media
from server.chat.views import sane_id
from server.config import RateLimit, Settings
from server.errors import ApiError, NotFound, ValidationError
from server.storage.attachments import Attachment, AttachmentRepository, UploadTarget
from server.storage.database import Executor
from server.web.ratelimit import RateLimiter, enforce

log = logging.getLogger(__name__)

UPLOAD_LIMIT = RateLimit(60, 600)  # uploads per user and window (seconds)
MAX_PER_MESSAGE = 10
MAX_NAME = 255
UNCLAIMED_SECONDS = 86_400
SWEEP_SECONDS = 3600.0
STALE_TEMP_SECONDS = 3600  # a partial upload this old was left by a process that stopped mid-upload
IMAGE_WORKERS = 2  # images decoded at once: each may hold hundreds of MB of pixels
ENCRYPTED_MIME = "application/octet-stream"
INLINE_KINDS = ("image", "video", "voice")
_FLUSH_BYTES = 1 << 20
_SWEEP_BATCH = 500
_ID = re.compile(r"[0-9a-f]{32}")
_EXTENSIONS = {
    "image/jpeg": ".jpg",
    "image/png": ".png",
    "image/gif": ".gif",
    "image/webp": ".webp",
    "video/mp4": ".mp4",
    "video/quicktime": ".mov",
    "video/webm": ".webm",
    "audio/webm": ".webm",
    "audio/mp4": ".m4a",
    "audio/ogg": ".ogg",
    "audio/mpeg": ".mp3",
    "application/pdf": ".pdf",
    "application/zip": ".zip",
    media.TEXT_MIME: ".txt",
}


@dataclass(frozen=True)
class Served:
    """A file to send: where it is, its type, the name to offer and whether browsers show it in place."""

    path: Path
    mime: str
    filename: str
    inline: bool


class Upload:
    """One upload on its way in: its bytes go to a temporary file, refused past `limit` (the file removed)."""

    def __init__(self, user_id: str, target: UploadTarget, path: Path, fh: IO[bytes], limit: int) -> None:
        self.user_id = user_id
        self.target = target
        self.path = path
        self.limit = limit
        self.size = 0
        self._fh: IO[bytes] | None = fh
        self._buffer: list[bytes] = []
        self._buffered = 0

    async def write(self, data: bytes) -> None:
        self.size += len(data)
        if self.size > self.limit:
            raise too_large(self.limit)
        self._buffer.append(data)
        self._buffered += len(data)
        if self._buffered >= _FLUSH_BYTES:
            await self._flush()

    async def _flush(self) -> None:
        if self._buffer and self._fh is not None:
            data, self._buffer, self._buffered = b"".join(self._buffer), [], 0
            await asyncio.to_thread(self._fh.write, data)

    async def close(self) -> None:
        await self._flush()
        if self._fh is not None:
            fh, self._fh = self._fh, None
            await asyncio.to_thread(fh.close)

    def discard(self) -> None:
        """Remove the temporary file, unless it has moved on (safe to call more than once)."""
        if self._fh is not None:
            self._fh.close()
            self._fh = None
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()


def too_large(limit: int, *, image: bool = False) -> ApiError:
    if image:
        return ApiError("the image is larger than {limit} bytes", code="upload_too_large", status=413, limit=limit)
    return ApiError("the file is larger than {limit} bytes", code="upload_too_large", status=413, limit=limit)


class AttachmentService:
    def __init__(
        self,
        repo: AttachmentRepository,
        root: Path,
        limiter: RateLimiter,
        *,
        max_bytes: int,
        max_image_bytes: int,
        max_pixels: int,
        upload_limit: RateLimit = UPLOAD_LIMIT,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.repo = repo
        self.root = root
        self._temp = root / "tmp"
        self._limiter = limiter
        self.max_bytes = max_bytes
        self.max_image_bytes = min(max_image_bytes, max_bytes)
        self.max_pixels = max_pixels
        self._upload_limit = upload_limit
        self._clock = clock
        self._image_slots = asyncio.Semaphore(IMAGE_WORKERS)

    @classmethod
    def from_settings(cls, settings: Settings, repo: AttachmentRepository, limiter: RateLimiter) -> AttachmentService:
        root = settings.data_dir / "attachments"
        (root / "tmp").mkdir(parents=True, exist_ok=True)
        return cls(
            repo,
            root,
            limiter,
            max_bytes=settings.max_upload_bytes,
            max_image_bytes=settings.max_image_upload_bytes,
            max_pixels=settings.max_image_pixels,
        )

    def path_of(self, attachment_id: str, *, thumbnail: bool = False) -> Path:
        return self.root / attachment_id[:2] / (attachment_id + (".thumb" if thumbnail else ""))

    # -- uploading ---------------------------------------------------------------------------------------
    async def start_upload(self, user_id: str, chat_id: str) -> Upload:
        """Check the user may upload to the chat, then open the temporary file the bytes go to."""
        target = await self.repo.upload_target(user_id, chat_id) if sane_id(chat_id) else None
        if target is None:
            raise NotFound("no such chat", code="chat_not_found")
        await enforce(self._limiter, self._upload_limit, f"chat-upload:{user_id}")
        path = self._temp / f"{secrets.token_hex(16)}.part"
        fh = await asyncio.to_thread(_create, path)
        return Upload(user_id, target, path, fh, self.max_bytes)

    async def finish_upload(self, upload: Upload, name: str | None) -> dict[str, Any]:
        """Judge, clean and store a complete upload; returns its view. The temporary file is gone after this."""
        await upload.close()
        if upload.size == 0:
            raise ValidationError("the file is empty", code="empty_file", field="file")
        attachment_id = secrets.token_hex(16)
        final, thumb = self.path_of(attachment_id), self.path_of(attachment_id, thumbnail=True)
        await asyncio.to_thread(final.parent.mkdir, exist_ok=True)
        try:
            attachment = await self._store(upload, attachment_id, final, thumb, clean_name(name))
            if not await self.repo.insert(attachment):  # left the chat while uploading
                raise NotFound("no such chat", code="chat_not_found")
        except BaseException:
            await asyncio.to_thread(_remove, final, thumb)
            raise
        view = attachment.descriptor()
        view.update(chat_id=attachment.chat_id, created_at=attachment.created_at)
        return view

    async def _store(
        self, upload: Upload, attachment_id: str, final: Path, thumb: Path, name: str | None
    ) -> Attachment:
        kind, mime, size = "encrypted", ENCRYPTED_MIME, upload.size
        width = height = None
        if not upload.target.e2e:
            try:
                detected = await asyncio.to_thread(media.detect, upload.path)
                kind, mime = detected.kind, detected.mime
                if kind == "image":
                    if size > self.max_image_bytes:
                        raise too_large(self.max_image_bytes, image=True)
                    async with self._image_slots:
                        image = await asyncio.to_thread(
                            media.clean_image, upload.path, mime, final, thumb, self.max_pixels
                        )
                    width, height = image.width, image.height
                    size = (await asyncio.to_thread(final.stat)).st_size
            except media.MediaError as exc:
                raise _refusal(exc) from None
        if kind != "image":
            await asyncio.to_thread(os.replace, upload.path, final)
        return Attachment(
            id=attachment_id,
            chat_id=upload.target.chat_id,
            uploader_id=upload.user_id,
            kind=kind,
            mime=mime,
            size=size,
            name=name,
            width=width,
            height=height,
            has_thumbnail=kind == "image",
            message_id=None,
            created_at=self._clock(),
        )

    # -- fetching ----------------------------------------------------------------------------------------
    async def fetch(self, user_id: str, attachment_id: str, *, thumbnail: bool = False) -> Served:
        """The file (or its thumbnail) if the user may see it; else 404, the same as for an unknown id."""
        found = await self.repo.visible(user_id, attachment_id) if _ID.fullmatch(attachment_id) else None
        if found is None:
            raise NotFound("no such attachment", code="attachment_not_found")
        if thumbnail:
            if not found.has_thumbnail:
                raise NotFound("this attachment has no thumbnail", code="thumbnail_not_found")
            stem = (found.name or "image").rsplit(".", 1)[0]
            return Served(self.path_of(found.id, thumbnail=True), media.THUMBNAIL_MIME, f"{stem}.webp", True)
        filename = found.name or "attachment" + _EXTENSIONS.get(found.mime, ".bin")
        return Served(self.path_of(found.id), found.mime, filename, found.kind in INLINE_KINDS)

    # -- messages ----------------------------------------------------------------------------------------
    async def claim(self, tx: Executor, user_id: str, chat_id: str, ids: Sequence[str]) -> list[dict[str, Any]] | None:
        """Take the uploads `ids` (checked with `attachment_ids` first) for a message `user_id` sends to `chat_id`,
        in the message's own transaction `tx`, before its id is reserved. Each must be the sender's upload to this
        chat that no message took yet; all are taken or none (None: nothing changed, refuse the send). Returns
        their descriptors, in the order given, for the message's meta: id, kind, mime, size, name, width, height,
        thumbnail. Once the message has its id, call `attach` in the same transaction."""
        if not ids:
            return []
        found = await self.repo.claim(tx, user_id, chat_id, ids)
        return None if found is None else [a.descriptor() for a in found]

    async def attach(self, tx: Executor, chat_id: str, message_id: int, ids: Sequence[str]) -> None:
        """Name the message that took the uploads `claim` returned: from then on every member who sees the message
        may fetch them."""
        if ids:
            await self.repo.attach(tx, chat_id, message_id, ids)

    async def forget(self, tx: Executor, chat_id: str, message_id: int) -> None:
        """A message was deleted for everyone: its attachments are unreachable now, their files swept later."""
        await self.repo.forget(tx, chat_id, message_id, self._clock())

    # -- sweeping ----------------------------------------------------------------------------------------
    async def sweep(self, now: float | None = None) -> int:
        """Remove unclaimed uploads older than UNCLAIMED_SECONDS, forgotten ones, those of deleted chats, and
        partial uploads left behind; returns how many attachments went."""
        moment = self._clock() if now is None else now
        removed = 0
        while True:
            rows = await self.repo.sweep(moment - UNCLAIMED_SECONDS, _SWEEP_BATCH)
            paths = [self.path_of(r["id"]) for r in rows]
            paths += [self.path_of(r["id"], thumbnail=True) for r in rows if r["has_thumbnail"]]
            await asyncio.to_thread(_remove, *paths)
            removed += len(rows)
            if len(rows) < _SWEEP_BATCH:
                break
        await asyncio.to_thread(_remove_stale, self._temp, time.time() - STALE_TEMP_SECONDS)
        if removed:
            log.info("swept %d attachments", removed)
        return removed

    async def run_sweeper(self, interval: float = SWEEP_SECONDS) -> None:
        while True:
            try:
                await self.sweep()
            except Exception:
                log.exception("attachment sweep failed")
            await asyncio.sleep(interval)


def attachment_ids(value: Any, field: str = "attachments") -> list[str]:
    """Check a message's list of attachment ids: 1 to MAX_PER_MESSAGE distinct ids."""
    if not isinstance(value, list) or not 0 < len(value) <= MAX_PER_MESSAGE:
        raise ValidationError(
            "{field} must be a list of 1 to {limit} attachment ids", field=field, limit=MAX_PER_MESSAGE
        )
    if not all(isinstance(v, str) and _ID.fullmatch(v) for v in value):
        raise ValidationError("{field} must hold attachment ids", field=field)
    if len(set(value)) != len(value):
        raise ValidationError("{field} names an attachment twice", field=field)
    return list(value)


def clean_name(name: str | None) -> str | None:
    """The file name to keep: no directories, no control or invisible formatting characters (a right-to-left
    override can disguise an extension), at most MAX_NAME characters; None if nothing is left."""
    if name is None:
        return None
    base = re.split(r"[/\\]", name)[-1]
    text = "".join(c for c in base if unicodedata.category(c) not in ("Cc", "Cf", "Cs")).strip()
    if text in ("", ".", ".."):
        return None
    if len(text) > MAX_NAME:
        stem, dot, ext = text.rpartition(".")
        keep = f".{ext}" if dot and stem and len(ext) <= 16 else ""
        text = text[: MAX_NAME - len(keep)] + keep
    return text


def _refusal(exc: media.MediaError) -> ApiError:
    if exc.reason == "unsupported":
        return ApiError(exc.template, code="unsupported_type", status=415, field="file", **exc.params)
    if exc.reason == "image_too_large":
        return ApiError(exc.template, code="image_too_large", status=413, field="file", **exc.params)
    return ValidationError(exc.template, code="unreadable_image", field="file", **exc.params)


def _create(path: Path) -> IO[bytes]:
    path.parent.mkdir(parents=True, exist_ok=True)
    return os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "wb")


def _remove(*paths: Path) -> None:
    for path in paths:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


def _remove_stale(directory: Path, before: float) -> None:
    with contextlib.suppress(FileNotFoundError), os.scandir(directory) as entries:
        for entry in entries:
            with contextlib.suppress(FileNotFoundError):
                if entry.name.endswith(".part") and entry.stat().st_mtime < before:
                    os.unlink(entry.path)
