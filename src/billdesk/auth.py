"""Passwords, sessions, API tokens, log-in, roles and their guards."""

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

from billdesk import clock, login_throttle
from billdesk.errors import ValidationFailed
from billdesk.tables import ApiToken, Session, User

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
        raise ValidationFailed.field("email", f"An email address has at most {MAX_EMAIL} characters.")
    if len(password) > MAX_PASSWORD:
        raise ValidationFailed.field(
            "password", f"A password has at most {MAX_PASSWORD} characters."
        )
    attempt = await login_throttle.begin(email=email, ip=ip)
    row = await User.select().where(User.email == email).first()
    # An unknown email is checked against a dummy hash, so both answers take as long.
    if not verify_password(row["password_hash"] if row else "", password) or row is None:
        raise LoginRefused("The email or the password is not right.", 401)
    await login_throttle.succeeded(attempt)
    if not row["active"]:
        raise LoginRefused("This account is disabled. Contact your hosting provider.", 403)
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
            ip=ip.replace("\x00", "")[:64],
            user_agent=user_agent.replace("\x00", "")[:300],
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
            Session.user.language,
            Session.user.time_zone,
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
            ApiToken.user.language,
            ApiToken.user.time_zone,
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
