"""Passwords, sessions, API tokens, the log-in throttle, roles and their guards."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from litestar.connection import ASGIConnection
from litestar.exceptions import NotAuthorizedException, PermissionDeniedException
from litestar.handlers.base import BaseRouteHandler

from billdesk import clock
from billdesk.errors import RateLimited
from billdesk.tables import ApiToken, LoginFailure, Session, User

SESSION_COOKIE = "billdesk_session"
THROTTLE_LIMIT = 10
THROTTLE_WINDOW = timedelta(minutes=15)

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
    )


# ----------------------------------------------------------------- log-in


async def check_throttle(*, email: str, ip: str) -> None:
    """Refuse with 429 while the account or the address has too many recent failures."""
    since = _now() - THROTTLE_WINDOW
    for key in (f"email:{normalize_email(email)}", f"ip:{ip}"):
        failures = await LoginFailure.count().where(
            (LoginFailure.key == key) & (LoginFailure.failed_at > since)
        )
        if failures >= THROTTLE_LIMIT:
            raise RateLimited(
                "Too many failed log-in attempts. Wait 15 minutes and try again.",
                errors={"email": "Too many failed log-in attempts."},
            )


async def record_login_failure(*, email: str, ip: str) -> None:
    await LoginFailure.insert(
        LoginFailure(key=f"email:{normalize_email(email)}"),
        LoginFailure(key=f"ip:{ip}"),
    )


async def clear_login_failures(*, email: str, ip: str) -> None:
    await LoginFailure.delete().where(
        LoginFailure.key.is_in([f"email:{normalize_email(email)}", f"ip:{ip}"])
    )


class LoginRefused(Exception):
    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


async def authenticate(*, email: str, password: str, ip: str) -> CurrentUser:
    """The user with these credentials; raises RateLimited or LoginRefused.

    The message never tells whether the email exists.
    """
    await check_throttle(email=email, ip=ip)
    row = await User.select().where(User.email == normalize_email(email)).first()
    if row is None or not verify_password(row["password_hash"], password):
        await record_login_failure(email=email, ip=ip)
        raise LoginRefused("The email or the password is not right.", 401)
    if not row["active"]:
        raise LoginRefused("This account is disabled. Contact your hosting provider.", 403)
    await clear_login_failures(email=email, ip=ip)
    return _current(row)


# --------------------------------------------------------------- sessions


async def start_session(
    *, user_id: int, ip: str = "", user_agent: str = ""
) -> tuple[str, datetime]:
    """A new session for the user: the cookie value (shown once) and its expiry."""
    from billdesk.settings import get_settings

    token = secrets.token_urlsafe(32)
    expires_at = _now() + timedelta(days=get_settings().session_days)
    await Session.insert(
        Session(
            token_hash=_digest(token),
            user=user_id,
            expires_at=expires_at,
            ip=ip[:64],
            user_agent=user_agent[:300],
        )
    )
    return token, expires_at


async def end_session(token: str) -> None:
    await Session.delete().where(Session.token_hash == _digest(token))


async def user_for_session(token: str) -> CurrentUser | None:
    """The active user of an unexpired session, in one query."""
    if not token or len(token) > 100:
        return None
    row = (
        await Session.select(
            Session.user.id,
            Session.user.email,
            Session.user.name,
            Session.user.role,
            Session.user.active,
            Session.expires_at,
        )
        .where(Session.token_hash == _digest(token))
        .first()
    )
    if row is None or not row["user.active"] or row["expires_at"] <= _now():
        return None
    return _current(row, "user.")


# ------------------------------------------------------------- API tokens

TOKEN_PREFIX = "bd_"  # noqa: S105  (a label, not a secret)


async def create_api_token(*, user_id: int, name: str = "") -> tuple[int, str]:
    """A new API token for the user: its id and the secret, which is shown only once."""
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    rows = await ApiToken.insert(
        ApiToken(user=user_id, name=name[:100], token_hash=_digest(secret), prefix=secret[:10])
    ).returning(ApiToken.id)
    return rows[0]["id"], secret


async def revoke_api_token(token_id: int) -> bool:
    rows = (
        await ApiToken.update({ApiToken.revoked_at: _now()})
        .where((ApiToken.id == token_id) & ApiToken.revoked_at.is_null())
        .returning(ApiToken.id)
    )
    return bool(rows)


async def user_for_api_token(secret: str) -> CurrentUser | None:
    """The active user owning this unrevoked token, in one query."""
    if not secret.startswith(TOKEN_PREFIX) or len(secret) > 100:
        return None
    row = (
        await ApiToken.select(
            ApiToken.user.id,
            ApiToken.user.email,
            ApiToken.user.name,
            ApiToken.user.role,
            ApiToken.user.active,
            ApiToken.revoked_at,
        )
        .where(ApiToken.token_hash == _digest(secret))
        .first()
    )
    if row is None or row["revoked_at"] is not None or not row["user.active"]:
        return None
    return _current(row, "user.")


# ----------------------------------------------------------------- guards


def _user(connection: ASGIConnection) -> CurrentUser:
    user = connection.scope.get("user")
    if user is None:
        raise NotAuthorizedException("Log in to continue.")
    return user


def requires_login(connection: ASGIConnection, _: BaseRouteHandler) -> None:
    _user(connection)


def requires_customer(connection: ASGIConnection, _: BaseRouteHandler) -> None:
    if not _user(connection).is_customer:
        raise PermissionDeniedException("This part of billdesk is for customers.")


def requires_staff(connection: ASGIConnection, _: BaseRouteHandler) -> None:
    if not _user(connection).is_staff:
        raise PermissionDeniedException("This part of billdesk is for support staff.")


def requires_finance(connection: ASGIConnection, _: BaseRouteHandler) -> None:
    if not _user(connection).is_finance:
        raise PermissionDeniedException("This part of billdesk is for finance.")


def requires_admin(connection: ASGIConnection, _: BaseRouteHandler) -> None:
    if not _user(connection).is_admin:
        raise PermissionDeniedException("This part of billdesk is for administrators.")
