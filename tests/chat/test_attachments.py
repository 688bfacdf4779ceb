"""Chat attachments: uploads judged by their content, images cleaned of metadata, files served to members only,
end-to-end files kept byte for byte, names encrypted at rest, size limits, and handing uploads to a message."""

from __future__ import annotations

import asyncio
import base64
import io
import os
import zipfile
import zlib
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp.test_utils import TestClient
from PIL import ExifTags, Image

from server.app import create_app
from server.chat import media
from server.chat.appkeys import attachments_key
from server.chat.attachments import UNCLAIMED_SECONDS
from server.config import Settings
from server.keys import database_key, keyring_key
from tests.chat.chatkit import PDF, client_id, direct, group, png, uid, upload, uploaded, users
from tests.helpers import bearer

GPS_MAKE = "SpyCam-Zq81"


# -- making files ------------------------------------------------------------------------------------------
def photo_with_exif() -> bytes:
    """A 400x200 JPEG, left half red and right half blue, whose EXIF says "turn 90° clockwise to show" (6), with
    the camera's make, a GPS position and a comment."""
    im = Image.new("RGB", (400, 200), (255, 0, 0))
    im.paste((0, 0, 255), (200, 0, 400, 200))
    exif = Image.Exif()
    exif[ExifTags.Base.Orientation] = 6
    exif[ExifTags.Base.Make] = GPS_MAKE
    exif.get_ifd(ExifTags.IFD.GPSInfo).update(
        {
            ExifTags.GPS.GPSLatitudeRef: "N",
            ExifTags.GPS.GPSLatitude: (52.0, 31.0, 12.0),
            ExifTags.GPS.GPSLongitudeRef: "E",
            ExifTags.GPS.GPSLongitude: (13.0, 24.0, 36.0),
        }
    )
    out = io.BytesIO()
    im.save(out, "JPEG", exif=exif, comment=b"secret-comment-Zq81", quality=95)
    return out.getvalue()


def animated_gif() -> bytes:
    frames = [Image.new("RGB", (40, 30), color) for color in ("red", "green", "blue")]
    out = io.BytesIO()
    frames[0].save(
        out, "GIF", save_all=True, append_images=frames[1:], duration=[100, 200, 300], loop=0, comment=b"gif-note-Zq81"
    )
    return out.getvalue()


def _ebml(element_id: bytes, payload: bytes) -> bytes:
    return element_id + bytes([0x80 | len(payload)]) + payload  # sizes below 127 fit one byte


def webm(track_type: int) -> bytes:
    header = _ebml(b"\x1a\x45\xdf\xa3", _ebml(b"\x42\x82", b"webm"))
    tracks = _ebml(b"\x16\x54\xae\x6b", _ebml(b"\xae", _ebml(b"\xd7", b"\x01") + _ebml(b"\x83", bytes([track_type]))))
    segment = b"\x18\x53\x80\x67" + b"\x01\xff\xff\xff\xff\xff\xff\xff" + tracks  # unknown size, as recorders write
    return header + segment + b"\x1f\x43\xb6\x75\x01\xff\xff\xff\xff\xff\xff\xff" + os.urandom(64)


def _box(kind: bytes, payload: bytes) -> bytes:
    return (8 + len(payload)).to_bytes(4, "big") + kind + payload


def mp4(handler: bytes, brand: bytes = b"isom") -> bytes:
    ftyp = _box(b"ftyp", brand + b"\x00\x00\x02\x00" + brand + b"mp41")
    hdlr = _box(b"hdlr", b"\x00" * 8 + handler + b"\x00" * 12)
    moov = _box(b"moov", _box(b"trak", _box(b"mdia", hdlr)))
    return ftyp + _box(b"mdat", os.urandom(256)) + moov  # moov after the media, as cameras write it


def png_bomb(side: int = 30_000) -> bytes:
    """A PNG that claims side x side pixels in a few bytes: only its header is ever read."""
    header = side.to_bytes(4, "big") * 2 + bytes([1, 0, 0, 0, 0])  # 1 bit per pixel, greyscale
    chunk = len(header).to_bytes(4, "big") + b"IHDR" + header + zlib.crc32(b"IHDR" + header).to_bytes(4, "big")
    return b"\x89PNG\r\n\x1a\n" + chunk + b"\x00\x00\x00\x00IEND\xaeB`\x82"


