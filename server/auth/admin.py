"""What server admins do to accounts beyond roles and suspension: find them, see their sessions, end them.

Names and addresses are stored encrypted, so the database cannot search them: an exact address goes through its
blind index, and anything else is matched after decryption, scanning the accounts in id order a bounded number
at a time (the next page carries on where the scan stopped).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass

from server.auth.ended import SessionsEnded, tell_sessions_ended
from server.errors import NotFound
from server.storage.accounts import AccountRepository, Session, User

SCAN_BATCH = 500  # accounts decrypted per query while searching
SCAN_MAX = 5000  # accounts one search page looks at before it answers (with a cursor to go on)
USER_ID = re.compile(r"[0-9a-f]{32}")


@dataclass(frozen=True)
class SearchPage:
    users: list[User]
    next_after: str | None  # the id the next page's scan starts after; None: the scan is complete


class UserAdministration:
    def __init__(
        self, repo: AccountRepository, ended: SessionsEnded | None = None, clock: Callable[[], float] = time.time
    ) -> None:
        self.repo = repo
        self._ended = ended  # fired after sessions end (AccountService.sessions_ended)
        self._clock = clock

    async def search(self, query: str, *, after: str | None, limit: int) -> SearchPage:
        """Accounts whose id or address is `query`, or whose display name or address contains it (any case).
        A page may hold fewer than `limit` accounts while `next_after` is set: the scan stopped at its bound."""
        if after is None:
            exact = await self._exact(query)
            if exact is not None:
                return SearchPage([exact], None)
        needle = query.casefold()
        found: list[User] = []
        scanned = 0
        cursor = after
        while scanned < SCAN_MAX:
            batch = await self.repo.list_users(cursor, SCAN_BATCH)
            for user in batch:
                scanned += 1
                cursor = user.id
                if needle in user.display_name.casefold() or needle in user.email.casefold():
                    found.append(user)
                    if len(found) == limit:
                        return SearchPage(found, cursor)
            if len(batch) < SCAN_BATCH:
                return SearchPage(found, None)
        return SearchPage(found, cursor)

    async def _exact(self, query: str) -> User | None:
        if USER_ID.fullmatch(query):
            return await self.repo.user_by_id(query)
        if "@" in query:
            return await self.repo.user_by_email(query)
        return None

    async def user(self, user_id: str) -> User:
        user = await self.repo.user_by_id(user_id)
        if user is None:
            raise NotFound("no such user", code="user_not_found")
        return user

    async def sessions(self, user_id: str, *, cursor: tuple[float, str] | None, limit: int) -> list[Session]:
        await self.user(user_id)
        return await self.repo.live_sessions(user_id, self._clock(), cursor, limit)

    async def end_session(self, user_id: str, session_id: str) -> None:
        session = await self.repo.session(session_id)
        if session is None or session.user_id != user_id or session.revoked_at is not None:
            raise NotFound("this account has no such session", code="session_not_found")
        async with self.repo.db.transaction() as tx:
            await self.repo.revoke_session(tx, session_id, "revoked_by_admin", self._clock())
        await self._tell_ended(user_id)

    async def end_sessions(self, user_id: str, keep: str | None = None) -> list[str]:
        """End every session of the account but `keep` (the admin's own, when it is their account); returns the
        ids of those ended."""
        await self.user(user_id)
        async with self.repo.db.transaction() as tx:
            ended = await self.repo.unrevoked_session_ids(tx, user_id, keep)
            await self.repo.revoke_user_sessions(tx, user_id, "revoked_by_admin", self._clock(), keep=keep)
        if ended:
            await self._tell_ended(user_id)
        return ended

    async def _tell_ended(self, user_id: str) -> None:
        if self._ended is not None:
            await tell_sessions_ended(self._ended, user_id)
