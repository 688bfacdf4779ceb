"""Account mail goes through a persisted outbox: no request waits on SMTP, mail survives a restart and a mail
server that refuses for a while, and known and unknown addresses get the same answer."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from aiohttp import ClientResponse
from aiohttp.test_utils import TestClient
from aiosmtpd.controller import Controller

from server.app import create_app
from server.auth.appkeys import outbox_key
from server.auth.outbox import MailOutbox
from server.config import Settings
from server.keys import database_key
from tests.conftest import Mailbox, free_port, link_in
from tests.fakes import Outbox
from tests.helpers import PASSWORD, login, new_email, register, verified_user

WAIT = 10.0  # the most any wait below may take; none is a measurement


class SilentSmtp:
    """A TCP server on loopback that accepts and never says a word: a mail server that hangs."""

    def __init__(self) -> None:
        self.connected = asyncio.Event()
        self.gave_up = asyncio.Event()  # a client closed its connection
        self.port = 0
        self._server: asyncio.Server | None = None
        self._writers: list[asyncio.StreamWriter] = []

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.append(writer)
        self.connected.set()
        await reader.read()  # until the client closes
        self.gave_up.set()

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        assert self._server is not None
        for writer in self._writers:
            writer.close()
        self._server.close()
        await self._server.wait_closed()


@pytest.fixture(name="silent_smtp")
async def silent_smtp_fixture() -> AsyncIterator[SilentSmtp]:
    server = SilentSmtp()
    await server.start()
    yield server
    await server.stop()


async def _answer(request: asyncio.Task[ClientResponse], silent: SilentSmtp) -> ClientResponse:
    """The request's answer, which must come while the mail server still hangs (no request waits on SMTP)."""
    gave_up = asyncio.create_task(silent.gave_up.wait())
    try:
        done, _ = await asyncio.wait({request, gave_up}, timeout=WAIT, return_when=asyncio.FIRST_COMPLETED)
    finally:
        gave_up.cancel()
    assert request in done, "the request waited on the SMTP server"
    return request.result()


async def test_requests_do_not_wait_on_a_hanging_smtp_server_and_mail_survives_a_restart(
    aiohttp_client: Any, make_settings: Callable[..., Settings], mail: Mailbox, silent_smtp: SilentSmtp
) -> None:
    # A short retry: if a slow machine lets the SMTP timeout pass, the mail is soon stuck on the server again.
    hanging = await aiohttp_client(create_app(make_settings(smtp_port=silent_smtp.port, mail_retry_seconds=0.01)))
    known = (await verified_user(hanging))["user"]["email"]
    fresh = new_email()
    calls = [
        ("/api/auth/register", {"email": fresh, "password": PASSWORD, "display_name": "Ada"}),
        ("/api/auth/register", {"email": known, "password": PASSWORD, "display_name": "Eve"}),
        ("/api/auth/verify/resend", {"email": fresh}),
        ("/api/auth/password-reset", {"email": known}),
    ]
    for path, body in calls:
        resp = await _answer(asyncio.create_task(hanging.post(path, json=body)), silent_smtp)
        assert resp.status == 202, await resp.text()
    # The sender is stuck on the silent server; stop the app there, as a deploy would.
    await asyncio.wait_for(silent_smtp.connected.wait(), WAIT)
    assert mail.messages == []
    await hanging.close()

    # Started again with a mail server that works, it sends everything that was queued, once each.
    working = await aiohttp_client(create_app(make_settings()))
    await mail.wait_for(fresh, 2)
    await mail.wait_for(known, 2)
    await asyncio.wait_for(working.app[outbox_key].drained(), WAIT)
    assert sorted(m["Subject"] for m in mail.to(fresh)) == ["Confirm your e-mail address"] * 2
    assert sorted(m["Subject"] for m in mail.to(known)) == [
        "Reset your password",
        "Someone tried to register with your address",
    ]
    assert len(mail.messages) == 4
    # Asking again retired the first link; the second one works (they may arrive in either order).
    tokens = [link_in(m, "/verify-email").split("token=")[1] for m in mail.to(fresh)]
    verified = [(await working.post("/api/auth/verify", json={"token": t})).status for t in tokens]
    assert sorted(verified) == [200, 400]
    await login(working, fresh)
    assert await working.app[outbox_key].repo.counts() == {}


class RefusingMailbox(Mailbox):
    """A mail server that refuses the first `refusals` messages with `code`, then accepts."""

    def __init__(self, code: int, refusals: int) -> None:
        super().__init__()
        self.code, self.refusals, self.attempts = code, refusals, 0

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.attempts += 1
        if self.attempts <= self.refusals:
            return f"{self.code} not now"
        return await super().handle_DATA(server, session, envelope)