# -- talking to the server ---------------------------------------------------------------------------------
async def claim(
    client: TestClient, grant: dict[str, Any], chat_id: str, ids: list[str], *, e2e: bool = False
) -> list[dict[str, Any]] | None:
    """Send a message that takes the uploads `ids`; returns its attachments, or None if the send was refused
    for them (and then no message was made: the chat's last message id stays)."""
    before = await client.get(f"/api/chats/{chat_id}/messages?limit=1", headers=bearer(grant))
    last = (await before.json())["last_message_id"]
    body = {"ciphertext": base64.b64encode(os.urandom(40)).decode()} if e2e else {"text": "see attached"}
    resp = await client.post(
        f"/api/chats/{chat_id}/messages",
        json={"client_id": client_id(), "attachments": ids, **body},
        headers=bearer(grant),
    )
    if resp.status == 400:
        assert (await resp.json())["error"]["field"] == "attachments"
        after = await client.get(f"/api/chats/{chat_id}/messages?limit=1", headers=bearer(grant))
        assert (await after.json())["last_message_id"] == last
        return None
    assert resp.status == 201, await resp.text()
    message = await resp.json()
    assert message["id"] == last + 1
    taken: list[dict[str, Any]] = message["attachments"]
    return taken


def stored_files(settings: Settings) -> list[Path]:
    return [p for p in (settings.data_dir / "attachments").rglob("*") if p.is_file()]


# -- tests ---------------------------------------------------------------------------------------------------
async def test_a_photo_loses_its_exif_is_turned_upright_and_gets_a_thumbnail(
    client: TestClient, settings: Settings
) -> None:
    alice, bob = await users(client, 2)
    chat_id = await group(client, alice, [bob])
    original = photo_with_exif()
    view = await uploaded(client, alice, chat_id, original, name="holiday.jpg", content_type="image/jpeg")
    assert view["kind"] == "image"
    assert view["mime"] == "image/jpeg"
    assert view["name"] == "holiday.jpg"
    assert (view["width"], view["height"]) == (200, 400)  # turned as the EXIF said
    assert view["thumbnail"] is True
    assert view["chat_id"] == chat_id

    resp = await client.get(f"/api/attachments/{view['id']}", headers=bearer(alice))
    assert resp.status == 200
    assert resp.headers["Content-Type"] == "image/jpeg"
    assert resp.headers["X-Content-Type-Options"] == "nosniff"
    assert resp.headers["Cache-Control"] == "private"
    assert resp.headers["Content-Disposition"] == "inline; filename=\"holiday.jpg\"; filename*=UTF-8''holiday.jpg"
    served = await resp.read()
    assert len(served) == view["size"]
    for secret in (GPS_MAKE.encode(), b"secret-comment-Zq81", b"Exif"):
        assert secret not in served
    image = Image.open(io.BytesIO(served))
    assert image.size == (200, 400)
    assert not image.getexif()
    assert "exif" not in image.info
    assert "comment" not in image.info
    top, bottom = image.convert("RGB").getpixel((100, 50)), image.convert("RGB").getpixel((100, 350))
    assert isinstance(top, tuple)
    assert isinstance(bottom, tuple)
    assert top[0] > 200 > top[2]  # the left (red) half is now on top
    assert bottom[2] > 200 > bottom[0]

    resp = await client.get(f"/api/attachments/{view['id']}/thumbnail", headers=bearer(alice))
    assert resp.status == 200
    assert resp.headers["Content-Type"] == "image/webp"
    assert resp.headers["Content-Disposition"].startswith("inline;")
    thumb_bytes = await resp.read()
    thumb = Image.open(io.BytesIO(thumb_bytes))
    assert thumb.format == "WEBP"
    assert thumb.size == (160, 320)
    assert len(thumb_bytes) < len(served)
    # Nothing on disk carries the client's name.
    assert all("holiday" not in str(p) for p in stored_files(settings))


