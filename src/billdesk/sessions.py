"""Browser sessions: started by a sign-in, seen, listed, ended, expired.

A session cookie holds a random secret; only its sha256 is stored. A session has
a stage: signed in (''), waiting for the second factor ('code'), or allowed only
to set one up ('enrol', when the role requires it). A pending stage lives a few
minutes and opens nothing else (web.middleware).

A signed-in session ends after BILLDESK_SESSION_IDLE_MINUTES without a request
(idle) and BILLDESK_SESSION_DAYS after it started (absolute), whichever comes
first. `last_seen_at` moves at most once a minute, so a busy page costs no write.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from billdesk import audit, clock
from billdesk.auth import CurrentUser
from billdesk.auth import _current as current_user_of
from billdesk.db import write_transaction
from billdesk.settings import get_settings
from billdesk.sql import Statement
from billdesk.tables import Session, User

SIGNED_IN = ""
CODE = "code"
ENROL = "enrol"
PENDING_LIFETIME = {CODE: timedelta(minutes=10), ENROL: timedelta(minutes=30)}
TOUCH_EVERY = timedelta(minutes=1)


@dataclass(frozen=True)
class SessionInfo:
    id: int
    user: CurrentUser
    stage: str


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def idle_limit() -> timedelta:
    return timedelta(minutes=get_settings().session_idle_minutes)


def absolute_limit() -> timedelta:
    return timedelta(days=get_settings().session_days)


def _user_label(user: CurrentUser) -> dict[str, Any]:
    return {"target_type": "user", "target_id": user.id, "target": user.email}


async def start_session(
    *, user_id: int, ip: str = "", user_agent: str = "", stage: str = SIGNED_IN
) -> tuple[str, datetime]:
    """A new session: the cookie value (shown once) and its absolute end."""
    token = secrets.token_urlsafe(32)
    now = clock.now()
    expires_at = now + PENDING_LIFETIME.get(stage, absolute_limit())
    await Session.insert(
        Session(
            token_hash=digest(token),
            user=user_id,
            created_at=now,
            last_seen_at=now,
            expires_at=expires_at,
            ip=ip.replace("\x00", "")[:64],
            user_agent=user_agent.replace("\x00", "")[:300],
            stage=stage,
        )
    )
    return token, expires_at


async def sign_in(
    user: CurrentUser, *, stage: str, via: str, ip: str = "", user_agent: str = ""
) -> tuple[str, datetime]:
    """Start the session a right password earned, in `stage`; a full one is audited."""
    async with write_transaction():
        token, expires_at = await start_session(
            user_id=user.id, ip=ip, user_agent=user_agent, stage=stage
        )
        if stage == SIGNED_IN:
            await audit.record(
                "login.succeeded",
                **_user_label(user),
                after={"via": via},
                actor=audit.Actor(user.id, user.email, ip, user_agent),
            )
    return token, expires_at


async def complete(session_id: int, user: CurrentUser, *, via: str) -> datetime:
    """A pending session becomes signed in (second factor given or set up); its new end."""
    now = clock.now()
    expires_at = now + absolute_limit()
    async with write_transaction():
        await Session.update(
            {
                Session.stage: SIGNED_IN,
                Session.created_at: now,
                Session.last_seen_at: now,
                Session.expires_at: expires_at,
            }
        ).where(Session.id == session_id)
        actor = audit.current_actor()
        await audit.record(
            "login.succeeded",
            **_user_label(user),
            after={"via": via},
            actor=audit.Actor(user.id, user.email, actor.ip, actor.user_agent),
        )
    return expires_at


_SESSION_OWNER = Statement(
    'SELECT s.id, s.stage, s.expires_at, s.last_seen_at, u.id AS "user.id", '
    'u.email AS "user.email", u.name AS "user.name", u.role AS "user.role", '
    'u.language AS "user.language", u.time_zone AS "user.time_zone", u.active AS "user.active" '
    'FROM sessions s JOIN users u ON u.id = s."user" WHERE s.token_hash = :digest'
)
"""`session_for`'s look-up, on every page request: its SQL is built once (billdesk.sql)."""

_TOUCH = Statement("UPDATE sessions SET last_seen_at = :now WHERE id = :id")