@pytest.fixture(name="refusing")
def refusing_fixture(request: pytest.FixtureRequest) -> Any:
    code, refusals = request.param
    mailbox = RefusingMailbox(code, refusals)
    controller = Controller(mailbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    yield mailbox, controller.port
    controller.stop()


@pytest.mark.parametrize("refusing", [(451, 2)], indirect=True)
async def test_a_refused_mail_is_tried_again(
    aiohttp_client: Any, make_settings: Callable[..., Settings], refusing: tuple[RefusingMailbox, int]
) -> None:
    mailbox, port = refusing
    client = await aiohttp_client(create_app(make_settings(smtp_port=port, mail_retry_seconds=0.01)))
    email = new_email()
    await register(client, email)
    message = await mailbox.wait_for(email)
    assert mailbox.attempts == 3
    link_in(message, "/verify-email")
    await asyncio.wait_for(client.app[outbox_key].drained(), WAIT)
    assert await client.app[outbox_key].repo.counts() == {}


@pytest.mark.parametrize(("refusing", "attempts"), [((451, 99), 3), ((550, 99), 1)], indirect=["refusing"])
async def test_a_mail_that_keeps_failing_is_kept_as_failed_and_logged_without_personal_data(
    aiohttp_client: Any,
    make_settings: Callable[..., Settings],
    refusing: tuple[RefusingMailbox, int],
    attempts: int,
    caplog: pytest.LogCaptureFixture,
) -> None:
    mailbox, port = refusing
    settings = make_settings(smtp_port=port, mail_retry_seconds=0.01, mail_max_attempts=3)
    client = await aiohttp_client(create_app(settings))
    email = new_email()
    caplog.set_level(logging.INFO, logger="server")
    await register(client, email, name="Grace Hopper")
    await asyncio.wait_for(client.app[outbox_key].drained(), WAIT)  # 4xx: tried 3 times; 5xx: once
    assert mailbox.attempts == attempts
    assert await client.app[outbox_key].repo.counts() == {"failed": 1}
    row = await client.app[database_key].fetchrow("SELECT attempts, last_error FROM mail_outbox")
    assert row is not None
    assert (row["attempts"], row["last_error"]) == (attempts, f"SMTPDataError {mailbox.code}")
    given_up = [r.getMessage() for r in caplog.records if "given up" in r.getMessage()]
    assert len(given_up) == 1
    for record in caplog.records:
        assert email not in record.getMessage()
        assert "Grace Hopper" not in record.getMessage()


def _shown(resp: ClientResponse, body: bytes) -> tuple[int, list[tuple[str, str]], bytes]:
    """What a client sees of an answer, less what differs on every request anyway."""
    headers = sorted((k.lower(), v) for k, v in resp.headers.items() if k.lower() not in ("x-request-id", "date"))
    return resp.status, headers, body


async def _post(client: TestClient, path: str, body: dict[str, str]) -> tuple[int, list[tuple[str, str]], bytes]:
    resp = await client.post(path, json=body)
    return _shown(resp, await resp.read())


async def test_known_and_unknown_addresses_get_identical_answers(client: TestClient, mail: Mailbox) -> None:
    verified = (await verified_user(client))["user"]["email"]
    unverified = new_email()
    await register(client, unverified)
    await mail.wait_for(unverified)
    unknown = [new_email() for _ in range(3)]

    def account(email: str) -> dict[str, str]:
        return {"email": email, "password": PASSWORD, "display_name": "Ada"}

    registered = [await _post(client, "/api/auth/register", account(e)) for e in (unknown[0], verified, unverified)]
    assert registered[0][0] == 202
    assert registered[1:] == [registered[0]] * 2
    resent = [await _post(client, "/api/auth/verify/resend", {"email": e}) for e in (unknown[1], verified, unverified)]
    assert resent[0][0] == 202
    assert resent[1:] == [resent[0]] * 2
    reset = [await _post(client, "/api/auth/password-reset", {"email": e}) for e in (unknown[2], verified)]
    assert reset[0][0] == 202
    assert reset[1] == reset[0]

    # Only the mail that tells a real account something went out; nothing waits in the outbox.
    await mail.wait_for(unknown[0])  # its verification
    await mail.wait_for(verified, 2)  # "someone tried to register", the reset link
    await mail.wait_for(unverified, 3)  # first link, "someone tried", a new link
    await asyncio.wait_for(client.app[outbox_key].drained(), WAIT)
    assert mail.to(unknown[1]) == mail.to(unknown[2]) == []
    assert len(mail.to(verified)) == 2
    assert await client.app[outbox_key].repo.counts() == {}


@pytest.mark.parametrize("jitter", [0.0, 0.5, 0.999])
def test_backoff_doubles_up_to_its_cap_with_jitter(jitter: float) -> None:
    outbox = MailOutbox(
        None,  # type: ignore[arg-type]  # backoff needs no storage
        Outbox(),
        max_attempts=10,
        retry_seconds=30,
        max_retry_seconds=3600,
        jitter=lambda: jitter,
    )
    full = [30, 60, 120, 240, 480, 960, 1920, 3600, 3600, 3600]
    waits = [outbox.backoff(n) for n in range(1, 11)]
    for wait, cap in zip(waits, full, strict=True):
        assert cap / 2 <= wait <= cap
        assert wait == pytest.approx(cap / 2 + jitter * cap / 2)


async def test_two_senders_never_claim_one_mail(client: TestClient) -> None:
    """Several processes share one outbox: each due mail is leased to one sender only."""
    outbox = client.app[outbox_key]
    await outbox.stop()  # this test claims by hand
    repo = outbox.repo
    db = client.app[database_key]
    async with db.transaction() as tx:
        queued = {await repo.add(tx, f"u{n}@example.test", "s", "t", 0.0) for n in range(40)}

    async def sender(owner: str) -> list[str]:
        claimed: list[str] = []
        while mails := await repo.claim(owner, 1.0, 60.0, 3):
            claimed += [m.id for m in mails]
        return claimed

    claims = await asyncio.gather(*(sender(f"process-{n}") for n in range(4)))
    every = [mail_id for claimed in claims for mail_id in claimed]
    assert sorted(every) == sorted(queued)  # each once
    assert await repo.claim("late", 2.0, 60.0, 10) == []  # all leased
    assert {m.id for m in await repo.claim("late", 61.5, 60.0, 100)} == queued  # leases run out: due again
