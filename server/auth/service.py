"""Account rules: registration, e-mail verification, sign-in, token refresh with reuse detection, sessions,
password reset, profile and roles. No aiohttp here: callers pass in who is calling (IP, user agent)."""

from __future__ import annotations

import hmac
import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import urlencode

from server.auth.ended import SessionsEnded, tell_sessions_ended
from server.auth.outbox import MailOutbox
from server.auth.passwords import PasswordHasher
from server.auth.texts import mail
from server.auth.tokens import AccessClaims, AccessTokens, new_secret, secret_hash
from server.auth.usernames import check_username, require_free, username_taken
from server.config import Settings
from server.crypto.keyring import BlindIndex
from server.errors import ApiError, Forbidden, NotFound, TooManyRequests, Unauthorized, ValidationError
from server.storage.accounts import AccountRepository, Session, User, fold_username
from server.storage.database import IntegrityError
from server.texts.language import DEFAULT as DEFAULT_LANGUAGE
from server.web.ratelimit import RateLimiter, enforce
from server.wiring import Signal

log = logging.getLogger(__name__)

ROLES = ("user", "admin")
_INVALID_CREDENTIALS = "the e-mail address or the password is wrong"


@dataclass(frozen=True)
class Caller:
    """Where a request came from; stored encrypted with the session."""

    ip: str | None = None
    user_agent: str | None = None


@dataclass(frozen=True)
class Principal:
    user: User
    session_id: str

    @property
    def is_admin(self) -> bool:
        return self.user.role == "admin"


@dataclass(frozen=True)
class Grant:
    access_token: str
    refresh_token: str
    expires_in: int
    user: User
    device_token: str | None = None  # sign-in only: present it at the next sign-in to skip the slowdown

    def public(self) -> dict[str, Any]:
        body = {
            "access_token": self.access_token,
            "token_type": "Bearer",
            "expires_in": self.expires_in,
            "refresh_token": self.refresh_token,
            "user": self.user.public(),
        }
        if self.device_token is not None:
            body["device_token"] = self.device_token
        return body


@dataclass(frozen=True)
class _LoginKeys:
    """Where one sign-in attempt's failures are counted."""

    address: str  # the caller's address, any account
    pair: str  # this account from this address
    account: str  # this account, any address
    device: str | None  # the device token presented, if any


