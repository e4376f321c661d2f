"""Sign-in links the billing panel hands its customers (as WHMCS's `CreateSsoToken`):
one use, within 60 seconds, to a path on billdesk.

Only the sha256 of a link's secret is stored. Using a link is one conditional
update (`… WHERE used_at IS NULL AND expires_at > now`), so two clicks at the
same moment, in any number of processes, sign in once.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from billdesk import clock, jobs
from billdesk.errors import InvalidTransition, NotFound, ValidationFailed
from billdesk.i18n import tr
from billdesk.settings import get_settings
from billdesk.tables import LoginLink, User
from billdesk.tickets.lifecycle import write_transaction

LIFETIME = timedelta(seconds=60)
REDIRECT_MAX = 500
PATH = "/login/link/"


@dataclass(frozen=True)
class IssuedLink:
    url: str
    expires_at: datetime


@dataclass(frozen=True)
class UsedLink:
    user_id: int
    redirect: str


class LinkRefused(Exception):
    """The link was used already, has expired, or never existed."""


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def safe_redirect(target: Any) -> str:
    """`target` when it is a path on billdesk, else the home page ("/"): never off-site."""
    if not isinstance(target, str) or not target or len(target) > REDIRECT_MAX:
        return "/"
    if any(ord(char) < 0x20 or char in "\\\x7f" for char in target):
        return "/"  # browsers read "/\\evil.test" as "//evil.test"
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return "/"
    return target


async def issue_link(*, external_id: str, redirect: Any) -> IssuedLink:
    """A one-use sign-in link for the customer the billing system knows by `external_id`.

    No such customer is NotFound; an inactive one gets no link (`invalid_transition`, 409).
    """
    if redirect is not None and not isinstance(redirect, str):
        raise ValidationFailed.field(
            "redirect", tr("redirect is a path on billdesk, e.g. /tickets/12.")
        )
    customer = (
        await User.select(User.id, User.active)
        .where((User.external_id == external_id[:100]) & (User.role == User.Role.customer.value))
        .first()
    )
    if customer is None:
        raise NotFound(tr("No customer has this external id."))
    if not customer["active"]:
        raise InvalidTransition(
            tr("This customer is deactivated: no sign-in link is given."),
            errors={"external_id": tr("The customer is deactivated.")},
        )
    secret = secrets.token_urlsafe(32)
    expires_at = clock.now() + LIFETIME
    await LoginLink.insert(
        LoginLink(
            user=customer["id"],
            token_hash=_digest(secret),
            redirect=safe_redirect(redirect),
            expires_at=expires_at,
        )
    )
    return IssuedLink(url=f"{get_settings().base_url}{PATH}{secret}", expires_at=expires_at)


async def use_link(secret: str) -> UsedLink:
    """Spend the link: whose it is and where it goes. LinkRefused when it was used,
    has expired, never existed, or its customer was deactivated since."""
    if not secret or len(secret) > 100:
        raise LinkRefused()
    now = clock.now()
    async with write_transaction():
        rows = (
            await LoginLink.update({LoginLink.used_at: now})
            .where(
                (LoginLink.token_hash == _digest(secret))
                & LoginLink.used_at.is_null()
                & (LoginLink.expires_at > now)
            )
            .returning(LoginLink.user, LoginLink.redirect)
        )
        if not rows:
            raise LinkRefused()
        active = await User.exists().where(
            (User.id == rows[0]["user"]) & (User.active == True)  # noqa: E712
        )
    if not active:
        raise LinkRefused()
    return UsedLink(user_id=rows[0]["user"], redirect=rows[0]["redirect"])


async def prune_links() -> int:
    """Delete links that expired more than a day ago; how many."""
    rows = (
        await LoginLink.delete()
        .where(LoginLink.expires_at < clock.now() - timedelta(days=1))
        .returning(LoginLink.id)
    )
    return len(rows)


@jobs.periodic("login_links.prune", every=timedelta(hours=1))
async def prune_expired_links() -> None:
    await prune_links()
