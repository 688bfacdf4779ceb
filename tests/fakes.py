"""Test doubles (stand-ins for the outside world where a test is not about that part of it), and the inbox a
double mailer and the real SMTP server of the tests share."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from email.message import EmailMessage, Message


class Inbox:
    """Messages received, by address; `wait_for` waits for one to arrive. Messages may arrive from another thread
    (the SMTP server's): each waiter's event is set on its own event loop, and threads that wait outside an event
    loop (`wait_for_blocking`) are woken through a condition."""

    def __init__(self) -> None:
        self.messages: list[Message] = []
        self._changed = threading.Condition()
        self._waiters: set[tuple[asyncio.AbstractEventLoop, asyncio.Event]] = set()

    def deliver(self, message: Message, recipients: list[str]) -> None:
        message["X-Envelope-To"] = ", ".join(recipients)
        with self._changed:
            self.messages.append(message)
            waiters = list(self._waiters)
            self._changed.notify_all()
        for loop, arrived in waiters:
            with contextlib.suppress(RuntimeError):  # that test's loop has closed
                loop.call_soon_threadsafe(arrived.set)

    def to(self, address: str) -> list[Message]:
        with self._changed:
            messages = list(self.messages)
        return [m for m in messages if address.lower() in m["X-Envelope-To"].lower()]

    def _missing(self, address: str, count: int) -> AssertionError:
        subjects = [m["Subject"] for m in self.messages]
        return AssertionError(f"no message #{count} for {address}; got {subjects}")

    def wait_for_blocking(self, address: str, count: int = 1, timeout: float = 10.0) -> Message:
        """`wait_for` for code outside an event loop (the browser tests): blocks this thread until it arrives."""
        with self._changed:
            if not self._changed.wait_for(lambda: len(self.to(address)) >= count, timeout):
                raise self._missing(address, count)
        return self.to(address)[count - 1]

    async def wait_for(self, address: str, count: int = 1, timeout: float = 10.0) -> Message:
        """The `count`-th message to `address` (waits for it to arrive)."""
        waiter = (asyncio.get_running_loop(), asyncio.Event())
        with self._changed:
            self._waiters.add(waiter)
        try:
            async with asyncio.timeout(timeout):
                while len(found := self.to(address)) < count:
                    await waiter[1].wait()
                    waiter[1].clear()
            return found[count - 1]
        except TimeoutError:
            raise self._missing(address, count) from None
        finally:
            with self._changed:
                self._waiters.discard(waiter)


class Outbox(Inbox):
    """A mailer that keeps what it is given, for tests about what mail says rather than how it travels:
    `create_app(settings, overrides={mailer_key: outbox})`. The account tests keep the real SMTP server."""

    def __init__(self, sender: str = "server@example.test") -> None:
        super().__init__()
        self._sender = sender

    async def send(self, to: str, subject: str, text: str) -> None:
        message = EmailMessage()
        message["From"] = self._sender
        message["To"] = to
        message["Subject"] = subject
        message.set_content(text)
        self.deliver(message, [to])