async def test_the_content_decides_the_type_not_the_name_or_the_content_type(client: TestClient) -> None:
    (alice,) = await users(client, 1)
    chat_id = await group(client, alice, [])
    view = await uploaded(client, alice, chat_id, png(), name="report.pdf", content_type="application/pdf")
    assert (view["kind"], view["mime"], view["name"]) == ("image", "image/png", "report.pdf")
    assert (view["width"], view["height"]) == (64, 48)
    resp = await client.get(f"/api/attachments/{view['id']}", headers=bearer(alice))
    assert resp.headers["Content-Type"] == "image/png"
    assert Image.open(io.BytesIO(await resp.read())).format == "PNG"

    # A real PDF named like a picture is a document, offered for download.
    view = await uploaded(client, alice, chat_id, PDF, name="cat.jpg", content_type="image/jpeg")
    assert (view["kind"], view["mime"], view["thumbnail"]) == ("document", "application/pdf", False)
    resp = await client.get(f"/api/attachments/{view['id']}", headers=bearer(alice))
    assert resp.headers["Content-Type"] == "application/pdf"
    assert resp.headers["Content-Disposition"].startswith("attachment;")
    assert await resp.read() == PDF
    resp = await client.get(f"/api/attachments/{view['id']}/thumbnail", headers=bearer(alice))
    assert resp.status == 404
    assert (await resp.json())["error"]["code"] == "thumbnail_not_found"

    # HTML is only ever text here: served as text/plain, for download, never as a page.
    page = b"<html><script>alert(1)</script></html>\n"
    view = await uploaded(client, alice, chat_id, page, name="x.html", content_type="text/html")
    assert (view["kind"], view["mime"]) == ("document", "text/plain; charset=utf-8")
    resp = await client.get(f"/api/attachments/{view['id']}", headers=bearer(alice))
    assert resp.headers["Content-Type"] == "text/plain; charset=utf-8"
    assert resp.headers["Content-Disposition"].startswith("attachment;")
    assert "sandbox" in resp.headers["Content-Security-Policy"]


async def test_executables_and_unknown_bytes_are_refused(client: TestClient, settings: Settings) -> None:
    (alice,) = await users(client, 1)
    chat_id = await group(client, alice, [])
    samples = {
        "elf": b"\x7fELF\x02\x01\x01" + b"\x00" * 200,
        "exe": b"MZ\x90\x00\x03" + b"\x00" * 200,
        "binary": bytes(range(256)) * 8,
    }
    for name, data in samples.items():
        resp = await upload(client, alice, chat_id, data, name=f"{name}.jpg", content_type="image/jpeg")
        assert resp.status == 415, name
        assert (await resp.json())["error"]["code"] == "unsupported_type"
    # A JPEG signature on what is not a JPEG: judged an image, and refused when it does not decode.
    resp = await upload(client, alice, chat_id, b"\xff\xd8\xff\xe0" + os.urandom(500), name="x.jpg")
    assert resp.status == 400
    assert (await resp.json())["error"]["code"] == "unreadable_image"
    # A decompression bomb is refused from its header, before a pixel is decoded.
    for bomb in (png_bomb(30_000), png_bomb(8_000)):  # past Pillow's own bound, and past ours only
        resp = await upload(client, alice, chat_id, bomb, name="bomb.png")
        assert resp.status == 413
        assert (await resp.json())["error"]["code"] == "image_too_large"
    resp = await upload(client, alice, chat_id, b"", name="empty.txt")
    assert resp.status == 400
    assert (await resp.json())["error"]["code"] == "empty_file"
    assert stored_files(settings) == []


async def test_uploads_past_the_limits_get_413_and_leave_nothing_behind(
    aiohttp_client: Any, make_settings: Callable[..., Settings]
) -> None:
    settings = make_settings(max_upload_bytes=64 * 1024, max_image_upload_bytes=8 * 1024, max_image_pixels=10_000)
    client: TestClient = await aiohttp_client(create_app(settings))
    (alice,) = await users(client, 1)
    chat_id = await group(client, alice, [])
    big = b"a" * (200 * 1024)

    # Announced by Content-Length: refused before the body is read.
    resp = await upload(client, alice, chat_id, big, name="big.txt")
    assert resp.status == 413
    assert (await resp.json())["error"]["code"] == "upload_too_large"

    # Streamed with no length: refused once the cap is passed.
    async def stream() -> AsyncIterator[bytes]:
        for _ in range(25):
            yield b"a" * 8192

    resp = await client.post(f"/api/chats/{chat_id}/attachments?name=big.txt", data=stream(), headers=bearer(alice))
    assert resp.status == 413
    assert stored_files(settings) == []

    # Images have their own, lower limit, and a pixel limit.
    noisy = png((60, 60), noise=True)
    assert 8 * 1024 < len(noisy) < 64 * 1024
    resp = await upload(client, alice, chat_id, noisy, name="noise.png")
    assert resp.status == 413
    assert (await resp.json())["error"]["code"] == "upload_too_large"
    resp = await upload(client, alice, chat_id, png((200, 200)), name="wide.png")
    assert resp.status == 413
    assert (await resp.json())["error"]["code"] == "image_too_large"
    assert stored_files(settings) == []

    # Just under the limit is fine.
    view = await uploaded(client, alice, chat_id, b"a" * (64 * 1024), name="fits.txt")
    assert view["size"] == 64 * 1024


