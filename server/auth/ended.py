"""The signal of ended sessions: how the auth domain tells others that some of a user's sessions ended, without
knowing who listens (the chat domain's key directory removes the devices of those sessions)."""

from __future__ import annotations

import logging
from collections.abc import Awaitable

from server.wiring import Signal, send_async

log = logging.getLogger(__name__)

# Some sessions of a user ended (signed out, revoked by the user or an admin, all ended by a password reset or a
# suspension, revoked for a copied refresh token): fired with the user id after the commit, in the process that
# ended them. Listeners forget what they keep for the user's ended sessions; what they miss (a crash between the
# commit and the listener, a session that simply expired), their sweeps find.
SessionsEnded = Signal[[str], Awaitable[None]]


async def tell_sessions_ended(signal: SessionsEnded, user_id: str) -> None:
    """Fire `signal` for the user. A failing listener is logged, never raised: the sessions have ended all the same
    and the caller's answer must say so."""
    try:
        await send_async(signal, user_id)
    except Exception:
        log.exception("a listener of ended sessions failed")
