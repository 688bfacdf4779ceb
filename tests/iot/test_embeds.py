"""Embeds of a public channel for other sites: a chart page and a display widget page that any site may frame (their
own CSP with `frame-ancestors *`, no X-Frame-Options), in English or Russian, loading this site's scripts only; a
private or unknown channel, or a widget it does not show, is the same 404; bad parameters are a 400 that says why.
The app's own pages still refuse every frame."""

from __future__ import annotations

import re
from typing import Any

from aiohttp.test_utils import TestClient

from tests.helpers import bearer, new_channel


async def public_channel(client: TestClient) -> dict[str, Any]:
    return await new_channel(client, public_flag="true", field3="Wind")


def assert_framable_page(resp: Any, body: str) -> None:
    assert resp.content_type == "text/html"
    assert "X-Frame-Options" not in resp.headers
    csp = resp.headers["Content-Security-Policy"]
    assert "frame-ancestors *" in csp
    assert "script-src 'self' 'wasm-unsafe-eval';" in csp
    assert "<script>" not in body  # no inline script: the page's only script is this site's file
    assert re.findall(r"<script[^>]*>", body) == ['<script type="module" src="/js/iot/embed.js">']


async def test_a_public_channels_chart_embed_is_a_framable_page(client: TestClient) -> None:
    channel = await public_channel(client)
    resp = await client.get(f"/embed/channels/{channel['id']}/chart")
    body = await resp.text()
    assert resp.status == 200, body
    assert_framable_page(resp, body)
    assert resp.headers["X-Content-Type-Options"] == "nosniff"
    assert '<html lang="en">' in body
    assert f'data-channel="{channel["id"]}"' in body
    assert 'data-fields="1,2,3"' in body  # the named fields
    assert 'data-results="200"' in body
    assert f'href="/#/public/channel?id={channel["id"]}"' in body
    assert ">Weather</a>" in body

    resp = await client.get(
        f"/embed/channels/{channel['id']}/chart",
        params={"fields": "2,1", "results": "50"},
        headers={"Accept-Language": "de-DE, ru;q=0.9, en;q=0.8"},
    )
    body = await resp.text()
    assert resp.status == 200
    assert '<html lang="ru">' in body
    assert "Загрузка…" in body
    assert 'data-fields="2,1"' in body
    assert 'data-results="50"' in body


async def test_names_are_escaped(client: TestClient) -> None:
    channel = await new_channel(client, public_flag="true", name='<img src=x onerror="alert(1)">')
    body = await (await client.get(f"/embed/channels/{channel['id']}/chart")).text()
    assert "<img" not in body
    assert "&lt;img src=x onerror=&quot;alert(1)&quot;&gt;" in body


async def test_bad_parameters_are_a_400_that_says_why(client: TestClient) -> None:
    channel = await public_channel(client)
    cases = [("fields", "9"), ("fields", "1,1"), ("fields", "a"), ("fields", "1,2,3,4,5,6,7,8,1"), ("results", "0")]
    cases += [("results", "8001"), ("results", "ten")]
    for name, value in cases:
        resp = await client.get(f"/embed/channels/{channel['id']}/chart", params={name: value})
        body = await resp.text()
        assert resp.status == 400, (name, value)
        assert f"{name} must be" in body or f"{name} —" in body
        assert_framable_page(resp, body)
    resp = await client.get(
        f"/embed/channels/{channel['id']}/chart", params={"results": "0"}, headers={"Accept-Language": "ru"}
    )
    assert "results — целое число от 1 до 8000" in await resp.text()


async def test_private_and_unknown_channels_are_the_same_404(client: TestClient) -> None:
    private = await new_channel(client)
    answers = []
    for path in (
        f"/embed/channels/{private['id']}/chart",
        "/embed/channels/999999999/chart",
        "/embed/channels/9999999999999999999/chart",
        f"/embed/channels/{private['id']}/widgets/1",
        "/embed/channels/999999999/widgets/1",
    ):
        resp = await client.get(path, headers=bearer(private["grant"]))  # even for the owner: embeds are public
        body = await resp.text()
        assert resp.status == 404, path
        assert_framable_page(resp, body)
        answers.append(body)
    assert len(set(answers)) == 1


async def test_a_widget_embed_counts_the_display_widgets_anyone_sees(client: TestClient) -> None:
    channel = await public_channel(client)
    widgets = [
        {"type": "switch", "target": {"field": 3}},  # a control: never shown to anyone but the owner
        {"type": "gauge", "field": 1, "min": 0, "max": 50},
        {"type": "number", "field": 2},
    ]
    resp = await client.put(f"/api/channels/{channel['id']}/widgets", json={"widgets": widgets}, **_owner(channel))
    assert resp.status == 200, await resp.text()
    for number in (1, 2):
        resp = await client.get(f"/embed/channels/{channel['id']}/widgets/{number}")
        body = await resp.text()
        assert resp.status == 200, body
        assert_framable_page(resp, body)
        assert 'data-kind="widget"' in body
        assert f'data-widget="{number}"' in body
    for number in (3, 0, 25):
        resp = await client.get(f"/embed/channels/{channel['id']}/widgets/{number}")
        assert resp.status == 404, number

    # What the embed reads, anyone may read: the channel, its display widgets, its feed.
    resp = await client.get(f"/api/channels/{channel['id']}/widgets")
    assert [w["type"] for w in (await resp.json())["widgets"]] == ["gauge", "number"]
    resp = await client.get(f"/channels/{channel['id']}/feeds.json", params={"results": "10"})
    assert resp.status == 200


def _owner(channel: dict[str, Any]) -> dict[str, Any]:
    return {"headers": bearer(channel["grant"])}


async def test_the_apps_own_pages_still_refuse_frames(client: TestClient) -> None:
    for path in ("/", "/app.js", "/js/iot/embed.js"):
        resp = await client.get(path)
        assert resp.status == 200, path
        assert resp.headers["X-Frame-Options"] == "DENY", path
        assert "frame-ancestors 'none'" in resp.headers["Content-Security-Policy"], path
