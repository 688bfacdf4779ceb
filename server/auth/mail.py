"""Outgoing e-mail: SMTP through aiosmtplib, or (SMTP_HOST unset, development) written to the log."""

from __future__ import annotations

import logging
import re
from email.message import EmailMessage
from typing import Protocol

import aiosmtplib

log = logging.getLogger(__name__)


class Mailer(Protocol):
    async def send(self, to: str, subject: str, text: str) -> None: ...


def _message(sender: str, to: str, subject: str, text: str) -> EmailMessage:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = to
    message["Subject"] = subject
    message.set_content(text)
    return message


def permanent_failure(exc: BaseException) -> bool:
    """Whether the mail server refused for good (a 5xx answer), so trying again cannot help."""
    if isinstance(exc, aiosmtplib.SMTPRecipientsRefused):
        return all(500 <= r.code < 600 for r in exc.recipients) if exc.recipients else False
    return isinstance(exc, aiosmtplib.SMTPResponseException) and 500 <= exc.code < 600


def failure_reason(exc: BaseException) -> str:
    """What went wrong, for the log and the outbox: the kind of error and the SMTP code, never the message text
    (a server's refusal often quotes the address)."""
    if isinstance(exc, aiosmtplib.SMTPRecipientsRefused) and exc.recipients:
        return f"{type(exc).__name__} {exc.recipients[0].code}"
    if isinstance(exc, aiosmtplib.SMTPResponseException):
        return f"{type(exc).__name__} {exc.code}"
    return type(exc).__name__


class SmtpMailer:
    def __init__(self, host: str, port: int, sender: str, timeout: float = 10.0) -> None:
        self._host, self._port, self._sender, self._timeout = host, port, sender, timeout

    async def send(self, to: str, subject: str, text: str) -> None:
        await aiosmtplib.send(
            _message(self._sender, to, subject, text),
            hostname=self._host,
            port=self._port,
            timeout=self._timeout,
            start_tls=None,
        )


class LogMailer:
    """Development only: the message is logged so a developer can follow its link without a mail server. It is
    written as plain text (not MIME: quoted-printable would break a long link across lines and turn `=` into
    `=3D`), and its links are also listed one by one in the log line's `links`, ready to copy."""

    def __init__(self, sender: str) -> None:
        self._sender = sender

    async def send(self, to: str, subject: str, text: str) -> None:
        log.warning(
            "SMTP_HOST is unset; this e-mail was not sent:\n%s",
            plain_text(self._sender, to, subject, text),
            extra={"links": LINK.findall(text)},
        )


LINK = re.compile(r"https?://[^\s<>\"]+")


def plain_text(sender: str, to: str, subject: str, text: str) -> str:
    """A mail as a person reads it: its From, To and Subject, a blank line, and the text as written."""
    return f"From: {sender}\nTo: {to}\nSubject: {subject}\n\n{text}"
