"""What an uploaded file is, judged from its bytes alone, and images made safe to pass on: decoded, turned the
way their EXIF says, re-encoded without metadata, and given a thumbnail. Blocking work: run it in a thread.

Decisions:

- The client's file name, extension and Content-Type play no part. Magic bytes (the `filetype` package) name
  the container; WebM and MP4 are then told apart as audio or video by their track list, and a file no
  signature matches is plain text only if all of it is UTF-8 without NUL or other control characters.
- Accepted: images (JPEG, PNG, WebP, GIF), video (MP4, QuickTime, WebM), voice (Ogg, WebM or MP4/M4A audio,
  MP3) and documents (PDF, plain text, Office Open XML, OpenDocument, EPUB, ZIP). Everything else, legacy
  Office and HEIC included, is refused. SVG and HTML are never images or documents here (they carry script).
- Images are decoded with Pillow only after their pixel count (times frames) is checked against the limit, then
  saved again in their own format: EXIF (GPS, camera), XMP, comments and text chunks are gone; the colour profile
  stays (it is colour, not personal data). The EXIF orientation is applied to the pixels first.
- Animated GIF, PNG and WebP stay animated: every frame is re-encoded (frame times and looping kept, nothing
  else); the thumbnail is the first frame. A JPEG with several pictures (MPO) keeps the first.
- Thumbnails fit in THUMBNAIL_SIZE px and are WebP (alpha kept). Video gets none (no decoder on the server).
"""

from __future__ import annotations

import codecs
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import filetype  # type: ignore[import-untyped]
from PIL import Image, ImageSequence, UnidentifiedImageError

from server.errors import ApiError

THUMBNAIL_SIZE = 320
THUMBNAIL_MIME = "image/webp"
MAX_FRAMES = 1000
JPEG_QUALITY = 85
WEBP_QUALITY = 85
THUMBNAIL_QUALITY = 75
_HEAD = 256 * 1024  # enough to find the track list of a WebM file
_MOOV_MAX = 16 << 20  # bytes of an MP4 `moov` box we read to find its tracks

# What filetype names -> (our kind, the type we serve it as).
_ACCEPTED: dict[str, tuple[str, str]] = {
    "image/jpeg": ("image", "image/jpeg"),
    "image/png": ("image", "image/png"),
    "image/apng": ("image", "image/png"),
    "image/gif": ("image", "image/gif"),
    "image/webp": ("image", "image/webp"),
    "video/mp4": ("video", "video/mp4"),
    "video/x-m4v": ("video", "video/mp4"),
    "video/quicktime": ("video", "video/quicktime"),
    "video/webm": ("video", "video/webm"),
    "audio/mp4": ("voice", "audio/mp4"),
    "audio/ogg": ("voice", "audio/ogg"),
    "audio/mpeg": ("voice", "audio/mpeg"),
    **{
        mime: ("document", mime)
        for mime in (
            "application/pdf",
            "application/zip",
            "application/epub+zip",
            "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            "application/vnd.openxmlformats-officedocument.presentationml.presentation",
            "application/vnd.oasis.opendocument.text",
            "application/vnd.oasis.opendocument.spreadsheet",
            "application/vnd.oasis.opendocument.presentation",
        )
    },
}
TEXT_MIME = "text/plain; charset=utf-8"
# What a refused file is told, with what is accepted spelled out in each (a template says all of it, so its
# translation can: server/texts).
NOT_ACCEPTED = (
    "this kind of file is not accepted; send images (JPEG, PNG, WebP, GIF), video (MP4, QuickTime, WebM), voice"
    " (Ogg, WebM, MP4/M4A, MP3) and documents (PDF, plain text, Office, OpenDocument, EPUB, ZIP)"
)
TYPE_NOT_ACCEPTED = (
    "{mime} files are not accepted; send images (JPEG, PNG, WebP, GIF), video (MP4, QuickTime, WebM), voice"
    " (Ogg, WebM, MP4/M4A, MP3) and documents (PDF, plain text, Office, OpenDocument, EPUB, ZIP)"
)
_PILLOW_FORMAT = {"image/jpeg": "JPEG", "image/png": "PNG", "image/gif": "GIF", "image/webp": "WEBP"}
# EXIF orientation -> the transpose that undoes it (as ImageOps.exif_transpose does).
_ORIENTATION = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}
_TEXT_CONTROLS = re.compile(rb"[\x00-\x08\x0b\x0e-\x1f]")


