"""The mail outbox: account mail is queued in the transaction of the change it tells about, and a background task
sends it through the Mailer, with retries and backoff, so no request waits on SMTP and no mail is lost on restart."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
import uuid
from collections.abc import Callable

from server.auth.mail import Mailer, failure_reason, permanent_failure
from server.config import Settings
from server.crypto.keyring import Keyring
from server.storage.database import Database, Executor
from server.storage.mail_outbox import MailOutboxRepository, OutgoingMail

log = logging.getLogger(__name__)

LEASE_SECONDS = 120.0  # longer than one SMTP exchange takes; a crashed process's mail waits this long
IDLE_POLL_SECONDS = 60.0  # with nothing due, look again this often (mail queued by a process that died)
BATCH = 10  # mails claimed, and sent side by side, at once
KEEP_FAILED_SECONDS = 7 * 86400  # a mail that failed for good stays this long for the operator, then goes
PRUNE_EVERY_SECONDS = 3600.0


class MailOutbox:
    """Queue with `add` inside a transaction, then `wake()` once it committed. `start()` runs the sender;
    `stop()` ends it, and whatever is not sent yet stays queued for the next start (or another process)."""

    def __init__(
        self,
        repo: MailOutboxRepository,
        mailer: Mailer,
        *,
        max_attempts: int,
        retry_seconds: float,
        max_retry_seconds: float = 3600.0,
        clock: Callable[[], float] = time.time,
        jitter: Callable[[], float] = random.random,
    ) -> None:
        self.repo = repo
        self._mailer = mailer
        self._max_attempts = max_attempts
        self._retry_seconds = retry_seconds
        self._max_retry_seconds = max_retry_seconds
        self._clock = clock
        self._jitter = jitter
        self._owner = uuid.uuid4().hex  # this process's name on the leases it takes
        self._wake = asyncio.Event()
        self._drained = asyncio.Event()
        self._in_flight: set[str] = set()
        self._task: asyncio.Task[None] | None = None
        self._pruned_at = 0.0

    @classmethod
    def from_settings(cls, settings: Settings, db: Database, keyring: Keyring, mailer: Mailer) -> MailOutbox:
        return cls(
            MailOutboxRepository(db, keyring),
            mailer,
            max_attempts=settings.mail_max_attempts,
            retry_seconds=settings.mail_retry_seconds,
        )

    # -- queueing (request side) ------------------------------------------------------------------------
    async def add(self, tx: Executor, to: str, subject: str, text: str) -> None:
        await self.repo.add(tx, to, subject, text, self._clock())

    async def add_nothing(self, tx: Executor, to: str, subject: str, text: str) -> None:
        """What a request that must not reveal it sends nothing does: the same work as `add`, undone."""
        await self.repo.add_and_discard(tx, to, subject, text, self._clock())

    def wake(self) -> None:
        """Mail was queued (and committed): send it now rather than at the next poll."""
        self._drained.clear()
        self._wake.set()

    async def drained(self) -> None:
        """Wait until this process's sender finds no pending mail (sent, or failed for good)."""
        await self._drained.wait()

    # -- sending (background) ---------------------------------------------------------------------------
    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="mail-outbox")

    async def stop(self) -> None:
        if self._task is None:
            return
        leased = list(self._in_flight)
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        self._task = None
        if leased:
            try:
                await self.repo.release(leased, self._owner)  # due again at once, for the next start
            except Exception as exc:  # noqa: BLE001 - the leases then run out by themselves
                log.warning("could not give back %d mail lease(s): %s", len(leased), type(exc).__name__)

    async def _run(self) -> None:
        while True:
            self._wake.clear()
            try:
                wait = await self._pass()
            except Exception as exc:  # noqa: BLE001 - the database may be down; the mail waits in it
                log.error("mail outbox: %s; trying again later", type(exc).__name__)
                wait = max(self._retry_seconds, 1.0)
            if wait is None:
                if self._wake.is_set():
                    continue  # queued while we looked
                self._drained.set()
                wait = IDLE_POLL_SECONDS
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), wait)

    async def _pass(self) -> float | None:
        """Send everything due; returns the seconds until the next pending mail is due (None: nothing waits)."""
        while mails := await self.repo.claim(self._owner, self._clock(), LEASE_SECONDS, BATCH):
            self._in_flight.update(m.id for m in mails)
            await asyncio.gather(*(self._send(mail) for mail in mails))
        now = self._clock()
        if now - self._pruned_at >= PRUNE_EVERY_SECONDS:
            self._pruned_at = now
            await self.repo.drop_failed(now - KEEP_FAILED_SECONDS)
        due = await self.repo.next_due()
        return None if due is None else max(0.0, due - self._clock())

    async def _send(self, mail: OutgoingMail) -> None:
        failure: Exception | None = None
        try:
            await self._mailer.send(mail.to, mail.subject, mail.text)
        except Exception as exc:  # noqa: BLE001 - SMTP fails in many ways; each one is a failed attempt
            failure = exc
        # Stopped before this point, the lease is given back; after it, a lost write lets the lease run out.
        self._in_flight.discard(mail.id)
        if failure is None:
            await self.repo.sent(mail.id, self._owner)
        else:
            await self._failed(mail, failure)

    async def _failed(self, mail: OutgoingMail, exc: Exception) -> None:
        attempts = mail.attempts + 1
        reason = failure_reason(exc)  # never the address nor the text
        if attempts >= self._max_attempts or permanent_failure(exc):
            await self.repo.fail(mail.id, self._owner, error=reason, now=self._clock())
            log.error("mail %s not sent after %d attempt(s); given up: %s", mail.id, attempts, reason)
            return
        delay = self.backoff(attempts)
        await self.repo.retry(mail.id, self._owner, due_at=self._clock() + delay, error=reason)
        log.warning(
            "mail %s not sent (attempt %d of %d): %s; next in %.1f s",
            mail.id,
            attempts,
            self._max_attempts,
            reason,
            delay,
        )

    def backoff(self, attempts: int) -> float:
        """The wait after `attempts` failed attempts: doubling from `retry_seconds`, capped, with jitter (between
        half and all of it) so mails that failed together do not all come back together."""
        full = min(self._max_retry_seconds, self._retry_seconds * float(2 ** min(attempts - 1, 30)))
        return full / 2 + self._jitter() * full / 2