async def test_only_members_reach_a_chats_attachments(client: TestClient) -> None:
    alice, bob, carol, dave, eve = await users(client, 5)
    chat_id = await group(client, alice, [bob])
    other_chat = await direct(client, carol, dave)
    view = await uploaded(client, alice, chat_id, png(), name="team.png")
    other = await uploaded(client, carol, other_chat, png(), name="theirs.png")
    aid = view["id"]

    def paths(attachment_id: str) -> list[str]:
        return [f"/api/attachments/{attachment_id}", f"/api/attachments/{attachment_id}/thumbnail"]

    unknown_answers = []
    for path in paths("0" * 32):
        resp = await client.get(path, headers=bearer(alice))
        assert resp.status == 404
        unknown_answers.append(await resp.json())
    assert unknown_answers[0]["error"]["code"] == "attachment_not_found"
    for outsider in (carol, eve):
        resp = await upload(client, outsider, chat_id, png())
        assert resp.status == 404
        assert (await resp.json())["error"]["code"] == "chat_not_found"
        for path, unknown in zip(paths(aid), unknown_answers, strict=True):
            resp = await client.get(path, headers=bearer(outsider))
            assert resp.status == 404
            assert await resp.json() == unknown  # exactly as for an id that does not exist
    resp = await upload(client, alice, other_chat, png())
    assert resp.status == 404
    for path in paths(other["id"]):
        assert (await client.get(path, headers=bearer(alice))).status == 404
    assert (await client.get(paths(aid)[0])).status == 401

    # Until a message takes it, an upload is its uploader's alone; then every member sees it.
    assert (await client.get(paths(aid)[0], headers=bearer(bob))).status == 404
    taken = await claim(client, alice, chat_id, [aid])
    assert taken == [
        {
            "id": aid,
            "kind": "image",
            "mime": "image/png",
            "size": view["size"],
            "name": "team.png",
            "width": 64,
            "height": 48,
            "thumbnail": True,
        }
    ]
    for path in paths(aid):
        assert (await client.get(path, headers=bearer(bob))).status == 200
        assert (await client.get(path, headers=bearer(carol))).status == 404

    # Bob leaves: the chat's files are closed to him.
    assert (await client.post(f"/api/chats/{chat_id}/leave", headers=bearer(bob))).status == 204
    assert (await client.get(paths(aid)[0], headers=bearer(bob))).status == 404


async def test_an_end_to_end_upload_is_kept_and_served_byte_for_byte(client: TestClient) -> None:
    alice, bob = await users(client, 2)
    chat_id = await group(client, alice, [bob], e2e=True)
    ciphertext = b"\xff\xd8\xff\xe0" + os.urandom(50_000)  # looks like a JPEG: never looked at all the same
    view = await uploaded(client, alice, chat_id, ciphertext, name="blob")
    assert view["kind"] == "encrypted"
    assert view["mime"] == "application/octet-stream"
    assert (view["size"], view["width"], view["height"], view["thumbnail"]) == (len(ciphertext), None, None, False)
    # Raw bodies work too; the name may be left out.
    resp = await client.post(f"/api/chats/{chat_id}/attachments", data=b"\x00opaque", headers=bearer(alice))
    assert resp.status == 201, await resp.text()
    assert (await resp.json())["name"] is None

    assert await claim(client, alice, chat_id, [view["id"]], e2e=True) is not None
    resp = await client.get(f"/api/attachments/{view['id']}", headers=bearer(bob))
    assert resp.status == 200
    assert resp.headers["Content-Type"] == "application/octet-stream"
    assert resp.headers["Content-Disposition"].startswith("attachment;")
    assert await resp.read() == ciphertext
    assert (await client.get(f"/api/attachments/{view['id']}/thumbnail", headers=bearer(bob))).status == 404