class MediaError(ApiError):
    """The file is refused; `reason` says why: "unsupported", "unreadable_image" or "image_too_large". Its message
    is a template with its values, as every ApiError's; the upload answers with it (attachments._refusal)."""

    def __init__(self, message: str, *, reason: str, **params: Any) -> None:
        super().__init__(message, **params)
        self.reason = reason


@dataclass(frozen=True)
class Detected:
    kind: str  # "image" | "video" | "voice" | "document"
    mime: str


@dataclass(frozen=True)
class CleanImage:
    width: int
    height: int


# -- detection -------------------------------------------------------------------------------------------
def detect(path: Path) -> Detected:
    """The kind and type of the file at `path`, from its content; MediaError("unsupported") if not accepted."""
    with path.open("rb") as fh:
        head = fh.read(_HEAD)
        found = filetype.guess(head) if head else None
        if found is None:
            if head and _is_text(fh, head):
                return Detected("document", TEXT_MIME)
            raise MediaError(NOT_ACCEPTED, reason="unsupported")
        accepted = _ACCEPTED.get(found.mime)
        if accepted is None:
            raise MediaError(TYPE_NOT_ACCEPTED, reason="unsupported", mime=found.mime)
        kind, mime = accepted
        if mime == "video/webm" and _webm_track_types(head) == {_EBML_AUDIO}:
            return Detected("voice", "audio/webm")
        if mime in ("video/mp4", "video/quicktime", "audio/mp4"):
            handlers = _mp4_handlers(fh)
            if b"vide" in handlers:
                return Detected("video", "video/mp4" if mime == "audio/mp4" else mime)
            if b"soun" in handlers:
                return Detected("voice", "audio/mp4")
        return Detected(kind, mime)


def _is_text(fh: IO[bytes], head: bytes) -> bool:
    """All of the file is UTF-8 with no NUL or other control characters but tab, newline, form feed, return."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    chunk = head
    try:
        while chunk:
            if _TEXT_CONTROLS.search(chunk):
                return False
            decoder.decode(chunk)
            chunk = fh.read(1 << 20)
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return False
    return True


_EBML_SEGMENT, _EBML_TRACKS, _EBML_TRACK_ENTRY, _EBML_TRACK_TYPE = 0x18538067, 0x1654AE6B, 0xAE, 0x83
_EBML_AUDIO = 2


def _vint(buf: bytes, pos: int, *, size: bool) -> tuple[int, int] | None:
    """An EBML variable-length integer at `pos`: (value, next position); sizes lose their length marker and an
    all-ones size (unknown) reads as -1."""
    if pos >= len(buf) or buf[pos] == 0:
        return None
    length = 9 - buf[pos].bit_length()
    if pos + length > len(buf):
        return None
    value = int.from_bytes(buf[pos : pos + length], "big")
    if size:
        value &= (1 << (7 * length)) - 1
        if value == (1 << (7 * length)) - 1:
            value = -1
    return value, pos + length


def _ebml_children(buf: bytes, start: int, end: int) -> list[tuple[int, int, int]]:
    """The elements between `start` and `end`: (id, data start, data end); stops at one of unknown size or one
    that runs past the bytes we have."""
    out = []
    pos = start
    while pos < end:
        element = _vint(buf, pos, size=False)
        if element is None:
            break
        length = _vint(buf, element[1], size=True)
        if length is None:
            break
        data = length[1]
        if length[0] < 0:
            out.append((element[0], data, -1))
            break
        out.append((element[0], data, data + length[0]))
        pos = data + length[0]
    return out


def _webm_track_types(head: bytes) -> set[int]:
    """The TrackType of every track in a WebM file's first bytes (1 video, 2 audio); empty if not found."""
    types: set[int] = set()
    for element, start, end in _ebml_children(head, 0, len(head)):
        if element != _EBML_SEGMENT:
            continue
        for child, c_start, c_end in _ebml_children(head, start, len(head) if end < 0 else min(end, len(head))):
            if child != _EBML_TRACKS or c_end < 0 or c_end > len(head):
                continue
            for entry, e_start, e_end in _ebml_children(head, c_start, c_end):
                if entry != _EBML_TRACK_ENTRY or e_end < 0:
                    continue
                for field, f_start, f_end in _ebml_children(head, e_start, e_end):
                    if field == _EBML_TRACK_TYPE and 0 < f_end - f_start <= 8:
                        types.add(int.from_bytes(head[f_start:f_end], "big"))
            return types
    return types


