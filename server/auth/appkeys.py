"""The auth domain's typed application and request keys."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

if TYPE_CHECKING:
    from server.auth.mail import Mailer
    from server.auth.outbox import MailOutbox
    from server.auth.service import AccountService, Principal
    from server.wiring import Signal

accounts_key: web.AppKey[AccountService] = web.AppKey("accounts")
mailer_key: web.AppKey[Mailer] = web.AppKey("mailer")  # other domains (rule alerts) send mail through it too
outbox_key: web.AppKey[MailOutbox] = web.AppKey("mail_outbox")  # account mail, queued and sent in the background
# Fired in every process with a user id when that account is suspended or unsuspended: other domains drop what
# they cached about the account's credentials (the IoT domain's write-key cache).
suspension_changed_key: web.AppKey[Signal[[str], None]] = web.AppKey("suspension_changed")

# Per request.
principal_key: web.RequestKey[Principal] = web.RequestKey("principal")
