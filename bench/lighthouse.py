"""Lighthouse scores of the web app's main screens, signed in, in Debian's Chromium.

    .venv/bin/python bench/lighthouse.py [--lighthouse DIR] [--screens chats,channel,conversation]

Starts the real server (SQLite, a fresh DATA_DIR), makes an account with `python -m server create-admin`, a
channel with a day of points and a group chat with messages through the HTTP API, then starts Chromium with a
DevTools port, signs in there through the app's own sign-in screen (Playwright over CDP), and runs Lighthouse
(npm `lighthouse`, installed into --lighthouse on first use: it is a tool, not a dependency of the app) against
each screen with the session kept (`--disable-storage-reset`), on Lighthouse's default mobile profile with its
simulated throttling. Prints performance, accessibility, best practices and SEO per screen, and the browser's
own installability check (`Page.getInstallabilityErrors`: Lighthouse 12 dropped its PWA category). Exits 1 when
it could not measure; a low score is reported, not a failure.
"""

from __future__ import annotations

import argparse
import json
import secrets
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from bench.ingest import EMAIL, create_admin  # noqa: E402
from tests.e2e.server_process import free_port, running_server  # noqa: E402
from tests.e2e.webapp import CHROMIUM, CHROMIUM_ARGS  # noqa: E402

LIGHTHOUSE_VERSION = "13.5.0"
CATEGORIES = ("performance", "accessibility", "best-practices", "seo")


def call(url: str, body: dict[str, Any] | None = None, token: str | None = None) -> Any:
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, headers=headers)  # noqa: S310 - loopback only
    with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
        return json.loads(response.read() or b"null")


def lighthouse_bin(folder: Path) -> Path:
    binary = folder / "node_modules" / ".bin" / "lighthouse"
    if not binary.exists():
        folder.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            ["npm", "install", "--no-audit", "--no-fund", "--prefix", str(folder), f"lighthouse@{LIGHTHOUSE_VERSION}"],
            check=True,
            capture_output=True,
            timeout=600,
        )
    return binary


def seed(base: str, password: str) -> dict[str, str]:
    """A channel with a day of points and a group chat with a few messages; returns the screens' URLs."""
    grant = call(f"{base}/api/auth/login", {"email": EMAIL, "password": password})
    token = grant["access_token"]
    user_key = call(f"{base}/api/me/api-key", token=token)["api_key"]
    channel = call(
        f"{base}/channels.json",
        {"api_key": user_key, "name": "Greenhouse", "field1": "Temperature", "field2": "Humidity"},
    )
    write_key = next(k["api_key"] for k in channel["api_keys"] if k["write_flag"])
    now = time.time()
    updates = [
        {"created_at": now - 86_400 + i * 600, "field1": 20 + (i % 12) / 2, "field2": 40 + i % 20} for i in range(144)
    ]
    call(f"{base}/channels/{channel['id']}/bulk_update.json", {"write_api_key": write_key, "updates": updates})
    chat = call(f"{base}/api/chats", {"kind": "group", "name": "Garden club"}, token=token)
    return {
        "chats": f"{base}/#/chats",
        "conversation": f"{base}/#/chat?id={chat['id']}",
        "channels": f"{base}/#/channels",
        "channel": f"{base}/#/channel?id={channel['id']}",
    }


def sign_in_over_cdp(port: int, base: str, password: str, chat_url: str) -> list[str]:
    """Sign in in the running Chromium (its profile keeps the session), send a few messages, and return the
    browser's installability errors for the app."""
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.connect_over_cdp(f"http://127.0.0.1:{port}")
        context = browser.contexts[0]
        page = context.new_page()
        page.goto(f"{base}/#/signin")
        page.get_by_label("E-mail").fill(EMAIL)
        page.get_by_label("Password", exact=True).fill(password)
        page.get_by_role("button", name="Sign in").click()
        expect(page.get_by_role("heading", name="Chats", level=1)).to_be_visible(timeout=15_000)
        page.goto(chat_url)
        composer = page.get_by_role("textbox", name="Message")
        for text in ("Tomatoes are in", "Watering at 7", "See you there"):
            composer.fill(text)
            composer.press("Enter")
        expect(page.locator(".message.mine", has_text="See you there")).to_be_visible(timeout=15_000)
        page.goto(f"{base}/#/chats")
        page.wait_for_timeout(2000)  # the service worker installs
        session = context.new_cdp_session(page)
        errors = session.send("Page.getInstallabilityErrors")["installabilityErrors"]
        page.close()
        return [f"{e['errorId']} {e.get('errorArguments', '')}" for e in errors]


def run(args: argparse.Namespace) -> int:
    if not CHROMIUM.exists():
        print("Chromium is missing: apt-get install chromium", file=sys.stderr)
        return 1
    binary = lighthouse_bin(args.lighthouse)
    password = secrets.token_urlsafe(12)
    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        data_dir = tmp_path / "data"
        env = {"LOG_LEVEL": "WARNING"}
        create_admin(data_dir, env, password)
        with running_server(tmp_path, env=env) as server:
            urls = seed(server.url, password)
            port = free_port()
            chromium = subprocess.Popen(
                [
                    str(CHROMIUM),
                    "--headless=new",
                    f"--remote-debugging-port={port}",
                    f"--user-data-dir={tmp_path / 'profile'}",
                    *CHROMIUM_ARGS,
                    "about:blank",
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            try:
                time.sleep(2)
                installability = sign_in_over_cdp(port, server.url, password, urls["conversation"])
                rows = []
                for name in args.screens.split(","):
                    out = tmp_path / f"{name}.json"
                    subprocess.run(
                        [
                            str(binary),
                            urls[name],
                            f"--port={port}",
                            "--disable-storage-reset",
                            "--quiet",
                            f"--only-categories={','.join(CATEGORIES)}",
                            "--output=json",
                            f"--output-path={out}",
                        ],
                        check=True,
                        timeout=300,
                    )
                    report = json.loads(out.read_text())
                    scores = {c: round(report["categories"][c]["score"] * 100) for c in CATEGORIES}
                    failed = [
                        audit["id"]
                        for audit in report["audits"].values()
                        if audit.get("score") is not None
                        and audit["score"] < 0.9
                        and audit.get("scoreDisplayMode") in ("binary", "numeric")
                    ]
                    rows.append((name, scores, failed))
            finally:
                chromium.terminate()
                chromium.wait(timeout=10)
    print(f"Lighthouse {LIGHTHOUSE_VERSION}, mobile profile with simulated throttling, Debian's Chromium, signed in")
    print("| screen | " + " | ".join(CATEGORIES) + " |")
    print("| --- " * (len(CATEGORIES) + 1) + "|")
    for name, scores, _ in rows:
        print(f"| {name} | " + " | ".join(str(scores[c]) for c in CATEGORIES) + " |")
    for name, _, failed in rows:
        if failed:
            print(f"  {name}: audits under 0.9: {', '.join(failed[:15])}")
    print("installable:", "yes" if not installability else "no: " + "; ".join(installability))
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--lighthouse", type=Path, default=Path(tempfile.gettempdir()) / "realtime-lighthouse")
    parser.add_argument("--screens", default="chats,conversation,channels,channel")
    return run(parser.parse_args())


if __name__ == "__main__":
    sys.exit(main())