def _mp4_handlers(fh: IO[bytes]) -> set[bytes]:
    """The handler types of an MP4 file's tracks (b"vide", b"soun"...), read from its `moov` box wherever it is."""
    size = os.fstat(fh.fileno()).st_size
    pos = 0
    while pos + 8 <= size:
        fh.seek(pos)
        header = fh.read(16)
        length, box = int.from_bytes(header[:4], "big"), header[4:8]
        if length == 1 and len(header) == 16:
            length = int.from_bytes(header[8:16], "big")
        elif length == 0:
            length = size - pos
        if length < 8:
            break
        if box == b"moov":
            fh.seek(pos)
            moov = fh.read(min(length, _MOOV_MAX))
            handlers = set()
            at = moov.find(b"hdlr")
            while at >= 0:
                handlers.add(moov[at + 12 : at + 16])  # type, version and flags, pre_defined, then handler_type
                at = moov.find(b"hdlr", at + 4)
            return handlers
        pos += length
    return set()


# -- images ----------------------------------------------------------------------------------------------
def clean_image(source: Path, mime: str, target: Path, thumbnail: Path, max_pixels: int) -> CleanImage:
    """Decode the image at `source` (of type `mime`), write it again to `target` without metadata, turned
    upright, and a thumbnail to `thumbnail`. MediaError if it does not decode or has too many pixels."""
    fmt = _PILLOW_FORMAT[mime]
    try:
        with Image.open(source, formats=[fmt]) as im:
            width, height = im.size
            frames = getattr(im, "n_frames", 1) if fmt != "JPEG" else 1
            if width * height * max(frames, 1) > max_pixels or frames > MAX_FRAMES:
                raise MediaError(
                    "the image has more than {limit} pixels (all frames counted)",
                    reason="image_too_large",
                    limit=max_pixels,
                )
            im.load()
            turn = _ORIENTATION.get(im.getexif().get(0x0112, 1))
            if frames > 1:
                first = _save_animation(im, fmt, target, turn)
            else:
                first = _upright(im, turn)
                _save_still(first, fmt, target, im.info.get("icc_profile"))
            _save_thumbnail(first, thumbnail)
            return CleanImage(first.width, first.height)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:  # Pillow's own bound, past ours
        raise MediaError("the image has more than {limit} pixels", reason="image_too_large", limit=max_pixels) from exc
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError) as exc:
        raise MediaError("the image could not be read", reason="unreadable_image") from exc


def _upright(frame: Image.Image, turn: Image.Transpose | None) -> Image.Image:
    """A copy of `frame` with the orientation applied and no metadata but transparency."""
    out = frame.transpose(turn) if turn is not None else frame.copy()
    out.info = {k: v for k, v in frame.info.items() if k == "transparency"}
    return out


def _save_still(image: Image.Image, fmt: str, target: Path, icc: Any) -> None:
    options: dict[str, Any] = {"icc_profile": icc} if icc and fmt != "GIF" else {}
    if fmt == "JPEG":
        if image.mode not in ("L", "RGB", "CMYK"):
            image = image.convert("RGB")
        options.update(quality=JPEG_QUALITY)
    elif fmt == "WEBP":
        options.update(quality=WEBP_QUALITY)
    image.save(target, format=fmt, **options)


def _save_animation(im: Image.Image, fmt: str, target: Path, turn: Image.Transpose | None) -> Image.Image:
    """Re-encode every frame (Pillow hands them over whole, already composed), with frame times and looping and
    nothing else; returns the first frame."""
    frames: list[Image.Image] = []
    durations: list[int] = []
    for frame in ImageSequence.Iterator(im):
        frames.append(_upright(frame, turn))
        durations.append(int(frame.info.get("duration") or 100))
    options: dict[str, Any] = {"save_all": True, "append_images": frames[1:], "duration": durations}
    options["loop"] = int(im.info.get("loop", 0))
    if fmt == "GIF":
        options["disposal"] = 2  # whole frames: clear before each, so transparent pixels stay transparent
    elif fmt == "PNG":
        options.update(disposal=1, blend=0)  # APNG: clear to transparent, draw the frame as it is
    else:
        options["quality"] = WEBP_QUALITY
    frames[0].save(target, format=fmt, **options)
    return frames[0]


def _save_thumbnail(image: Image.Image, thumbnail: Path) -> None:
    alpha = image.mode in ("RGBA", "LA", "PA", "RGBa", "La") or image.has_transparency_data
    small = image.convert("RGBA" if alpha else "RGB")
    small.thumbnail((THUMBNAIL_SIZE, THUMBNAIL_SIZE), Image.Resampling.LANCZOS)
    small.save(thumbnail, format="WEBP", quality=THUMBNAIL_QUALITY)