async def session_for(token: str) -> SessionInfo | None:
    """The unexpired session of an active user for this cookie, in one query (plus a
    write at most once a minute, to move `last_seen_at`)."""
    if not token or len(token) > 100:
        return None
    row = await _SESSION_OWNER.first(digest=digest(token))
    now = clock.now()
    if row is None or not row["user.active"] or row["expires_at"] <= now:
        return None
    if row["stage"] == SIGNED_IN and row["last_seen_at"] + idle_limit() <= now:
        return None
    if row["last_seen_at"] + TOUCH_EVERY <= now:
        await _TOUCH.run(now=now, id=row["id"])
    return SessionInfo(id=row["id"], user=current_user_of(row, "user."), stage=row["stage"])


async def end_session(token: str) -> None:
    """Log out: the session is deleted."""
    await Session.delete().where(Session.token_hash == digest(token))


def device_of(user_agent: str) -> str:
    """A short name for the browser and system of a user agent ("Firefox on Linux")."""
    agent = user_agent.lower()
    if not agent:
        return "Unknown device"
    browsers = (
        ("edg/", "Edge"),
        ("opr/", "Opera"),
        ("firefox/", "Firefox"),
        ("chromium/", "Chromium"),
        ("headlesschrome/", "Chrome (headless)"),
        ("chrome/", "Chrome"),
        ("safari/", "Safari"),
        ("curl/", "curl"),
        ("python", "Python script"),
        ("testclient", "Test client"),
    )
    systems = (
        ("android", "Android"),
        ("iphone", "iPhone"),
        ("ipad", "iPad"),
        ("windows", "Windows"),
        ("mac os", "macOS"),
        ("cros", "ChromeOS"),
        ("linux", "Linux"),
    )
    browser = next((name for key, name in browsers if key in agent), "A browser")
    system = next((name for key, name in systems if key in agent), "")
    return f"{browser} on {system}" if system else browser


async def active_sessions(user_id: int, *, current_token: str = "") -> list[dict[str, Any]]:
    """The user's signed-in sessions that have not expired, most recently seen first."""
    now = clock.now()
    rows = await (
        Session.select(
            Session.id,
            Session.token_hash,
            Session.ip,
            Session.user_agent,
            Session.created_at,
            Session.last_seen_at,
        )
        .where(
            (Session.user == user_id)
            & (Session.stage == SIGNED_IN)
            & (Session.expires_at > now)
            & (Session.last_seen_at > now - idle_limit())
        )
        .order_by(Session.last_seen_at, ascending=False)
        .limit(100)
    )
    current = digest(current_token) if current_token else ""
    return [
        {
            "id": row["id"],
            "ip": row["ip"],
            "device": device_of(row["user_agent"]),
            "user_agent": row["user_agent"],
            "created_at": row["created_at"],
            "last_seen_at": row["last_seen_at"],
            "current": row["token_hash"] == current,
        }
        for row in rows
    ]


async def revoke_session(user: CurrentUser, session_id: int) -> bool:
    """End one of the user's own sessions; False when it is not theirs (or gone)."""
    async with write_transaction():
        gone = (
            await Session.delete()
            .where((Session.id == session_id) & (Session.user == user.id))
            .returning(Session.ip, Session.user_agent)
        )
        if gone:
            await audit.record(
                "session.revoked",
                **_user_label(user),
                before={
                    "session": session_id,
                    "ip": gone[0]["ip"],
                    "device": device_of(gone[0]["user_agent"]),
                },
            )
    return bool(gone)


async def revoke_other_sessions(user: CurrentUser, *, keep_token: str) -> int:
    """Sign out everywhere else: every session of the user but this one ends; how many."""
    async with write_transaction():
        gone = (
            await Session.delete()
            .where((Session.user == user.id) & (Session.token_hash != digest(keep_token)))
            .returning(Session.id)
        )
        await audit.record(
            "sessions.revoked_others", **_user_label(user), after={"ended": len(gone)}
        )
    return len(gone)


async def purge_expired() -> int:
    """Delete sessions past their absolute end or idle for longer than the limit."""
    now = clock.now()
    async with write_transaction():
        gone = (
            await Session.delete()
            .where((Session.expires_at <= now) | (Session.last_seen_at <= now - idle_limit()))
            .returning(Session.id)
        )
    return len(gone)


async def user_row(user_id: int) -> dict[str, Any] | None:
    return (
        await User.select(User.id, User.email, User.name, User.role)
        .where(User.id == user_id)
        .first()
    )