async def test_names_are_encrypted_at_rest_and_offered_properly_encoded(client: TestClient, settings: Settings) -> None:
    (alice,) = await users(client, 1)
    chat_id = await group(client, alice, [])
    name = 'Übersicht "Q3" – geheim.pdf'
    view = await uploaded(client, alice, chat_id, PDF, name=name)
    assert view["name"] == name
    row = await client.app[database_key].fetchrow("SELECT name FROM attachments WHERE id = $1", view["id"])
    assert row is not None
    sealed = bytes(row["name"])
    assert b"geheim" not in sealed
    assert name.encode() not in sealed
    keyring = client.app[keyring_key]
    assert keyring.decrypt(sealed, table="attachments", column="name", row_id=view["id"]) == name
    assert all("geheim" not in str(p) for p in stored_files(settings))

    resp = await client.get(f"/api/attachments/{view['id']}", headers=bearer(alice))
    assert resp.headers["Content-Disposition"] == (
        'attachment; filename="_bersicht _Q3_ _ geheim.pdf";'
        " filename*=UTF-8''%C3%9Cbersicht%20%22Q3%22%20%E2%80%93%20geheim.pdf"
    )

    # As a browser sends it: UTF-8, quotes as %22.
    boundary = "----form7MA4YWxkTrZu0gW"
    form = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="Übersicht %22Q3%22.pdf"\r\n'
            f"Content-Type: application/pdf\r\n\r\n"
        ).encode()
        + PDF
        + f"\r\n--{boundary}--\r\n".encode()
    )
    resp = await client.post(
        f"/api/chats/{chat_id}/attachments",
        data=form,
        headers={**bearer(alice), "Content-Type": f"multipart/form-data; boundary={boundary}"},
    )
    assert (await resp.json())["name"] == 'Übersicht "Q3".pdf'

    # Directories, control and bidi-override characters never survive into a name.
    for given, kept in (
        ("../../etc/invoice\u202egpj.exe\x07", "invoicegpj.exe"),
        ("C:\\Users\\me\\notes.txt", "notes.txt"),
    ):
        resp = await client.post(
            f"/api/chats/{chat_id}/attachments", params={"name": given}, data=b"hello\n", headers=bearer(alice)
        )
        assert resp.status == 201, await resp.text()
        assert (await resp.json())["name"] == kept


async def test_a_message_takes_each_upload_once_and_unused_ones_are_swept(
    client: TestClient, settings: Settings
) -> None:
    alice, bob = await users(client, 2)
    chat_id = await group(client, alice, [bob])
    first = await uploaded(client, alice, chat_id, png(), name="a.png")
    second = await uploaded(client, alice, chat_id, PDF, name="b.pdf")
    bobs = await uploaded(client, bob, chat_id, PDF, name="c.pdf")
    # Someone else's upload, or an unknown id, spoils the whole claim: nothing is taken.
    assert await claim(client, alice, chat_id, [first["id"], bobs["id"]]) is None
    assert await claim(client, alice, chat_id, [first["id"], "f" * 32]) is None
    taken = await claim(client, alice, chat_id, [second["id"], first["id"]])
    assert taken is not None
    assert [t["id"] for t in taken] == [second["id"], first["id"]]
    assert await claim(client, alice, chat_id, [first["id"]]) is None  # once only

    service = client.app[attachments_key]
    assert await service.sweep() == 0
    leftover = await uploaded(client, alice, chat_id, png(), name="never sent.png")
    assert await service.sweep(now=leftover["created_at"] + UNCLAIMED_SECONDS + 1) == 2  # bob's and this one
    assert (await client.get(f"/api/attachments/{leftover['id']}", headers=bearer(alice))).status == 404
    assert (await client.get(f"/api/attachments/{first['id']}", headers=bearer(bob))).status == 200
    assert len(stored_files(settings)) == 3  # the PDF, the PNG and its thumbnail

    # A message deleted for everyone takes its attachments along.
    page = await (await client.get(f"/api/chats/{chat_id}/messages", headers=bearer(bob))).json()
    carrier = next(m for m in page["messages"] if m.get("attachments"))
    assert [a["name"] for a in carrier["attachments"]] == ["b.pdf", "a.png"]
    resp = await client.delete(f"/api/chats/{chat_id}/messages/{carrier['id']}?for=everyone", headers=bearer(alice))
    assert resp.status == 204
    assert (await client.get(f"/api/attachments/{first['id']}", headers=bearer(bob))).status == 404
    await service.sweep()
    assert stored_files(settings) == []


