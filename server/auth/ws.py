"""Accounts on the WebSocket: signing a connection in, and closing the connections of a session that ended."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web

from server.auth.service import AccountService
from server.keys import broker_key
from server.realtime.broker import Broker
from server.realtime.connections import CLOSE_SESSION_ENDED, Connection
from server.storage.accounts import User


def _session_topic(user_id: str) -> str:
    """Where a user's ended sessions are announced, to every process (never sent to clients)."""
    return f"sessions:{user_id}"


def announce_sessions_ended(broker: Broker, user_id: str, session_id: str | None = None) -> None:
    """Close the WebSockets of an ended session (None: every session of the user), in every process."""
    broker.publish(_session_topic(user_id), {"session_id": session_id})


SUSPENSIONS_TOPIC = "auth.suspensions"  # a user id was suspended or unsuspended (never sent to clients)


def announce_suspension(broker: Broker, user_id: str) -> None:
    """Tell every process that this account was suspended or unsuspended."""
    broker.publish(SUSPENSIONS_TOPIC, {"user_id": user_id})


async def set_suspended_everywhere(accounts: AccountService, broker: Broker, user_id: str, suspended: bool) -> User:
    """Suspend (or restore) an account and tell every process: a suspension also ends its sessions, closing its
    WebSockets, and every process drops what it cached of the account's credentials."""
    user = await accounts.set_suspended(user_id, suspended)
    if suspended:
        announce_sessions_ended(broker, user.id)
    announce_suspension(broker, user.id)
    return user


def authenticator(accounts: AccountService) -> Callable[[str], Awaitable[tuple[str, str | None]]]:
    """What the WebSocket's auth frame calls: token -> (user id, session id), or ApiError."""

    async def authenticate(token: str) -> tuple[str, str | None]:
        principal = await accounts.authenticate(token)
        return principal.user.id, principal.session_id

    return authenticate


async def watch_sessions(request: web.Request, conn: Connection) -> None:
    """A listener of signed-in connections: each closes when its session ends."""
    assert conn.user_id is not None

    def ended(event: dict[str, object]) -> None:
        if event.get("session_id") in (None, conn.session_id):
            conn.close_soon(CLOSE_SESSION_ENDED, "session ended: sign in again")

    conn.subscribe("auth.sessions", await request.app[broker_key].subscribe(_session_topic(conn.user_id), ended))
