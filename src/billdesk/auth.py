"""Passwords, sessions, API tokens, log-in, roles and their guards."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import anyio.to_thread
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from litestar.connection import ASGIConnection
from litestar.exceptions import NotAuthorizedException, PermissionDeniedException
from litestar.handlers.base import BaseRouteHandler

from billdesk import audit, clock, login_throttle
from billdesk.db import write_transaction
from billdesk.errors import ValidationFailed
from billdesk.i18n import tr
from billdesk.sql import Statement
from billdesk.tables import ApiToken, User

SESSION_COOKIE = "billdesk_session"
MAX_EMAIL = 254
MAX_PASSWORD = 256

_hasher = PasswordHasher()
# Verified against when the email is unknown, so both answers take as long.
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))


class Role:
    CUSTOMER = User.Role.customer.value
    STAFF = User.Role.staff.value
    FINANCE = User.Role.finance.value
    ADMIN = User.Role.admin.value
    ALL = (CUSTOMER, STAFF, FINANCE, ADMIN)


@dataclass(frozen=True)
class CurrentUser:
    """The person behind a request, as every handler and template sees them."""

    id: int
    email: str
    name: str
    role: str
    # The language the person chose ("" = their browser's), see billdesk.i18n.
    language: str = ""
    # The time zone the person chose ("" = their browser's), see billdesk.formatting.
    time_zone: str = ""

    @property
    def is_customer(self) -> bool:
        return self.role == Role.CUSTOMER

    @property
    def is_staff(self) -> bool:
        return self.role in (Role.STAFF, Role.ADMIN)

    @property
    def is_finance(self) -> bool:
        return self.role in (Role.FINANCE, Role.ADMIN)

    @property
    def is_admin(self) -> bool:
        return self.role == Role.ADMIN

    @property
    def home(self) -> str:
        return {
            Role.CUSTOMER: "/tickets",
            Role.STAFF: "/desk",
            Role.FINANCE: "/finance",
            Role.ADMIN: "/desk",
        }[self.role]


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash or _DUMMY_HASH, password) and bool(password_hash)
    except (VerificationError, InvalidHashError):
        return False


async def hashed(password: str) -> str:
    """hash_password on a worker thread: argon2 takes tens of milliseconds of CPU,
    which on the event loop would hold up every other request of the process."""
    return await anyio.to_thread.run_sync(hash_password, password)


async def password_matches(password_hash: str, password: str) -> bool:
    """verify_password on a worker thread, for the same reason as `hashed`."""
    return await anyio.to_thread.run_sync(verify_password, password_hash, password)


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def normalize_email(email: str) -> str:
    return email.strip().lower()


def _now() -> datetime:
    return clock.now()


def _current(row: dict[str, Any], prefix: str = "") -> CurrentUser:
    return CurrentUser(
        id=row[f"{prefix}id"],
        email=row[f"{prefix}email"],
        name=row[f"{prefix}name"],
        role=row[f"{prefix}role"],
        language=row.get(f"{prefix}language") or "",
        time_zone=row.get(f"{prefix}time_zone") or "",
    )


# ----------------------------------------------------------------- log-in


class LoginRefused(Exception):
    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


async def authenticate(*, email: str, password: str, ip: str) -> CurrentUser:
    """The user with these credentials; raises RateLimited or LoginRefused.

    The message never tells whether the email exists. An email or a password
    longer than any billdesk stores is refused (ValidationFailed) before anything
    is counted; every other attempt counts in the throttle (`billdesk.login_throttle`).
    """
    email = normalize_email(email)
    if len(email) > MAX_EMAIL:
        raise ValidationFailed.field("email", tr("An email address has at most %(num)s characters.", num=MAX_EMAIL))
    if len(password) > MAX_PASSWORD:
        raise ValidationFailed.field(
            "password", tr("A password has at most %(num)s characters.", num=MAX_PASSWORD)
        )
    attempt = await login_throttle.begin(email=email, ip=ip)
    row = await User.select().where(User.email == email).first()
    # An unknown email is checked against a dummy hash, so both answers take as long.
    if not await password_matches(row["password_hash"] if row else "", password) or row is None:
        await _refused(email, row, ip, "wrong email or password")
        raise LoginRefused(tr("The email or the password is not right."), 401)
    await login_throttle.succeeded(attempt)
    if not row["active"]:
        await _refused(email, row, ip, "account disabled")
        raise LoginRefused(tr("This account is disabled. Contact your hosting provider."), 403)
    return _current(row)


async def _refused(email: str, row: dict[str, Any] | None, ip: str, reason: str) -> None:
    """A refused sign-in goes in the audit log, under the email that was typed."""
    actor = audit.Actor(
        row["id"] if row else None, email, ip, audit.current_actor().user_agent
    )
    async with write_transaction():
        await audit.record(
            "login.failed", target_type="user", target_id=row["id"] if row else None,
            target=email, after={"reason": reason}, actor=actor,
        )


# ------------------------------------------------------------- API tokens

TOKEN_PREFIX = "bd_"  # noqa: S105  (a label, not a secret)


# The time between two writes of a token's last_used_at: a busy script costs no write per call.
TOKEN_TOUCH_EVERY = timedelta(minutes=1)


@dataclass(frozen=True)
class TokenUse:
    user: CurrentUser
    read_only: bool


async def create_api_token(
    *, user_id: int, name: str = "", read_only: bool = False
) -> tuple[int, str]:
    """A new API token for the user: its id and the secret, which is shown only once.

    A read-only token may only read (GET, HEAD); the creation is audited."""
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    async with write_transaction():
        rows = await ApiToken.insert(
            ApiToken(
                user=user_id, name=name[:100], token_hash=_digest(secret), prefix=secret[:10],
                read_only=read_only,
            )
        ).returning(ApiToken.id)
        token_id = rows[0]["id"]
        owner = await User.select(User.email).where(User.id == user_id).first()
        await audit.record(
            "token.created", target_type="token", target_id=token_id,
            target=f"{owner['email'] if owner else user_id}: {name[:100] or secret[:10]}",
            after={"name": name[:100], "prefix": secret[:10], "read_only": read_only},
        )
    return token_id, secret


async def revoke_api_token(token_id: int) -> bool:
    """Revoke a token (audited); False when it was revoked already or does not exist."""
    async with write_transaction():
        rows = (
            await ApiToken.update({ApiToken.revoked_at: _now()})
            .where((ApiToken.id == token_id) & ApiToken.revoked_at.is_null())
            .returning(ApiToken.id)
        )
        if rows:
            row = await ApiToken.select(
                ApiToken.name, ApiToken.prefix, ApiToken.user.email
            ).where(ApiToken.id == token_id).first()
            assert row is not None
            await audit.record(
                "token.revoked", target_type="token", target_id=token_id,
                target=f"{row['user.email']}: {row['name'] or row['prefix']}",
                before={"revoked": False}, after={"revoked": True},
            )
    return bool(rows)


_TOKEN_OWNER = Statement(
    'SELECT t.id, t.revoked_at, t.read_only, t.last_used_at, u.id AS "user.id", '
    'u.email AS "user.email", u.name AS "user.name", u.role AS "user.role", '
    'u.language AS "user.language", u.time_zone AS "user.time_zone", u.active AS "user.active" '
    'FROM api_tokens t JOIN users u ON u.id = t."user" WHERE t.token_hash = :digest'
)
"""`token_for`'s look-up, on every API request: its SQL is built once (billdesk.sql)."""