async def test_an_animated_gif_stays_animated_without_its_comment(client: TestClient) -> None:
    (alice,) = await users(client, 1)
    chat_id = await group(client, alice, [])
    view = await uploaded(client, alice, chat_id, animated_gif(), name="dance.gif")
    assert (view["kind"], view["mime"], view["width"], view["height"]) == ("image", "image/gif", 40, 30)
    served = await (await client.get(f"/api/attachments/{view['id']}", headers=bearer(alice))).read()
    assert b"gif-note-Zq81" not in served
    image = Image.open(io.BytesIO(served))
    assert getattr(image, "n_frames", 1) == 3
    assert "comment" not in image.info
    assert (await client.get(f"/api/attachments/{view['id']}/thumbnail", headers=bearer(alice))).status == 200


async def test_voice_and_video_are_told_apart_by_their_tracks(client: TestClient, tmp_path: Path) -> None:
    cases = {
        "voice.webm": (webm(2), "voice", "audio/webm"),
        "clip.webm": (webm(1), "video", "video/webm"),
        "voice.m4a": (mp4(b"soun", b"M4A "), "voice", "audio/mp4"),
        "memo.mp4": (mp4(b"soun"), "voice", "audio/mp4"),
        "clip.mp4": (mp4(b"vide"), "video", "video/mp4"),
        "song.mp3": (b"ID3\x04\x00\x00\x00\x00\x00\x00" + os.urandom(300), "voice", "audio/mpeg"),
        "voice.ogg": (b"OggS\x00\x02" + os.urandom(300), "voice", "audio/ogg"),
    }
    docx, archive = io.BytesIO(), io.BytesIO()
    with zipfile.ZipFile(docx, "w") as z:
        for member in ("[Content_Types].xml", "_rels/.rels", "word/document.xml"):
            z.writestr(member, "<x/>")
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("notes.txt", "hi")
    word = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
    cases["letter.docx"] = (docx.getvalue(), "document", word)
    cases["stuff.zip"] = (archive.getvalue(), "document", "application/zip")
    cases["notes.txt"] = ("grüße\tand tabs\r\n".encode() * 100, "document", media.TEXT_MIME)
    for name, (data, kind, mime) in cases.items():
        path = tmp_path / name
        path.write_bytes(data)
        assert media.detect(path) == media.Detected(kind, mime), name
    # And through the upload route.
    (alice,) = await users(client, 1)
    chat_id = await group(client, alice, [])
    view = await uploaded(client, alice, chat_id, webm(2), name="voice.webm", content_type="video/webm")
    assert (view["kind"], view["mime"]) == ("voice", "audio/webm")
    resp = await client.get(f"/api/attachments/{view['id']}", headers=bearer(alice))
    assert resp.headers["Content-Type"] == "audio/webm"
    assert resp.headers["Content-Disposition"].startswith("inline;")


async def test_a_form_without_a_file_field_is_refused(client: TestClient) -> None:
    (alice,) = await users(client, 1)
    chat_id = await group(client, alice, [])
    form = aiohttp.FormData(default_to_multipart=True)
    form.add_field("caption", "hello")
    resp = await client.post(f"/api/chats/{chat_id}/attachments", data=form, headers=bearer(alice))
    assert resp.status == 400
    assert (await resp.json())["error"]["field"] == "file"
    # Other fields before the file are skipped.
    form = aiohttp.FormData()
    form.add_field("caption", "hello")
    form.add_field("file", PDF, filename="doc.pdf", content_type="application/pdf")
    resp = await client.post(f"/api/chats/{chat_id}/attachments", data=form, headers=bearer(alice))
    assert resp.status == 201, await resp.text()


async def test_two_messages_racing_for_one_upload_get_it_once(client: TestClient) -> None:
    (alice,) = await users(client, 1)
    chat_id = await group(client, alice, [])
    view = await uploaded(client, alice, chat_id, PDF, name="once.pdf")
    db, service = client.app[database_key], client.app[attachments_key]

    async def take() -> list[dict[str, Any]] | None:
        async with db.transaction() as tx:
            taken = await service.claim(tx, uid(alice), chat_id, [view["id"]])
            await asyncio.sleep(0.05)  # hold the transaction open while the other one tries
            return taken

    results = await asyncio.gather(take(), take())
    assert sorted(r is None for r in results) == [False, True]