class AccountService:
    def __init__(
        self,
        repo: AccountRepository,
        *,
        settings: Settings,
        hasher: PasswordHasher,
        tokens: AccessTokens,
        outbox: MailOutbox,
        limiter: RateLimiter,
        blind_index: BlindIndex,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.repo = repo
        self._db = repo.db
        self._settings = settings
        self._hasher = hasher
        self._tokens = tokens
        self._outbox = outbox
        self._limiter = limiter
        self._blind = blind_index
        self._clock = clock
        self.sessions_ended: SessionsEnded = Signal("sessions_ended")

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        repo: AccountRepository,
        *,
        outbox: MailOutbox,
        limiter: RateLimiter,
        blind_index: BlindIndex,
    ) -> AccountService:
        return cls(
            repo,
            settings=settings,
            hasher=PasswordHasher(time_cost=settings.argon2_time_cost, memory_kib=settings.argon2_memory_kib),
            tokens=AccessTokens(settings.jwt_secret, settings.access_token_seconds),
            outbox=outbox,
            limiter=limiter,
            blind_index=blind_index,
        )

    # -- abuse limits -------------------------------------------------------------------------------
    def _ip_key(self, action: str, caller: Caller) -> str:
        # Keys hold a keyed hash, never the address itself (the Redis limiter keeps keys in Redis).
        return f"{action}:ip:{self._blind(caller.ip or '-', purpose='ratelimit.ip').hex()[:32]}"

    def _account_key(self, action: str, email: str) -> str:
        return f"{action}:acct:{self.repo.email_index(email).hex()[:32]}"

    def _check_password(self, password: str) -> None:
        if len(password) < self._settings.password_min_length:
            raise ValidationError(
                "{field} must be at least {limit} characters",
                field="password",
                code="too_short",
                limit=self._settings.password_min_length,
            )

    # -- registration and verification --------------------------------------------------------------
    async def register(
        self,
        *,
        email: str,
        password: str,
        display_name: str,
        caller: Caller,
        username: str | None = None,
        language: str = DEFAULT_LANGUAGE,
    ) -> None:
        """Create an unverified account and queue its verification link. An address already registered gets a
        notice instead, and the caller sees the same answer, after the same work, either way (no account
        enumeration): a hash, one transaction of three writes, a queued mail. A `username` is refused at once if
        it is not valid or taken, and becomes the account's when the address is confirmed (`claim_username`). Its
        e-mails are written in `language`; the notice to an existing account, in that account's."""
        s = self._settings
        await enforce(
            self._limiter, s.rate_register, self._ip_key("register", caller), self._account_key("register", email)
        )
        self._check_password(password)
        if username is not None:
            username = check_username(username)
            await require_free(self.repo, username, None)
        password_hash = await self._hasher.hash(password)
        now = self._clock()
        user_id = uuid.uuid4().hex
        token = new_secret()
        verification = self._verification_mail(display_name, token, language)
        try:
            async with self._db.transaction() as tx:
                if (existing := await self.repo.user_by_email(email, tx)) is not None:
                    await self._outbox.add(tx, email, *self._taken_mail(existing.language))
                    await self._outbox.add_nothing(tx, email, *verification)
                else:
                    await self.repo.create_user(
                        tx,
                        user_id=user_id,
                        email=email,
                        display_name=display_name,
                        password_hash=password_hash,
                        role="user",
                        now=now,
                        username=username,
                        language=language,
                    )
                    await self.repo.add_email_token(
                        tx,
                        token_hash=secret_hash(token),
                        user_id=user_id,
                        purpose="verify",
                        now=now,
                        expires_at=now + s.email_token_hours * 3600,
                    )
                    await self._outbox.add(tx, email, *verification)
        except IntegrityError:  # registered by a request running beside this one
            async with self._db.transaction() as tx:
                existing = await self.repo.user_by_email(email, tx)
                await self._outbox.add(tx, email, *self._taken_mail(existing.language if existing else language))
        self._outbox.wake()

    def _taken_mail(self, language: str) -> tuple[str, str]:
        return mail(language, "taken", link=f"{self._settings.public_url}/#/forgot")

    def _verification_mail(self, display_name: str, token: str, language: str) -> tuple[str, str]:
        link = f"{self._settings.public_url}/verify-email?{urlencode({'token': token})}"
        return mail(language, "verify", name=display_name, link=link, hours=self._settings.email_token_hours)

    def _reset_mail(self, display_name: str, token: str, language: str) -> tuple[str, str]:
        link = f"{self._settings.public_url}/reset-password?{urlencode({'token': token})}"
        return mail(language, "reset", name=display_name, link=link)

    async def _mail_token(
        self,
        *,
        user: User | None,
        email: str,
        purpose: str,
        lifetime: float,
        compose: Callable[[str, str, str], tuple[str, str]],
    ) -> None:
        """Retire `user`'s live `purpose` links, issue a new one and queue the mail that carries it. Without a
        user, the same statements run and nothing is sent: an unknown address costs what a known one does."""
        now = self._clock()
        token = new_secret()
        subject, text = compose(user.display_name if user else "", token, user.language if user else DEFAULT_LANGUAGE)
        async with self._db.transaction() as tx:
            await self.repo.expire_email_tokens(tx, user.id if user else uuid.uuid4().hex, purpose, now)
            if user is None:
                await self._outbox.add_nothing(tx, email, subject, text)
            else:
                await self.repo.add_email_token(
                    tx,
                    token_hash=secret_hash(token),
                    user_id=user.id,
                    purpose=purpose,
                    now=now,
                    expires_at=now + lifetime,
                )
                await self._outbox.add(tx, user.email, subject, text)
        self._outbox.wake()

    async def resend_verification(self, *, email: str, caller: Caller) -> None:
        s = self._settings
        await enforce(self._limiter, s.rate_verify, self._ip_key("verify", caller), self._account_key("verify", email))
        user = await self.repo.user_by_email(email)
        await self._mail_token(
            user=user if user is not None and user.email_verified_at is None else None,
            email=email,
            purpose="verify",
            lifetime=s.email_token_hours * 3600,
            compose=self._verification_mail,
        )

    async def verify_email(self, *, token: str, caller: Caller) -> User:
        await enforce(self._limiter, self._settings.rate_verify, self._ip_key("verify", caller))
        now = self._clock()
        async with self._db.transaction() as tx:
            user_id = await self.repo.use_email_token(tx, secret_hash(token), "verify", now)
            if user_id is not None:
                await self.repo.mark_verified(tx, user_id, now)
                user = await self.repo.user_by_id(user_id, tx)
        if user_id is None or user is None:
            raise ApiError(
                "this link is not valid: it was already used, has expired, or was mistyped", code="invalid_token"
            )
        return await self.claim_username(user)

    async def token_language(self, token: str, purpose: str) -> str | None:
        """The language of the account an e-mail link was made for (used or not), for the page it opens."""
        return await self.repo.email_token_language(secret_hash(token), purpose)

    async def claim_username(self, user: User) -> User:
        """Give a confirmed account the username it asked for at sign-up, if nobody took it meanwhile (then it has
        none, and chooses another on its account page)."""
        asked = await self.repo.asked_username(user.id)
        if asked is None or user.email_verified_at is None:
            return user
        try:
            async with self._db.transaction() as tx:
                taken = await self.repo.username_owner(asked, tx) is not None
                await self.repo.set_username(tx, user.id, None if taken else asked, self._clock())
        except IntegrityError:  # taken by a request running beside this one
            async with self._db.transaction() as tx:
                await self.repo.set_username(tx, user.id, None, self._clock())
        return await self.repo.user_by_id(user.id) or user

    # -- sign-in and tokens -------------------------------------------------------------------------
    async def login(self, *, email: str, password: str, caller: Caller, device_token: str | None = None) -> Grant:
        """Sign in, throttled as README's "Sign-in throttling" says: failures only are counted, per account and
        address and per address; an account with many recent failures slows down (each attempt waits longer) rather
        than locking its owner out, and a device that signed in to this account before is let through."""
        s = self._settings
        now = self._clock()
        user = await self.repo.user_by_email(email)
        keys = _LoginKeys(
            address=self._ip_key("login", caller),
            pair=f"{self._account_key('login', email)}:{self._ip_key('', caller)}",
            account=self._account_key("login", email),
            device=self._device_key(device_token) if device_token else None,
        )
        known = user is not None and await self._known_device(user.id, device_token, keys.device, now)
        await self._throttle(keys, known, now)
        # Unknown address and wrong password: same check, same time, same answer.
        if not await self._hasher.verify(user.password_hash if user else None, password) or user is None:
            await self._count_failure(keys, now)
            raise Unauthorized(_INVALID_CREDENTIALS, code="invalid_credentials")
        await self._limiter.forget(keys.pair)  # a success is never counted, and clears this address's typos
        if keys.device is not None:
            await self._limiter.forget(keys.device)
        if user.email_verified_at is None:
            raise Forbidden("confirm your e-mail address first; we sent you a link", code="email_not_verified")
        if user.suspended_at is not None:
            raise Forbidden("this account is suspended", code="account_suspended")
        now = self._clock()
        session_id = uuid.uuid4().hex
        refresh = new_secret()
        async with self._db.transaction() as tx:
            await self.repo.create_session(
                tx,
                session_id=session_id,
                user_id=user.id,
                ip=caller.ip,
                user_agent=caller.user_agent,
                now=now,
                expires_at=now + s.refresh_token_days * 86400,
            )
            await self.repo.add_refresh_token(tx, secret_hash(refresh), session_id, now)
            if self._hasher.needs_rehash(user.password_hash):
                await self.repo.set_password(tx, user.id, await self._hasher.hash(password), now)
        grant = self._grant(user, session_id, refresh, now)
        return replace(grant, device_token=self._device_token(user.id, now))

    # -- sign-in throttling -------------------------------------------------------------------------
    async def _throttle(self, keys: _LoginKeys, known_device: bool, now: float) -> None:
        """Refuse (429 with Retry-After) an attempt that is over a failure budget. A known device skips them all:
        its own failures are limited instead (see `_known_device`)."""
        if known_device:
            return
        s = self._settings
        limiter = self._limiter
        for key, budget in ((keys.address, s.rate_login_address), (keys.pair, s.rate_login)):
            failures = await limiter.failures(key, now)
            if failures.count >= budget.count:
                raise TooManyRequests(failures.expires_in)
        # The account slows down: past the free failures, each attempt waits 1, 2, 4... seconds (up to the maximum)
        # after the latest failure. Its owner gets in after the wait; a guesser gets few guesses an hour.
        failures = await limiter.failures(keys.account, now)
        over = failures.count - s.login_slowdown.count
        if over >= 0:
            wait = failures.last_at + min(2.0**over, s.login_slowdown_max_seconds) - now
            if wait > 0:
                raise TooManyRequests(wait, "too many failed sign-ins for this account; wait a little")

    async def _count_failure(self, keys: _LoginKeys, now: float) -> None:
        s = self._settings
        await self._limiter.fail(keys.address, s.rate_login_address.seconds, now)
        await self._limiter.fail(keys.pair, s.rate_login.seconds, now)
        await self._limiter.fail(keys.account, s.login_slowdown.seconds, now)
        if keys.device is not None:
            await self._limiter.fail(keys.device, s.rate_login.seconds, now)

    def _device_key(self, token: str) -> str:
        return f"login:device:{self._blind(token[:200], purpose='ratelimit.device').hex()[:32]}"

    def _device_mac(self, user_id: str, issued: int, nonce: str) -> str:
        return self._blind(f"{user_id}:{issued}:{nonce}", purpose="login.device").hex()[:32]

    def _device_token(self, user_id: str, now: float) -> str:
        """Proof that this device signed in to this account (OWASP's "device cookie"); nothing is stored."""
        issued, nonce = int(now), new_secret()[:22]
        return f"{issued}.{nonce}.{self._device_mac(user_id, issued, nonce)}"

    async def _known_device(self, user_id: str, token: str | None, key: str | None, now: float) -> bool:
        """True for a device token this account issued, not expired, and not over its own failure budget."""
        if not token or key is None:
            return False
        issued_text, _, rest = token.partition(".")
        nonce, _, mac = rest.partition(".")
        if not issued_text.isascii() or not issued_text.isdigit() or len(issued_text) > 12 or not nonce:
            return False
        issued = int(issued_text)
        if not issued <= now < issued + self._settings.login_device_days * 86400:
            return False
        if not hmac.compare_digest(mac, self._device_mac(user_id, issued, nonce)):
            return False
        return (await self._limiter.failures(key, now)).count < self._settings.rate_login.count

    def _grant(self, user: User, session_id: str, refresh: str, now: float) -> Grant:
        access = self._tokens.issue(user_id=user.id, session_id=session_id, role=user.role, now=now)
        return Grant(access, refresh, self._tokens.lifetime, user)

    async def refresh(self, *, refresh_token: str, caller: Caller) -> Grant:
        """Swap a refresh token for a new pair. A token already swapped means it was copied: end the session."""
        now = self._clock()
        token_hash = secret_hash(refresh_token)
        new_refresh = new_secret()
        outcome: str
        user: User | None = None
        session: Session | None = None
        async with self._db.transaction() as tx:
            row = await self.repo.refresh_token(tx, token_hash)
            if row is None:
                outcome = "unknown"
            else:
                session = await self.repo.session(row["session_id"], tx)
                user = await self.repo.user_by_id(session.user_id, tx) if session else None
                if session is None or user is None or session.revoked_at is not None or session.expires_at <= now:
                    outcome = "ended"
                elif row["rotated_at"] is not None or not await self.repo.rotate_refresh_token(tx, token_hash, now):
                    await self.repo.revoke_session(tx, session.id, "refresh_token_reuse", now)
                    outcome = "reused"
                elif user.suspended_at is not None:
                    outcome = "ended"
                else:
                    await self.repo.add_refresh_token(tx, secret_hash(new_refresh), session.id, now)
                    await self.repo.touch_session(
                        tx,
                        session.id,
                        ip=caller.ip,
                        user_agent=caller.user_agent,
                        now=now,
                        expires_at=now + self._settings.refresh_token_days * 86400,
                    )
                    outcome = "ok"
        if outcome == "reused":
            log.warning("refresh token reuse detected; session revoked", extra={"session_id": session and session.id})
            if session is not None:
                await tell_sessions_ended(self.sessions_ended, session.user_id)
        if outcome != "ok" or user is None or session is None:
            raise Unauthorized("the refresh token is not valid; sign in again", code="invalid_refresh_token")
        return self._grant(user, session.id, new_refresh, now)

    async def authenticate(self, access_token: str) -> Principal:
        claims: AccessClaims = self._tokens.read(access_token)
        session = await self.repo.session(claims.session_id)
        if session is None or session.revoked_at is not None or session.user_id != claims.user_id:
            raise Unauthorized("this session has ended; sign in again", code="session_ended")
        user = await self.repo.user_by_id(claims.user_id)
        if user is None or user.suspended_at is not None:
            raise Unauthorized("this session has ended; sign in again", code="session_ended")
        return Principal(user, session.id)

    async def logout(self, principal: Principal) -> None:
        async with self._db.transaction() as tx:
            await self.repo.revoke_session(tx, principal.session_id, "logout", self._clock())
        await tell_sessions_ended(self.sessions_ended, principal.user.id)

    # -- sessions -----------------------------------------------------------------------------------
    async def sessions(self, principal: Principal, *, cursor: tuple[float, str] | None, limit: int) -> list[Session]:
        return await self.repo.live_sessions(principal.user.id, self._clock(), cursor, limit)

    async def end_session(self, principal: Principal, session_id: str) -> None:
        session = await self.repo.session(session_id)
        # Someone else's session answers like a missing one.
        if session is None or session.user_id != principal.user.id or session.revoked_at is not None:
            raise NotFound("no such session")
        async with self._db.transaction() as tx:
            await self.repo.revoke_session(tx, session_id, "revoked_by_user", self._clock())
        await tell_sessions_ended(self.sessions_ended, principal.user.id)

    # -- password reset -----------------------------------------------------------------------------
    async def request_password_reset(self, *, email: str, caller: Caller) -> None:
        s = self._settings
        await enforce(self._limiter, s.rate_reset, self._ip_key("reset", caller), self._account_key("reset", email))
        user = await self.repo.user_by_email(email)
        await self._mail_token(user=user, email=email, purpose="reset", lifetime=3600, compose=self._reset_mail)

    async def reset_password(self, *, token: str, password: str, caller: Caller) -> User:
        """Set a new password from a reset link; every session of the account ends."""
        await enforce(self._limiter, self._settings.rate_reset, self._ip_key("reset-confirm", caller))
        self._check_password(password)
        password_hash = await self._hasher.hash(password)
        now = self._clock()
        user: User | None = None
        async with self._db.transaction() as tx:
            user_id = await self.repo.use_email_token(tx, secret_hash(token), "reset", now)
            if user_id is not None:
                await self.repo.set_password(tx, user_id, password_hash, now)
                # Following the link proves the address, too.
                await self.repo.mark_verified(tx, user_id, now)
                await self.repo.revoke_user_sessions(tx, user_id, "password_reset", now)
                user = await self.repo.user_by_id(user_id, tx)
        if user is None:
            raise ApiError(
                "this link is not valid: it was already used, has expired, or was mistyped", code="invalid_token"
            )
        await tell_sessions_ended(self.sessions_ended, user.id)
        return await self.claim_username(user)

    # -- profile ------------------------------------------------------------------------------------
    async def update_profile(self, principal: Principal, changes: dict[str, Any]) -> User:
        """Change the display name, phone, username (None: none), e-mail discoverability or language (checked by the
        caller). Every value is checked
        before anything is written: a refused one changes nothing."""
        me = principal.user
        if "display_name" in changes and not changes["display_name"]:
            raise ValidationError("{field} must not be empty", field="display_name", code="required")
        username = changes.get("username")
        if username is not None:
            username = check_username(username)
            await require_free(self.repo, username, me.id)
        renamed = "username" in changes and fold_username(username or "") != fold_username(me.username or "")
        if renamed:  # a new name, not the same one in another case: limited, so names cannot be churned
            await enforce(self._limiter, self._settings.rate_username_change, f"username:{me.id}")
        now = self._clock()
        try:
            async with self._db.transaction() as tx:
                texts: dict[str, str | None] = {k: changes[k] for k in ("display_name", "phone") if k in changes}
                await self.repo.update_profile(tx, me.id, texts, now)
                if "username" in changes:
                    await self.repo.set_username(tx, me.id, username, now)
                if "email_discoverable" in changes:
                    await self.repo.set_email_discoverable(tx, me.id, bool(changes["email_discoverable"]), now)
                if "language" in changes:
                    await self.repo.set_language(tx, me.id, changes["language"], now)
                user = await self.repo.user_by_id(me.id, tx)
        except IntegrityError:  # the name was taken by a request running beside this one
            raise username_taken(username or "") from None
        assert user is not None
        return user

    # -- administration -----------------------------------------------------------------------------
    async def list_users(self, *, after: str | None, limit: int) -> list[User]:
        return await self.repo.list_users(after, limit)

    async def set_role(self, user_id: str, role: str) -> User:
        async with self._db.transaction() as tx:
            if not await self.repo.set_role(tx, user_id, role, self._clock()):
                raise NotFound("no such user")
            user = await self.repo.user_by_id(user_id, tx)
        assert user is not None
        return user

    async def set_suspended(self, user_id: str, suspended: bool) -> User:
        now = self._clock()
        async with self._db.transaction() as tx:
            if not await self.repo.set_suspended(tx, user_id, now if suspended else None, now):
                raise NotFound("no such user")
            if suspended:
                await self.repo.revoke_user_sessions(tx, user_id, "suspended", now)
            user = await self.repo.user_by_id(user_id, tx)
        assert user is not None
        if suspended:
            await tell_sessions_ended(self.sessions_ended, user_id)
        return user

    async def ensure_admin(self, *, email: str, password: str | None, display_name: str) -> tuple[User, bool]:
        """Create a verified admin, or make an existing account an admin. Returns (user, created)."""
        existing = await self.repo.user_by_email(email)
        now = self._clock()
        if existing is not None:
            async with self._db.transaction() as tx:
                await self.repo.set_role(tx, existing.id, "admin", now)
                await self.repo.mark_verified(tx, existing.id, now)
            user = await self.repo.user_by_id(existing.id)
            assert user is not None
            return user, False
        if password is None:
            raise ValidationError("a password is needed to create the account", field="password")
        return await self.create_verified(email=email, password=password, display_name=display_name, role="admin"), True

    async def create_verified(
        self, *, email: str, password: str, display_name: str, role: str = "user", username: str | None = None
    ) -> User:
        """Create an account whose address counts as confirmed, because whoever creates it vouches for the address
        (the operator's create-admin; test fixtures for tests that are not about accounts)."""
        if role not in ROLES:
            raise ValidationError("{field} must be one of {allowed}", field="role", allowed=", ".join(ROLES))
        self._check_password(password)
        if username is not None:
            username = check_username(username)
            await require_free(self.repo, username, None)
        user_id = uuid.uuid4().hex
        password_hash = await self._hasher.hash(password)
        async with self._db.transaction() as tx:
            await self.repo.create_user(
                tx,
                user_id=user_id,
                email=email,
                display_name=display_name,
                password_hash=password_hash,
                role=role,
                now=self._clock(),
                verified=True,
                username=username,
            )
        user = await self.repo.user_by_id(user_id)
        assert user is not None
        return user
