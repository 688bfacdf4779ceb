"""Finding people: by exact username, by exact e-mail address when its owner allows it, and the people one shares
chats with (contacts). Every answer is one person or nothing; there is no search that lists accounts."""

from __future__ import annotations

from dataclasses import dataclass

from server.auth.service import Caller, Principal
from server.auth.usernames import check_username
from server.config import Settings
from server.crypto.keyring import BlindIndex
from server.errors import NotFound, ValidationError
from server.storage.accounts import AccountRepository, Person
from server.storage.people import ContactRepository
from server.web.ratelimit import RateLimiter, enforce

# One answer for every person not found, however it came about (no such name or address, an address its owner
# keeps hidden, an unconfirmed or suspended account): a miss tells nothing about the account.
_NOT_FOUND = "no one can be found by this; check it, or ask them for their username"


@dataclass(frozen=True)
class ContactPage:
    people: list[tuple[Person, float]]  # each contact with the latest activity in a chat shared with them
    next: tuple[float, str] | None


class PeopleService:
    def __init__(
        self,
        accounts: AccountRepository,
        contacts: ContactRepository,
        *,
        settings: Settings,
        limiter: RateLimiter,
        blind_index: BlindIndex,
    ) -> None:
        self._accounts = accounts
        self._contacts = contacts
        self._settings = settings
        self._limiter = limiter
        self._blind = blind_index

    def _address(self, caller: Caller) -> str:
        # Limiter keys hold a keyed hash, never the address itself (the Redis limiter keeps keys in Redis).
        return self._blind(caller.ip or "-", purpose="ratelimit.ip").hex()[:32]

    async def username_available(self, username: str, caller: Caller) -> tuple[str, str | None]:
        """(the username as checked, None if it is free or else why not: "taken" or "reserved"); a 400 if it is
        not a username at all. Limited per address: anyone may ask it, signed in or not."""
        await enforce(self._limiter, self._settings.rate_username_check, f"username:ip:{self._address(caller)}")
        try:
            name = check_username(username)
        except ValidationError as exc:
            if exc.code == "username_reserved":
                return username.strip().removeprefix("@"), "reserved"
            raise
        return name, "taken" if await self._accounts.username_owner(name) is not None else None

    async def find(self, principal: Principal, caller: Caller, *, username: str | None, email: str | None) -> Person:
        """The one person with this username, or with this e-mail address if they let others find them by it."""
        if (username is None) == (email is None):
            raise ValidationError("send either username or email", field="username" if username else "email")
        s = self._settings
        me = principal.user.id
        if username is not None:
            name = check_username(username)
            await enforce(self._limiter, s.rate_username_lookup, f"people:username:{me}")
            person = await self._accounts.findable_by_username(name)
        else:
            assert email is not None
            # Every attempt counts, found or not, per account and per address: addresses cannot be tried in bulk.
            await enforce(self._limiter, s.rate_email_lookup, f"people:email:{me}")
            await enforce(self._limiter, s.rate_email_lookup_address, f"people:email:ip:{self._address(caller)}")
            person = await self._accounts.findable_by_email(email)
        if person is None:
            raise NotFound(_NOT_FOUND, code="person_not_found")
        return person

    async def contacts(self, principal: Principal, *, before: tuple[float, str] | None, limit: int) -> ContactPage:
        rows = await self._contacts.contacts(principal.user.id, before, limit + 1)
        page, more = rows[:limit], len(rows) > limit
        people = await self._accounts.people([r.user_id for r in page])
        found = [(people[r.user_id], r.active_at) for r in page if r.user_id in people]
        return ContactPage(found, (page[-1].active_at, page[-1].user_id) if more else None)
