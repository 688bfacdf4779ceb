"""Odd input gets a clear 4xx naming what was wrong, never a 500: Unicode digits, numbers past 64 bits, `min`/`max`
on a channel without named fields, malformed multipart parts (the one parser: server/web/params.py)."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from server.web.params import INT64_MAX, int_param, whole_number
from tests.chat.chatkit import direct, users
from tests.helpers import bearer, new_channel

ODD = ["²", "٣", "１", "9223372036854775808", "99999999999999999999999", "-1", "1e3", "0x10"]


def test_whole_number_takes_ascii_digits_within_bounds_only() -> None:
    assert whole_number("42") == 42
    assert whole_number(str(INT64_MAX)) == INT64_MAX
    assert whole_number("-5", signed=True, low=-10) == -5
    for text in [*ODD, " 1", "", "+1"]:
        assert whole_number(text) is None, text
    assert whole_number(True) is None
    with pytest.raises(Exception, match="limit must be a whole number from 1 to 5") as caught:
        int_param("²", "limit", low=1, high=5)
    assert getattr(caught.value, "field", None) == "limit"


async def _no_500(client: TestClient, method: str, path: str, **kw: Any) -> int:
    resp = await client.request(method, path, **kw)
    text = await resp.text()
    assert resp.status < 500, (path, resp.status, text)
    return resp.status


async def test_unicode_digits_and_huge_numbers_in_paths_and_queries_are_4xx(client: TestClient) -> None:
    channel = await new_channel(client)
    cid, key = channel["id"], channel["read_key"]
    a, b = await users(client, 2)
    chat_id = await direct(client, a, b)
    auth = bearer(a)
    for odd in ODD:
        paths = [
            ("GET", f"/channels/{odd}/feeds.json"),
            ("GET", f"/channels/{cid}/feeds.json?api_key={key}&results={odd}"),
            ("GET", f"/channels/{cid}/feeds.json?api_key={key}&timescale={odd}"),
            ("GET", f"/channels/{cid}/feeds.json?api_key={key}&days={odd}"),
            ("GET", f"/channels/{cid}/feeds/entry/{odd}.json?api_key={key}"),
            ("GET", f"/channels/public.json?page={odd}"),
            ("GET", f"/channels/public.json?after={odd}"),
            ("GET", f"/api/channels/{odd}/rules"),
            ("GET", f"/talkbacks/{odd}/commands"),
            ("GET", f"/api/chats/{chat_id}/messages?before={odd}"),
            ("GET", f"/api/chats/{chat_id}/messages?limit={odd}"),
            ("GET", f"/api/chats/{chat_id}/messages/{odd}/readers"),
            ("GET", f"/api/me/sessions?limit={odd}"),
            ("GET", f"/api/channels/{cid}/rules?limit={odd}"),
        ]
        for method, path in paths:
            status = await _no_500(client, method, path, headers=auth)
            assert status in (400, 401, 404), (path, status)
    # The named parameter is in the error.
    resp = await client.get(f"/api/chats/{chat_id}/messages?before=²", headers=auth)
    assert resp.status == 400
    assert (await resp.json())["error"]["field"] == "before"
    resp = await client.get(f"/channels/{cid}/feeds.json?api_key={key}&timescale=²")
    assert resp.status == 400
    assert "timescale" in await resp.text()


async def test_json_integers_past_64_bits_are_refused(client: TestClient) -> None:
    a, b = await users(client, 2)
    chat_id = await direct(client, a, b)
    resp = await client.post(f"/api/chats/{chat_id}/read", json={"message_id": 2**63}, headers=bearer(a))
    assert resp.status == 400
    assert (await resp.json())["error"]["field"] == "message_id"


async def test_min_and_max_on_a_channel_without_named_fields(client: TestClient) -> None:
    channel = await new_channel(client, field1="", field2="")
    cid = channel["id"]
    resp = await client.post("/update.json", data={"api_key": channel["write_key"], "field3": "5"})
    assert resp.status == 200, await resp.text()
    for query in ("min=1", "max=9", "min=1&max=9", "min=1&timescale=10", "max=9&median=60"):
        resp = await client.get(f"/channels/{cid}/feeds.json?api_key={channel['read_key']}&{query}")
        assert resp.status == 200, (query, await resp.text())
        body = await resp.json()
        assert isinstance(body["feeds"], list)


MALFORMED_PARTS = [
    # A header line without a colon.
    b'--XyZ\r\nContent-Disposition form-data; name="file"\r\n\r\nhello\r\n--XyZ--\r\n',
    # A malformed Content-Disposition (an unclosed quote).
    b'--XyZ\r\nContent-Disposition: form-data; name="file"; filename="a.txt\r\n\r\nhello\r\n--XyZ--\r\n',
    # No closing boundary: a cut-off upload is not stored as if whole.
    b'--XyZ\r\nContent-Disposition: form-data; name="file"; filename="a.txt"\r\n\r\nhello',
    # A body that is not multipart at all.
    b"hello, no boundary here",
]
# Part headers the form-data reader does not act on (the file's bytes are taken as sent): accepted, never a 500.
IGNORED_PART_HEADERS = [b"Content-Transfer-Encoding: rot13", b"Content-Encoding: zstd-nope", b"Content-Length: lots"]


async def _upload(client: TestClient, body: bytes) -> tuple[int, dict[str, Any]]:
    a, b = await users(client, 2)
    chat_id = await direct(client, a, b)
    headers = {**bearer(a), "Content-Type": "multipart/form-data; boundary=XyZ"}
    resp = await client.post(f"/api/chats/{chat_id}/attachments", data=body, headers=headers)
    return resp.status, await resp.json()


@pytest.mark.parametrize("body", MALFORMED_PARTS)
async def test_malformed_multipart_uploads_are_400(client: TestClient, body: bytes) -> None:
    status, answer = await _upload(client, body)
    assert status == 400, answer
    assert answer["error"]["field"] == "file"


@pytest.mark.parametrize("header", IGNORED_PART_HEADERS)
async def test_part_headers_the_reader_ignores_still_store_the_bytes_sent(client: TestClient, header: bytes) -> None:
    body = b'--XyZ\r\nContent-Disposition: form-data; name="file"; filename="a.txt"\r\n' + header
    status, answer = await _upload(client, body + b"\r\n\r\nhello\r\n--XyZ--\r\n")
    assert status == 201, answer
    assert answer["size"] == 5