async def token_for(secret: str) -> TokenUse | None:
    """The active user owning this unrevoked token, in one query (and a write of
    `last_used_at` at most once a minute)."""
    if not secret.startswith(TOKEN_PREFIX) or len(secret) > 100:
        return None
    row = await _TOKEN_OWNER.first(digest=_digest(secret))
    if row is None or row["revoked_at"] is not None or not row["user.active"]:
        return None
    now = _now()
    if row["last_used_at"] is None or row["last_used_at"] + TOKEN_TOUCH_EVERY <= now:
        # Only the first of the calls that arrive together writes; the others find it done.
        await ApiToken.update({ApiToken.last_used_at: now}).where(
            (ApiToken.id == row["id"])
            & (
                ApiToken.last_used_at.is_null()
                | (ApiToken.last_used_at <= now - TOKEN_TOUCH_EVERY)
            )
        )
    return TokenUse(user=_current(row, "user."), read_only=row["read_only"])


async def user_for_api_token(secret: str) -> CurrentUser | None:
    """The active user owning this unrevoked token."""
    use = await token_for(secret)
    return use.user if use else None


# ----------------------------------------------------------------- guards
# Guards are coroutines: Litestar runs a plain function guard in a thread pool,
# a hop per request for what is a dictionary look-up.


def _user(connection: ASGIConnection) -> CurrentUser:
    user = connection.scope.get("user")
    if user is None:
        raise NotAuthorizedException(tr("Log in to continue."))
    return user


async def requires_login(connection: ASGIConnection, _: BaseRouteHandler) -> None:
    _user(connection)


async def requires_customer(connection: ASGIConnection, _: BaseRouteHandler) -> None:
    if not _user(connection).is_customer:
        raise PermissionDeniedException(tr("This part of billdesk is for customers."))


async def requires_staff(connection: ASGIConnection, _: BaseRouteHandler) -> None:
    if not _user(connection).is_staff:
        raise PermissionDeniedException(tr("This part of billdesk is for support staff."))


async def requires_finance(connection: ASGIConnection, _: BaseRouteHandler) -> None:
    if not _user(connection).is_finance:
        raise PermissionDeniedException(tr("This part of billdesk is for finance."))


async def requires_admin(connection: ASGIConnection, _: BaseRouteHandler) -> None:
    if not _user(connection).is_admin:
        raise PermissionDeniedException(tr("This part of billdesk is for administrators."))
