"""Accounts storage: users, sessions, refresh tokens and e-mail tokens. Personal columns are encrypted here."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from server.crypto.keyring import BlindIndex, Keyring
from server.storage.database import Database, Executor, Row
from server.storage.sql import Sealer, assignments, chunked, in_list

EMAIL_INDEX = "users.email"
USERNAME_INDEX = "users.username"


def normalise_email(email: str) -> str:
    return email.strip().lower()


def fold_username(username: str) -> str:
    """The form usernames are compared in: `Ada_L` and `ada_l` are one name (they are ASCII, see auth/usernames)."""
    return username.lower()


@dataclass(frozen=True)
class User:
    id: str
    email: str
    display_name: str
    phone: str | None
    role: str
    password_hash: str
    email_verified_at: float | None
    suspended_at: float | None
    created_at: float
    username: str | None = None
    email_discoverable: bool = False
    language: str = "en"  # of the e-mails and pages the server writes for this account (server/texts/language.py)

    def public(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "email": self.email,
            "display_name": self.display_name,
            "username": self.username,
            "email_discoverable": self.email_discoverable,
            "language": self.language,
            "phone": self.phone,
            "role": self.role,
            "email_verified": self.email_verified_at is not None,
            "suspended": self.suspended_at is not None,
            "created_at": self.created_at,
        }


@dataclass(frozen=True)
class Person:
    """What anyone who finds a user sees of them."""

    id: str
    display_name: str
    username: str | None

    def public(self) -> dict[str, Any]:
        return {"id": self.id, "display_name": self.display_name, "username": self.username}


@dataclass(frozen=True)
class Session:
    id: str
    user_id: str
    ip: str | None
    user_agent: str | None
    created_at: float
    last_seen_at: float
    expires_at: float
    revoked_at: float | None


_PERSON_COLUMNS = "id, display_name, username, username_index"
# Who can be found at all: a confirmed address, not suspended.
_FINDABLE = "email_verified_at IS NOT NULL AND suspended_at IS NULL"


class AccountRepository:
    def __init__(self, db: Database, keyring: Keyring, blind_index: BlindIndex) -> None:
        self.db = db
        self._users = Sealer(keyring, "users")
        self._sessions = Sealer(keyring, "sessions")
        self._blind = blind_index

    def email_index(self, email: str) -> bytes:
        return self._blind(normalise_email(email), purpose=EMAIL_INDEX)

    def username_index(self, username: str) -> bytes:
        """The blind index of a username's folded form: one name whatever its case."""
        return self._blind(fold_username(username), purpose=USERNAME_INDEX)

    def _user(self, row: Row) -> User:
        uid = row["id"]
        return User(
            id=uid,
            email=self._users.open(row["email"], "email", uid) or "",
            display_name=self._users.open(row["display_name"], "display_name", uid) or "",
            phone=self._users.open(row["phone"], "phone", uid),
            role=row["role"],
            password_hash=row["password_hash"],
            email_verified_at=row["email_verified_at"],
            suspended_at=row["suspended_at"],
            created_at=row["created_at"],
            # A username asked for at sign-up is the account's once its address is confirmed (claim_username).
            username=self._users.open(row["username"], "username", uid) if row["username_index"] else None,
            email_discoverable=bool(row["email_discoverable"]),
            language=row["language"],
        )

    def _session(self, row: Row) -> Session:
        sid = row["id"]
        return Session(
            id=sid,
            user_id=row["user_id"],
            ip=self._sessions.open(row["ip"], "ip", sid),
            user_agent=self._sessions.open(row["user_agent"], "user_agent", sid),
            created_at=row["created_at"],
            last_seen_at=row["last_seen_at"],
            expires_at=row["expires_at"],
            revoked_at=row["revoked_at"],
        )

    # -- users --------------------------------------------------------------------------------------
    async def create_user(
        self,
        tx: Executor,
        *,
        user_id: str,
        email: str,
        display_name: str,
        password_hash: str,
        role: str,
        now: float,
        verified: bool = False,
        username: str | None = None,
        language: str = "en",
    ) -> None:
        # An unconfirmed account only asks for its username: it is claimed (indexed) when the address is confirmed,
        # so the names taken never show whether a sign-up's address already had an account.
        await tx.execute(
            "INSERT INTO users (id, email_index, email, display_name, phone, password_hash, role,"
            " email_verified_at, created_at, updated_at, username, username_index, language)"
            " VALUES ($1, $2, $3, $4, NULL, $5, $6, $7, $8, $8, $9, $10, $11)",
            user_id,
            self.email_index(email),
            self._users.seal(normalise_email(email), "email", user_id),
            self._users.seal(display_name, "display_name", user_id),
            password_hash,
            role,
            now if verified else None,
            now,
            self._users.seal(username, "username", user_id),
            self.username_index(username) if username and verified else None,
            language,
        )

    async def user_by_id(self, user_id: str, tx: Executor | None = None) -> User | None:
        row = await (tx or self.db).fetchrow("SELECT * FROM users WHERE id = $1", user_id)
        return self._user(row) if row else None

    async def display_names(self, user_ids: Sequence[str]) -> dict[str, str]:
        """The display names of these users (only that column is decrypted)."""
        names: dict[str, str] = {}
        for chunk in chunked(sorted(set(user_ids))):
            for row in await self.db.fetch(
                f"SELECT id, display_name FROM users WHERE {in_list('id', len(chunk))}", *chunk
            ):
                names[row["id"]] = self._users.open(row["display_name"], "display_name", row["id"]) or ""
        return names

    async def active_ids(self, user_ids: Sequence[str]) -> set[str]:
        """Those of these ids that belong to a user who exists and is not suspended."""
        found: set[str] = set()
        for chunk in chunked(sorted(set(user_ids))):
            rows = await self.db.fetch(
                f"SELECT id FROM users WHERE {in_list('id', len(chunk))} AND suspended_at IS NULL", *chunk
            )
            found.update(row["id"] for row in rows)
        return found

    async def user_by_email(self, email: str, tx: Executor | None = None) -> User | None:
        row = await (tx or self.db).fetchrow("SELECT * FROM users WHERE email_index = $1", self.email_index(email))
        return self._user(row) if row else None

    # -- usernames and finding people -----------------------------------------------------------------
    async def username_owner(self, username: str, tx: Executor | None = None) -> str | None:
        """The id of the account holding this username (in any case), or None if it is free."""
        value = await (tx or self.db).fetchval(
            "SELECT id FROM users WHERE username_index = $1", self.username_index(username)
        )
        return str(value) if value is not None else None

    async def set_username(self, tx: Executor, user_id: str, username: str | None, now: float) -> None:
        """Give the account this username (None: none); its old one is free at once. The unique index refuses
        (IntegrityError) a name another account took meanwhile."""
        await tx.execute(
            "UPDATE users SET username = $1, username_index = $2, updated_at = $3 WHERE id = $4",
            self._users.seal(username, "username", user_id),
            self.username_index(username) if username else None,
            now,
            user_id,
        )

    async def asked_username(self, user_id: str, tx: Executor | None = None) -> str | None:
        """The username asked for at sign-up and not claimed yet (see `claim_username`)."""
        row = await (tx or self.db).fetchrow(
            "SELECT username FROM users WHERE id = $1 AND username_index IS NULL", user_id
        )
        return self._users.open(row["username"], "username", user_id) if row else None

    async def set_email_discoverable(self, tx: Executor, user_id: str, discoverable: bool, now: float) -> None:
        await tx.execute(
            "UPDATE users SET email_discoverable = $1, updated_at = $2 WHERE id = $3",
            1 if discoverable else 0,
            now,
            user_id,
        )

    async def set_language(self, tx: Executor, user_id: str, language: str, now: float) -> None:
        await tx.execute("UPDATE users SET language = $1, updated_at = $2 WHERE id = $3", language, now, user_id)

    async def email_token_language(self, token_hash: bytes, purpose: str) -> str | None:
        """The language of the account an e-mail token was made for, used or not; None for an unknown token."""
        language = await self.db.fetchval(
            "SELECT u.language FROM email_tokens t JOIN users u ON u.id = t.user_id"
            " WHERE t.token_hash = $1 AND t.purpose = $2",
            token_hash,
            purpose,
        )
        return None if language is None else str(language)

    def _person(self, row: Row) -> Person:
        uid = row["id"]
        return Person(
            id=uid,
            display_name=self._users.open(row["display_name"], "display_name", uid) or "",
            username=self._users.open(row["username"], "username", uid) if row["username_index"] else None,
        )

    async def findable_by_username(self, username: str) -> Person | None:
        """The confirmed, unsuspended account with this username (in any case)."""
        row = await self.db.fetchrow(
            f"SELECT {_PERSON_COLUMNS} FROM users WHERE username_index = $1 AND {_FINDABLE}",
            self.username_index(username),
        )
        return self._person(row) if row else None

    async def findable_by_email(self, email: str) -> Person | None:
        """The confirmed, unsuspended account with this exact address, if its owner lets others find it by it.
        One indexed read through the blind index, whatever the outcome; no address is decrypted."""
        row = await self.db.fetchrow(
            f"SELECT {_PERSON_COLUMNS} FROM users WHERE email_index = $1 AND email_discoverable = 1 AND {_FINDABLE}",
            self.email_index(email),
        )
        return self._person(row) if row else None

    async def people(self, user_ids: Sequence[str]) -> dict[str, Person]:
        """These users as others see them, by id (only the name columns are decrypted)."""
        found: dict[str, Person] = {}
        for chunk in chunked(sorted(set(user_ids))):
            rows = await self.db.fetch(f"SELECT {_PERSON_COLUMNS} FROM users WHERE {in_list('id', len(chunk))}", *chunk)
            found.update((row["id"], self._person(row)) for row in rows)
        return found

    async def update_profile(self, tx: Executor, user_id: str, changes: dict[str, str | None], now: float) -> None:
        columns = [c for c in ("display_name", "phone") if c in changes]
        if not columns:
            return
        n = len(columns)
        await tx.execute(
            f"UPDATE users SET {assignments(columns)}, updated_at = ${n + 1} WHERE id = ${n + 2}",
            *[self._users.seal(changes[c], c, user_id) for c in columns],
            now,
            user_id,
        )

    async def set_password(self, tx: Executor, user_id: str, password_hash: str, now: float) -> None:
        await tx.execute(
            "UPDATE users SET password_hash = $1, updated_at = $2 WHERE id = $3", password_hash, now, user_id
        )

    async def mark_verified(self, tx: Executor, user_id: str, now: float) -> None:
        await tx.execute(
            "UPDATE users SET email_verified_at = COALESCE(email_verified_at, $1), updated_at = $1 WHERE id = $2",
            now,
            user_id,
        )

    async def set_role(self, tx: Executor, user_id: str, role: str, now: float) -> int:
        return await tx.execute("UPDATE users SET role = $1, updated_at = $2 WHERE id = $3", role, now, user_id)

    async def set_suspended(self, tx: Executor, user_id: str, suspended_at: float | None, now: float) -> int:
        return await tx.execute(
            "UPDATE users SET suspended_at = $1, updated_at = $2 WHERE id = $3", suspended_at, now, user_id
        )

    async def list_users(self, after: str | None, limit: int) -> list[User]:
        rows = await self.db.fetch(
            "SELECT * FROM users WHERE id > $1 ORDER BY id LIMIT $2",
            after or "",
            limit,
        )
        return [self._user(r) for r in rows]

    # -- sessions -----------------------------------------------------------------------------------
    async def create_session(
        self,
        tx: Executor,
        *,
        session_id: str,
        user_id: str,
        ip: str | None,
        user_agent: str | None,
        now: float,
        expires_at: float,
    ) -> None:
        await tx.execute(
            "INSERT INTO sessions (id, user_id, ip, user_agent, created_at, last_seen_at, expires_at)"
            " VALUES ($1, $2, $3, $4, $5, $5, $6)",
            session_id,
            user_id,
            self._sessions.seal(ip, "ip", session_id),
            self._sessions.seal(user_agent, "user_agent", session_id),
            now,
            expires_at,
        )

    async def session(self, session_id: str, tx: Executor | None = None) -> Session | None:
        row = await (tx or self.db).fetchrow("SELECT * FROM sessions WHERE id = $1", session_id)
        return self._session(row) if row else None

    async def touch_session(
        self, tx: Executor, session_id: str, *, ip: str | None, user_agent: str | None, now: float, expires_at: float
    ) -> None:
        await tx.execute(
            "UPDATE sessions SET ip = $1, user_agent = $2, last_seen_at = $3, expires_at = $4 WHERE id = $5",
            self._sessions.seal(ip, "ip", session_id),
            self._sessions.seal(user_agent, "user_agent", session_id),
            now,
            expires_at,
            session_id,
        )

    async def live_sessions(
        self, user_id: str, now: float, before: tuple[float, str] | None, limit: int
    ) -> list[Session]:
        # Newest first; the cursor is (last_seen_at, id) of the last row of the previous page.
        last_seen, last_id = before if before else (1e18, "")
        rows = await self.db.fetch(
            "SELECT * FROM sessions WHERE user_id = $1 AND revoked_at IS NULL AND expires_at > $2"
            " AND (last_seen_at < $3 OR (last_seen_at = $3 AND id < $4))"
            " ORDER BY last_seen_at DESC, id DESC LIMIT $5",
            user_id,
            now,
            last_seen,
            last_id,
            limit,
        )
        return [self._session(r) for r in rows]

    async def revoke_session(self, tx: Executor, session_id: str, reason: str, now: float) -> int:
        return await tx.execute(
            "UPDATE sessions SET revoked_at = $1, revoked_reason = $2 WHERE id = $3 AND revoked_at IS NULL",
            now,
            reason,
            session_id,
        )

    async def unrevoked_session_ids(self, tx: Executor, user_id: str, keep: str | None = None) -> list[str]:
        """The sessions `revoke_user_sessions` with the same `keep` would end."""
        rows = await tx.fetch(
            "SELECT id FROM sessions WHERE user_id = $1 AND revoked_at IS NULL AND id <> $2", user_id, keep or ""
        )
        return [row["id"] for row in rows]

    async def revoke_user_sessions(
        self, tx: Executor, user_id: str, reason: str, now: float, keep: str | None = None
    ) -> int:
        return await tx.execute(
            "UPDATE sessions SET revoked_at = $1, revoked_reason = $2"
            " WHERE user_id = $3 AND revoked_at IS NULL AND id <> $4",
            now,
            reason,
            user_id,
            keep or "",
        )

    # -- refresh tokens -----------------------------------------------------------------------------
    async def add_refresh_token(self, tx: Executor, token_hash: bytes, session_id: str, now: float) -> None:
        await tx.execute(
            "INSERT INTO refresh_tokens (token_hash, session_id, created_at) VALUES ($1, $2, $3)",
            token_hash,
            session_id,
            now,
        )

    async def refresh_token(self, tx: Executor, token_hash: bytes) -> Row | None:
        return await tx.fetchrow(
            "SELECT token_hash, session_id, rotated_at FROM refresh_tokens WHERE token_hash = $1", token_hash
        )

    async def rotate_refresh_token(self, tx: Executor, token_hash: bytes, now: float) -> int:
        # Only a token not yet rotated can be rotated: of two racing refreshes, one wins.
        return await tx.execute(
            "UPDATE refresh_tokens SET rotated_at = $1 WHERE token_hash = $2 AND rotated_at IS NULL", now, token_hash
        )

    # -- e-mail tokens ------------------------------------------------------------------------------
    async def add_email_token(
        self, tx: Executor, *, token_hash: bytes, user_id: str, purpose: str, now: float, expires_at: float
    ) -> None:
        await tx.execute(
            "INSERT INTO email_tokens (token_hash, user_id, purpose, created_at, expires_at)"
            " VALUES ($1, $2, $3, $4, $5)",
            token_hash,
            user_id,
            purpose,
            now,
            expires_at,
        )

    async def use_email_token(self, tx: Executor, token_hash: bytes, purpose: str, now: float) -> str | None:
        """Mark a live token used and return its user id; None if unknown, used or expired."""
        row = await tx.fetchrow(
            "SELECT user_id FROM email_tokens WHERE token_hash = $1 AND purpose = $2"
            " AND used_at IS NULL AND expires_at > $3",
            token_hash,
            purpose,
            now,
        )
        if row is None:
            return None
        await tx.execute("UPDATE email_tokens SET used_at = $1 WHERE token_hash = $2", now, token_hash)
        return str(row["user_id"])

    async def expire_email_tokens(self, tx: Executor, user_id: str, purpose: str, now: float) -> None:
        await tx.execute(
            "UPDATE email_tokens SET used_at = $1 WHERE user_id = $2 AND purpose = $3 AND used_at IS NULL",
            now,
            user_id,
            purpose,
        )
